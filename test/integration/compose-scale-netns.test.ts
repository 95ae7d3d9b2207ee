// dray compose with real containers: network_mode service:x and container:name (the container in
// the other's network namespace, x made first and followed when recreated), `up --scale` and
// `scale` up and down, `stats --no-stream`, and the bad input that must create nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { TestDaemon } from '../helpers/daemon';

const d = new TestDaemon();
let dir = '';
const P = 'nsx';

const file = (extra = '') => `services:
  web:
    image: busybox
    init: true
    command: ["httpd", "-f", "-p", "8080", "-h", "/etc"]${extra}
  side:
    image: busybox
    init: true
    command: ["sleep", "600"]
    network_mode: "service:web"
  outside:
    image: busybox
    init: true
    command: ["sleep", "600"]
    network_mode: "container:nsx-standalone"
  worker:
    image: busybox
    init: true
    command: ["sleep", "600"]
`;

before(async () => {
  await d.start();
  await d.bootstrapBusybox();
  dir = mkdtempSync('/tmp/dray-compose-nsx-');
  writeFileSync(path.join(dir, 'compose.yaml'), file());
});

after(async () => {
  d.dray(['compose', '-p', P, 'down', '-t', '0'], undefined, { cwd: dir });
  d.dray(['rm', '-f', 'nsx-standalone']);
  rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(await d.stop(), [], 'nothing may be left behind');
});

const compose = (args: string[]) => d.dray(['compose', '-p', P, ...args], undefined, { cwd: dir, env: { NO_COLOR: '1' } });
function ok(r: { code: number; stdout: string; stderr: string }, what: string) {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout.trim();
}
const inspect = async (name: string) => (await d.api('GET', `/containers/${name}/json`)).json;
const names = async () => ((await d.api('GET', '/containers/json?all=1')).json as { Names: string[] }[]).map((c) => c.Names[0].slice(1)).sort();

test('bad input creates nothing: container: naming a missing container, service: naming an unknown service, scale of an unknown service', async () => {
  const r = compose(['up', '-d']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /No such container: nsx-standalone/);
  // Checked before anything is made: no container, no network.
  assert.deepEqual(await names(), []);
  assert.deepEqual(((await d.api('GET', '/networks')).json as { Name: string }[]).filter((n) => n.Name.startsWith(P)), []);
  writeFileSync(path.join(dir, 'bad.yaml'), 'services:\n  a:\n    image: busybox\n    network_mode: "service:nope"\n');
  const bad = d.dray(['compose', '-p', P, '-f', 'bad.yaml', 'up', '-d'], undefined, { cwd: dir });
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /service "nope" not found for network_mode 'service:nope'/);
  const sc = compose(['up', '-d', '--scale', 'ghost=2', 'worker']);
  assert.notEqual(sc.code, 0);
  assert.match(sc.stderr, /no such service: ghost/);
  const sc2 = compose(['scale', 'ghost=2']);
  assert.notEqual(sc2.code, 0);
  assert.match(sc2.stderr, /no such service: ghost/);
  assert.deepEqual(await names(), []);
  assert.deepEqual(((await d.api('GET', '/networks')).json as { Name: string }[]).filter((n) => n.Name.startsWith(P)), []);
});

test('network_mode service:web and container:name share the other\'s namespace; service:web follows web when it is recreated', async () => {
  ok(d.dray(['run', '-d', '--name', 'nsx-standalone', 'busybox', 'sleep', '600']), 'standalone');
  // Only side: web comes first because side needs its namespace.
  ok(compose(['up', '-d', 'side']), 'up side');
  const web = await inspect('nsx-web-1');
  const side = await inspect('nsx-side-1');
  assert.equal(web.State.Running, true);
  assert.equal(side.HostConfig.NetworkMode, `container:${web.Id}`);
  assert.equal(ok(d.dray(['exec', 'nsx-side-1', 'wget', '-qO-', 'http://127.0.0.1:8080/hostname']), 'wget'), web.Config.Hostname);
  ok(compose(['up', '-d', 'outside']), 'up outside');
  const standalone = await inspect('nsx-standalone');
  assert.equal((await inspect('nsx-outside-1')).HostConfig.NetworkMode, `container:${standalone.Id}`);
  assert.equal(ok(d.dray(['exec', 'nsx-outside-1', 'hostname']), 'hostname'), standalone.Config.Hostname);
  // web changes: side is recreated with it, into the new web's namespace.
  writeFileSync(path.join(dir, 'compose.yaml'), file('\n    environment: {CHANGED: "1"}'));
  ok(compose(['up', '-d', 'side']), 'up after web changed');
  const web2 = await inspect('nsx-web-1');
  const side2 = await inspect('nsx-side-1');
  assert.notEqual(web2.Id, web.Id);
  assert.notEqual(side2.Id, side.Id);
  assert.equal(side2.HostConfig.NetworkMode, `container:${web2.Id}`);
  assert.equal(ok(d.dray(['exec', 'nsx-side-1', 'wget', '-qO-', 'http://127.0.0.1:8080/hostname']), 'wget after'), web2.Config.Hostname);
});

test('up --scale and scale: more replicas take the next numbers, fewer remove the highest', async () => {
  ok(compose(['up', '-d', '--scale', 'worker=3', 'worker']), 'scale up');
  const workers = async () => (await names()).filter((n) => n.startsWith('nsx-worker-'));
  assert.deepEqual(await workers(), ['nsx-worker-1', 'nsx-worker-2', 'nsx-worker-3']);
  for (const n of await workers()) assert.equal((await inspect(n)).State.Running, true, n);
  const first = (await inspect('nsx-worker-1')).Id;
  ok(compose(['scale', 'worker=1']), 'scale down');
  assert.deepEqual(await workers(), ['nsx-worker-1']);
  assert.equal((await inspect('nsx-worker-1')).Id, first, 'the lowest number is kept as it was');
  ok(compose(['scale', 'worker=2']), 'scale up again');
  assert.deepEqual(await workers(), ['nsx-worker-1', 'nsx-worker-2']);
  assert.equal((await inspect('nsx-worker-2')).Config.Labels['com.docker.compose.container-number'], '2');
  // stats --no-stream: a row per running container of the service, docker stats' columns.
  const st = ok(compose(['stats', '--no-stream', 'worker']), 'stats').split('\n');
  assert.match(st[0], /^CONTAINER ID +NAME +CPU % +MEM USAGE \/ LIMIT +MEM % +NET I\/O +BLOCK I\/O +PIDS$/);
  assert.deepEqual(st.slice(1).map((l) => l.split(/\s+/)[1]).sort(), ['nsx-worker-1', 'nsx-worker-2']);
  for (const l of st.slice(1)) assert.match(l, /\d+(\.\d+)?%.*\s[1-9]\d*$/, 'CPU % and a live PID count');
  const js = ok(compose(['stats', '--no-stream', '--format', 'json', 'worker']), 'stats json').split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(js.map((r) => r.Name).sort(), ['nsx-worker-1', 'nsx-worker-2']);
  const un = compose(['stats', '--no-stream', 'ghost']);
  assert.notEqual(un.code, 0);
  assert.match(un.stderr, /no such service: ghost/);
});
