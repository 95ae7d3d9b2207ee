// Two compose-adjacent features sharing one drayd (the suite's time is tight):
// 1. Volume subpaths (`VolumeOptions.Subpath`, API 1.45): the real docker CLI's
//    `--mount …,volume-subpath=…` and `dray compose`'s long-syntax `volume: {subpath: …}` mount a
//    volume's subdirectory or file; a missing subpath, a `..` and a symlink that leaves the volume
//    are refused with Docker's errors; no staging mount outlives its container, nor a drayd restart.
// 2. `dray compose --dry-run`: every command prints what it would do, prefixed "DRY-RUN MODE - ",
//    and afterwards the engine holds exactly what it held before (containers and their states,
//    networks, volumes, images).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync, readdirSync, existsSync, mkdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { TestDaemon } from '../helpers/daemon';
import { startDray, Server } from '../helpers/registry';
import { DockerClient } from '../../src/client';
import { dryRunClient } from '../../src/compose/dry-run';

const d = new TestDaemon();
let dir = '';
let registry: Server | undefined;
const staging = () => path.join(d.execRoot, 'volume-subpaths');
const leftStaging = () => (existsSync(staging()) ? readdirSync(staging()) : []);
const subpathMounts = () => d.mounts().filter((m) => m.includes('volume-subpaths'));

function ok(r: { code: number; stdout: string; stderr: string }, what: string) {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
}
const run = (sub: string, ...cmd: string[]) => d.docker(['run', '--rm', '--mount', `type=volume,src=vol,dst=/d,volume-subpath=${sub}`, 'busybox', ...cmd]);

before(async () => {
  await d.start();
  await d.bootstrapBusybox();
  dir = mkdtempSync('/tmp/dray-subpath-');
  ok(d.docker(['volume', 'create', 'vol']), 'volume create');
  // The layout of moby's own subpath test: a directory, a file, an empty directory, and links
  // that stay in the volume (good) or leave it (root, and bad through root).
  ok(d.docker(['run', '--rm', '-v', 'vol:/v', 'busybox', 'sh', '-c',
    'mkdir -p /v/sub /v/bin /v/hack && echo world > /v/sub/hello.txt && echo foo > /v/bar.txt'
    + ' && ln -s / /v/hack/root && ln -s ../sub /v/hack/good && ln -s root /v/hack/bad']), 'fill the volume');
});

after(async () => {
  await registry?.stop();
  rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(await d.stop(), [], 'nothing may be left behind');
});

test('docker run --mount volume-subpath mounts the subdirectory, read and written', () => {
  assert.equal(ok(run('sub', 'cat', '/d/hello.txt'), 'cat').stdout, 'world\n');
  ok(run('sub', 'sh', '-c', 'echo new > /d/made-inside'), 'write');
  // Written into sub/, not into the volume's root.
  assert.equal(ok(d.docker(['run', '--rm', '-v', 'vol:/v', 'busybox', 'sh', '-c', 'cat /v/sub/made-inside; ls /v']), 'check').stdout,
    'new\nbar.txt\nbin\nhack\nsub\n');
  // dray's own CLI takes the same key.
  assert.equal(ok(d.dray(['run', '--rm', '--mount', 'type=volume,src=vol,dst=/d,volume-subpath=sub', 'busybox', 'cat', '/d/made-inside']), 'dray run').stdout, 'new\n');
  // A relative link that stays inside the volume is followed, as Docker does.
  assert.equal(ok(run('hack/good', 'cat', '/d/hello.txt'), 'via a link').stdout, 'world\n');
  // A file subpath is a file mount.
  assert.equal(ok(run('bar.txt', 'cat', '/d'), 'file').stdout, 'foo\n');
  // An empty subdirectory is filled from the image, as Docker's copy-up on the subpath does.
  assert.equal(ok(d.docker(['run', '--rm', '--mount', 'type=volume,src=vol,dst=/bin,volume-subpath=bin', 'busybox', 'ls', '/bin/busybox']), 'copy-up').stdout, '/bin/busybox\n');
  const ro = d.docker(['run', '--rm', '--mount', 'type=volume,src=vol,dst=/d,volume-subpath=sub,readonly', 'busybox', 'touch', '/d/x']);
  assert.match(ro.stderr, /Read-only file system/);
  assert.deepEqual(subpathMounts(), []);
  assert.deepEqual(leftStaging(), []);
});

test('a missing subpath, a .. and a symlink out of the volume are refused with Docker\'s errors', () => {
  const missing = run('nope', 'true');
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /cannot access path \S+\/volumes\/vol\/_data\/nope: no such file or directory/);

  for (const sub of ['../../../etc', 'sub/../../x', '/etc']) {
    const r = run(sub, 'true');
    assert.equal(r.code, 125, `${sub}: ${r.stderr}`);
    assert.match(r.stderr, /invalid mount config for type "volume": subpath must be a relative path within the volume/, sub);
  }
  for (const sub of ['hack/root', 'hack/bad', 'hack/root/etc']) {
    const r = run(sub, 'ls', '/d');
    assert.notEqual(r.code, 0, `${sub} must not mount: ${r.stdout}`);
    assert.match(r.stderr, /path concatenation escapes the base directory, base: \S+\/_data, subpath: hack\//, sub);
  }
  // The API refuses a subpath on an anonymous volume at create.
  const anon = d.docker(['create', '--mount', 'type=volume,dst=/d,volume-subpath=sub', 'busybox']);
  assert.notEqual(anon.code, 0);
  assert.match(anon.stderr, /must not set Subpath when using anonymous volumes/);
  assert.deepEqual(subpathMounts(), []);
  assert.deepEqual(leftStaging(), []);
});

test('a running container\'s subpath mount goes at rm -f; a swap to a symlink after start changes nothing', () => {
  const id = ok(d.docker(['run', '-d', '--mount', 'type=volume,src=vol,dst=/d,volume-subpath=sub', 'busybox', 'sleep', '600']), 'run -d').stdout.trim();
  assert.equal(subpathMounts().length, 1, 'one staging mount while it runs');
  // Another container replaces sub with a link to /: the running one still sees sub's content
  // (its mount is of the inode resolved at start), and a new start is refused.
  ok(d.docker(['run', '--rm', '-v', 'vol:/v', 'busybox', 'sh', '-c', 'mv /v/sub /v/sub.real && ln -s / /v/sub']), 'swap');
  assert.equal(ok(d.docker(['exec', id, 'cat', '/d/hello.txt']), 'exec').stdout, 'world\n');
  assert.match(run('sub', 'ls', '/d').stderr, /path concatenation escapes the base directory/);
  ok(d.docker(['run', '--rm', '-v', 'vol:/v', 'busybox', 'sh', '-c', 'rm /v/sub && mv /v/sub.real /v/sub']), 'swap back');
  ok(d.docker(['rm', '-f', id]), 'rm -f');
  assert.deepEqual(subpathMounts(), []);
  assert.deepEqual(leftStaging(), []);
});

test('dray compose: long-syntax volume subpath', () => {
  writeFileSync(path.join(dir, 'compose.yaml'), `services:
  app:
    image: busybox
    init: true
    command: ["sleep", "600"]
    volumes:
      - type: volume
        source: data
        target: /d
        volume: {subpath: sub}
volumes:
  data: {external: true, name: vol}
`);
  const compose = (...args: string[]) => d.dray(['compose', '-p', 'sp', ...args], undefined, { cwd: dir, env: { NO_COLOR: '1' } });
  ok(compose('up', '-d'), 'up');
  assert.equal(ok(compose('exec', '-T', 'app', 'cat', '/d/hello.txt'), 'exec').stdout, 'world\n');
  assert.equal(subpathMounts().length, 1);
  ok(compose('down'), 'down');
  assert.deepEqual(subpathMounts(), []);
  assert.deepEqual(leftStaging(), []);
});

test('drayd sweeps staging points a crash left at its next start', async () => {
  // What a drayd killed between staging and the container's start leaves: a bind mount under the
  // staging root of a container that does not run.
  const point = path.join(staging(), 'f'.repeat(64), '0');
  mkdirSync(point, { recursive: true });
  const src = path.join(d.dataRoot, 'volumes', 'vol', '_data', 'sub');
  assert.equal(spawnSync('mount', ['--bind', src, point]).status, 0);
  assert.equal(subpathMounts().length, 1);
  await d.stopDaemon();
  await d.start();
  assert.deepEqual(subpathMounts(), []);
  assert.deepEqual(leftStaging(), []);
  // The volume's content is untouched by the sweep.
  assert.equal(ok(run('sub', 'cat', '/d/hello.txt'), 'after restart').stdout, 'world\n');
});

// ---- --dry-run ------------------------------------------------------------------------------

/** Everything a compose command could change, as the engine reports it. */
async function engineState(): Promise<string> {
  const cs = (await d.api('GET', '/containers/json?all=1')).json.map((c: any) => `${c.Names[0]} ${c.Id} ${c.State}`).sort();
  const ns = (await d.api('GET', '/networks')).json.map((n: any) => `${n.Name} ${n.Id}`).sort();
  const vs = ((await d.api('GET', '/volumes')).json.Volumes ?? []).map((v: any) => v.Name).sort();
  const is = (await d.api('GET', '/images/json')).json.map((i: any) => `${i.Id} ${(i.RepoTags ?? []).join(',')}`).sort();
  return JSON.stringify({ cs, ns, vs, is }, null, 1);
}

const DRY = 'DRY-RUN MODE - ';
const dryDir = () => path.join(dir, 'dry');
const dc = (...args: string[]) => d.dray(['compose', '-p', 'dr', ...args], undefined, { cwd: dryDir(), env: { NO_COLOR: '1' } });
/** The progress lines of a dry run: each must carry the prefix. */
function dryLines(r: { code: number; stdout: string; stderr: string }, what: string): string[] {
  ok(r, what);
  const lines = r.stderr.split('\n').filter(Boolean);
  for (const l of lines) assert.ok(l.startsWith(`${DRY} `), `${what}: a line without the prefix: ${JSON.stringify(l)}`);
  return lines.map((l) => l.slice(DRY.length + 1));
}

test('--dry-run up -d, create and down change nothing and name what they would do', async () => {
  mkdirSync(dryDir());
  writeFileSync(path.join(dryDir(), 'compose.yaml'), `services:
  db:
    image: busybox
    init: true
    command: ["sleep", "600"]
    healthcheck: {test: ["CMD", "true"], interval: 200ms}
    volumes: [data:/data]
  web:
    build: {context: ., dockerfile_inline: "FROM busybox\\nRUN echo hi > /hi\\n"}
    init: true
    command: ["sleep", "600"]
    depends_on: {db: {condition: service_healthy}}
    networks: [front, default]
    post_start: [{command: ["true"]}]
  once:
    image: busybox
    command: ["true"]
  after:
    image: busybox
    init: true
    command: ["sleep", "600"]
    depends_on: {once: {condition: service_completed_successfully}}
networks: {front: {}}
volumes: {data: {}}
`);
  const before = await engineState();
  const up = dryLines(dc('--dry-run', 'up', '-d'), 'dry up');
  for (const l of ['Network dr_default Created', 'Network dr_front Created', 'Volume dr_data Created', 'Service web Built',
    'Container dr-db-1 Created', 'Container dr-db-1 Started', 'Container dr-db-1 Healthy', 'Container dr-once-1 Exited',
    'Container dr-web-1 Created', 'Container dr-web-1 Started', 'Container dr-after-1 Started']) assert.ok(up.includes(l), `dry up: no "${l}" in\n${up.join('\n')}`);
  // The order a real up keeps: web waits for db's health, after for once's exit.
  assert.ok(up.indexOf('Container dr-db-1 Healthy') < up.indexOf('Container dr-web-1 Starting'));
  assert.ok(up.indexOf('Container dr-once-1 Exited') < up.indexOf('Container dr-after-1 Starting'));
  assert.ok(dryLines(dc('--dry-run', 'create'), 'dry create').includes('Container dr-web-1 Created'));
  // A dry down of nothing removes nothing and says so by saying nothing about containers.
  assert.deepEqual(dryLines(dc('--dry-run', 'down', '-v'), 'dry down of nothing').filter((l) => l.startsWith('Container')), []);
  assert.equal(await engineState(), before, 'a dry run made something');
});

test('--dry-run over a running project: stop, restart, kill, pause, unpause, rm, start, down, up --force-recreate', async () => {
  ok(dc('up', '-d'), 'real up');
  ok(dc('pause', 'after'), 'real pause');
  const before = await engineState();
  const expect = (args: string[], lines: string[]) => {
    const got = dryLines(dc('--dry-run', ...args), args.join(' '));
    for (const l of lines) assert.ok(got.includes(l), `${args.join(' ')}: no "${l}" in\n${got.join('\n')}`);
  };
  expect(['stop'], ['Container dr-web-1 Stopped', 'Container dr-db-1 Stopped']);
  expect(['restart', 'db'], ['Container dr-db-1 Restarting', 'Container dr-db-1 Started']);
  expect(['kill', 'web'], ['Container dr-web-1 Killed']);
  expect(['pause', 'db'], ['Container dr-db-1 Paused']);
  expect(['unpause'], ['Container dr-after-1 Unpaused']);
  expect(['rm', '-f', 'once'], ['Container dr-once-1 Removed']);
  expect(['start', 'once'], ['Container dr-once-1 Started']);
  expect(['up', '-d', '--force-recreate', 'db'], ['Container dr-db-1 Recreate', 'Container dr-db-1 Recreated', 'Container dr-db-1 Started']);
  expect(['down', '-v', '--rmi', 'local'], ['Container dr-web-1 Removed', 'Container dr-db-1 Removed', 'Network dr_default Removed',
    'Network dr_front Removed', 'Volume dr_data Removed', 'Image dr-web Removed']);
  expect(['build'], ['Service web Built']);
  assert.equal(await engineState(), before, 'a dry run changed something');
  // What has no stand-in is refused, not done.
  const exec = dc('--dry-run', 'exec', '-T', 'db', 'touch', '/made');
  assert.notEqual(exec.code, 0);
  assert.match(exec.stderr, /interactive exec is not supported in dry-run mode/);
  const run = dc('--dry-run', 'run', '--rm', 'db', 'touch', '/made');
  assert.notEqual(run.code, 0);
  assert.match(run.stderr, /interactive run is not supported in dry-run mode/);
  assert.equal(await engineState(), before, 'a refused dry run changed something');
  ok(dc('down', '-v', '--rmi', 'local'), 'real down');
});

test('--dry-run pull asks the registry and pulls nothing', async () => {
  registry = await startDray(dir, { args: ['--storage', path.join(dir, 'registry')] });
  const host = new URL(registry.url).host;
  ok(d.docker(['tag', 'busybox', `${host}/bb:1`]), 'tag');
  ok(d.docker(['push', `${host}/bb:1`]), 'push');
  ok(d.docker(['rmi', `${host}/bb:1`]), 'rmi');
  writeFileSync(path.join(dryDir(), 'compose.yaml'), `services:
  a: {image: "${host}/bb:1"}
  b: {image: "${host}/bb:missing"}
`);
  const before = await engineState();
  assert.deepEqual(dryLines(dc('--dry-run', 'pull', 'a'), 'dry pull'), [`Image ${host}/bb:1 Pulling`, `Image ${host}/bb:1 Pulled`]);
  const missing = dc('--dry-run', 'pull', 'b');
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, new RegExp(`${DRY} Image ${host}/bb:missing Error`));
  assert.equal(await engineState(), before, 'a dry pull changed something');
  // The real pull works, so the dry one answered for the same registry.
  ok(dc('pull', 'a'), 'real pull');
});

// ---- the executor's order ----------------------------------------------------------------------

/** Now as the events API takes it: seconds with a fraction (an `until` ahead would hold the answer back). */
const now = () => (Date.now() / 1000).toFixed(3);

/** The project's container events between two moments, as "action service" lines. */
async function eventsOf(project: string, since: number, until = now()): Promise<string[]> {
  const f = encodeURIComponent(JSON.stringify({ type: ['container'], label: [`com.docker.compose.project=${project}`] }));
  const r = await d.api('GET', `/events?since=${since}&until=${until}&filters=${f}`);
  return r.body.toString().split('\n').filter(Boolean).map((l) => JSON.parse(l))
    .map((e: any) => `${e.Action} ${e.Actor.Attributes['com.docker.compose.service']}`);
}

test('up starts what others wait on first and wakes health waiters; down stops dependents first and removes everything', async () => {
  const p = path.join(dir, 'order');
  mkdirSync(p);
  writeFileSync(path.join(p, 'compose.yaml'), `x-s: &s
  image: busybox
  init: true
  command: ["sleep", "600"]
services:
  root:
    <<: *s
    healthcheck: {test: ["CMD", "true"], interval: 200ms}
  mid: {<<: *s, depends_on: {root: {condition: service_healthy}}}
  top: {<<: *s, depends_on: [mid]}
  leaf: {<<: *s}
`);
  const oc = (...a: string[]) => d.dray(['compose', '-p', 'ord', ...a], undefined, { cwd: p, env: { NO_COLOR: '1' } });
  const t0 = Math.floor(Date.now() / 1000);
  const up = ok(oc('up', '-d'), 'up').stderr;
  assert.match(up, /Container ord-root-1 Healthy/);
  const ev = await eventsOf('ord', t0);
  const at = (e: string) => { const i = ev.indexOf(e); assert.ok(i >= 0, `no "${e}" in ${ev.join(', ')}`); return i; };
  // The chain's root starts before the service nothing waits on; the chain keeps its order.
  assert.ok(at('start root') < at('start leaf'), ev.join(', '));
  assert.ok(at('health_status: healthy root') < at('start mid'));
  assert.ok(at('start mid') < at('start top'));
  const t2 = Math.floor(Date.now() / 1000);
  ok(oc('down'), 'down');
  const evd = await eventsOf('ord', t2);
  const atd = (e: string) => { const i = evd.indexOf(e); assert.ok(i >= 0, `no "${e}" in ${evd.join(', ')}`); return i; };
  // Nothing stops before what depends on it has stopped; every container is removed.
  assert.ok(atd('stop top') < atd('die mid'), evd.join(', '));
  assert.ok(atd('stop mid') < atd('die root'), evd.join(', '));
  for (const s of ['root', 'mid', 'top', 'leaf']) atd(`destroy ${s}`);
  const left = (await d.api('GET', `/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ label: ['com.docker.compose.project=ord'] }))}`)).json;
  assert.deepEqual(left, []);
});

test('the dry-run client reads through, pretends its stand-ins, and refuses any other change below them', async () => {
  const real = new DockerClient({ host: d.host });
  const c = dryRunClient(real);
  try {
    const before = await engineState();
    const made = await c.containers.create({ Image: 'busybox', Labels: { k: 'v' } }, { name: 'dry-only' });
    assert.equal((await c.containers.inspect(made.Id)).State.Running, true);
    assert.ok((await c.containers.list({ all: true, filters: { label: ['k=v'] } })).some((x) => x.Id === 'dry-only'));
    assert.equal((await d.api('GET', '/containers/dry-only/json')).status, 404, 'the engine never saw it');
    await c.containers.start(made.Id);
    // No stand-in: the transport refuses before anything is sent.
    await assert.rejects(c.containers.update('dry-only', { Memory: 1 << 26 }), /POST \/containers\/dry-only\/update is not supported in dry-run mode/);
    await assert.rejects(c.volumes.prune(), /POST \/volumes\/prune is not supported in dry-run mode/);
    await assert.rejects(c.images.prune(), /POST \/images\/prune is not supported in dry-run mode/);
    await assert.rejects(c.transport.json('DELETE', '/images/busybox'), /DELETE \/images\/busybox is not supported in dry-run mode/);
    assert.equal(await engineState(), before);
  } finally { real.close(); }
});
