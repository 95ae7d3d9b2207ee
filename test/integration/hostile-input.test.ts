// Hostile clients against a real drayd, beyond the container escapes of escapes.test.ts: names
// that try to climb out of the data root or smuggle control characters, hundreds of idle and
// half-sent connections, oversized headers, a crowd of clients creating and removing at once, more
// attached streams than drayd allows.
// Each is refused with a clear error or simply served; nothing is made where it should not be,
// and drayd keeps answering everyone else with bounded memory.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { TestDaemon, draydJs } from '../helpers/daemon';

// A small bound on attached streams (--max-attached-streams; 2000 by default) so that a test can
// reach it.
const MAX_STREAMS = 6;
const d = new TestDaemon(['--max-attached-streams', String(MAX_STREAMS)]);

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

/** An attach request hijacked as the docker CLI does (Upgrade: tcp); resolves with the status line and the socket. */
function attach(id: string): Promise<{ status: number; head: string; sock: net.Socket }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(d.socket);
    let buf = '';
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`attach: no answer in 10 s: ${JSON.stringify(buf)}`)); }, 10_000);
    sock.on('error', (e) => { clearTimeout(timer); reject(e); });
    sock.on('data', (c) => {
      buf += c.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const status = Number(/^HTTP\/1\.1 (\d+)/.exec(buf)?.[1] ?? 0);
      // A refusal carries a JSON body: wait for it.
      if (status !== 101 && !buf.slice(end + 4).includes('}')) return;
      clearTimeout(timer);
      sock.removeAllListeners('data');
      resolve({ status, head: buf, sock });
    });
    sock.write(`POST /v1.43/containers/${id}/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n`);
  });
}

test('attached streams past --max-attached-streams get 503 with a clear message; the rest of the API keeps serving, and a closed stream frees its place', async () => {
  // A container that keeps writing: a stream whose client went away is seen gone at the next
  // write to it (a client that only closed its sending side, as the docker CLI does without
  // stdin, must keep receiving, so an end of input alone does not free the place).
  const c = await d.api('POST', '/containers/create?name=many-attach', { Image: 'busybox', Cmd: ['sh', '-c', 'for i in $(seq 1200); do echo tick; sleep 0.1; done'] });
  assert.equal(c.status, 201, String(c.body));
  const id = c.json.Id;
  assert.equal((await d.api('POST', `/containers/${id}/start`)).status, 204);
  const open: net.Socket[] = [];
  try {
    for (let i = 0; i < MAX_STREAMS; i++) {
      const a = await attach(id);
      assert.equal(a.status, 101, `attach ${i + 1} of ${MAX_STREAMS}: ${a.head}`);
      open.push(a.sock);
    }
    const over = await attach(id);
    over.sock.destroy();
    assert.equal(over.status, 503, over.head);
    assert.match(over.head, new RegExp(`too many attached streams \\(${MAX_STREAMS}\\): close some before opening more`));
    // The CLI says so too, with a non-zero exit, and ordinary requests are served meanwhile.
    const ex = d.dray(['exec', 'many-attach', 'true']);
    assert.notEqual(ex.code, 0);
    assert.match(ex.stderr, /too many attached streams/);
    assert.equal((await d.api('GET', `/containers/${id}/json`)).status, 200);
    // One stream closed: a new one gets its place (drayd sees the close asynchronously: bounded retry).
    open.shift()!.destroy();
    let again: Awaited<ReturnType<typeof attach>> | undefined;
    for (let i = 0; i < 50; i++) {
      again = await attach(id);
      if (again.status === 101) break;
      again.sock.destroy();
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(again!.status, 101, again!.head);
    open.push(again!.sock);
  } finally {
    for (const s of open) s.destroy();
    await d.api('DELETE', `/containers/${id}?force=1`);
  }
});

test('drayd refuses a --max-attached-streams that is not a positive number, before it starts', () => {
  for (const v of ['0', '-3', 'many']) {
    const r = spawnSync(draydJs, ['--max-attached-streams', v, '--data-root', '/nonexistent/dray-never', '-H', 'unix:///nonexistent/dray-never.sock'], { encoding: 'utf8', timeout: 20_000 });
    assert.notEqual(r.status, 0, `--max-attached-streams ${v} was accepted`);
    assert.match(r.stderr, new RegExp(`invalid --max-attached-streams: ${v}`));
  }
  assert.ok(!existsSync('/nonexistent'));
});
