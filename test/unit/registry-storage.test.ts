// The storage-driver suite every driver of `dray registry serve` passes: the filesystem driver in a
// temp dir, and the S3 driver against s3rver (npm) started in-process on 127.0.0.1 with a random
// port. s3rver does not check request signatures (it knows the access key "S3RVER" and accepts any
// V4 signature made with it), so a signing bug would not show here; the AWS SDK signs, and its
// signing has its own tests. On top of the driver calls: the registry's uploads, content store and
// GC over each driver, since those are what the drivers are for.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { checked, StorageDriver, PathNotFoundError, InvalidOffsetError, InvalidPathError, readAll } from '../../src/registry/distribution/storage/driver';
import { FilesystemDriver } from '../../src/registry/distribution/storage/filesystem';
import { S3Driver } from '../../src/registry/distribution/storage/s3';
import { Registry } from '../../src/registry/distribution/registry';
import { parseDigest } from '../../src/registry/distribution/names';
import { isRegistryError } from '../../src/registry/distribution/errors';
import { collectGarbage } from '../../src/registry/distribution/gc';
import { layout } from '../../src/registry/distribution/store/layout';

const sha = (b: Buffer) => parseDigest(`sha256:${createHash('sha256').update(b).digest('hex')}`);
const chunks = (...bufs: Buffer[]) => Readable.from(bufs) as AsyncIterable<Buffer>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Backend { name: string; driver: () => StorageDriver; partSize: number }

const tmp = mkdtempSync('/tmp/dray-storage-');
let s3server: any;
let s3endpoint = '';
let bucketSeq = 0;

before(async () => {
  const S3rver = require('s3rver');
  s3server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: path.join(tmp, 's3'), configureBuckets: Array.from({ length: 8 }, (_, i) => ({ name: `bucket${i}` })) });
  const addr = await s3server.run();
  s3endpoint = `http://127.0.0.1:${addr.port}`;
});

after(async () => {
  await s3server?.close();
  rmSync(tmp, { recursive: true, force: true });
});

const backends: Backend[] = [
  { name: 'filesystem', partSize: 0, driver: () => checked(new FilesystemDriver(mkdtempSync(path.join(tmp, 'fs-')))) },
  {
    name: 's3 (s3rver)', partSize: 5 << 20,
    // A bucket per use, and a key prefix, so that every case starts empty and the prefix is exercised.
    driver: () => checked(new S3Driver({ bucket: `bucket${bucketSeq++ % 8}`, endpoint: s3endpoint, accessKey: 'S3RVER', secretKey: 'S3RVER', rootDirectory: `/root-${randomBytes(4).toString('hex')}`, chunkSize: 5 << 20, redirect: true })),
  },
];

async function expectNotFound(p: Promise<unknown>): Promise<void> {
  await assert.rejects(p, (e) => e instanceof PathNotFoundError);
}

for (const b of backends) {
  describe(`storage driver: ${b.name}`, () => {
    test('putContent then getContent; a second put replaces; missing paths are PathNotFound', async () => {
      const d = b.driver();
      await d.putContent('/a/b/c', 'one');
      assert.equal((await d.getContent('/a/b/c')).toString(), 'one');
      await d.putContent('/a/b/c', Buffer.from('two!'));
      assert.equal((await d.getContent('/a/b/c')).toString(), 'two!');
      await expectNotFound(d.getContent('/a/b/none'));
      await expectNotFound(d.stat('/nothing/here'));
      await expectNotFound(d.list('/nothing'));
      await expectNotFound(d.delete('/nothing'));
      await expectNotFound(d.move('/nothing', '/else'));
      await expectNotFound(d.reader('/nothing', 0));
    });

    test('stat tells files from directories, with sizes and times', async () => {
      const d = b.driver();
      const t0 = Date.now();
      await d.putContent('/dir/file', Buffer.alloc(1234));
      const f = await d.stat('/dir/file');
      assert.equal(f.isDir, false);
      assert.equal(f.size, 1234);
      assert.ok(Math.abs(f.modTime.getTime() - t0) < 60_000, `modTime ${f.modTime.toISOString()}`);
      assert.equal((await d.stat('/dir')).isDir, true);
      assert.equal((await d.stat('/')).isDir, true);
    });

    test('list gives full paths of direct children, files and directories', async () => {
      const d = b.driver();
      await d.putContent('/l/x', '1');
      await d.putContent('/l/y/z', '2');
      await d.putContent('/l/y/w/v', '3');
      assert.deepEqual((await d.list('/l')).sort(), ['/l/x', '/l/y']);
      assert.deepEqual((await d.list('/l/y')).sort(), ['/l/y/w', '/l/y/z']);
      assert.ok((await d.list('/')).includes('/l'));
    });

    test('reader from an offset; the end gives nothing; beyond it is InvalidOffset', async () => {
      const d = b.driver();
      const data = randomBytes(100_000);
      await d.putContent('/r', data);
      assert.ok((await readAll(await d.reader('/r', 0))).equals(data));
      assert.ok((await readAll(await d.reader('/r', 12_345))).equals(data.subarray(12_345)));
      assert.equal((await readAll(await d.reader('/r', data.length))).length, 0);
      await assert.rejects(d.reader('/r', data.length + 1), (e) => e instanceof InvalidOffsetError);
      await assert.rejects(d.reader('/r', -1), (e) => e instanceof InvalidOffsetError);
    });

    test('writer: chunks, commit; close then append; cancel removes', async () => {
      const d = b.driver();
      const w = await d.writer('/w/one', false);
      await w.write(Buffer.from('hello '));
      await w.write(Buffer.from('world'));
      assert.equal(w.size, 11);
      await w.commit();
      assert.equal((await d.getContent('/w/one')).toString(), 'hello world');

      const a = await d.writer('/w/one', true);
      assert.equal(a.size, 11);
      await a.write(Buffer.from('!'));
      await a.close();
      assert.equal((await d.getContent('/w/one')).toString(), 'hello world!');

      const fresh = await d.writer('/w/one', false);
      await fresh.write(Buffer.from('new'));
      await fresh.commit();
      assert.equal((await d.getContent('/w/one')).toString(), 'new');

      const c = await d.writer('/w/one', true);
      await c.write(Buffer.from('xxx'));
      await c.cancel();
      await expectNotFound(d.stat('/w/one'));
    });

    test('writer: a file of several parts, and an append to a file larger than a part', async () => {
      const d = b.driver();
      const part = b.partSize || (5 << 20);
      const first = randomBytes(part + 123_456);
      const w = await d.writer('/big', false);
      for (let i = 0; i < first.length; i += 300_000) await w.write(first.subarray(i, i + 300_000));
      await w.close();
      assert.equal((await d.stat('/big')).size, first.length);
      const more = randomBytes(1 << 20);
      const a = await d.writer('/big', true);
      assert.equal(a.size, first.length);
      await a.write(more);
      await a.commit();
      const got = await d.getContent('/big');
      assert.equal(got.length, first.length + more.length);
      assert.ok(got.equals(Buffer.concat([first, more])));
    });

    test('writer: many small writes arrive whole and in order; sync (where a driver has it) keeps a closed file', async () => {
      const d = b.driver();
      // odd sizes across the filesystem writer's 1 MiB batches, one batch being written while the next gathers
      const data = randomBytes(3 * (1 << 20) + 77_777);
      const w = await d.writer('/many', false);
      for (let i = 0, n = 1; i < data.length; i += n, n = (n * 7 + 13) % 150_000 + 1) await w.write(data.subarray(i, i + n));
      assert.equal(w.size, data.length);
      await w.close();
      if (d.sync) {
        await d.sync('/many');
        await expectNotFound(d.sync('/none'));
      }
      assert.ok((await d.getContent('/many')).equals(data));
    });

    test('move replaces the destination and removes the source', async () => {
      const d = b.driver();
      await d.putContent('/m/src', 'source');
      await d.putContent('/m2/dst', 'old');
      await d.move('/m/src', '/m2/dst');
      assert.equal((await d.getContent('/m2/dst')).toString(), 'source');
      await expectNotFound(d.stat('/m/src'));
      await d.putContent('/m/src2', 'x');
      await d.move('/m/src2', '/new/deep/dir/dst');
      assert.equal((await d.getContent('/new/deep/dir/dst')).toString(), 'x');
    });

    test('delete removes a file, or a directory and everything under it', async () => {
      const d = b.driver();
      await d.putContent('/del/a', '1');
      await d.putContent('/del/sub/b', '2');
      await d.putContent('/keep', '3');
      await d.delete('/del/a');
      await expectNotFound(d.stat('/del/a'));
      await d.delete('/del');
      await expectNotFound(d.stat('/del/sub/b'));
      await expectNotFound(d.stat('/del'));
      assert.equal((await d.getContent('/keep')).toString(), '3');
    });

    test('walk yields every file under a directory with its size', async () => {
      const d = b.driver();
      await d.putContent('/wk/a', '1');
      await d.putContent('/wk/b/c', '22');
      await d.putContent('/wk/b/d/e', '333');
      await d.putContent('/other', 'x');
      const got: [string, number][] = [];
      for await (const f of d.walk('/wk')) got.push([f.path, f.size]);
      assert.deepEqual(got.sort(), [['/wk/a', 1], ['/wk/b/c', 2], ['/wk/b/d/e', 3]]);
      const none: string[] = [];
      for await (const f of d.walk('/missing')) none.push(f.path);
      assert.deepEqual(none, []);
    });

    test('the base wrapper refuses malformed paths for every driver', async () => {
      const d = b.driver();
      for (const p of ['relative', '/a/../b', '/a/./b', '/a b', '/a//b', '/trailing/', '', '/ünicode']) {
        await assert.rejects(d.putContent(p, 'x'), (e) => e instanceof InvalidPathError, p);
        await assert.rejects(d.getContent(p), (e) => e instanceof InvalidPathError, p);
      }
      await assert.rejects(d.putContent('/', 'x'), (e) => e instanceof InvalidPathError);
    });

    if (b.name.startsWith('s3')) {
      test('a presigned redirect URL serves the object', async () => {
        const d = b.driver();
        await d.putContent('/blob', 'presigned content');
        const url = await d.redirectURL!('/blob', { method: 'GET' });
        assert.ok(url && url.startsWith(s3endpoint) && /X-Amz-Signature=/.test(url), url);
        const r = await fetch(url!);
        assert.equal(r.status, 200);
        assert.equal(await r.text(), 'presigned content');
        assert.equal(await d.redirectURL!('/blob', { method: 'HEAD' }), undefined);
      });
    }

    // The registry's stores over this driver

    test('uploads: chunks hashed as they stream, committed under the digest only if it matches', async () => {
      const reg = new Registry(b.driver(), { deleteEnabled: true });
      const data = randomBytes(700_000);
      const d = sha(data);
      const st = await reg.uploads.start('lib/app');
      await reg.uploads.append('lib/app', st.id, chunks(data.subarray(0, 200_000)));
      await reg.uploads.append('lib/app', st.id, chunks(data.subarray(200_000, 500_000)), 200_000);
      // a chunk that does not start where the upload stands is refused and changes nothing
      await assert.rejects(reg.uploads.append('lib/app', st.id, chunks(Buffer.from('zz')), 7), (e) => isRegistryError(e, 'RANGE_INVALID'));
      assert.equal((await reg.uploads.status('lib/app', st.id)).size, 500_000);
      // nothing is visible before the commit
      assert.equal(await reg.blobs.stat(d), undefined);
      assert.equal(await reg.blobSize('lib/app', d, false), undefined);
      // another repository cannot touch this upload
      await assert.rejects(reg.uploads.status('other', st.id), (e) => isRegistryError(e, 'BLOB_UPLOAD_UNKNOWN'));
      const r = await reg.uploads.complete('lib/app', st.id, d, chunks(data.subarray(500_000)));
      assert.equal(r.size, data.length);
      assert.equal(await reg.blobSize('lib/app', d, false), data.length);
      assert.ok((await readAll(await reg.blobs.reader(d, 0))).equals(data));
      await assert.rejects(reg.uploads.status('lib/app', st.id), (e) => isRegistryError(e, 'BLOB_UPLOAD_UNKNOWN'));
    });

    test('uploads: chunks are closed, not synced; the data is made durable once, before it becomes the blob', async () => {
      const calls: string[] = [];
      const inner = b.driver();
      const driver: StorageDriver = {
        ...inner,
        async writer(p, append) {
          const w = await inner.writer(p, append);
          return {
            get size() { return w.size; },
            write: (c) => w.write(c),
            close: () => { calls.push('close'); return w.close(); },
            commit: () => { calls.push('commit'); return w.commit(); },
            cancel: () => w.cancel(),
          };
        },
        move: (src, dst) => { calls.push(dst.startsWith('/blobs/') ? 'move-to-blob' : 'move'); return inner.move(src, dst); },
      };
      if (inner.sync) driver.sync = (p) => { calls.push('sync'); return inner.sync!(p); };
      const reg = new Registry(driver, { deleteEnabled: true });
      const data = randomBytes(900_000);
      const st = await reg.uploads.start('c');
      for (let i = 0; i < 3; i++) await reg.uploads.append('c', st.id, chunks(data.subarray(i * 300_000, (i + 1) * 300_000)), i * 300_000);
      // (syncs may start behind the chunks, so the disk catches up early; none is waited for)
      assert.deepEqual(calls.filter((c) => c !== 'sync'), ['close', 'close', 'close']);
      await reg.uploads.complete('c', st.id, sha(data));
      const moved = calls.indexOf('move-to-blob');
      assert.deepEqual(calls.filter((c) => c !== 'sync'), ['close', 'close', 'close', 'move-to-blob']);
      if (inner.sync) assert.equal(calls[moved - 1], 'sync', calls.join(' '));
      assert.ok((await readAll(await reg.blobs.reader(sha(data), 0))).equals(data));
      // a final PUT with a body: that body's writer commits, and no sync is needed after it
      calls.length = 0;
      const more = randomBytes(50_000);
      const st2 = await reg.uploads.start('c');
      await reg.uploads.append('c', st2.id, chunks(more.subarray(0, 20_000)));
      await reg.uploads.complete('c', st2.id, sha(more), chunks(more.subarray(20_000)), 20_000);
      assert.deepEqual(calls.filter((c) => c !== 'sync'), ['close', 'commit', 'move-to-blob']);
      assert.equal(calls[calls.indexOf('move-to-blob') - 1], 'commit');
    });

    if (b.name === 'filesystem') {
      test('uploads: a sync that failed behind a chunk fails the commit; nothing becomes a blob', async () => {
        const inner = b.driver();
        let fail = true;
        const driver: StorageDriver = { ...inner, sync: async (p) => { if (fail) { fail = false; throw new Error('EIO: write-back failed'); } return inner.sync!(p); } };
        const reg = new Registry(driver, { deleteEnabled: true });
        const data = randomBytes(100_000);
        const st = await reg.uploads.start('e');
        await reg.uploads.append('e', st.id, chunks(data));
        await assert.rejects(reg.uploads.complete('e', st.id, sha(data)), /EIO/);
        assert.equal(await reg.blobs.stat(sha(data)), undefined);
        await assert.rejects(reg.uploads.status('e', st.id), (e) => isRegistryError(e, 'BLOB_UPLOAD_UNKNOWN'));
      });
    }

    test('uploads: a wrong digest is DIGEST_INVALID, stores nothing and ends the upload', async () => {
      const reg = new Registry(b.driver(), { deleteEnabled: true });
      const data = randomBytes(10_000);
      const wrong = sha(Buffer.from('something else'));
      const st = await reg.uploads.start('x');
      await reg.uploads.append('x', st.id, chunks(data));
      await assert.rejects(reg.uploads.complete('x', st.id, wrong), (e) => isRegistryError(e, 'DIGEST_INVALID'));
      assert.equal(await reg.blobs.stat(wrong), undefined);
      assert.equal(await reg.blobs.stat(sha(data)), undefined);
      await assert.rejects(reg.uploads.status('x', st.id), (e) => isRegistryError(e, 'BLOB_UPLOAD_UNKNOWN'));
      await assert.rejects(reg.uploads.ingest('x', wrong, chunks(data)), (e) => isRegistryError(e, 'DIGEST_INVALID'));
      assert.equal(await reg.blobs.stat(wrong), undefined);
    });

    test('uploads: a process that lacks the hash (restart, another replica) re-reads what is stored', async () => {
      const driver = b.driver();
      const data = randomBytes(300_000);
      const a = new Registry(driver, { deleteEnabled: true });
      const st = await a.uploads.start('r');
      await a.uploads.append('r', st.id, chunks(data.subarray(0, 100_000)));
      const other = new Registry(driver, { deleteEnabled: true });
      await other.uploads.append('r', st.id, chunks(data.subarray(100_000)), 100_000);
      await a.uploads.complete('r', st.id, sha(data));
      assert.ok((await readAll(await other.blobs.reader(sha(data), 0))).equals(data));
    });

    test('the same blob uploaded into two repositories at once is stored once', async () => {
      const reg = new Registry(b.driver(), { deleteEnabled: true });
      const data = randomBytes(400_000);
      const d = sha(data);
      const results = await Promise.all(['one', 'two', 'three'].map((repo) => reg.uploads.ingest(repo, d, chunks(data.subarray(0, 150_000), data.subarray(150_000)))));
      assert.ok(results.every((r) => r.size === data.length));
      for (const repo of ['one', 'two', 'three']) assert.equal(await reg.blobSize(repo, d, false), data.length);
      let copies = 0;
      for await (const f of reg.blobs.walk()) if (f.digest.text === d.text) copies++;
      assert.equal(copies, 1);
      assert.ok((await readAll(await reg.blobs.reader(d, 0))).equals(data));
    });

    test('abandoned uploads are purged after the timeout, live ones are not', async () => {
      const reg = new Registry(b.driver(), { deleteEnabled: true });
      const old = await reg.uploads.start('p');
      await reg.uploads.append('p', old.id, chunks(Buffer.from('abc')));
      await sleep(2100); // S3's times are whole seconds, each read as the end of its second
      const young = await reg.uploads.start('p');
      assert.equal(await reg.uploads.purge(60_000), 0);
      assert.equal(await reg.uploads.purge(1000), 1);
      await assert.rejects(reg.uploads.status('p', old.id), (e) => isRegistryError(e, 'BLOB_UPLOAD_UNKNOWN'));
      assert.equal((await reg.uploads.status('p', young.id)).size, 0);
    });

    test('gc deletes unreferenced old blobs, keeps referenced and recent ones', async () => {
      const reg = new Registry(b.driver(), { deleteEnabled: true, useEvery: 0 });
      const put = async (repo: string, data: Buffer) => (await reg.uploads.ingest(repo, sha(data), chunks(data))).digest;
      const layer = await put('app', randomBytes(5000));
      const config = await put('app', Buffer.from('{"architecture":"amd64","os":"linux"}'));
      const garbage = await put('app', randomBytes(3000));
      const manifest = Buffer.from(JSON.stringify({
        schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.text, size: 37 },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer.text, size: 5000 }],
      }));
      const m = await reg.putManifest('app', { tag: 'v1' }, manifest, 'application/vnd.oci.image.manifest.v1+json');
      // with a delay of an hour, everything is young and stays
      let r = await collectGarbage(reg, { delayMs: 3_600_000, deleteUntagged: false });
      assert.equal(r.blobsDeleted, 0);
      await sleep(1100); // S3 times are whole seconds: make the blobs plainly older than the mark
      r = await collectGarbage(reg, { delayMs: 0, deleteUntagged: false });
      assert.deepEqual(r.deleted, [garbage.text]);
      assert.equal(await reg.blobs.stat(garbage), undefined);
      for (const d of [layer, config, m.digest]) assert.ok(await reg.blobs.stat(d), d.text);
      // after the manifest is deleted, its blobs go too
      await reg.deleteManifest('app', { digest: m.digest });
      await sleep(1100);
      r = await collectGarbage(reg, { delayMs: 0, deleteUntagged: false });
      assert.deepEqual(r.deleted.sort(), [layer.text, config.text, m.digest.text].sort());
    });

    test('gc puts a blob back when a request uses it while it is being taken away', async () => {
      const base = b.driver();
      const client = new Registry(base, { deleteEnabled: true, useEvery: 0 });
      const data = randomBytes(2000);
      const d = (await client.uploads.ingest('race', sha(data), chunks(data))).digest;
      const late = (await client.uploads.ingest('race', sha(Buffer.from('late')), chunks(Buffer.from('late')))).digest;
      await sleep(1100);
      // GC's driver: a client's use of `d` lands just before GC's move, one of `late` just after
      const uses: Record<string, boolean> = {};
      const gcDriver: StorageDriver = {
        ...base,
        async move(src, dst) {
          if (src === layout.blobData(d)) uses.before = await client.blobs.use(d);
          await base.move(src, dst);
          if (src === layout.blobData(late)) uses.after = await client.blobs.use(late);
        },
      };
      const r = await collectGarbage(new Registry(gcDriver, { deleteEnabled: true }), { delayMs: 0, deleteUntagged: false });
      assert.equal(uses.before, true);
      assert.equal(uses.after, false, 'a use after the move must see the blob gone');
      assert.equal(r.restored, 1);
      assert.deepEqual(r.deleted, [late.text]);
      assert.ok((await readAll(await client.blobs.reader(d, 0))).equals(data));
      assert.equal(await client.blobs.stat(late), undefined);
    });
  });
}
