// The Engine API on TCP, as dockerd does it: only with TLS, and with --tlsverify only for clients
// whose certificate the given CA signed. Certificates are made here with openssl; the real docker
// CLI (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH) and dray's own CLI talk to drayd over 127.0.0.1.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, copyFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { TestDaemon, draydJs } from '../helpers/daemon';

const dir = mkdtempSync('/tmp/dray-tls-');
let port = 0;
let d: TestDaemon;

function openssl(args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA; and a stranger's client certificate. */
function makeCerts(): void {
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca-key.pem', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=dray test CA']);
  writeFileSync(path.join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  writeFileSync(path.join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [name, ext] of [['server', 'server.ext'], ['client', 'client.ext']]) {
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-out', `${name}-cert.pem`, '-days', '2', '-extfile', ext]);
  }
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'stranger-key.pem', '-out', 'stranger-cert.pem', '-days', '2', '-subj', '/CN=stranger']);
  // The docker CLI's layout: DOCKER_CERT_PATH/{ca,cert,key}.pem.
  mkdirSync(path.join(dir, 'client'));
  copyFileSync(path.join(dir, 'ca.pem'), path.join(dir, 'client', 'ca.pem'));
  copyFileSync(path.join(dir, 'client-cert.pem'), path.join(dir, 'client', 'cert.pem'));
  copyFileSync(path.join(dir, 'client-key.pem'), path.join(dir, 'client', 'key.pem'));
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); });
  });
}

before(async () => {
  makeCerts();
  port = await freePort();
  d = new TestDaemon(['-H', `tcp://127.0.0.1:${port}`, '--tlsverify', '--tlscacert', path.join(dir, 'ca.pem'), '--tlscert', path.join(dir, 'server-cert.pem'), '--tlskey', path.join(dir, 'server-key.pem')]);
  await d.start();
  await d.bootstrapBusybox();
});

after(async () => {
  const leaks = await d.stop();
  rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(leaks, []);
});

const tcpEnv = () => ({ ...process.env, DOCKER_HOST: `tcp://127.0.0.1:${port}`, DRAY_HOST: `tcp://127.0.0.1:${port}`, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: path.join(dir, 'client'), DOCKER_CONFIG: path.join(dir, 'docker-config'), DRAY_CLI_SOCKET: '' });

test('the docker CLI with its client certificate runs containers over TLS, attach streams included', () => {
  const v = spawnSync('/usr/local/bin/docker', ['version', '--format', '{{.Server.APIVersion}}'], { env: tcpEnv(), encoding: 'utf8', timeout: 60_000 });
  assert.equal(v.status, 0, v.stderr);
  assert.match(v.stdout, /^1\.\d+\n$/);
  const r = spawnSync('/usr/local/bin/docker', ['run', '--rm', 'busybox', 'echo', 'over tls'], { env: tcpEnv(), encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'over tls\n');
});

test('dray itself speaks TLS with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH, or --tlsverify and the files', () => {
  const dray = path.join(path.dirname(draydJs), 'dray');
  const env = tcpEnv();
  const a = spawnSync(dray, ['run', '--rm', 'busybox', 'echo', 'dray over tls'], { env, encoding: 'utf8', timeout: 60_000 });
  assert.equal(a.status, 0, a.stderr);
  assert.equal(a.stdout, 'dray over tls\n');
  const plainEnv = { ...env, DOCKER_TLS_VERIFY: '', DOCKER_CERT_PATH: '' };
  const b = spawnSync(dray, ['--tlsverify', '--tlscacert', path.join(dir, 'ca.pem'), '--tlscert', path.join(dir, 'client-cert.pem'), '--tlskey', path.join(dir, 'client-key.pem'), 'ps', '-q'], { env: plainEnv, encoding: 'utf8', timeout: 60_000 });
  assert.equal(b.status, 0, b.stderr);
});

/** Whether a TLS handshake with these client credentials gets an answer to GET /_ping. */
function ping(opts: tls.ConnectionOptions): Promise<string> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: [readPem('ca.pem')], ...opts }, () => {
      s.write('GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n');
    });
    let got = '';
    s.on('data', (b) => { got += b; });
    s.on('error', (e) => resolve(`error: ${e.message}`));
    s.on('close', () => resolve(got || 'closed without an answer'));
    s.setTimeout(10_000, () => { s.destroy(); resolve('timeout'); });
  });
}
const readPem = (f: string) => require('node:fs').readFileSync(path.join(dir, f));

test('without a certificate the CA signed, nothing of the API answers', async () => {
  assert.match(await ping({ cert: readPem('client-cert.pem'), key: readPem('client-key.pem') }), /^HTTP\/1\.1 200 OK[\s\S]*OK$/);
  assert.doesNotMatch(await ping({}), /200 OK/);
  assert.doesNotMatch(await ping({ cert: readPem('stranger-cert.pem'), key: readPem('stranger-key.pem') }), /200 OK/);
  // Plain HTTP on the TLS port gets no API either.
  const plain = await new Promise<string>((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write('GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n'));
    let got = '';
    s.on('data', (b) => { got += b; });
    s.on('error', () => resolve(got));
    s.on('close', () => resolve(got));
    s.setTimeout(5000, () => { s.destroy(); resolve(got); });
  });
  assert.doesNotMatch(plain, /200 OK/);
  const cli = spawnSync('/usr/local/bin/docker', ['version'], { env: { ...tcpEnv(), DOCKER_CERT_PATH: path.join(dir, 'nowhere'), DOCKER_TLS_VERIFY: '' }, encoding: 'utf8', timeout: 30_000 });
  assert.notEqual(cli.status, 0);
});

test('a TCP host without TLS is refused at start, unless --insecure-tcp says so out loud', async () => {
  const p = await freePort();
  const run = (extra: string[]) => new Promise<{ code: number | null; err: string }>((resolve) => {
    const dd = path.join(dir, `plain-${extra.length}`);
    mkdirSync(dd, { recursive: true });
    writeFileSync(path.join(dd, 'cfg.json'), '{}');
    const c = spawn(draydJs, ['-H', `unix://${dd}/s`, '-H', `tcp://127.0.0.1:${p}`, '--data-root', `${dd}/data`, '--exec-root', `${dd}/run`, '--config-file', `${dd}/cfg.json`, '--bridge', `drtls${extra.length}`, '--bip', `10.${190 + extra.length}.0.1/24`, '--cli-workers', '0', ...extra]);
    let err = '';
    c.stderr.on('data', (b) => { err += b; });
    const t = setTimeout(() => c.kill('SIGTERM'), 4000);
    c.on('exit', (code) => { clearTimeout(t); resolve({ code, err }); });
  });
  const refused = await run([]);
  assert.equal(refused.code, 1);
  assert.match(refused.err, /refusing to listen on tcp:\/\/127\.0\.0\.1:\d+ without TLS/);
  const allowed = await run(['--insecure-tcp']);
  assert.match(allowed.err, /WARNING: the API on tcp:\/\/127\.0\.0\.1:\d+ is plain TCP without authentication/);
});

