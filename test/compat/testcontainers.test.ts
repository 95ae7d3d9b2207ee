// testcontainers (npm, as test suites use it) against a real drayd: exposed ports on any free host
// port, wait strategies (health check, log line, listening port), exec, copying into a container,
// logs, a network with aliases, stop. Its Ryuk reaper is off: there is no image for it offline.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { TestDaemon } from '../helpers/daemon';

const d = new TestDaemon();
type TC = typeof import('testcontainers');
let tc: TC;

before(async () => {
  await d.start();
  await d.bootstrapBusybox();
  // testcontainers reads these when it first looks for a container runtime.
  process.env.DOCKER_HOST = d.host;
  process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
  process.env.TESTCONTAINERS_HOST_OVERRIDE = '127.0.0.1';
  delete process.env.DOCKER_CONTEXT;
  tc = await import('testcontainers');
});

after(async () => {
  assert.deepEqual(await d.stop(), [], 'nothing may be left behind');
});

function get(port: number, p: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: p, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

test('a container with an exposed port, waited for by its health check: port, exec, copy, logs, stop', async () => {
  const c = await new tc.GenericContainer('busybox')
    .withCommand(['sh', '-c', 'mkdir -p /www && echo served > /www/index.html && echo ready && exec httpd -f -p 8080 -h /www'])
    .withExposedPorts(8080)
    .withHealthCheck({ test: ['CMD-SHELL', 'wget -q -O /dev/null http://127.0.0.1:8080/ || nc -z 127.0.0.1 8080'], interval: 200, timeout: 2000, retries: 10, startPeriod: 0 })
    .withWaitStrategy(tc.Wait.forHealthCheck())
    .withStartupTimeout(30_000)
    .start();
  try {
    const port = c.getMappedPort(8080);
    assert.ok(port > 0);
    const r = await get(port, '/index.html');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'served\n');
    const inspect = await d.api('GET', `/containers/${c.getId()}/json`);
    assert.equal(inspect.json.State.Health.Status, 'healthy');
    // exec with and without a TTY-less output split
    const e = await c.exec(['sh', '-c', 'echo to-out; echo to-err >&2; exit 3']);
    assert.equal(e.exitCode, 3);
    assert.equal(e.stdout, 'to-out\n');
    assert.equal(e.stderr, 'to-err\n');
    // copy into the container (PUT /archive, which must answer with no body)
    await c.copyContentToContainer([{ content: 'copied in\n', target: '/tmp/copied.txt' }]);
    const cat = await c.exec(['cat', '/tmp/copied.txt']);
    assert.equal(cat.output, 'copied in\n');
    const archive = await c.copyArchiveFromContainer('/tmp/copied.txt');
    const chunks: Buffer[] = [];
    for await (const ch of archive) chunks.push(ch as Buffer);
    assert.ok(Buffer.concat(chunks).includes('copied in'));
    // logs as a stream
    const logs = await c.logs();
    const seen = await new Promise<string>((resolve) => {
      let all = '';
      logs.on('data', (l: Buffer | string) => { all += l.toString(); if (all.includes('ready')) resolve(all); });
      setTimeout(() => resolve(all), 5000).unref();
    });
    logs.destroy();
    assert.match(seen, /ready/);
  } finally {
    await c.stop({ timeout: 1 });
  }
  const gone = await d.api('GET', `/containers/${c.getId()}/json`);
  assert.equal(gone.status, 404, 'stop removes the container, as testcontainers expects');
});

test('wait strategies: a log line, a listening port; a failing health check is reported as such', async () => {
  const byLog = await new tc.GenericContainer('busybox')
    .withCommand(['sh', '-c', 'sleep 0.3; echo "server up"; exec sleep 600'])
    .withWaitStrategy(tc.Wait.forLogMessage('server up'))
    .start();
  const byPort = await new tc.GenericContainer('busybox')
    .withCommand(['sh', '-c', 'sleep 0.3; exec httpd -f -p 9000'])
    .withExposedPorts(9000)
    .withWaitStrategy(tc.Wait.forListeningPorts())
    .withStartupTimeout(20_000)
    .start();
  try {
    assert.ok(byPort.getMappedPort(9000) > 0);
    await assert.rejects(
      new tc.GenericContainer('busybox').withCommand(['sleep', '600'])
        .withHealthCheck({ test: ['CMD', 'false'], interval: 100, timeout: 1000, retries: 2, startPeriod: 0 })
        .withWaitStrategy(tc.Wait.forHealthCheck()).withStartupTimeout(20_000).start(),
      /Health check failed: unhealthy/,
    );
  } finally {
    await byLog.stop({ timeout: 1 });
    await byPort.stop({ timeout: 1 });
  }
  // The container whose start failed is left to the reaper (off here): remove it ourselves.
  for (const c of (await d.api('GET', '/containers/json?all=1')).json) await d.api('DELETE', `/containers/${c.Id}?force=1`);
});

test('a network with aliases: containers reach each other by alias', async () => {
  const net = await new tc.Network().start();
  const server = await new tc.GenericContainer('busybox')
    .withNetwork(net).withNetworkAliases('backend')
    .withCommand(['sh', '-c', 'echo pong > /tmp/p; exec httpd -f -p 80 -h /tmp'])
    .start();
  try {
    const client = await new tc.GenericContainer('busybox').withNetwork(net).withCommand(['sleep', '600']).start();
    try {
      let out = '';
      for (let i = 0; i < 30 && out !== 'pong\n'; i++) {
        const r = await client.exec(['sh', '-c', 'nc backend 80 <<EOF\nGET /p HTTP/1.0\n\nEOF\n']);
        out = r.output.split('\r\n\r\n')[1] ?? '';
        if (out !== 'pong\n') await new Promise((res) => setTimeout(res, 100));
      }
      assert.equal(out, 'pong\n');
      assert.equal(client.getNetworkNames().includes(net.getName()), true);
    } finally {
      await client.stop({ timeout: 1 });
    }
  } finally {
    await server.stop({ timeout: 1 });
    await net.stop();
  }
  const nets = await d.api('GET', '/networks');
  assert.ok(!nets.json.some((n: any) => n.Name === net.getName()), 'the network is gone');
});
