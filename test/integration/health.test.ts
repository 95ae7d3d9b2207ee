// Healthchecks against a real drayd: probes run by exec in the container on drayd's schedule,
// State.Health as Docker keeps it, ps and events, bad input, and the state across a drayd restart.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { TestDaemon, sleep } from '../helpers/daemon';

const d = new TestDaemon();
const MS = 1e6;

before(async () => {
  await d.start();
  await d.bootstrapBusybox();
});

after(async () => {
  assert.deepEqual(await d.stop(), [], 'nothing may be left behind');
});

async function health(id: string): Promise<any> {
  const r = await d.api('GET', `/containers/${id}/json`);
  assert.equal(r.status, 200, r.body.toString());
  return r.json.State.Health;
}

/** Polls until `pred` holds for the container's State.Health (bounded). */
async function until(id: string, pred: (h: any) => boolean, what: string, ms = 10_000): Promise<any> {
  const end = Date.now() + ms;
  let h: any;
  while (Date.now() < end) {
    h = await health(id);
    if (h && pred(h)) return h;
    await sleep(50);
  }
  assert.fail(`${what}: last State.Health ${JSON.stringify(h)}`);
}

function run(test: string[], hc: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return d.runDetached(['sleep', '600'], { Healthcheck: { Test: test, ...hc }, ...extra });
}

async function processes(id: string, columns: string): Promise<string[][]> {
  const r = await d.api('GET', `/containers/${id}/top?ps_args=-eo+${columns}`);
  assert.equal(r.status, 200, r.body.toString());
  return r.json.Processes;
}

test('a passing probe makes the container healthy: State.Health, ps, the health filter, events', async () => {
  const since = Math.floor(Date.now() / 1000);
  const id = await run(['CMD-SHELL', 'echo probe-ran; exit 0'], { Interval: 200 * MS });
  let h = await health(id);
  assert.equal(h.Status, 'starting');
  assert.equal(h.FailingStreak, 0);
  assert.deepEqual(h.Log, []);
  assert.match(d.dray(['ps', '--filter', `id=${id}`, '--format', '{{.Status}}']).stdout, /^Up .* \(health: starting\)\n$/);
  h = await until(id, (x) => x.Status === 'healthy', 'becomes healthy');
  const r = h.Log[0];
  assert.equal(r.ExitCode, 0);
  assert.equal(r.Output, 'probe-ran\n');
  assert.ok(Date.parse(r.End) >= Date.parse(r.Start));
  assert.match(d.dray(['ps', '--filter', `id=${id}`, '--format', '{{.Status}}']).stdout, /^Up .* \(healthy\)\n$/);
  assert.equal(d.dray(['ps', '-q', '--no-trunc', '--filter', 'health=healthy']).stdout.trim(), id);
  assert.equal(d.dray(['ps', '-q', '--filter', 'health=unhealthy']).stdout, '');
  const bad = d.dray(['ps', '--filter', 'health=fine']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /invalid filter 'health=fine': invalid value for health \(fine\): must be one of none, starting, healthy, unhealthy/);
  // Five results at most, the newest last.
  h = await until(id, (x) => x.Log.length === 5, 'five results', 5000);
  await sleep(450);
  const later = await health(id);
  assert.equal(later.Log.length, 5);
  assert.ok(Date.parse(later.Log[4].Start) > Date.parse(h.Log[4].Start), 'the log moves on');
  const ev = await d.api('GET', `/events?since=${since}&until=${Math.ceil(Date.now() / 1000) + 1}&filters=${encodeURIComponent(JSON.stringify({ container: [id] }))}`);
  const actions = ev.body.toString().trim().split('\n').map((l) => JSON.parse(l).Action);
  assert.deepEqual(actions.filter((a: string) => a.startsWith('health_status')), ['health_status: healthy']);
  assert.ok(actions.includes('exec_create: /bin/sh -c echo probe-ran; exit 0'), actions.join(','));
  assert.ok(actions.includes('exec_die'));
  // The summary carries the health too (API 1.52's HealthSummary).
  const list = await d.api('GET', `/containers/json?filters=${encodeURIComponent(JSON.stringify({ id: [id] }))}`);
  assert.deepEqual(list.json[0].Health, { Status: 'healthy', FailingStreak: 0 });
  await d.api('DELETE', `/containers/${id}?force=1`);
});

test('failures count up to retries, then unhealthy; stop leaves it unhealthy and a start begins anew', async () => {
  const id = await run(['CMD', 'sh', '-c', 'echo nope >&2; exit 1'], { Interval: 150 * MS, Retries: 2 });
  const h = await until(id, (x) => x.Status === 'unhealthy', 'becomes unhealthy');
  assert.equal(h.FailingStreak, 2);
  assert.deepEqual(h.Log.map((x: any) => [x.ExitCode, x.Output]), [[1, 'nope\n'], [1, 'nope\n']]);
  assert.match(d.dray(['ps', '--filter', `id=${id}`, '--format', '{{.Status}}']).stdout, /\(unhealthy\)/);
  assert.equal((await d.api('POST', `/containers/${id}/stop?t=0`)).status, 204);
  const stopped = await health(id);
  assert.equal(stopped.Status, 'unhealthy');
  const n = stopped.Log.length;
  await sleep(400);
  assert.equal((await health(id)).Log.length, n, 'no probe runs while stopped');
  assert.equal((await d.api('POST', `/containers/${id}/start`)).status, 204);
  const again = await health(id);
  assert.equal(again.Status, 'starting');
  assert.equal(again.FailingStreak, 0);
  assert.equal(again.Log.length, n, 'the old results are kept');
  await d.api('DELETE', `/containers/${id}?force=1`);
});

test('a probe past its timeout fails with Docker\'s message and is killed with what it started', async () => {
  const id = await run(['CMD-SHELL', 'sleep 37 & sleep 38; echo never'], { Interval: 100 * MS, Timeout: 300 * MS, Retries: 1 });
  const h = await until(id, (x) => x.Log.length >= 2, 'two timed-out probes');
  for (const r of h.Log) {
    assert.equal(r.ExitCode, -1);
    assert.equal(r.Output, 'Health check exceeded timeout (300ms)');
    assert.ok(Date.parse(r.End) - Date.parse(r.Start) < 2000, 'killed at its timeout');
  }
  assert.equal(h.Status, 'unhealthy');
  // Each probe left a `sleep 37` in the background: only the one under way may still be there,
  // and no killed probe is left a zombie.
  const ps = await processes(id, 'pid,stat,args');
  assert.ok(ps.filter((p) => /sleep 37/.test(p[2])).length <= 1, JSON.stringify(ps));
  assert.deepEqual(ps.filter((p) => p[1].startsWith('Z')), []);
  await d.api('POST', `/containers/${id}/stop?t=0`);
  await d.api('DELETE', `/containers/${id}?force=1`);
});

test('a probe that cannot run fails as Docker reports it; output is cut at 4096 bytes', async () => {
  const a = await run(['CMD', 'no-such-probe', 'x'], { Interval: 100 * MS, Retries: 1 });
  const b = await run(['CMD-SHELL', 'head -c 5000 /dev/zero | tr "\\0" x'], { Interval: 100 * MS });
  const ha = await until(a, (x) => x.Status === 'unhealthy', 'missing command is a failure');
  assert.equal(ha.Log[0].ExitCode, -1);
  assert.match(ha.Log[0].Output, /exec: "no-such-probe": executable file not found in \$PATH/);
  const hb = await until(b, (x) => x.Status === 'healthy', 'long output');
  assert.equal(hb.Log[0].Output, 'x'.repeat(4096) + '...');
  for (const id of [a, b]) await d.api('DELETE', `/containers/${id}?force=1`);
});

test('during the start period failures do not count, and the start interval applies', async () => {
  const id = await run(['CMD-SHELL', 'exit 1'], { Interval: 60_000 * MS, StartPeriod: 60_000 * MS, StartInterval: 100 * MS, Retries: 1 });
  const h = await until(id, (x) => x.Log.length >= 3, 'probes at the start interval', 5000);
  assert.equal(h.Status, 'starting');
  assert.equal(h.FailingStreak, 0);
  await d.api('DELETE', `/containers/${id}?force=1`);
});

test('bad healthcheck settings are refused with Docker\'s wording, by the API and by the CLI', async () => {
  const create = (hc: Record<string, unknown>) => d.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], Healthcheck: { Test: ['CMD', 'true'], ...hc } });
  for (const [hc, msg] of [
    [{ Interval: 1000 }, 'Interval in Healthcheck cannot be less than 1ms'],
    [{ Timeout: 5 }, 'Timeout in Healthcheck cannot be less than 1ms'],
    [{ StartPeriod: 10 }, 'StartPeriod in Healthcheck cannot be less than 1ms'],
    [{ StartInterval: 10 }, 'StartInterval in Healthcheck cannot be less than 1ms'],
    [{ Retries: -1 }, 'Retries in Healthcheck cannot be negative'],
  ] as const) {
    const r = await create(hc);
    assert.equal(r.status, 400, JSON.stringify(hc));
    assert.equal(r.json.message, msg);
  }
  const cases: [string[], RegExp][] = [
    [['--health-interval', '5x'], /invalid argument "5x" for "--health-interval" flag: time: unknown unit "x" in duration "5x"/],
    [['--health-timeout', 'soon'], /invalid argument "soon" for "--health-timeout" flag: time: invalid duration "soon"/],
    [['--health-retries', '-1'], /--health-retries cannot be negative/],
    [['--health-interval', '-1s'], /--health-interval cannot be negative/],
    [['--no-healthcheck', '--health-cmd', 'true'], /--no-healthcheck conflicts with --health-\* options/],
  ];
  for (const [flags, re] of cases) {
    for (const cli of [d.dray.bind(d), d.docker.bind(d)]) {
      const r = cli(['run', '--rm', ...flags, 'busybox', 'true']);
      assert.equal(r.code, 125, `${flags}: ${r.stderr}`);
      assert.match(r.stderr, re);
    }
  }
  assert.equal((await d.api('GET', '/containers/json?all=1')).json.length, 0, 'nothing was created');
});

test('HEALTHCHECK from the image, overridden in part by --health-*, or turned off by --no-healthcheck', async () => {
  const ctx = mkdtempSync('/tmp/dray-health-');
  try {
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox\nHEALTHCHECK --interval=100ms --retries=1 CMD echo from-image\n');
    const b = d.dray(['build', '-q', '-t', 'hc-image', ctx]);
    assert.equal(b.code, 0, b.stderr);
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
  const plain = d.dray(['run', '-d', 'hc-image', 'sleep', '600']).stdout.trim();
  const h = await until(plain, (x) => x.Status === 'healthy', 'image healthcheck');
  assert.equal(h.Log[0].Output, 'from-image\n');
  const over = d.dray(['run', '-d', '--health-retries', '3', 'hc-image', 'sleep', '600']).stdout.trim();
  const i = await d.api('GET', `/containers/${over}/json`);
  assert.deepEqual(i.json.Config.Healthcheck.Test, ['CMD-SHELL', 'echo from-image']);
  assert.equal(i.json.Config.Healthcheck.Retries, 3);
  assert.equal(i.json.Config.Healthcheck.Interval, 100 * MS);
  const off = d.dray(['run', '-d', '--no-healthcheck', 'hc-image', 'sleep', '600']).stdout.trim();
  await sleep(300);
  assert.equal(await health(off), undefined);
  assert.match(d.dray(['ps', '--filter', `id=${off}`, '--format', '{{.Status}}']).stdout, /^Up [^(]*\n$/);
  assert.equal(d.dray(['ps', '-q', '--no-trunc', '--filter', 'health=none']).stdout.trim(), off);
  for (const id of [plain, over, off]) await d.api('DELETE', `/containers/${id}?force=1`);
  await d.api('DELETE', '/images/hc-image');
});

test('health survives a drayd restart: an unhealthy container stays so and the schedule resumes', async () => {
  const bad = await run(['CMD-SHELL', 'exit 3'], { Interval: 200 * MS, Retries: 1 });
  const good = await run(['CMD-SHELL', 'true'], { Interval: 200 * MS });
  await until(bad, (x) => x.Status === 'unhealthy' && x.FailingStreak >= 2, 'unhealthy');
  await until(good, (x) => x.Status === 'healthy', 'healthy');
  await d.killDaemon();
  await d.start();
  const hb = await health(bad);
  assert.equal(hb.Status, 'unhealthy', 'no way back through "starting"');
  assert.ok(hb.FailingStreak >= 2);
  assert.equal((await health(good)).Status, 'healthy');
  const streak = hb.FailingStreak;
  await until(bad, (x) => x.FailingStreak >= streak + 2, 'probing resumed');
  const hg = await until(good, (x) => Date.parse(x.Log.at(-1).Start) > Date.now() - 1000, 'probing resumed');
  assert.equal(hg.Status, 'healthy');
  for (const id of [bad, good]) await d.api('DELETE', `/containers/${id}?force=1`);
});
