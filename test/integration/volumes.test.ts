// VolumeService and container-mounts against a temporary data root: real directories, real tmpfs
// and bind mounts (root needed), no daemon.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp, existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { VolumeService, mountedPaths, ANONYMOUS_LABEL } from '../../src/engine/volumes';
import { planMounts, startMounts, stopMounts, removeAnonymous, adoptMounts } from '../../src/engine/container-mounts';
import { EventBus } from '../../src/engine/events';
import { run } from '../../src/lib/exec';

let tmp: string;
const services: VolumeService[] = [];

before(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'dray-volumes-'));
});

after(async () => {
  // Nothing of ours may stay mounted, whatever a failed test left.
  const mine = [...(await mountedPaths())].filter((m) => m.startsWith(tmp)).sort((a, b) => b.length - a.length);
  for (const m of mine) await run('umount', ['-l', m], { allowFailure: true });
  await fsp.rm(tmp, { recursive: true, force: true });
  assert.deepEqual(mine, [], 'tests must unmount what they mounted');
});

/** A fresh service on its own data root; `usage` maps volume names to container ids. */
async function service(root = path.join(tmp, `r${services.length}`), usage: Record<string, string[]> = {}) {
  const events = new EventBus();
  const vs = new VolumeService({ dataRoot: root, events });
  vs.setUsage((n) => usage[n] ?? []);
  await vs.init();
  services.push(vs);
  return { vs, events, usage, root };
}

const isMounted = async (p: string) => (await mountedPaths()).has(p);

test('create, inspect, list with filters, remove', async () => {
  const { vs, events } = await service();
  const v = await vs.create({ Name: 'data1', Labels: { tier: 'db' } }) as any;
  assert.equal(v.Name, 'data1');
  assert.equal(v.Driver, 'local');
  assert.equal(v.Scope, 'local');
  assert.match(v.CreatedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(v.Mountpoint, path.join(vs.root, 'data1', '_data'));
  assert.ok(existsSync(v.Mountpoint));
  assert.deepEqual(v.Labels, { tier: 'db' });
  assert.equal(v.Options, null);
  // Creating an existing name returns it unchanged.
  const again = await vs.create({ Name: 'data1', Labels: { other: 'x' } }) as any;
  assert.deepEqual(again, v);

  const anon = await vs.create({}) as any;
  assert.match(anon.Name, /^[0-9a-f]{64}$/);
  await vs.create({ Name: 'logs' });

  assert.deepEqual(vs.list().map((x: any) => x.Name).sort(), [anon.Name, 'data1', 'logs'].sort());
  assert.deepEqual(vs.list(new Map([['name', ['dat']]])).map((x: any) => x.Name), ['data1']);
  assert.deepEqual(vs.list(new Map([['label', ['tier=db']]])).map((x: any) => x.Name), ['data1']);
  assert.deepEqual(vs.list(new Map([['label', ['tier=web']]])), []);
  assert.equal(vs.list(new Map([['driver', ['local']]])).length, 3);
  assert.equal(vs.list(new Map([['driver', ['nfs']]])).length, 0);
  assert.throws(() => vs.list(new Map([['bogus', ['1']]])), /invalid filter 'bogus'/);
  assert.throws(() => vs.list(new Map([['dangling', ['maybe']]])), /invalid filter 'dangling=maybe'/);

  await vs.remove('logs', false);
  assert.throws(() => vs.get('logs'), (e: any) => e.kind === 'NotFound' && e.message === 'get logs: no such volume');
  await assert.rejects(vs.remove('logs', false), (e: any) => e.kind === 'NotFound' && e.message === 'get logs: no such volume');
  await vs.remove('logs', true);
  assert.ok(!existsSync(path.join(vs.root, 'logs')));

  const actions = events.history().filter((e) => e.Type === 'volume').map((e) => `${e.Action}:${e.Actor.ID}`);
  assert.deepEqual(actions, ['create:data1', `create:${anon.Name}`, 'create:logs', 'destroy:logs']);
  assert.equal(events.history()[0].Actor.Attributes.driver, 'local');
});

test('create: Docker\'s errors for names, drivers and options', async () => {
  const { vs } = await service();
  await assert.rejects(vs.create({ Name: 'x', Driver: 'local' }), { message: 'create x: volume name is too short, names should be at least two alphanumeric characters' });
  await assert.rejects(vs.create({ Name: 'a/b' }), (e: any) => e.kind === 'InvalidParameter' && e.message.startsWith('create a/b: "a/b" includes invalid characters for a local volume name'));
  await assert.rejects(vs.create({ Name: 'v1', Driver: 'flocker' }), (e: any) => e.kind === 'NotFound' && e.message === 'error looking up volume plugin flocker: plugin "flocker" not found');
  await assert.rejects(vs.create({ Name: 'v1', DriverOpts: { color: 'red' } }), { message: 'create v1: invalid option: "color"' });
  await assert.rejects(vs.create({ Name: 'v1', DriverOpts: { type: 'tmpfs' } }), { message: 'create v1: missing required option: "device"' });
  await assert.rejects(vs.create({ Name: 'v1', DriverOpts: { type: 'none', o: 'bind', device: path.join(tmp, 'nope') } }), (e: any) => e.kind === 'InvalidParameter');
  assert.deepEqual(vs.list(), [], 'a failed create leaves nothing');
  assert.deepEqual(await fsp.readdir(vs.root), []);
});

test('remove and prune respect containers using a volume; prune without all takes anonymous ones only', async () => {
  const { vs, usage } = await service();
  await vs.create({ Name: 'used' });
  await vs.create({ Name: 'named' });
  const anonUsed = (await vs.create({ Labels: { [ANONYMOUS_LABEL]: '' } })).Name;
  const anonFree = (await vs.create({ Labels: { [ANONYMOUS_LABEL]: '' } })).Name;
  usage.used = ['c1'.padEnd(64, '0')];
  usage[anonUsed] = ['c2'.padEnd(64, '0')];
  await fsp.writeFile(path.join(vs.root, anonFree, '_data', 'f'), 'x'.repeat(1000));

  await assert.rejects(vs.remove('used', false), (e: any) => e.kind === 'Conflict' && e.message === `remove used: volume is in use - [${usage.used[0]}]`);
  await assert.rejects(vs.remove('used', true), (e: any) => e.kind === 'Conflict', 'force does not override use');

  assert.deepEqual(vs.list(new Map([['dangling', ['true']]])).map((v) => v.Name).sort(), [anonFree, 'named'].sort());
  assert.deepEqual(vs.list(new Map([['dangling', ['false']]])).map((v) => v.Name).sort(), [anonUsed, 'used'].sort());

  const r1 = await vs.prune({ all: false });
  assert.deepEqual(r1, { VolumesDeleted: [anonFree], SpaceReclaimed: 1000 });
  await assert.rejects(vs.prune({ all: false, filters: new Map([['until', ['1h']]]) }), /invalid filter 'until'/);
  const r2 = await vs.prune({ all: false, filters: new Map([['all', ['true']], ['label!', ['keep']]]) });
  assert.deepEqual(r2.VolumesDeleted, ['named']);
  assert.deepEqual(vs.list().map((v) => v.Name).sort(), [anonUsed, 'used'].sort());
});

test('a tmpfs volume is mounted on first acquire and unmounted on the last release', async () => {
  const { vs, events } = await service();
  const v = await vs.create({ Name: 'scratch', DriverOpts: { type: 'tmpfs', device: 'tmpfs', o: 'size=4m' } });
  assert.deepEqual(v.Options, { type: 'tmpfs', device: 'tmpfs', o: 'size=4m' });
  assert.equal(await isMounted(v.Mountpoint), false, 'created, not mounted');
  try {
    const p1 = await vs.acquire('scratch', { ref: 'a', event: { container: 'a' } });
    assert.equal(p1, v.Mountpoint);
    assert.equal(await isMounted(v.Mountpoint), true);
    await vs.acquire('scratch', { ref: 'a' }); // idempotent per container
    await vs.acquire('scratch', { ref: 'b' });
    await assert.rejects(vs.remove('scratch', false), (e: any) => e.kind === 'Conflict' && /in use - \[a, b\]/.test(e.message));
    await vs.release('scratch', { ref: 'a', event: { container: 'a' } });
    assert.equal(await isMounted(v.Mountpoint), true, 'b still holds it');
    await vs.release('scratch', { ref: 'b' });
    assert.equal(await isMounted(v.Mountpoint), false);
    const acts = events.history().filter((e) => e.Type === 'volume').map((e) => e.Action);
    assert.deepEqual(acts, ['create', 'mount', 'unmount']);
  } finally {
    if (await isMounted(v.Mountpoint)) await run('umount', [v.Mountpoint]);
  }
  await vs.remove('scratch', false);
});

test('a bind-device volume shows the device; removing it keeps the device content', async () => {
  const { vs } = await service();
  const device = path.join(tmp, 'device');
  await fsp.mkdir(device, { recursive: true });
  await fsp.writeFile(path.join(device, 'keep'), 'precious');
  const v = await vs.create({ Name: 'dev', DriverOpts: { type: 'none', o: 'bind', device } });
  try {
    const p = await vs.acquire('dev');
    assert.equal(await fsp.readFile(path.join(p, 'keep'), 'utf8'), 'precious');
    await vs.release('dev');
    assert.equal(await isMounted(v.Mountpoint), false);
    // Mounted again by a holder, then removed after release: the device is untouched.
    await vs.acquire('dev');
    await vs.release('dev');
    await vs.remove('dev', false);
    assert.equal(await fsp.readFile(path.join(device, 'keep'), 'utf8'), 'precious');
  } finally {
    if (await isMounted(v.Mountpoint)) await run('umount', [v.Mountpoint]);
  }
});

/** A fake container rootfs with an image directory at /app (owned by 1000:1000, mode 0750). */
async function fakeRootfs(name: string): Promise<string> {
  const rootfs = path.join(tmp, name);
  await fsp.mkdir(path.join(rootfs, 'srv', 'app', 'sub'), { recursive: true });
  await fsp.writeFile(path.join(rootfs, 'srv', 'app', 'hello.txt'), 'from image');
  await fsp.writeFile(path.join(rootfs, 'srv', 'app', 'sub', 'secret'), 's', { mode: 0o600 });
  await fsp.chown(path.join(rootfs, 'srv', 'app', 'sub', 'secret'), 33, 44);
  await fsp.chown(path.join(rootfs, 'srv', 'app'), 1000, 1000);
  await fsp.chmod(path.join(rootfs, 'srv', 'app'), 0o750);
  // The destination goes through an absolute symlink, resolved inside the rootfs.
  await fsp.symlink('/srv/app', path.join(rootfs, 'app'));
  return rootfs;
}

test('copy-up fills a new volume once from the image, keeping owners and modes', async () => {
  const { vs } = await service();
  const rootfs = await fakeRootfs('rootfs-copy');
  const id = 'c'.repeat(64);
  const points = await planMounts({
    binds: ['appdata:/app', 'quiet:/app2:nocopy'], mounts: [], tmpfs: {}, volumesFrom: [], imageVolumes: [],
    readContainerMounts: () => [],
  }, vs);
  await fsp.symlink('/srv/app', path.join(rootfs, 'app2'));
  const data = vs.get('appdata').Mountpoint;
  let mounts = await startMounts(points, rootfs, vs, { containerId: id });
  try {
    assert.deepEqual(mounts.map((m) => [m.destination, m.source, m.type, m.options.join(',')]), [
      ['/app', data, 'bind', 'rbind,rw,rprivate'],
      ['/app2', vs.get('quiet').Mountpoint, 'bind', 'rbind,rw,rprivate'],
    ]);
    assert.equal(await fsp.readFile(path.join(data, 'hello.txt'), 'utf8'), 'from image');
    const secret = await fsp.stat(path.join(data, 'sub', 'secret'));
    assert.deepEqual([secret.uid, secret.gid, secret.mode & 0o777], [33, 44, 0o600]);
    const root = await fsp.stat(data);
    assert.deepEqual([root.uid, root.gid, root.mode & 0o7777], [1000, 1000, 0o750]);
    assert.deepEqual(await fsp.readdir(vs.get('quiet').Mountpoint), [], 'nocopy');
  } finally {
    await stopMounts(points, vs, { containerId: id });
  }
  // The container empties its volume; the next start does not fill it again.
  await fsp.rm(path.join(data, 'hello.txt'));
  await fsp.rm(path.join(data, 'sub'), { recursive: true });
  mounts = await startMounts(points, rootfs, vs, { containerId: id });
  await stopMounts(points, vs, { containerId: id });
  assert.deepEqual(await fsp.readdir(data), []);
  // Not even after a daemon restart: the mark is on disk.
  const again = new VolumeService({ dataRoot: path.dirname(vs.root), events: new EventBus() });
  await again.init();
  await startMounts(points, rootfs, again, { containerId: id });
  await stopMounts(points, again, { containerId: id });
  assert.deepEqual(await fsp.readdir(data), []);
});

test('copy-up leaves a volume that already has content alone', async () => {
  const { vs } = await service();
  const rootfs = await fakeRootfs('rootfs-full');
  await vs.create({ Name: 'full' });
  await fsp.writeFile(path.join(vs.get('full').Mountpoint, 'mine'), 'm');
  const points = await planMounts({ binds: ['full:/app'], mounts: [], tmpfs: {}, volumesFrom: [], imageVolumes: [], readContainerMounts: () => [] }, vs);
  await startMounts(points, rootfs, vs, {});
  await stopMounts(points, vs, {});
  assert.deepEqual(await fsp.readdir(vs.get('full').Mountpoint), ['mine']);
});

test('planMounts: inspect Mounts of every form, image VOLUMEs, --volumes-from', async () => {
  const { vs } = await service();
  const host = path.join(tmp, 'hostdir');
  await fsp.mkdir(host, { recursive: true });
  const points = await planMounts({
    binds: [`${host}:/h:ro`, 'named:/n', '/anon'],
    mounts: [
      { Type: 'volume', Source: 'mnt', Target: '/m', VolumeOptions: { Labels: { l: '1' } } },
      { Type: 'bind', Source: host, Target: '/hb' },
      { Type: 'tmpfs', Target: '/t', TmpfsOptions: { SizeBytes: 1 << 20 } },
    ],
    tmpfs: { '/run': 'size=1m' },
    volumesFrom: [],
    imageVolumes: ['/n', '/img', '/run'],
    readContainerMounts: () => [],
  }, vs);
  const byDest = new Map(points.map((p) => [p.Destination, p]));
  assert.deepEqual(byDest.get('/h'), { Type: 'bind', Source: host, Destination: '/h', Mode: 'ro', RW: false, Propagation: 'rprivate' });
  assert.deepEqual(byDest.get('/n'), { Type: 'volume', Name: 'named', Source: vs.get('named').Mountpoint, Destination: '/n', Driver: 'local', Mode: 'z', RW: true, Propagation: '' });
  assert.deepEqual(byDest.get('/hb'), { Type: 'bind', Source: host, Destination: '/hb', Mode: '', RW: true, Propagation: 'rprivate' });
  assert.deepEqual(byDest.get('/t'), { Type: 'tmpfs', Source: '', Destination: '/t', Mode: '', RW: true, Propagation: '' });
  assert.equal(byDest.get('/m')!.Mode, 'z');
  assert.deepEqual(vs.get('mnt').Labels, { l: '1' });
  const anon = byDest.get('/anon')!;
  assert.match(anon.Name!, /^[0-9a-f]{64}$/);
  assert.equal(anon.Mode, 'z');
  assert.ok(vs.isAnonymous(anon.Name!));
  const img = byDest.get('/img')!;
  assert.equal(img.Mode, '');
  assert.ok(vs.isAnonymous(img.Name!));
  assert.equal(byDest.has('/run'), false, '--tmpfs is not listed in Mounts and shadows an image VOLUME');
  assert.equal(points.length, 7);

  // --volumes-from copies the other container's mounts; ":ro" makes them read-only, Mode is dropped.
  const from = await planMounts({
    binds: [], mounts: [], tmpfs: {}, volumesFrom: ['other:ro'], imageVolumes: ['/n'],
    readContainerMounts: (ref) => { assert.equal(ref, 'other'); return points; },
  }, vs);
  assert.equal(from.length, points.length);
  assert.ok(from.every((p) => !p.RW && p.Mode === ''));
  assert.equal(from.find((p) => p.Destination === '/n')!.Name, 'named', 'an image VOLUME does not replace an inherited mount');
  await assert.rejects(planMounts({ binds: [], mounts: [], tmpfs: {}, volumesFrom: ['ghost'], imageVolumes: [], readContainerMounts: () => { throw Object.assign(new Error('No such container: ghost'), { kind: 'NotFound' }); } }, vs), /No such container: ghost/);
});

test('planMounts: errors are raised before any volume is created', async () => {
  const { vs } = await service();
  const input = (over: Partial<Parameters<typeof planMounts>[0]>) => ({ binds: [], mounts: [], tmpfs: {}, volumesFrom: [], imageVolumes: ['/img'], readContainerMounts: () => [], ...over });
  await assert.rejects(planMounts(input({ binds: ['v1:/x', 'v2:/x'] }), vs), { message: 'Duplicate mount point: /x' });
  await assert.rejects(planMounts(input({ binds: ['v1:/x'], mounts: [{ Type: 'tmpfs', Target: '/x/' }] }), vs), { message: 'Duplicate mount point: /x' });
  await assert.rejects(planMounts(input({ binds: ['v1:/x'], tmpfs: { '/x': '' } }), vs), { message: 'Duplicate mount point: /x' });
  const missing = path.join(tmp, 'missing-src');
  await assert.rejects(planMounts(input({ binds: ['v1:/x'], mounts: [{ Type: 'bind', Source: missing, Target: '/y' }] }), vs),
    (e: any) => e.kind === 'InvalidParameter' && e.message === `invalid mount config for type "bind": bind source path does not exist: ${missing}`);
  await assert.rejects(planMounts(input({ binds: ['v1:/x', 'bad:/y:bogus'] }), vs), { message: 'invalid mode: bogus' });
  await assert.rejects(planMounts(input({ tmpfs: { '/t': 'size=1m,color=red' } }), vs), /invalid tmpfs option/);
  assert.deepEqual(vs.list(), []);
  // A volume that cannot be created takes back the anonymous ones made before it.
  await assert.rejects(planMounts(input({ binds: ['/anon', 'v2:/y'], volumeDriver: 'nfsplugin' }), vs), /plugin "nfsplugin" not found/);
  assert.deepEqual(vs.list(), []);
});

test('startMounts: -v creates a missing host dir, --mount bind does not; tmpfs options; stop releases', async () => {
  const { vs } = await service();
  const rootfs = path.join(tmp, 'rootfs-start');
  await fsp.mkdir(rootfs, { recursive: true });
  await vs.create({ Name: 'tvol', DriverOpts: { type: 'tmpfs', device: 'tmpfs', o: 'size=1m' } });
  const newDir = path.join(tmp, 'created-by-v', 'deep');
  const hostConfig = {
    Binds: [`${newDir}:/d`, 'tvol:/tv:ro'],
    Mounts: [{ Type: 'tmpfs', Target: '/t', ReadOnly: true, TmpfsOptions: { SizeBytes: 2 << 20, Mode: 0o700 } }],
    Tmpfs: { '/run': 'size=1m,exec' },
  };
  const points = await planMounts({ binds: hostConfig.Binds, mounts: hostConfig.Mounts, tmpfs: hostConfig.Tmpfs, volumesFrom: [], imageVolumes: [], readContainerMounts: () => [] }, vs);
  const id = 'd'.repeat(64);
  const tv = vs.get('tvol').Mountpoint;
  try {
    const mounts = await startMounts(points, rootfs, vs, { containerId: id, hostConfig });
    assert.ok(existsSync(newDir));
    assert.equal(await isMounted(tv), true);
    const by = new Map(mounts.map((m) => [m.destination, m]));
    assert.deepEqual(by.get('/d'), { destination: '/d', source: newDir, type: 'bind', options: ['rbind', 'rw', 'rprivate'] });
    assert.deepEqual(by.get('/tv'), { destination: '/tv', source: tv, type: 'bind', options: ['rbind', 'ro', 'rprivate'] });
    assert.deepEqual(by.get('/t'), { destination: '/t', source: 'tmpfs', type: 'tmpfs', options: ['noexec', 'nosuid', 'nodev', 'ro', 'mode=700', 'size=2m'] });
    assert.deepEqual(by.get('/run'), { destination: '/run', source: 'tmpfs', type: 'tmpfs', options: ['nosuid', 'nodev', 'size=1m', 'exec'] });
    await assert.rejects(vs.remove('tvol', false), /volume is in use/);
  } finally {
    await stopMounts(points, vs, { containerId: id });
  }
  assert.equal(await isMounted(tv), false);

  // A --mount bind source removed after create fails the start and releases what was taken.
  const src = path.join(tmp, 'vanishing');
  await fsp.mkdir(src);
  const hc2 = { Binds: ['tvol:/tv'], Mounts: [{ Type: 'bind', Source: src, Target: '/s' }] };
  const p2 = await planMounts({ binds: hc2.Binds, mounts: hc2.Mounts, tmpfs: {}, volumesFrom: [], imageVolumes: [], readContainerMounts: () => [] }, vs);
  await fsp.rmdir(src);
  await assert.rejects(startMounts(p2, rootfs, vs, { containerId: id, hostConfig: hc2 }), /bind source path does not exist/);
  assert.equal(await isMounted(tv), false);
  await vs.remove('tvol', false);
});

test('removeAnonymous removes the container\'s anonymous volumes only, unless another container uses them', async () => {
  const { vs, usage } = await service();
  const points = await planMounts({ binds: ['keep:/k', '/a1'], mounts: [], tmpfs: {}, volumesFrom: [], imageVolumes: ['/a2'], readContainerMounts: () => [] }, vs);
  const [a1, a2] = ['/a1', '/a2'].map((d) => points.find((p) => p.Destination === d)!.Name!);
  const me = 'e'.repeat(64);
  usage.keep = [me];
  usage[a1] = [me];
  usage[a2] = [me, 'f'.repeat(64)];
  await removeAnonymous(points, vs, me);
  assert.deepEqual(vs.list().map((v) => v.Name).sort(), [a2, 'keep'].sort());
});

test('a restart keeps volumes and cleans what a crash left', async () => {
  const root = path.join(tmp, 'restart');
  const usage: Record<string, string[]> = {};
  const { vs } = await service(root, usage);
  await vs.create({ Name: 'persist', Labels: { a: 'b' } });
  await fsp.writeFile(path.join(vs.get('persist').Mountpoint, 'f'), 'data');
  await vs.create({ Name: 'ramA', DriverOpts: { type: 'tmpfs', device: 'tmpfs' } });
  await vs.create({ Name: 'ramB', DriverOpts: { type: 'tmpfs', device: 'tmpfs' } });
  await vs.create({ Name: 'ramC', DriverOpts: { type: 'tmpfs', device: 'tmpfs' } });
  const mps = ['ramA', 'ramB', 'ramC'].map((n) => vs.get(n).Mountpoint);
  try {
    // The daemon dies with three tmpfs volumes mounted, and halfway through a create.
    for (const n of ['ramA', 'ramB', 'ramC']) await vs.acquire(n, { ref: 'x' });
    await fsp.mkdir(path.join(root, 'volumes', 'half', '_data'), { recursive: true });
    await fsp.writeFile(path.join(root, 'volumes', 'persist', '.volume.json.abc.tmp'), '{');
    usage.ramB = ['stopped'.padEnd(64, '0')];
    usage.ramC = ['running'.padEnd(64, '0')];

    const { vs: vs2 } = await service(root, usage);
    assert.deepEqual(vs2.list().map((v) => v.Name).sort(), ['persist', 'ramA', 'ramB', 'ramC']);
    assert.deepEqual(vs2.get('persist'), vs.get('persist'));
    assert.equal(await fsp.readFile(path.join(vs2.get('persist').Mountpoint, 'f'), 'utf8'), 'data');
    assert.ok(!existsSync(path.join(root, 'volumes', 'half')), 'half-created volume removed');
    assert.ok(!existsSync(path.join(root, 'volumes', 'persist', '.volume.json.abc.tmp')));
    assert.deepEqual(await Promise.all(mps.map(isMounted)), [false, true, true], 'unreferenced tmpfs volume unmounted');

    // The container reconcile re-acquires for running containers, then the rest is swept.
    await adoptMounts([{ Type: 'volume', Name: 'ramC', Source: mps[2], Destination: '/c', Driver: 'local', Mode: 'z', RW: true, Propagation: '' }], vs2, usage.ramC[0]);
    await vs2.sweepMounts();
    assert.deepEqual(await Promise.all(mps.map(isMounted)), [false, false, true]);
    await vs2.release('ramC', { ref: usage.ramC[0] });
    assert.equal(await isMounted(mps[2]), false);
  } finally {
    for (const m of mps) if (await isMounted(m)) await run('umount', [m]);
  }
});

test('concurrent creates of one name make one volume', async () => {
  const { vs, events } = await service();
  const rs = await Promise.all(Array.from({ length: 8 }, () => vs.create({ Name: 'race' })));
  assert.ok(rs.every((r) => r.CreatedAt === rs[0].CreatedAt));
  assert.equal(events.history().filter((e) => e.Action === 'create').length, 1);
});

