// dray compose's other commands on a running project: ps/ls/top/images/port/logs, exec and cp,
// stop/start/restart/pause/unpause/kill/rm, up --wait, events, lifecycle hooks, network_mode
// host and none, secrets and configs, commands that work from -p alone once the files are gone, and
// watch syncing a file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { TestDaemon, drayLauncher } from '../helpers/daemon';

const d = new TestDaemon();
let dir = '';
const P = 'cmds';

before(async () => {
  await d.start();
  await d.bootstrapBusybox();
  dir = mkdtempSync('/tmp/dray-compose-cmds-');
  writeFileSync(path.join(dir, 'secret.txt'), 's3cret\n');
  writeFileSync(path.join(dir, 'compose.yaml'), `services:
  api:
    image: busybox
    init: true
    command: ["sh", "-c", "echo api booted; echo to-stderr >&2; exec nc -ll -p 8000 -e echo pong"]
    ports: ["127.0.0.1::8000"]
    healthcheck: {test: ["CMD", "true"], interval: 200ms}
    post_start:
      - command: ["sh", "-c", "echo hooked > /tmp/post"]
    secrets: [token]
    configs: [{source: conf, target: /etc/app.conf}]
  worker:
    image: busybox
    init: true
    command: ["sleep", "600"]
    network_mode: none
  edge:
    image: busybox
    init: true
    command: ["sleep", "600"]
    network_mode: host
secrets:
  token: {file: ./secret.txt}
configs:
  conf: {content: "level=debug"}
`);
});

after(async () => {
  rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(await d.stop(), [], 'nothing may be left behind');
});

const compose = (args: string[], cwd = dir) => d.dray(['compose', '-p', P, ...args], undefined, { cwd, env: { NO_COLOR: '1' } });
function ok(r: { code: number; stdout: string; stderr: string }, what: string) {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
}
const state = async (name: string) => (await d.api('GET', `/containers/${name}/json`)).json?.State;

test('up --wait, then what the project shows: ps, ls, top, images, port, logs, config --hash', async () => {
  const up = ok(compose(['up', '-d', '--wait']), 'up --wait');
  assert.match(up.stderr, /Container cmds-api-1 Healthy/);
  assert.equal((await state('cmds-api-1')).Health.Status, 'healthy');
  const ps = ok(compose(['ps']), 'ps').stdout.split('\n');
  assert.match(ps[0], /^NAME +IMAGE +COMMAND +SERVICE +CREATED +STATUS +PORTS$/);
  assert.equal(ps.filter((l) => /^cmds-/.test(l)).length, 3);
  const row = JSON.parse(ok(compose(['ps', '--format', 'json', 'api']), 'ps json').stdout.trim());
  assert.equal(row.Service, 'api');
  assert.equal(row.Health, 'healthy');
  assert.match(ok(compose(['ls']), 'ls').stdout, /^cmds +running\(3\) +.*compose\.yaml$/m);
  assert.match(ok(compose(['top', 'worker']), 'top').stdout, /^cmds-worker-1\nUID +PID +PPID/);
  assert.match(ok(compose(['images', 'worker']), 'images').stdout, /cmds-worker-1 +busybox +latest/);
  const port = ok(compose(['port', 'api', '8000']), 'port').stdout.trim();
  assert.match(port, /^127\.0\.0\.1:\d+$/);
  const logs = ok(compose(['logs', 'api']), 'logs').stdout;
  assert.match(logs, /api-1 +\| api booted/);
  assert.match(logs, /api-1 +\| to-stderr/);
  assert.match(ok(compose(['config', '--hash', 'api']), 'config --hash').stdout, /^api [0-9a-f]{64}\n$/);
  const labels = (await d.api('GET', '/containers/cmds-api-1/json')).json.Config.Labels;
  assert.equal(ok(compose(['config', '--hash', 'api']), 'hash').stdout.trim().split(' ')[1], labels['com.docker.compose.config-hash']);
});

test('exec, cp, hooks, secrets and configs, network modes', async () => {
  assert.equal(ok(compose(['exec', '-T', 'api', 'cat', '/tmp/post']), 'post_start').stdout, 'hooked\n');
  assert.equal(ok(compose(['exec', '-T', 'api', 'cat', '/run/secrets/token']), 'secret').stdout, 's3cret\n');
  assert.equal(ok(compose(['exec', '-T', 'api', 'cat', '/etc/app.conf']), 'config').stdout, 'level=debug');
  const r = compose(['exec', '-T', '-e', 'X=5', 'api', 'sh', '-c', 'exit $X']);
  assert.equal(r.code, 5, 'exec returns the command\'s exit code');
  writeFileSync(path.join(dir, 'in.txt'), 'copied in\n');
  ok(compose(['cp', path.join(dir, 'in.txt'), 'worker:/tmp/in.txt']), 'cp in');
  ok(compose(['cp', 'worker:/tmp/in.txt', path.join(dir, 'out.txt')]), 'cp out');
  assert.equal(readFileSync(path.join(dir, 'out.txt'), 'utf8'), 'copied in\n');
  assert.equal((await d.api('GET', '/containers/cmds-worker-1/json')).json.HostConfig.NetworkMode, 'none');
  assert.equal((await d.api('GET', '/containers/cmds-edge-1/json')).json.HostConfig.NetworkMode, 'host');
});

test('stop, start, restart, pause, unpause, kill, rm; events while it happens', async () => {
  const events = spawn(drayLauncher, ['compose', '-p', P, 'events', '--json'], { cwd: dir, env: d.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  events.stdout.on('data', (b) => { out += b; });
  await new Promise((r) => setTimeout(r, 500));
  ok(compose(['stop', 'worker']), 'stop');
  assert.equal((await state('cmds-worker-1')).Running, false);
  ok(compose(['start', 'worker']), 'start');
  assert.equal((await state('cmds-worker-1')).Running, true);
  const before = (await state('cmds-worker-1')).StartedAt;
  ok(compose(['restart', 'worker']), 'restart');
  assert.notEqual((await state('cmds-worker-1')).StartedAt, before);
  ok(compose(['pause', 'worker']), 'pause');
  assert.equal((await state('cmds-worker-1')).Paused, true);
  ok(compose(['unpause', 'worker']), 'unpause');
  assert.equal((await state('cmds-worker-1')).Paused, false);
  ok(compose(['kill', 'worker']), 'kill');
  assert.equal((await state('cmds-worker-1')).ExitCode, 137);
  ok(compose(['rm', '-f', 'worker']), 'rm');
  assert.equal((await d.api('GET', '/containers/cmds-worker-1/json')).status, 404);
  await new Promise((r) => setTimeout(r, 300));
  events.kill('SIGTERM');
  await new Promise((r) => events.once('close', r));
  const actions = out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((e) => e.service === 'worker').map((e) => e.action);
  for (const a of ['stop', 'start', 'restart', 'pause', 'unpause', 'kill', 'destroy']) assert.ok(actions.includes(a), `event ${a} in ${actions.join(',')}`);
});

test('without the files, -p still finds the project: ps, logs, down', async () => {
  const elsewhere = mkdtempSync('/tmp/dray-compose-nofile-');
  try {
    assert.match(ok(compose(['ps', '--services'], elsewhere), 'ps').stdout, /api/);
    assert.match(ok(compose(['logs', 'api'], elsewhere), 'logs').stdout, /api booted/);
    ok(compose(['down', '-t', '1'], elsewhere), 'down');
    const left = await d.api('GET', `/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ label: [`com.docker.compose.project=${P}`] }))}`);
    assert.deepEqual(left.json, []);
    const nets = await d.api('GET', `/networks?filters=${encodeURIComponent(JSON.stringify({ label: [`com.docker.compose.project=${P}`] }))}`);
    assert.deepEqual(nets.json, []);
  } finally { rmSync(elsewhere, { recursive: true, force: true }); }
});

test('watch: the initial sync, then a changed file synced into the container', async () => {
  const wdir = mkdtempSync('/tmp/dray-compose-watch-');
  try {
    const { mkdirSync } = await import('node:fs');
    mkdirSync(path.join(wdir, 'src'));
    writeFileSync(path.join(wdir, 'src', 'index.html'), 'v1\n');
    writeFileSync(path.join(wdir, 'compose.yaml'), 'services:\n  site:\n    image: busybox\n    init: true\n    command: ["sleep", "600"]\n    develop:\n      watch:\n        - {action: sync, path: ./src, target: /www, initial_sync: true, ignore: ["*.tmp"]}\n');
    const w = spawn(drayLauncher, ['compose', '-p', 'watched', 'watch'], { cwd: wdir, env: d.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    w.stdout.on('data', (b) => { out += b; });
    w.stderr.on('data', (b) => { out += b; });
    const until = async (pred: () => boolean | Promise<boolean>, what: string) => {
      for (let i = 0; i < 100; i++) { if (await pred()) return; await new Promise((r) => setTimeout(r, 100)); }
      assert.fail(`${what}; watch said: ${out}`);
    };
    const cat = (f: string) => d.dray(['exec', 'watched-site-1', 'cat', f]).stdout;
    await until(() => out.includes('Watch enabled'), 'watch starts');
    assert.equal(cat('/www/index.html'), 'v1\n', 'initial sync');
    writeFileSync(path.join(wdir, 'src', 'index.html'), 'v2\n');
    writeFileSync(path.join(wdir, 'src', 'scratch.tmp'), 'x');
    await until(() => cat('/www/index.html') === 'v2\n', 'the change is synced');
    assert.equal(d.dray(['exec', 'watched-site-1', 'ls', '/www']).stdout, 'index.html\n', 'ignored files stay out');
    w.kill('SIGINT');
    await new Promise((r) => w.once('close', r));
    ok(d.dray(['compose', '-p', 'watched', 'down', '-t', '1'], undefined, { cwd: wdir }), 'down');
  } finally { rmSync(wdir, { recursive: true, force: true }); }
});

test('up --watch: logs in the foreground while a changed file is synced; refused with -d', async () => {
  const wdir = mkdtempSync('/tmp/dray-compose-upwatch-');
  try {
    const { mkdirSync } = await import('node:fs');
    mkdirSync(path.join(wdir, 'src'));
    writeFileSync(path.join(wdir, 'src', 'a.txt'), 'one\n');
    writeFileSync(path.join(wdir, 'compose.yaml'), 'services:\n  app:\n    image: busybox\n    init: true\n    command: ["sh", "-c", "echo app says hi; exec sleep 600"]\n    develop:\n      watch:\n        - {action: sync, path: ./src, target: /srv}\n');
    const det = d.dray(['compose', '-p', 'upwatch', 'up', '-d', '--watch'], undefined, { cwd: wdir });
    assert.notEqual(det.code, 0);
    assert.match(det.stderr, /--watch can not be used with --detach/);
    assert.equal((await d.api('GET', '/containers/upwatch-app-1/json')).status, 404, 'nothing made');
    const w = spawn(drayLauncher, ['compose', '-p', 'upwatch', 'up', '--watch'], { cwd: wdir, env: { ...d.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    w.stdout.on('data', (b) => { out += b; });
    w.stderr.on('data', (b) => { out += b; });
    const until = async (pred: () => boolean | Promise<boolean>, what: string) => {
      for (let i = 0; i < 100; i++) { if (await pred()) return; await new Promise((r) => setTimeout(r, 100)); }
      assert.fail(`${what}; up --watch said: ${out}`);
    };
    await until(() => out.includes('Watch enabled') && /app-1 +\| app says hi/.test(out), 'watch starts and logs stream');
    writeFileSync(path.join(wdir, 'src', 'a.txt'), 'two\n');
    await until(() => d.dray(['exec', 'upwatch-app-1', 'cat', '/srv/a.txt']).stdout === 'two\n', 'the change is synced');
    w.kill('SIGINT');
    await new Promise((r) => w.once('close', r));
    assert.equal((await state('upwatch-app-1')).Running, false, 'Ctrl-C stops the project');
    ok(d.dray(['compose', '-p', 'upwatch', 'down', '-t', '1'], undefined, { cwd: wdir }), 'down');
  } finally { rmSync(wdir, { recursive: true, force: true }); }
});

test('attach SERVICE: the running container\'s new output, and its exit code when it ends', async () => {
  const adir = mkdtempSync('/tmp/dray-compose-attach-');
  try {
    writeFileSync(path.join(adir, 'compose.yaml'), 'services:\n  ticker:\n    image: busybox\n    command: ["sh", "-c", "while true; do echo tick; [ -f /tmp/go ] && exit 3; sleep 0.2; done"]\n');
    const c = (args: string[]) => d.dray(['compose', '-p', 'att', ...args], undefined, { cwd: adir });
    const bad = c(['attach', 'ghost']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /no such service: ghost/);
    assert.match(c(['attach', 'ticker']).stderr, /service "ticker" is not running/);
    ok(c(['up', '-d']), 'up');
    const a = spawn(drayLauncher, ['compose', '-p', 'att', 'attach', '--sig-proxy=false', 'ticker'], { cwd: adir, env: d.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    a.stdout.on('data', (b) => { out += b; });
    a.stderr.on('data', (b) => { out += b; });
    const closed = new Promise<number | null>((r) => a.once('close', r));
    for (let i = 0; i < 100 && !out.includes('tick'); i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(out, /tick/, 'attached output');
    ok(d.dray(['exec', 'att-ticker-1', 'touch', '/tmp/go']), 'exec');
    assert.equal(await closed, 3, `attach ends with the container's exit code; said: ${out}`);
    ok(c(['down', '-t', '0']), 'down');
  } finally { rmSync(adir, { recursive: true, force: true }); }
});
