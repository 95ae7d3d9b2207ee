// drayd's registry client and the dray CLI with registries that want credentials, trust or a
// detour: htpasswd basic auth (dray login and the docker CLI's, wrong credentials), the bearer
// token flow with a token issuer of the test's own (refresh tokens, the token cache), a
// docker-credential-<helper> for credsStore, HTTPS with a test CA given in certs.d, and a
// per-registry mirror with fallback to the origin.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { writeFileSync, mkdirSync, readFileSync, copyFileSync, existsSync } from 'node:fs';
import { TestDaemon, drayLauncher } from '../helpers/daemon';
import { Registry, Proxy, TokenIssuer, makePki, tempDir, jsonLines, runAsync, randomRootfsTar, sleep, stopAll } from '../helpers/registry-client';

let d: TestDaemon;
let dir: string;
let basic: Registry;
let tokenReg: Registry;
let issuer: TokenIssuer;
let tlsReg: Registry;
let otherTls: Registry;
let plain: Registry;
let mirror: Proxy;
const regs: Registry[] = [];

before(async () => {
  dir = tempDir();
  const pki = makePki(path.join(dir, 'pki'), 'trusted');
  const stranger = makePki(path.join(dir, 'pki'), 'stranger');
  basic = await new Registry(path.join(dir, 'basic'), { htpasswd: { alice: 'secret' } }).start();
  issuer = await new TokenIssuer(path.join(dir, 'issuer'), { alice: 'secret' }).start();
  tokenReg = await new Registry(path.join(dir, 'token'), { token: { realm: issuer.realm, service: issuer.service, issuer: issuer.issuer, rootCert: issuer.cert } }).start();
  tlsReg = await new Registry(path.join(dir, 'tls'), { tls: { cert: pki.cert, key: pki.key } }).start();
  otherTls = await new Registry(path.join(dir, 'tls2'), { tls: { cert: stranger.cert, key: stranger.key } }).start();
  plain = await new Registry(path.join(dir, 'plain')).start();
  regs.push(basic, tokenReg, tlsReg, otherTls, plain);
  mirror = await new Proxy(plain.port).start();
  const certs = path.join(dir, 'certs.d');
  mkdirSync(path.join(certs, tlsReg.host), { recursive: true });
  copyFileSync(pki.caCert, path.join(certs, tlsReg.host, 'ca.crt'));
  const cfg = path.join(dir, 'daemon.json');
  writeFileSync(cfg, JSON.stringify({ 'registry-certs-dir': certs, 'registry-mirrors': { [plain.host]: [`http://${mirror.host}`] }, 'registry-idle-timeout': 5, 'max-download-attempts': 2 }));
  d = new TestDaemon(['--config-file', cfg, '--debug']);
  await d.start();
  await d.bootstrapBusybox();
});

after(async () => {
  assert.deepEqual(await stopAll(d, dir, [mirror, issuer, ...regs]), []);
});

/** The dray CLI with a client config directory of the test's own (never ~/.docker). */
function dray(cfgDir: string, args: string[], input?: string, env: Record<string, string> = {}) {
  return runAsync(drayLauncher, ['--config', cfgDir, ...args], { env: { ...d.env, ...env }, input });
}

/** The dray CLI with the test daemon's environment, asynchronously (see runAsync). */
const drayA = (args: string[]) => runAsync(drayLauncher, args, { env: d.env });

const auth = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');

test('basic auth: dray login checks the credentials, stores them as docker does, and push and pull send them', async () => {
  const cfg = path.join(dir, 'cli-basic');
  const bad = await dray(cfg, ['login', '-u', 'alice', '--password-stdin', basic.host], 'wrong\n');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, new RegExp(`^Error response from daemon: login attempt to http://${basic.host}/v2/ failed with status: 401 Unauthorized$`, 'm'));
  assert.equal(existsSync(path.join(cfg, 'config.json')), false);
  const ok = await dray(cfg, ['login', '-u', 'alice', '--password-stdin', basic.host], 'secret\n');
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, 'Login Succeeded\n');
  assert.match(ok.stderr, /Your credentials are stored unencrypted/);
  assert.deepEqual(JSON.parse(readFileSync(path.join(cfg, 'config.json'), 'utf8')), { auths: { [basic.host]: { auth: Buffer.from('alice:secret').toString('base64') } } });
  const ref = `${basic.host}/team/busybox:1`;
  assert.equal((await dray(cfg, ['tag', 'busybox', ref])).code, 0);
  const push = await dray(cfg, ['push', ref]);
  assert.equal(push.code, 0, push.stderr);
  assert.match(push.stdout, /^1: digest: sha256:/m);
  assert.equal((await dray(cfg, ['rmi', ref])).code, 0);
  const pull = await dray(cfg, ['pull', ref]);
  assert.equal(pull.code, 0, pull.stderr);
  // Without credentials, and with wrong ones: Docker's words.
  assert.equal((await dray(cfg, ['logout', basic.host])).stdout, `Removing login credentials for ${basic.host}\n`);
  assert.deepEqual(JSON.parse(readFileSync(path.join(cfg, 'config.json'), 'utf8')), { auths: {} });
  const anon = await dray(cfg, ['pull', `${basic.host}/team/busybox:2`]);
  assert.equal(anon.code, 1);
  assert.match(anon.stderr, new RegExp(`^Error response from daemon: Get "http://${basic.host}/v2/team/busybox/manifests/2": no basic auth credentials$`, 'm'));
  const wrong = await d.api('POST', `/images/create?fromImage=${basic.host}/team/busybox&tag=1`, undefined, { 'X-Registry-Auth': auth({ username: 'alice', password: 'nope', serveraddress: basic.host }) });
  assert.equal(wrong.status, 500);
  assert.equal(wrong.json.message, 'unauthorized: authentication required');
  const wrongPush = await d.api('POST', `/images/${basic.host}/team/busybox/push?tag=1`, undefined, { 'X-Registry-Auth': auth({ username: 'alice', password: 'nope' }) });
  assert.equal(jsonLines(wrongPush.body).at(-1).error, 'unauthorized: authentication required');
});

test('basic auth: the docker CLI logs in, pushes and pulls through drayd', async () => {
  const login = d.docker(['login', '-u', 'alice', '--password-stdin', basic.host], 'secret\n');
  assert.equal(login.code, 0, login.stderr);
  assert.match(login.stdout, /Login Succeeded/);
  const badLogin = d.docker(['login', '-u', 'alice', '--password-stdin', basic.host], 'bad\n');
  assert.notEqual(badLogin.code, 0);
  assert.match(badLogin.stderr, /401 Unauthorized/);
  const ref = `${basic.host}/docker/busybox:d1`;
  assert.equal(d.docker(['tag', 'busybox', ref]).code, 0);
  const push = d.docker(['push', ref]);
  assert.equal(push.code, 0, push.stderr);
  assert.match(push.stdout, /d1: digest: sha256:[0-9a-f]{64} size: \d+/);
  assert.equal(d.docker(['rmi', ref]).code, 0);
  const pull = d.docker(['pull', ref]);
  assert.equal(pull.code, 0, pull.stderr);
  assert.match(pull.stdout, new RegExp(`${basic.host}/docker/busybox:d1`));
});

test('bearer tokens: login keeps the refresh token; push and pull get scoped tokens, cached until they expire', async () => {
  const cfg = path.join(dir, 'cli-token');
  const bad = await dray(cfg, ['login', '-u', 'alice', '--password-stdin', tokenReg.host], 'wrong\n');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, new RegExp(`^Error response from daemon: Get "http://${tokenReg.host}/v2/": unauthorized: incorrect username or password$`, 'm'));
  const ok = await dray(cfg, ['login', '-u', 'alice', '--password-stdin', tokenReg.host], 'secret\n');
  assert.equal(ok.code, 0, ok.stderr);
  const stored = JSON.parse(readFileSync(path.join(cfg, 'config.json'), 'utf8')).auths[tokenReg.host];
  assert.equal(stored.identitytoken, 'rt-alice');
  const ref = `${tokenReg.host}/tok/busybox:1`;
  assert.equal((await dray(cfg, ['tag', 'busybox', ref])).code, 0);
  issuer.requests = [];
  const push = await dray(cfg, ['push', ref]);
  assert.equal(push.code, 0, push.stderr);
  // The refresh token went in a POST (grant_type=refresh_token) for the repository's pull and push.
  assert.ok(issuer.requests.some((r) => r.method === 'POST' && r.grant === 'refresh_token' && r.user === 'alice' && r.scopes.includes('repository:tok/busybox:pull,push')), JSON.stringify(issuer.requests));
  assert.equal((await dray(cfg, ['rmi', ref])).code, 0);
  issuer.requests = [];
  assert.equal((await dray(cfg, ['pull', ref])).code, 0);
  assert.equal((await dray(cfg, ['rmi', ref])).code, 0);
  assert.equal((await dray(cfg, ['pull', ref])).code, 0);
  const pullTokens = issuer.requests.filter((r) => r.scopes.includes('repository:tok/busybox:pull'));
  assert.equal(pullTokens.length, 1, `one token for two pulls: ${JSON.stringify(issuer.requests)}`);
  // Anonymous: the issuer refuses, and the pull says so.
  const anon = await d.api('POST', `/images/create?fromImage=${tokenReg.host}/tok/busybox&tag=1`);
  assert.equal(anon.status, 500);
  // Docker names the request that needed the token.
  assert.equal(anon.json.message, `Get "http://${tokenReg.host}/v2/tok/busybox/manifests/1": unauthorized: authentication required`);
  // Plain username and password work too (GET with basic credentials to the realm).
  const basicCreds = await d.api('GET', `/distribution/${tokenReg.host}/tok/busybox:1/json`, undefined, { 'X-Registry-Auth': auth({ username: 'alice', password: 'secret' }) });
  assert.equal(basicCreds.status, 200, basicCreds.body.toString());
});

test('credsStore: the secret goes to docker-credential-<name>, config.json keeps an empty entry', async () => {
  const cfg = path.join(dir, 'cli-helper');
  const bin = path.join(dir, 'bin');
  const store = path.join(dir, 'helper-store');
  mkdirSync(bin, { recursive: true });
  mkdirSync(store, { recursive: true });
  mkdirSync(cfg, { recursive: true });
  writeFileSync(path.join(bin, 'docker-credential-dtest'), `#!/bin/sh
# A credential helper speaking the docker-credential protocol, keeping secrets in files.
set -e
input=$(cat)
case "$1" in
  store) url=$(printf '%s' "$input" | sed 's/.*"ServerURL":"\\([^"]*\\)".*/\\1/'); printf '%s' "$input" > "${store}/$(printf '%s' "$url" | tr '/:' '__')" ;;
  get) f="${store}/$(printf '%s' "$input" | tr '/:' '__')"; if [ -f "$f" ]; then cat "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
  erase) rm -f "${store}/$(printf '%s' "$input" | tr '/:' '__')" ;;
  *) exit 1 ;;
esac
`, { mode: 0o755 });
  writeFileSync(path.join(cfg, 'config.json'), JSON.stringify({ credsStore: 'dtest' }));
  const env = { PATH: `${bin}:${process.env.PATH}` };
  const ok = await dray(cfg, ['login', '-u', 'alice', '--password-stdin', basic.host], 'secret\n', env);
  assert.equal(ok.code, 0, ok.stderr);
  assert.doesNotMatch(ok.stderr, /unencrypted/);
  const conf = JSON.parse(readFileSync(path.join(cfg, 'config.json'), 'utf8'));
  assert.deepEqual(conf, { credsStore: 'dtest', auths: { [basic.host]: {} } });
  const secret = JSON.parse(readFileSync(path.join(store, basic.host.replace(/:/g, '_')), 'utf8'));
  assert.deepEqual(secret, { ServerURL: basic.host, Username: 'alice', Secret: 'secret' });
  const pull = await dray(cfg, ['pull', `${basic.host}/team/busybox:1`], undefined, env);
  assert.equal(pull.code, 0, pull.stderr);
  assert.equal((await dray(cfg, ['logout', basic.host], undefined, env)).code, 0);
  assert.equal(existsSync(path.join(store, basic.host.replace(/:/g, '_'))), false);
});

test('HTTPS: a CA given in certs.d/<host>/ca.crt is trusted and checked; an unknown one is only tolerated on loopback', async () => {
  const ref = `${tlsReg.host}/secure/busybox:1`;
  assert.equal((await drayA(['tag', 'busybox', ref])).code, 0);
  const push = await drayA(['push', ref]);
  assert.equal(push.code, 0, push.stderr);
  assert.equal((await drayA(['rmi', ref])).code, 0);
  assert.equal((await drayA(['pull', ref])).code, 0);
  await sleep(300); // drayd's log lines reach this process through its event loop
  const line = d.log.split('\n').find((l) => l.includes('"registry endpoint"') && l.includes(`https://${tlsReg.host}`));
  assert.ok(line, `drayd logged the endpoint: ${d.log.split('\n').filter((l) => l.includes('registry')).join('\n')}`);
  assert.equal(JSON.parse(line).tls, 'verified');
  // A registry whose CA nobody gave: loopback is insecure by Docker's rules, so it works, and says so.
  const ref2 = `${otherTls.host}/x/busybox:1`;
  assert.equal((await drayA(['tag', 'busybox', ref2])).code, 0);
  assert.equal((await drayA(['push', ref2])).code, 0);
  await sleep(300);
  const warn = d.log.split('\n').find((l) => l.includes('registry certificate not verified') && l.includes(otherTls.host));
  assert.ok(warn, 'drayd warned about the unverified certificate');
  assert.match(JSON.parse(warn).error, /x509: certificate signed by unknown authority/);
});

test('a per-registry mirror serves the pull; when it is down the registry itself does', async () => {
  // An image that is not here otherwise, so its layer has to come from somewhere.
  const ref = `${plain.host}/m/busybox:1`;
  const imp = await d.api('POST', `/images/create?fromSrc=-&repo=${plain.host}/m/busybox&tag=1`, await randomRootfsTar(1024 * 1024), { 'Content-Type': 'application/x-tar' });
  assert.equal(imp.status, 200);
  assert.equal((await drayA(['push', ref])).code, 0);
  assert.equal(mirror.requests.filter((r) => !r.startsWith('GET /v2/ ') && r !== 'GET /v2/').length, 0, 'pushes do not go to mirrors');
  assert.equal((await drayA(['rmi', ref])).code, 0);
  const pull = await drayA(['pull', ref]);
  assert.equal(pull.code, 0, pull.stderr);
  assert.ok(mirror.requests.some((r) => r === 'GET /v2/m/busybox/manifests/1'), mirror.requests.join(', '));
  assert.ok(mirror.blobBytes > 100_000, `the layer came through the mirror (${mirror.blobBytes} bytes)`);
  await mirror.stop();
  assert.equal((await drayA(['rmi', ref])).code, 0);
  const fallback = await drayA(['pull', ref]);
  assert.equal(fallback.code, 0, fallback.stderr);
  assert.ok(d.log.includes('registry mirror'), 'drayd said it left the mirror');
});
