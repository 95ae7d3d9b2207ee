// The image store against a real ImageService in temp data roots: real tar, real files, real
// overlay mounts (always unmounted in a finally). Needs root (mknod, trusted.* xattrs, mount).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, promises as fsp, createReadStream, createWriteStream, lstatSync, existsSync, readdirSync, mkdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip, gzipSync, zstdCompressSync } from 'node:zlib';
import { ImageService } from '../../src/engine/images';
import { EventBus, EngineEvent } from '../../src/engine/events';
import { bootstrapBusybox } from '../../src/engine/bootstrap';
import { tarOf } from '../helpers/tar';

const roots: string[] = [];
function tmp(prefix = 'dray-img-'): string {
  const d = mkdtempSync(`/tmp/${prefix}`);
  roots.push(d);
  return d;
}
after(() => { for (const r of roots) rmSync(r, { recursive: true, force: true }); });

async function store(dataRoot = tmp()): Promise<{ s: ImageService; events: EngineEvent[]; dataRoot: string; users: Map<string, { id: string; running: boolean }[]> }> {
  const bus = new EventBus();
  const events: EngineEvent[] = [];
  bus.subscribe((e) => events.push(e));
  const s = new ImageService({ dataRoot, events: bus });
  const users = new Map<string, { id: string; running: boolean }[]>();
  s.setUsageCheck((id) => users.get(id) ?? []);
  await s.init();
  return { s, events, dataRoot, users };
}

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function saveToBuffer(s: ImageService, refs: string[]): Promise<Buffer> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c) => chunks.push(c));
  await s.save(refs, out);
  return Buffer.concat(chunks);
}

async function withOverlay<T>(lowers: string[], fn: (merged: string) => Promise<T> | T): Promise<T> {
  const d = tmp('dray-ovl-');
  for (const n of ['upper', 'work', 'merged']) mkdirSync(path.join(d, n));
  sh('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lowers.join(':')},upperdir=${d}/upper,workdir=${d}/work`, `${d}/merged`]);
  try {
    return await fn(`${d}/merged`);
  } finally {
    sh('umount', [`${d}/merged`]);
  }
}

const isWhiteout = (p: string) => { const st = lstatSync(p); return st.isCharacterDevice() && st.rdev === 0; };
const opaque = (p: string) => spawnSync('getfattr', ['--only-values', '-h', '-n', 'trusted.overlay.opaque', p], { encoding: 'utf8' }).stdout === 'y';

test('bootstrap busybox is deterministic: same ID twice and in another store', async () => {
  const a = await store();
  const i1 = await bootstrapBusybox(a.s);
  const i2 = await bootstrapBusybox(a.s);
  assert.equal(i1.id, i2.id);
  assert.deepEqual(i1.repoTags, ['busybox:latest']);
  const b = await store();
  assert.equal((await bootstrapBusybox(b.s)).id, i1.id);
  assert.equal((await a.s.list()).length, 1);
  const cfg = i1.config;
  assert.deepEqual(cfg.config?.Cmd, ['sh']);
  assert.deepEqual(cfg.config?.Env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
  const [diff] = await a.s.lowerDirs(i1);
  assert.ok(lstatSync(path.join(diff, 'bin/busybox')).isFile());
  assert.equal(lstatSync(path.join(diff, 'tmp')).mode & 0o7777, 0o1777);
  assert.ok(lstatSync(path.join(diff, 'bin/ls')).isSymbolicLink());
  for (const d of ['proc', 'sys', 'dev', 'root', 'home', 'var']) assert.ok(lstatSync(path.join(diff, d)).isDirectory(), d);
  assert.match(await fsp.readFile(path.join(diff, 'etc/passwd'), 'utf8'), /^root:x:0:0:.*\nnobody:x:65534/ms);
  assert.ok(existsSync(path.join(diff, 'etc/group')));
});

test('busybox rootfs runs: overlay of its lowerdirs, chroot sh -c "echo hi"', async () => {
  const { s } = await store();
  const img = await bootstrapBusybox(s);
  const out = await withOverlay(await s.lowerDirs(img), (m) => sh('chroot', [m, '/bin/sh', '-c', 'echo hi; ls /usr/bin/env >/dev/null && echo env']));
  assert.equal(out, 'hi\nenv\n');
});

test('resolve: names, tags, full and short IDs, Docker\'s errors', async () => {
  const { s } = await store();
  const img = await bootstrapBusybox(s);
  for (const r of ['busybox', 'busybox:latest', 'docker.io/library/busybox', img.id, img.id.slice(7), img.id.slice(7, 19), `sha256:${img.id.slice(7, 19)}`]) {
    assert.equal((await s.resolve(r)).id, img.id, r);
  }
  await assert.rejects(s.resolve('nope'), { message: 'No such image: nope:latest' });
  await assert.rejects(s.resolve('busybox:1.0'), (e: any) => e.kind === 'NotFound' && e.message === 'No such image: busybox:1.0');
  await assert.rejects(s.resolve('Busybox'), (e: any) => e.kind === 'InvalidParameter' && e.message === 'invalid reference format: repository name (library/Busybox) must be lowercase');
  await assert.rejects(s.resolve('a:b:c'), { message: 'invalid reference format' });
});

test('save → load into another store: same ID and tags, in every archive form', async () => {
  const a = await store();
  const img = await bootstrapBusybox(a.s);
  await a.s.tag('busybox', 'localhost:5000/tools/bb:v1');
  const archive = await saveToBuffer(a.s, ['busybox:latest', 'localhost:5000/tools/bb:v1']);
  assert.ok(a.events.some((e) => e.Action === 'save'));

  // As written (Docker ≥ 25: manifest.json + OCI layout), and gzip-compressed.
  for (const body of [archive, gzipSync(archive)]) {
    const b = await store();
    const lines: string[] = [];
    const loaded = await b.s.load(Readable.from([body]), (l) => lines.push(l));
    assert.equal(loaded.length, 1);
    assert.equal(loaded[0].id, img.id);
    assert.deepEqual(loaded[0].repoTags, ['busybox:latest', 'localhost:5000/tools/bb:v1']);
    assert.deepEqual(lines, ['Loaded image: busybox:latest\n', 'Loaded image: localhost:5000/tools/bb:v1\n']);
    assert.ok(b.events.some((e) => e.Action === 'load' && e.Actor.ID === img.id));
    // The layer blob is kept byte-exact: saving again gives the same archive.
    assert.ok((await saveToBuffer(b.s, ['busybox:latest', 'localhost:5000/tools/bb:v1'])).equals(archive));
  }

  // The other two forms, rebuilt from the extracted archive.
  const x = tmp('dray-arch-');
  await pipeline(Readable.from([archive]), createWriteStream(path.join(x, 'a.tar')));
  const ex = path.join(x, 'ex');
  mkdirSync(ex);
  sh('tar', ['-x', '-C', ex, '-f', path.join(x, 'a.tar')]);
  const manifest = JSON.parse(await fsp.readFile(path.join(ex, 'manifest.json'), 'utf8'));
  // (a) OCI image layout only.
  const oci = path.join(x, 'oci');
  sh('cp', ['-a', ex, oci]);
  await fsp.rm(path.join(oci, 'manifest.json'));
  await fsp.rm(path.join(oci, 'repositories'), { force: true });
  // (b) Docker ≤ 24: <id>.json, <layer>/layer.tar (a symlink for the second reference), no index.json.
  const legacy = path.join(x, 'legacy');
  mkdirSync(legacy);
  const cfgHex = img.id.slice(7);
  await fsp.copyFile(path.join(ex, manifest[0].Config), path.join(legacy, `${cfgHex}.json`));
  const lid = 'f'.repeat(64);
  mkdirSync(path.join(legacy, lid));
  await fsp.copyFile(path.join(ex, manifest[0].Layers[0]), path.join(legacy, lid, 'layer.tar'));
  writeFileSync(path.join(legacy, 'manifest.json'), JSON.stringify([{ Config: `${cfgHex}.json`, RepoTags: ['busybox:old'], Layers: [`${lid}/layer.tar`] }]));
  for (const [dir, tags] of [[oci, ['busybox:latest', 'localhost:5000/tools/bb:v1']], [legacy, ['busybox:old']]] as const) {
    const tarFile = path.join(x, `${path.basename(dir)}.tar`);
    sh('tar', ['-c', '-f', tarFile, '-C', dir, '.']);
    const c = await store();
    const loaded = await c.s.load(createReadStream(tarFile), () => {});
    assert.equal(loaded[0].id, img.id, dir);
    assert.deepEqual(loaded[0].repoTags, tags);
    const out = await withOverlay(await c.s.lowerDirs(loaded[0]), (m) => sh('chroot', [m, '/bin/sh', '-c', 'echo ok']));
    assert.equal(out, 'ok\n');
  }

  // A tampered layer is refused.
  const bad = path.join(x, 'bad');
  sh('cp', ['-a', legacy, bad]);
  writeFileSync(path.join(bad, lid, 'layer.tar'), await tarOf([{ name: 'x', body: 'evil' }]));
  sh('tar', ['-c', '-f', path.join(x, 'bad.tar'), '-C', bad, '.']);
  const d = await store();
  await assert.rejects(d.s.load(createReadStream(path.join(x, 'bad.tar')), () => {}), /invalid diffID/);
  assert.equal((await d.s.list()).length, 0);
});

test('load moves a tag from an older image and says so', async () => {
  const a = await store();
  const img = await bootstrapBusybox(a.s);
  const archive = await saveToBuffer(a.s, ['busybox']);
  const b = await store();
  const other = await b.s.importRootfs(Readable.from([await tarOf([{ name: 'f', body: 'x' }])]), { ref: 'busybox:latest' });
  const lines: string[] = [];
  await b.s.load(Readable.from([archive]), (l) => lines.push(l));
  assert.deepEqual(lines, [`The image busybox:latest already exists, renaming the old one with ID ${other.id} to empty string\n`, 'Loaded image: busybox:latest\n']);
  assert.equal((await b.s.resolve('busybox')).id, img.id);
  assert.deepEqual((await b.s.resolve(other.id)).repoTags, []);
  // Saved by ID: no tags, and load reports the ID.
  const byId = await saveToBuffer(a.s, [img.id]);
  const c = await store();
  const l2: string[] = [];
  await c.s.load(Readable.from([byId]), (l) => l2.push(l));
  assert.deepEqual(l2, [`Loaded image ID: ${img.id}\n`]);
});

test('import a gzip rootfs tarball with --change and a message', async () => {
  const { s, events } = await store();
  const tar = await tarOf([{ name: 'etc/', type: 'directory' }, { name: 'etc/motd', body: 'hello\n' }, { name: 'bin/', type: 'directory' }, { name: 'bin/sh', type: 'symlink', linkname: 'busybox' }]);
  const img = await s.importRootfs(Readable.from([gzipSync(tar)]), {
    ref: 'imported:v1', changes: ['CMD ["/bin/sh"]', 'ENV A=1 B=2', 'EXPOSE 8080', 'WORKDIR /srv', 'LABEL k=v'], message: 'from a tarball',
  });
  assert.deepEqual(img.repoTags, ['imported:v1']);
  assert.deepEqual(img.config.config?.Cmd, ['/bin/sh']);
  assert.deepEqual(img.config.config?.Env, ['A=1', 'B=2']);
  assert.deepEqual(img.config.config?.ExposedPorts, { '8080/tcp': {} });
  assert.equal(img.config.config?.WorkingDir, '/srv');
  assert.equal(img.config.comment, 'from a tarball');
  assert.equal(img.size, 6);
  const [diff] = await s.lowerDirs(img);
  assert.equal(await fsp.readFile(path.join(diff, 'etc/motd'), 'utf8'), 'hello\n');
  assert.ok(events.some((e) => e.Action === 'import'));
  // The DiffID is the uncompressed tar's digest; the gzip blob is kept for save.
  const { createHash } = await import('node:crypto');
  assert.deepEqual(img.config.rootfs.diff_ids, ['sha256:' + createHash('sha256').update(tar).digest('hex')]);
  const insp = s.inspect(img) as any;
  assert.equal(insp.Config.Cmd[0], '/bin/sh');
  assert.equal(insp.RootFS.Type, 'layers');
  assert.equal(insp.GraphDriver.Name, 'overlay2');
  assert.equal(insp.GraphDriver.Data.UpperDir, diff);
  await assert.rejects(s.importRootfs(Readable.from([tar]), { changes: ['RUN rm -rf /'] }), { message: 'run is not a valid change command' });
});

test('zstd-compressed layers unpack (through zlib) and keep their blob and media type', async () => {
  const { s } = await store();
  const tar = await tarOf([{ name: 'hello.txt', body: 'zstd!' }]);
  const img = await s.importRootfs(Readable.from([zstdCompressSync(tar)]), {});
  const { createHash } = await import('node:crypto');
  assert.deepEqual(img.config.rootfs.diff_ids, ['sha256:' + createHash('sha256').update(tar).digest('hex')]);
  const [diff] = await s.lowerDirs(img);
  assert.equal(await fsp.readFile(path.join(diff, 'hello.txt'), 'utf8'), 'zstd!');
  const archive = await saveToBuffer(s, [img.id]);
  const b = await store();
  const [loaded] = await b.s.load(Readable.from([archive]), () => {});
  assert.equal(loaded.id, img.id);
  // A tar that is not one is refused as invalid, not as a daemon failure.
  await assert.rejects(s.importRootfs(Readable.from([Buffer.from('not a tar at all'.repeat(64))]), {}), (e: any) => e.kind === 'InvalidParameter');
});

test('tag and rmi follow Docker: untag while tags remain, conflicts by ID and by use', async () => {
  const { s, users, events } = await store();
  const img = await bootstrapBusybox(s);
  const short = img.id.slice(7, 19);
  await s.tag('busybox', 'mine:1');
  assert.deepEqual((await s.resolve(img.id)).repoTags, ['busybox:latest', 'mine:1']);
  assert.ok(events.some((e) => e.Action === 'tag' && e.Actor.Attributes.name === 'mine:1'));
  await assert.rejects(s.tag('busybox', 'Bad'), /must be lowercase/);
  await assert.rejects(s.tag('nothere', 'x'), { message: 'No such image: nothere:latest' });

  // By ID with two tags.
  await assert.rejects(s.remove(img.id, { force: false, noprune: false }),
    (e: any) => e.kind === 'Conflict' && e.message === `conflict: unable to delete ${short} (must be forced) - image is referenced in multiple repositories`);
  // By tag: only untags.
  assert.deepEqual(await s.remove('mine:1', { force: false, noprune: false }), [{ Untagged: 'mine:1' }]);
  assert.deepEqual((await s.resolve(img.id)).repoTags, ['busybox:latest']);

  // Used by a stopped container.
  users.set(img.id, [{ id: 'c'.repeat(64), running: false }]);
  await assert.rejects(s.remove(short, { force: false, noprune: false }),
    { message: `conflict: unable to delete ${short} (must be forced) - image is being used by stopped container cccccccccccc` });
  await assert.rejects(s.remove('busybox', { force: false, noprune: false }),
    { message: `conflict: unable to remove repository reference "busybox" (must force) - container cccccccccccc is using its referenced image ${short}` });
  // Used by a running container: not even with force.
  users.set(img.id, [{ id: 'd'.repeat(64), running: true }]);
  await assert.rejects(s.remove(img.id, { force: true, noprune: false }),
    (e: any) => e.kind === 'Conflict' && e.message === `conflict: unable to delete ${short} (cannot be forced) - image is being used by running container dddddddddddd`);
  assert.ok(await s.resolve('busybox'));

  // Forced over a stopped container: deleted, but its layers stay for the container.
  users.set(img.id, [{ id: 'c'.repeat(64), running: false }]);
  const lowers = await s.lowerDirs(img);
  const recs = await s.remove(img.id, { force: true, noprune: false });
  assert.deepEqual(recs, [{ Untagged: 'busybox:latest' }, { Deleted: img.id }]);
  assert.ok(existsSync(lowers[0]));
  await assert.rejects(s.resolve('busybox'), /No such image/);

  // Unused: layers go too, and the record lists the layer's chain ID.
  users.clear();
  const again = await bootstrapBusybox(s);
  const recs2 = await s.remove('busybox', { force: false, noprune: false });
  assert.deepEqual(recs2, [{ Untagged: 'busybox:latest' }, { Deleted: again.id }, { Deleted: again.config.rootfs.diff_ids[0] }]);
  assert.ok(!existsSync(lowers[0]));
  assert.ok(events.some((e) => e.Action === 'delete') && events.some((e) => e.Action === 'untag'));
  await assert.rejects(s.remove('busybox', { force: false, noprune: false }), { message: 'No such image: busybox:latest' });
});

test('a layer with OCI whiteouts unpacks to char dev 0:0 and an opaque directory', async () => {
  const { s } = await store();
  const tar = await tarOf([
    { name: 'etc/', type: 'directory' }, { name: 'etc/.wh.passwd' }, { name: 'etc/keep', body: 'k' },
    { name: 'opq/', type: 'directory' }, { name: 'opq/.wh..wh..opq' }, { name: 'opq/new', body: 'n' },
    { name: '.wh.gone' },
  ]);
  const img = await s.importRootfs(Readable.from([tar]), {});
  const [diff] = await s.lowerDirs(img);
  assert.ok(isWhiteout(path.join(diff, 'etc/passwd')));
  assert.ok(isWhiteout(path.join(diff, 'gone')));
  assert.ok(!existsSync(path.join(diff, 'etc/.wh.passwd')));
  assert.ok(!existsSync(path.join(diff, 'opq/.wh..wh..opq')));
  assert.ok(opaque(path.join(diff, 'opq')));
  assert.ok(!opaque(path.join(diff, 'etc')));
  assert.equal(await fsp.readFile(path.join(diff, 'opq/new'), 'utf8'), 'n');
  // A whiteout through a symlinked directory is refused, not followed.
  const evil = await tarOf([{ name: 'sub/', type: 'directory' }, { name: 'lnk', type: 'symlink', linkname: 'sub' }, { name: 'lnk/.wh.x' }]);
  await assert.rejects(s.importRootfs(Readable.from([evil]), {}), /invalid layer: lnk\/.wh.x: parent is not a directory/);
  // A host directory of this test's own, with a file the whiteout would remove if it were followed.
  const hostDir = await fsp.mkdtemp('/tmp/dray-wh-');
  await fsp.writeFile(path.join(hostDir, 'x'), 'keep');
  try {
    const absolute = await tarOf([{ name: 'lnk', type: 'symlink', linkname: hostDir }, { name: 'lnk/.wh.x' }]);
    await assert.rejects(s.importRootfs(Readable.from([absolute]), {}), /Not a directory/);
    assert.equal(await fsp.readFile(path.join(hostDir, 'x'), 'utf8'), 'keep');
    assert.deepEqual(await fsp.readdir(hostDir), ['x']);
  } finally {
    await fsp.rm(hostDir, { recursive: true, force: true });
  }
});

test('commit of an upper dir with a whiteout and an opaque dir round-trips through save/load', async () => {
  const a = await store();
  const base = await bootstrapBusybox(a.s);
  const upper = tmp('dray-upper-');
  mkdirSync(path.join(upper, 'etc'));
  sh('mknod', [path.join(upper, 'etc/group'), 'c', '0', '0']);
  writeFileSync(path.join(upper, 'etc/added'), 'new file\n');
  mkdirSync(path.join(upper, 'var'));
  sh('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', path.join(upper, 'var')]);
  writeFileSync(path.join(upper, 'var/only'), 'o');
  const changes = await a.s.changes(upper, await a.s.lowerDirs(base));
  assert.deepEqual(changes, [
    { Path: '/etc', Kind: 0 }, { Path: '/etc/added', Kind: 1 }, { Path: '/etc/group', Kind: 2 }, { Path: '/var', Kind: 0 }, { Path: '/var/only', Kind: 1 },
  ]);
  const img = await a.s.commit({ upperDir: upper, parent: base, config: { ...base.config.config, Cmd: ['cat', '/etc/added'] }, containerId: 'e'.repeat(64), comment: 'c1', author: 'me', ref: 'committed:1' });
  assert.equal(img.parent, base.id);
  assert.equal(img.config.rootfs.diff_ids.length, 2);
  assert.equal(img.config.history?.length, 2);
  assert.deepEqual((a.s.history(img) as any[]).map((h) => h.Id), [img.id, base.id]);
  // Committing the same upper again gives the same layer (deterministic tar).
  const img2 = await a.s.commit({ upperDir: upper, parent: base, config: {} });
  assert.equal(img2.config.rootfs.diff_ids[1], img.config.rootfs.diff_ids[1]);
  // Parent with a child cannot go.
  await assert.rejects(a.s.remove(base.id, { force: true, noprune: false }), /cannot be forced\) - image has dependent child images/);

  const archive = await saveToBuffer(a.s, ['committed:1']);
  const b = await store();
  const [loaded] = await b.s.load(Readable.from([archive]), () => {});
  assert.equal(loaded.id, img.id);
  assert.deepEqual(loaded.repoTags, ['committed:1']);
  const [top, bottom] = await b.s.lowerDirs(loaded);
  assert.ok(isWhiteout(path.join(top, 'etc/group')));
  assert.ok(opaque(path.join(top, 'var')));
  assert.ok(existsSync(path.join(bottom, 'etc/group')));
  const out = await withOverlay([top, bottom], (m) => sh('chroot', [m, '/bin/sh', '-c', 'cat /etc/added; ls /etc/group 2>&1 || true; ls /var']));
  assert.match(out, /^new file\n.*No such file or directory\nonly\n$/s);
});

test('prune: dangling images by default, every unused image with dangling=false', async () => {
  const { s, users } = await store();
  const bb = await bootstrapBusybox(s);
  const d1 = await s.importRootfs(Readable.from([await tarOf([{ name: 'a', body: '12345' }])]), {});
  const used = await s.importRootfs(Readable.from([await tarOf([{ name: 'b', body: 'b' }])]), {});
  users.set(used.id, [{ id: 'f'.repeat(64), running: false }]);
  const r = await s.prune({ all: false, filters: new Map() });
  assert.deepEqual(r.ImagesDeleted.filter((x) => x.Deleted === d1.id).length, 1);
  assert.equal(r.SpaceReclaimed, 5);
  assert.ok(await s.resolve(used.id));
  assert.ok(await s.resolve('busybox'));
  const r2 = await s.prune({ all: false, filters: new Map([['dangling', ['false']]]) });
  assert.ok(r2.ImagesDeleted.some((x) => x.Untagged === 'busybox:latest'));
  assert.ok(r2.ImagesDeleted.some((x) => x.Deleted === bb.id));
  assert.deepEqual((await s.list()).map((i) => i.id), [used.id]);
});

test('list filters: dangling, label, reference, before/since', async () => {
  const { s } = await store();
  const bb = await bootstrapBusybox(s);
  const lab = await s.importRootfs(Readable.from([await tarOf([{ name: 'z', body: 'z' }])]), { ref: 'app/web:1', changes: ['LABEL tier=front'] });
  const ids = async (f: Record<string, string[]>) => (await s.listFiltered({ all: false, filters: new Map(Object.entries(f)) })).map((i) => i.id);
  assert.deepEqual(await ids({ label: ['tier=front'] }), [lab.id]);
  assert.deepEqual(await ids({ reference: ['busy*'] }), [bb.id]);
  assert.deepEqual(await ids({ reference: ['app/*:1'] }), [lab.id]);
  // One image under several names is listed with the names that matched only.
  await s.tag(bb.id, 'app/web:2');
  const tags = async (f: Record<string, string[]>) => (await s.listFiltered({ all: false, filters: new Map(Object.entries(f)) })).map((i) => i.repoTags);
  assert.deepEqual(await tags({ reference: ['app/web'] }), [['app/web:1'], ['app/web:2']]);
  assert.deepEqual(await tags({ reference: ['busybox'] }), [['busybox:latest']]);
  assert.deepEqual((await s.list()).find((i) => i.id === bb.id)!.repoTags.sort(), ['app/web:2', 'busybox:latest'], 'the store itself keeps every name');
  await s.remove('app/web:2', { force: false, noprune: false });
  assert.deepEqual(await ids({ dangling: ['true'] }), []);
  assert.deepEqual(await ids({ since: ['busybox'] }), [lab.id]);
  assert.deepEqual(await ids({ before: ['app/web:1'] }), [bb.id]);
  await assert.rejects(ids({ bogus: ['1'] }), /invalid filter 'bogus'/);
});

test('concurrent loads of one archive share the layer unpack', async () => {
  const a = await store();
  await bootstrapBusybox(a.s);
  const archive = await saveToBuffer(a.s, ['busybox']);
  const b = await store();
  const res = await Promise.all([1, 2, 3].map(() => b.s.load(Readable.from([archive]), () => {})));
  assert.ok(res.every((r) => r[0].id === res[0][0].id));
  const layersDir = path.join(b.dataRoot, 'image/layers');
  assert.equal(readdirSync(layersDir).length, 1);
});

test('init() after a crash removes half-made state and keeps complete images', async () => {
  const a = await store();
  const img = await bootstrapBusybox(a.s);
  const root = path.join(a.dataRoot, 'image');
  // What a kill at various moments leaves behind.
  mkdirSync(path.join(root, 'layers/.tmp-deadbeef/diff/etc'), { recursive: true });
  writeFileSync(path.join(root, 'layers/.tmp-deadbeef/diff/etc/x'), 'partial');
  mkdirSync(path.join(root, `layers/${'1'.repeat(64)}/diff`), { recursive: true }); // renamed-in without a record: impossible by design, still swept
  writeFileSync(path.join(root, 'blobs/ingest/abc'), 'half a blob');
  writeFileSync(path.join(root, `blobs/sha256/${'2'.repeat(64)}`), 'orphan blob');
  mkdirSync(path.join(root, 'tmp/load-1234/x'), { recursive: true });
  writeFileSync(path.join(root, '.repositories.json.0a0b.tmp'), '{"refs": {');
  writeFileSync(path.join(root, `images/.${'3'.repeat(64)}.json.aa.tmp`), '{');
  writeFileSync(path.join(root, `images/${'4'.repeat(64)}.json`), '{"parent": ""}'); // config blob never written
  const b = await store(a.dataRoot);
  assert.ok(!existsSync(path.join(root, 'layers/.tmp-deadbeef')));
  assert.ok(!existsSync(path.join(root, `layers/${'1'.repeat(64)}`)));
  assert.deepEqual(readdirSync(path.join(root, 'blobs/ingest')), []);
  assert.ok(!existsSync(path.join(root, `blobs/sha256/${'2'.repeat(64)}`)));
  assert.deepEqual(readdirSync(path.join(root, 'tmp')), []);
  assert.ok(!existsSync(path.join(root, '.repositories.json.0a0b.tmp')));
  assert.deepEqual(readdirSync(path.join(root, 'images')), [`${img.id.slice(7)}.json`]);
  const again = await b.s.resolve('busybox');
  assert.equal(again.id, img.id);
  assert.equal(again.size, img.size);
  // A layer whose directory vanished takes its images out of the index (never a broken lowerdir).
  await fsp.rm(path.join(root, 'layers', img.config.rootfs.diff_ids[0].slice(7)), { recursive: true });
  const c = await store(a.dataRoot);
  await assert.rejects(c.s.resolve('busybox'), /No such image/);
});
