// Log drivers as Docker names them, against a real drayd: json-file by default, local, none, their
// options and Docker's refusals, rotation by a container's own options, daemon.json's defaults.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { TestDaemon, demux, sleep } from '../helpers/daemon';

const d = new TestDaemon();

before(async () => {
  await d.start();
  await d.bootstrapBusybox();
});

after(async () => {
  assert.deepEqual(await d.stop(), [], 'nothing may be left behind');
});

async function create(hostConfig: Record<string, unknown>, cmd = ['sh', '-c', 'echo out; echo err >&2']) {
  return d.api('POST', '/containers/create', { Image: 'busybox', Cmd: cmd, HostConfig: hostConfig });
}

async function runToEnd(hostConfig: Record<string, unknown>, cmd?: string[]): Promise<string> {
  const c = await create(hostConfig, cmd);
  assert.equal(c.status, 201, c.body.toString());
  assert.equal((await d.api('POST', `/containers/${c.json.Id}/start`)).status, 204);
  assert.equal((await d.api('POST', `/containers/${c.json.Id}/wait`)).status, 200);
  return c.json.Id;
}

test('the default driver is json-file: reported by inspect and info, and logs reads it', async () => {
  const id = await runToEnd({});
  const i = await d.api('GET', `/containers/${id}/json`);
  assert.deepEqual(i.json.HostConfig.LogConfig, { Type: 'json-file', Config: {} });
  assert.notEqual(i.json.LogPath, '');
  const info = await d.api('GET', '/info');
  assert.equal(info.json.LoggingDriver, 'json-file');
  assert.ok(info.json.Plugins.Log.includes('json-file') && info.json.Plugins.Log.includes('local'));
  const l = await d.api('GET', `/containers/${id}/logs?stdout=1&stderr=1`);
  assert.deepEqual(demux(l.body), { stdout: 'out\n', stderr: 'err\n' });
  await d.api('DELETE', `/containers/${id}`);
});

test('local keeps a log that logs reads, and no LogPath is shown, as in Docker', async () => {
  const id = await runToEnd({ LogConfig: { Type: 'local', Config: { 'max-size': '10m', 'max-file': '3' } } });
  const i = await d.api('GET', `/containers/${id}/json`);
  assert.deepEqual(i.json.HostConfig.LogConfig, { Type: 'local', Config: { 'max-size': '10m', 'max-file': '3' } });
  assert.equal(i.json.LogPath, '');
  const l = await d.api('GET', `/containers/${id}/logs?stdout=1&stderr=1`);
  assert.deepEqual(demux(l.body), { stdout: 'out\n', stderr: 'err\n' });
  await d.api('DELETE', `/containers/${id}`);
});

test('none keeps nothing: logs fails with Docker\'s message, attach still carries the output', async () => {
  const id = await runToEnd({ LogConfig: { Type: 'none', Config: {} } });
  const l = await d.api('GET', `/containers/${id}/logs?stdout=1&stderr=1`);
  assert.equal(l.status, 501);
  assert.equal(l.json.message, 'configured logging driver does not support reading');
  assert.deepEqual(readdirSync(path.join(d.dataRoot, 'containers', id)).filter((f) => f.startsWith('container.log')), []);
  const cli = d.dray(['logs', id]);
  assert.equal(cli.code, 1);
  assert.equal(cli.stderr.trim(), 'Error response from daemon: configured logging driver does not support reading');
  const dk = d.docker(['logs', id]);
  assert.equal(dk.code, 1);
  assert.match(dk.stderr, /configured logging driver does not support reading/);
  await d.api('DELETE', `/containers/${id}`);
  const run = d.docker(['run', '--rm', '--log-driver', 'none', 'busybox', 'echo', 'attached']);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, 'attached\n');
});

test('an unknown driver, an unknown option or a bad value is refused at create with Docker\'s wording', async () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ Type: 'syslogd', Config: {} }, 'error looking up logging plugin syslogd: plugin "syslogd" not found'],
    [{ Type: 'json-file', Config: { 'max-sise': '1m' } }, "unknown log opt 'max-sise' for json-file log driver"],
    [{ Type: 'local', Config: { color: 'blue' } }, "unknown log opt 'color' for log driver local"],
    [{ Type: 'json-file', Config: { 'max-size': 'big' } }, "invalid size: 'big'"],
    [{ Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '0' } }, 'max-file cannot be less than 1'],
    [{ Type: 'json-file', Config: { mode: 'fast' } }, 'logger: logging mode not supported: fast'],
  ];
  for (const [lc, msg] of cases) {
    const r = await create({ LogConfig: lc });
    assert.equal(r.status, 400, JSON.stringify(lc));
    assert.equal(r.json.message, msg);
  }
  const a = d.dray(['run', '--rm', '--log-driver', 'syslogd', 'busybox', 'true']);
  assert.equal(a.code, 125);
  assert.match(a.stderr, /Error response from daemon: error looking up logging plugin syslogd: plugin "syslogd" not found/);
  const b = d.docker(['run', '--rm', '--log-opt', 'max-size=big', 'busybox', 'true']);
  assert.equal(b.code, 125);
  assert.match(b.stderr, /invalid size: 'big'/);
  assert.equal((await d.api('GET', '/containers/json?all=1')).json.length, 0, 'nothing was created');
});

test('a container\'s max-size and max-file rotate its log: no more files than max-file, the newest lines kept', async () => {
  const c = await create({ LogConfig: { Type: 'json-file', Config: { 'max-size': '2k', 'max-file': '2' } } },
    ['sh', '-c', 'i=0; while [ $i -lt 400 ]; do echo "line $i ................................................"; i=$((i+1)); sleep 0.01; done; sleep 600']);
  const id = c.json.Id;
  await d.api('POST', `/containers/${id}/start`);
  const dir = path.join(d.dataRoot, 'containers', id);
  let rotated = false;
  for (let i = 0; i < 100 && !rotated; i++) {
    await sleep(100);
    rotated = readdirSync(dir).includes('container.log.1');
  }
  assert.ok(rotated, 'the log was rotated');
  // 400 lines 10 ms apart, each `sleep` a process of its own: 4-6 s, more on a busy host. Waits
  // (bounded) for the last one rather than a fixed time.
  let out: string[] = [];
  for (let i = 0; i < 150; i++) {
    out = demux((await d.api('GET', `/containers/${id}/logs?stdout=1`)).body).stdout.trim().split('\n');
    if (/^line 399 /.test(out.at(-1) ?? '')) break;
    await sleep(200);
  }
  assert.match(out.at(-1)!, /^line 399 /);
  const files = readdirSync(dir).filter((f) => f.startsWith('container.log')).sort();
  assert.deepEqual(files, ['container.log', 'container.log.1']);
  assert.ok(!out.includes('line 0 ................................................'), 'the oldest lines are gone');
  await d.api('DELETE', `/containers/${id}?force=1`);
});

test('daemon.json log-driver and log-opts: the default driver and its options for containers that name none', async () => {
  const dir = mkdtempSync('/tmp/dray-logcfg-');
  const cfg = path.join(dir, 'daemon.json');
  writeFileSync(cfg, JSON.stringify({ 'log-driver': 'local', 'log-opts': { 'max-size': '5m', 'max-file': '2' } }));
  const d2 = new TestDaemon(['--config-file', cfg]);
  try {
    await d2.start();
    await d2.bootstrapBusybox();
    assert.equal((await d2.api('GET', '/info')).json.LoggingDriver, 'local');
    const a = await d2.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'] });
    assert.deepEqual((await d2.api('GET', `/containers/${a.json.Id}/json`)).json.HostConfig.LogConfig, { Type: 'local', Config: { 'max-size': '5m', 'max-file': '2' } });
    const b = await d2.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: { LogConfig: { Type: 'local', Config: { 'max-file': '4' } } } });
    assert.deepEqual((await d2.api('GET', `/containers/${b.json.Id}/json`)).json.HostConfig.LogConfig, { Type: 'local', Config: { 'max-size': '5m', 'max-file': '4' } });
    // Another driver does not take the default driver's options.
    const c = await d2.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: { LogConfig: { Type: 'json-file' } } });
    assert.deepEqual((await d2.api('GET', `/containers/${c.json.Id}/json`)).json.HostConfig.LogConfig, { Type: 'json-file', Config: {} });
  } finally {
    assert.deepEqual(await d2.stop(), []);
  }
  writeFileSync(cfg, JSON.stringify({ 'log-driver': 'nosuchdriver' }));
  const bad = new TestDaemon(['--config-file', cfg]);
  try {
    await assert.rejects(bad.start(), /failed to set log opts: error looking up logging plugin nosuchdriver/);
  } finally {
    await bad.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
