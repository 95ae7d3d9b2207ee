// GET /metrics (daemon.json metrics-addr / --metrics-addr): Prometheus' text format, and counters
// that move with real operations on a real drayd.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import { TestDaemon } from '../helpers/daemon';

let port = 0;
let d: TestDaemon;

const freePort = () => new Promise<number>((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); });
});

function scrape(p = '/metrics'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: p }, (res) => {
      let b = '';
      res.on('data', (c) => { b += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body: b }));
    }).on('error', reject);
  });
}

/** The value of one series, e.g. value(body, 'dray_containers{state="running"}'). */
function value(body: string, series: string): number {
  const line = body.split('\n').find((l) => l.startsWith(series + ' '));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

before(async () => {
  port = await freePort();
  d = new TestDaemon(['--metrics-addr', `127.0.0.1:${port}`]);
  await d.start();
  await d.bootstrapBusybox();
});
after(async () => { assert.deepEqual(await d.stop(), []); });

test('metrics move with containers, execs and API requests', async () => {
  const m0 = await scrape();
  assert.equal(m0.status, 200);
  assert.match(m0.type, /^text\/plain; version=0\.0\.4/);
  assert.match(m0.body, /# TYPE dray_containers gauge/);
  const running0 = value(m0.body, 'dray_containers{state="running"}');
  const starts0 = value(m0.body, 'dray_container_actions_total{action="start"}');

  const id = await d.runDetached(['sleep', '60']);
  const e = await d.api('POST', `/containers/${id}/exec`, { Cmd: ['true'] });
  await d.api('POST', `/exec/${e.json.Id}/start`, { Detach: false });
  const m1 = (await scrape()).body;
  assert.equal(value(m1, 'dray_containers{state="running"}'), running0 + 1);
  assert.equal(value(m1, 'dray_container_actions_total{action="start"}'), starts0 + 1);
  assert.ok(value(m1, 'dray_container_actions_total{action="exec_start"}') >= 1);
  assert.ok(value(m1, 'dray_api_requests_total{method="POST",route="/containers/:id/start",status="204"}') >= 1);
  assert.ok(value(m1, 'dray_api_request_duration_seconds_count{method="POST",route="/containers/:id/start"}') >= 1);
  assert.ok(value(m1, 'dray_process_resident_memory_bytes') > 10 << 20);
  assert.match(m1, /dray_event_loop_delay_seconds\{quantile="0\.99"\} \d/);

  await d.api('DELETE', `/containers/${id}?force=1`);
  const m2 = (await scrape()).body;
  assert.equal(value(m2, 'dray_containers{state="running"}'), running0);
  assert.ok(value(m2, 'dray_container_actions_total{action="die"}') >= 1);
  // Nothing but /metrics is served there.
  assert.equal((await scrape('/containers/json')).status, 404);
});
