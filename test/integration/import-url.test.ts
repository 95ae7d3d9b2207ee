// `docker import <url>`: drayd fetches the tarball itself (redirects followed), with Docker's
// "Downloading from" line and progress, and the history comment "Imported from <url>"; a URL
// that fails leaves no image. A server of the test's own on 127.0.0.1 serves the tarball.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as http from 'node:http';
import * as net from 'node:net';
import { gzipSync } from 'node:zlib';
import { TestDaemon, drayLauncher } from '../helpers/daemon';
import { tarOf } from '../helpers/tar';

const d = new TestDaemon();
let server: http.Server;
let base = '';
let rootfs: Buffer;

/** The CLI run without blocking this process, which serves the tarball meanwhile. */
function cli(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: { ...d.env, DOCKER_CONFIG: `${d.dir}/docker-config` }, timeout: 60_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0, stdout, stderr });
    });
  });
}

before(async () => {
  await d.start();
  await d.bootstrapBusybox();
  // A root file system: busybox's, with a file of our own in it.
  assert.equal(d.dray(['create', '--name', 'src', 'busybox', 'true']).code, 0);
  const put = await d.api('PUT', '/containers/src/archive?path=/', await tarOf([{ name: 'hello', body: 'imported over http\n' }]));
  assert.equal(put.status, 200, String(put.body));
  const exp = await d.api('GET', '/containers/src/export');
  assert.equal(exp.status, 200);
  rootfs = gzipSync(exp.body);
  server = http.createServer((req, res) => {
    if (req.url === '/redirect') { res.writeHead(302, { Location: '/rootfs.tar.gz' }); res.end(); return; }
    if (req.url === '/rootfs.tar.gz') { res.writeHead(200, { 'Content-Type': 'application/gzip', 'Content-Length': rootfs.length }); res.end(rootfs); return; }
    res.writeHead(404); res.end('no such file\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  d.dray(['rm', '-f', 'src']);
  const leaks = await d.stop();
  assert.deepEqual(leaks, []);
});

test('dray import and docker import of a URL: fetched by drayd through a redirect, runnable, the comment names the URL', async () => {
  const r = await cli(drayLauncher, ['import', `${base}/redirect`, 'fromurl:v1']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^Downloading from ${base}/redirect$`, 'm'));
  const id = r.stdout.trim().split('\n').pop()!;
  assert.match(id, /^sha256:[0-9a-f]{64}$/);
  const run = d.dray(['run', '--rm', 'fromurl:v1', 'cat', '/hello']);
  assert.equal(run.stdout, 'imported over http\n', run.stderr);
  const h = d.dray(['history', '--no-trunc', '--format', '{{.Comment}}', 'fromurl:v1']);
  assert.equal(h.stdout.trim(), `Imported from ${base}/redirect`);
  // The real docker CLI sends the URL as fromSrc and prints the ID.
  const dk = await cli('/usr/local/bin/docker', ['import', '--message', 'by docker', `${base}/rootfs.tar.gz`, 'fromurl:docker']);
  assert.equal(dk.code, 0, dk.stderr);
  assert.match(dk.stdout.trim().split('\n').pop()!, /^sha256:[0-9a-f]{64}$/);
  assert.equal(d.dray(['history', '--format', '{{.Comment}}', 'fromurl:docker']).stdout.trim(), 'by docker');
});

test('a URL that fails (404, nothing listening, another scheme) is a clear error and makes no image', async () => {
  const before = d.dray(['images', '-q']).stdout;
  const closed = await new Promise<number>((r) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => r(p)); }); });
  for (const [url, why] of [
    [`${base}/missing.tar`, /404 Not Found/],
    [`http://127.0.0.1:${closed}/x.tar`, /ECONNREFUSED|connection refused/i],
  ] as Array<[string, RegExp]>) {
    const r = await cli(drayLauncher, ['import', url, 'bad:v1']);
    assert.notEqual(r.code, 0, url);
    assert.match(r.stderr, why, url);
  }
  const ftp = await d.api('POST', `/images/create?fromSrc=${encodeURIComponent('ftp://127.0.0.1/x.tar')}`);
  assert.equal(ftp.status, 400);
  assert.match(String(ftp.body), /unsupported URL scheme ftp/);
  assert.equal(d.dray(['images', '-q']).stdout, before);
  assert.notEqual(d.dray(['image', 'inspect', 'bad:v1']).code, 0);
});
