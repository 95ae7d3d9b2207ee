// A build step's changes become its layer without a second copy (LayerStore.fromDir): the step's
// upper directory is moved into the layer store as the layer's diff/. Proven here against a real
// drayd: each such layer's diff/ holds exactly what unpacking its blob gives (names, types,
// modes, owners, content, hard links, symlinks, whiteouts, opaque directories), its blob's digest
// is its DiffID, and it really is the step's own directory (sub-second times a tar cannot carry).
// Where the upper must stay (a container kept with rm=0, `docker commit`), it does.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { promises as fsp } from 'node:fs';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import * as tarStream from 'tar-stream';
import { TestDaemon, demux } from '../helpers/daemon';
import { unpackLayer, writeDiffTar } from '../../src/store/tar';
import { tarOf } from '../helpers/tar';

const d = new TestDaemon();
const work = mkdtempSync('/tmp/dray-layer-commit-');
before(async () => { await d.start(); await d.bootstrapBusybox(); });
after(async () => { rmSync(work, { recursive: true, force: true }); const leaks = await d.stop(); assert.deepEqual(leaks, []); });

/** A build context of `files` (whole-second times, as a tar carries them). */
const contextOf = (files: Record<string, string | Buffer>) => tarOf(Object.entries(files).map(([name, body]) => ({ name, body, mtime: new Date(1_700_000_000_000) })));

async function build(files: Record<string, string | Buffer>, query = ''): Promise<{ text: string; error?: string; id?: string }> {
  const r = await d.api('POST', `/build?networkmode=none&${query}`, await contextOf(files), { 'Content-Type': 'application/x-tar' });
  assert.equal(r.status, 200, r.body.toString());
  const lines = r.body.toString().split(/\r?\n/).filter(Boolean).map((l) => JSON.parse(l));
  return { text: lines.map((l) => l.stream ?? '').join(''), error: lines.find((l) => l.error)?.error, id: lines.find((l) => l.aux?.ID)?.aux.ID };
}

const layerDir = (diffId: string) => path.join(d.dataRoot, 'image', 'layers', diffId.slice('sha256:'.length));

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(file)) h.update(c as Buffer);
  return 'sha256:' + h.digest('hex');
}

/** Directories under `root` marked opaque, relative. */
function opaqueOf(root: string): Set<string> {
  const r = spawnSync('getfattr', ['-R', '--absolute-names', '-h', '-m', '^trusted.overlay.opaque$', '-d', root], { encoding: 'utf8' });
  const out = new Set<string>();
  let cur = '';
  for (const line of r.stdout.split('\n')) {
    if (line.startsWith('# file: ')) cur = path.relative(root, line.slice(8));
    else if (/^trusted\.overlay\.opaque="?y"?$/.test(line.trim())) out.add(cur);
  }
  return out;
}

async function holdsWhiteout(dir: string): Promise<boolean> {
  for (const n of await fsp.readdir(dir)) {
    const st = await fsp.lstat(path.join(dir, n));
    if (st.isCharacterDevice() && st.rdev === 0) return true;
  }
  return false;
}

/** Everything a layer's tree says, but times: one line per entry, hard links as groups. */
async function describe(root: string): Promise<{ lines: string[]; subSecond: number }> {
  const lines: string[] = [];
  const inodes = new Map<bigint, string>();
  let subSecond = 0;
  const opaque = opaqueOf(root);
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await fsp.readdir(path.join(root, rel))).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const p = path.join(root, r);
      const st = await fsp.lstat(p, { bigint: true });
      // Unpacking sets whole-second times from the tar, except on the directories its whiteouts
      // and opaque marks are made in afterwards.
      if (st.mtimeNs % 1_000_000_000n !== 0n && (st.isFile() || (st.isDirectory() && !opaque.has(r) && !(await holdsWhiteout(p))))) subSecond++;
      const mode = (Number(st.mode) & 0o7777).toString(8);
      const head = `${r} ${mode} ${st.uid}:${st.gid}`;
      if (st.isDirectory()) { lines.push(`${head} dir${opaque.has(r) ? ' opaque' : ''}`); await walk(r); }
      else if (st.isSymbolicLink()) lines.push(`${head} -> ${await fsp.readlink(p)}`);
      else if (st.isCharacterDevice()) lines.push(`${head} chr ${st.rdev}`);
      else if (st.isFile()) {
        const first = st.nlink > 1n ? inodes.get(st.ino) : undefined;
        if (st.nlink > 1n && !first) inodes.set(st.ino, r);
        lines.push(`${head} file ${st.size} ${await sha256File(p)}${first ? ` link of ${first}` : ''}`);
      } else lines.push(`${head} other`);
    }
  };
  await walk('');
  return { lines, subSecond };
}

/**
 * Checks every layer an image adds over busybox: its blob's digest is its DiffID, and its diff/
 * is what that blob unpacks to. Returns how many of them hold sub-second times (made in place).
 */
async function checkLayers(imageId: string, base: string[]): Promise<number> {
  const img = await d.api('GET', `/images/${imageId}/json`);
  const diffIds: string[] = img.json.RootFS.Layers;
  let inPlace = 0;
  for (const diffId of diffIds.filter((x) => !base.includes(x))) {
    const rec = JSON.parse(readFileSync(path.join(layerDir(diffId), 'layer.json'), 'utf8'));
    assert.equal(rec.blob.digest, diffId, 'a committed layer is stored as a plain tar');
    const blob = path.join(d.dataRoot, 'image', 'blobs', 'sha256', diffId.slice(7));
    assert.equal(await sha256File(blob), diffId, `blob of ${diffId} matches its digest`);
    const unpacked = mkdtempSync(path.join(work, 'unpacked-'));
    const res = await unpackLayer(createReadStream(blob), unpacked);
    assert.equal(res.diffId, diffId);
    assert.equal(rec.size, res.size, 'the recorded size is the content unpacking counts');
    const have = await describe(path.join(layerDir(diffId), 'diff'));
    const want = await describe(unpacked);
    assert.deepEqual(have.lines, want.lines, `layer ${diffId}'s diff/ is what its blob unpacks to`);
    assert.equal(want.subSecond, 0, 'a tar carries whole seconds only');
    if (have.subSecond > 0) inPlace++;
    rmSync(unpacked, { recursive: true, force: true });
  }
  return inPlace;
}

let baseLayers: string[] = [];

test('RUN, COPY, WORKDIR, FROM scratch and COPY --link layers are their steps\' own directories, equal to their blobs', async () => {
  baseLayers = (await d.api('GET', '/images/busybox/json')).json.RootFS.Layers;
  const big = Buffer.alloc(3 * 1024 * 1024, 7);
  const r = await build({
    Dockerfile: [
      'FROM busybox AS base',
      // a whiteout (a lower file deleted), an opaque directory (a lower one replaced), hard and
      // symbolic links, a sub-directory, a file with the set-uid bit and another owner
      'RUN mkdir /o && echo a > /o/a && echo x > /x',
      'RUN rm /bin/ls /x && rm -rf /o && mkdir /o && echo b > /o/b'
        + ' && mkdir -p /d/e && echo hi > /d/e/f && ln /d/e/f /d/e/g && ln -s f /d/e/s && touch /t && chown 12:34 /t && chmod 4755 /t',
      'WORKDIR /w/x',
      'COPY big.bin small.txt /copied/',
      'FROM scratch AS bare',
      'COPY small.txt /sub/dir/small.txt',
      'FROM base',
      'COPY --link small.txt /linked/',
      'COPY --from=bare /sub /fromscratch',
      'CMD ["sh", "-c", "cat /d/e/g /o/* /linked/small.txt /fromscratch/dir/small.txt; ls /bin/ls /x || echo gone; wc -c < /copied/big.bin"]',
    ].join('\n') + '\n',
    'big.bin': big,
    'small.txt': 'small\n',
  }, 't=adopt:1');
  assert.equal(r.error, undefined, r.text);
  const inPlace = await checkLayers(r.id!, baseLayers);
  const opaqueLayer = await describe(path.join(layerDir((await d.api('GET', `/images/${r.id}/json`)).json.RootFS.Layers[baseLayers.length + 1]), 'diff'));
  for (const want of ['o 755 0:0 dir opaque', 'x 0 0:0 chr 0', 'bin/ls 0 0:0 chr 0', 't 4755 12:34 file 0']) assert.ok(opaqueLayer.lines.some((l) => l.startsWith(want)), `${want} in ${opaqueLayer.lines.join('\n')}`);
  // 2 × RUN, WORKDIR, COPY, COPY --link and COPY --from: every one made in place.
  assert.ok(inPlace >= 6, `layers made in place: ${inPlace}`);
  const bare = await build({ Dockerfile: 'FROM scratch\nCOPY small.txt /sub/dir/small.txt\n', 'small.txt': 'small\n' }, 't=adopt:bare');
  assert.equal(bare.error, undefined, bare.text);
  assert.equal(await checkLayers(bare.id!, []), 1, 'the FROM scratch layer (a cache hit now) was made in place');
  const diff = path.join(layerDir((await d.api('GET', '/images/adopt:bare/json')).json.RootFS.Layers[0]), 'diff');
  assert.equal(((await fsp.stat(diff)).mode & 0o777).toString(8), '755', 'a scratch directory (0700) becomes a 0755 layer root');

  const c = await d.api('POST', '/containers/create', { Image: 'adopt:1' });
  await d.api('POST', `/containers/${c.json.Id}/start`);
  assert.equal((await d.api('POST', `/containers/${c.json.Id}/wait`)).json.StatusCode, 0);
  const logs = demux((await d.api('GET', `/containers/${c.json.Id}/logs?stdout=1`)).body).stdout;
  await d.api('DELETE', `/containers/${c.json.Id}?force=1`);
  assert.equal(logs, `hi\nb\nsmall\nsmall\ngone\n${big.length}\n`);
  assert.deepEqual(readdirSync(path.join(d.dataRoot, 'image', 'layers')).filter((n) => n.startsWith('.tmp-')), [], 'no half-made layer left');
  assert.deepEqual(await d.buildLeftovers(), []);
});

test('a step whose files the tar cannot say whole (a name that reads as a whiteout) gets its layer from the blob, as a pull would', async () => {
  const r = await build({ Dockerfile: 'FROM busybox\nRUN mkdir /k && echo k > /k/kept && touch /.wh.literal\n' }, 't=adopt:wh');
  assert.equal(r.error, undefined, r.text);
  assert.equal(await checkLayers(r.id!, baseLayers), 0, 'unpacked from its blob, not moved');
  const layer = await describe(path.join(layerDir((await d.api('GET', '/images/adopt:wh/json')).json.RootFS.Layers[baseLayers.length]), 'diff'));
  assert.ok(layer.lines.some((l) => l.startsWith('literal 0 0:0 chr 0')), layer.lines.join('\n'));
});

test('writeDiffTar says when its tar is not the whole directory: an extended attribute it does not carry, a .wh. name; overlay\'s own marks are carried', async () => {
  const up = mkdtempSync(path.join(work, 'upper-'));
  mkdirSync(path.join(up, 'o'));
  writeFileSync(path.join(up, 'o', 'f'), 'f\n');
  assert.equal(spawnSync('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', path.join(up, 'o')]).status, 0);
  assert.equal(spawnSync('setfattr', ['-n', 'trusted.overlay.impure', '-v', 'y', up]).status, 0);
  const tarIt = async () => {
    const pack = tarStream.pack();
    const names: string[] = [];
    const extract = tarStream.extract();
    extract.on('entry', (h, stream, next) => { names.push(h.name); stream.on('end', next); stream.resume(); });
    const read = new Promise<void>((r) => extract.on('finish', () => r()));
    pack.pipe(extract);
    const res = await writeDiffTar(up, pack, undefined, { faithfulness: true });
    await read;
    return { ...res, names };
  };
  const plain = await tarIt();
  assert.equal(plain.faithful, true, 'overlay marks only');
  assert.ok(plain.names.includes('o/.wh..wh..opq'), plain.names.join(' '));
  assert.equal(spawnSync('setfattr', ['-n', 'user.dray', '-v', '1', path.join(up, 'o', 'f')]).status, 0);
  assert.equal((await tarIt()).faithful, false, 'a user xattr the tar leaves out');
  assert.equal(spawnSync('setfattr', ['-x', 'user.dray', path.join(up, 'o', 'f')]).status, 0);
  writeFileSync(path.join(up, '.wh.named'), '');
  assert.equal((await tarIt()).faithful, false, 'a file whose name reads as a whiteout');
});

test('a step container kept by rm=0 keeps its changes; its layer is a copy', async () => {
  const r = await build({ Dockerfile: 'FROM busybox\nRUN echo kept > /kept\n' }, 'rm=0&t=adopt:kept');
  assert.equal(r.error, undefined, r.text);
  const cs = (await d.api('GET', '/containers/json?all=1')).json;
  assert.equal(cs.length, 1, 'the step container is kept');
  const changes = (await d.api('GET', `/containers/${cs[0].Id}/changes`)).json ?? [];
  assert.ok(changes.some((x: { Path: string }) => x.Path === '/kept'), JSON.stringify(changes));
  assert.equal(await checkLayers(r.id!, baseLayers), 0, 'unpacked from its blob, not moved');
  await d.api('DELETE', `/containers/${cs[0].Id}?force=1`);
});

test('docker commit of a stopped container leaves its changes in place', async () => {
  const c = await d.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['sh', '-c', 'echo committed > /c'] });
  await d.api('POST', `/containers/${c.json.Id}/start`);
  assert.equal((await d.api('POST', `/containers/${c.json.Id}/wait`)).json.StatusCode, 0);
  const cm = await d.api('POST', `/commit?container=${c.json.Id}&repo=adopt&tag=committed`);
  assert.equal(cm.status, 201, cm.body.toString());
  const changes = (await d.api('GET', `/containers/${c.json.Id}/changes`)).json ?? [];
  assert.ok(changes.some((x: { Path: string }) => x.Path === '/c'), JSON.stringify(changes));
  assert.ok(existsSync(path.join(d.dataRoot, 'containers', c.json.Id, 'fs', 'upper', 'c')));
  await d.api('DELETE', `/containers/${c.json.Id}?force=1`);
});
