// Hostile clients against a real drayd, beyond the container escapes of escapes.test.ts: names
// that try to climb out of the data root or smuggle control characters, hundreds of idle and
// half-sent connections, oversized headers, a crowd of clients creating and removing at once.
// Each is refused with a clear error or simply served; nothing is made where it should not be,
// and drayd keeps answering everyone else with bounded memory.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { TestDaemon } from '../helpers/daemon';

const d = new TestDaemon();

before(async () => {
  await d.start();
  await d.bootstrapBusybox();
});

after(async () => {
  for (const v of (await d.api('GET', '/volumes')).json?.Volumes ?? []) await d.api('DELETE', `/volumes/${v.Name}`);
  const leaks = await d.stop();
  assert.deepEqual(leaks, []);
});

const rssMiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${d.proc!.pid}/status`, 'utf8'))![1]) / 1024;

test('names with "/", "..", NUL, newlines or escapes are refused for containers, volumes and networks, and make nothing', async () => {
  const bad = ['../../etc', 'a/b', '..', '.', 'x\u0000y', 'line\nbreak', 'esc\u001b[31m', ' lead', '/'];
  const before = { c: readdirSync(path.join(d.dataRoot, 'containers')).length, v: readdirSync(path.join(d.dataRoot, 'volumes')).length };
  for (const name of bad) {
    const c = await d.api('POST', `/containers/create?name=${encodeURIComponent(name)}`, { Image: 'busybox' });
    assert.equal(c.status, 400, `container name ${JSON.stringify(name)}: ${c.status} ${c.body}`);
    const v = await d.api('POST', '/volumes/create', { Name: name });
    assert.equal(v.status, 400, `volume name ${JSON.stringify(name)}: ${v.status} ${v.body}`);
    if (name !== ' lead') {
      const n = await d.api('POST', '/networks/create', { Name: name });
      assert.ok(n.status === 400, `network name ${JSON.stringify(name)}: ${n.status} ${n.body}`);
    }
  }
  assert.equal(readdirSync(path.join(d.dataRoot, 'containers')).length, before.c);
  assert.equal(readdirSync(path.join(d.dataRoot, 'volumes')).length, before.v);
  assert.ok(!existsSync(path.join(d.dataRoot, '..', 'etc')), 'a name climbed out of the data root');
  // And a lookup by such a name is a plain 404, not a path on disk.
  for (const ref of ['..%2F..%2Fetc', '%2E%2E', 'a%00b']) {
    assert.equal((await d.api('GET', `/containers/${ref}/json`)).status, 404);
    assert.equal((await d.api('GET', `/volumes/${ref}`)).status, 404);
  }
});

test('hundreds of idle and half-sent connections do not starve other clients, and memory stays bounded', async () => {
  const rss0 = rssMiB();
  const socks: net.Socket[] = [];
  try {
    for (let i = 0; i < 300; i++) {
      const s = net.connect(d.socket);
      s.on('error', () => {});
      // Half of them send the start of a request and never finish it.
      if (i % 2) s.write('POST /containers/create HTTP/1.1\r\nHost: docker\r\nContent-Length: 100000\r\n');
      socks.push(s);
    }
    const t0 = Date.now();
    for (let i = 0; i < 20; i++) {
      const r = await d.api('GET', '/containers/json?all=1');
      assert.equal(r.status, 200);
    }
    assert.ok(Date.now() - t0 < 10_000, 'ordinary requests slowed to a crawl');
    const run = d.dray(['run', '--rm', 'busybox', 'echo', 'still here']);
    assert.equal(run.stdout, 'still here\n', run.stderr);
    assert.ok(rssMiB() - rss0 < 40, `300 idle connections cost ${Math.round(rssMiB() - rss0)} MiB`);
  } finally {
    for (const s of socks) s.destroy();
  }
});

test('oversized headers get 431, not a parse of megabytes', async () => {
  const r = await new Promise<string>((resolve) => {
    const s = net.connect(d.socket, () => {
      s.write(`GET /_ping HTTP/1.1\r\nHost: docker\r\nX-Big: ${'a'.repeat(200_000)}\r\n\r\n`);
    });
    let got = '';
    s.on('data', (b) => { got += b; });
    s.on('error', () => resolve(got));
    s.on('close', () => resolve(got));
  });
  assert.match(r, /^HTTP\/1\.1 431/);
  assert.equal((await d.api('GET', '/_ping')).status, 200);
});

test('eight clients creating, starting and removing containers at once: all served, nothing left', async () => {
  const client = async (k: number) => {
    for (let i = 0; i < 6; i++) {
      const c = await d.api('POST', `/containers/create?name=crowd-${k}-${i}`, { Image: 'busybox', Cmd: ['true'] });
      assert.equal(c.status, 201, c.body.toString());
      assert.equal((await d.api('POST', `/containers/${c.json.Id}/start`)).status, 204);
      assert.equal((await d.api('DELETE', `/containers/${c.json.Id}?force=1`)).status, 204);
    }
  };
  await Promise.all(Array.from({ length: 8 }, (_, k) => client(k)));
  const left = ((await d.api('GET', '/containers/json?all=1')).json as any[]).filter((c) => c.Names.some((n: string) => n.startsWith('/crowd-')));
  assert.deepEqual(left, []);
});
