// `dray registry serve` behind an external token server (auth.token with rootcertbundle or jwks,
// as distribution is configured for docker_auth, Harbor or a cloud's issuer): the test runs a
// small token server of its own on 127.0.0.1 that signs with keys made here by openssl, and the
// registry checks those tokens, signature, issuer, audience and scopes, without issuing any.
// skopeo does the whole bearer flow against both.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, KeyObject, X509Certificate } from 'node:crypto';
import * as http from 'node:http';
import * as path from 'node:path';
import { SignJWT } from 'jose';
import { OCI_MANIFEST, Server, TestImage, errCode, makeImage, removeDir, request, skopeo, skopeoOk, startDray, tempDir, writeOciLayout } from '../helpers/registry';

const SERVICE = 'ext-registry';
const ISSUER = 'ext-issuer';
let dir: string;
let img: TestImage;
let root: string; // the bundle: the token CA's certificate
let leafKey: KeyObject;
let x5c: string[];
let tokenServer: http.Server;
let realm: string;
const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
const host = (s: Server) => `127.0.0.1:${s.port}`;

function openssl(args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}
const der64 = (pemFile: string) => new X509Certificate(readFileSync(path.join(dir, pemFile))).raw.toString('base64');

async function sign(claims: Record<string, unknown>, opts: { key?: KeyObject; header?: Record<string, unknown>; issuer?: string; audience?: string; expiresIn?: number } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', typ: 'JWT', ...(opts.header ?? { x5c }) })
    .setIssuer(opts.issuer ?? ISSUER).setAudience(opts.audience ?? SERVICE)
    .setIssuedAt(now).setNotBefore(now - 5).setExpirationTime(now + (opts.expiresIn ?? 300))
    .sign(opts.key ?? leafKey);
}

before(async () => {
  dir = tempDir();
  img = await makeImage([40_000]);
  writeOciLayout(path.join(dir, 'oci'), img, 'v1');
  // A token CA and a signing certificate it issued: tokens carry the chain in x5c, as
  // distribution's issuers send it.
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=token CA']);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'signer.key', '-out', 'signer.csr', '-subj', '/CN=token signer']);
  openssl(['x509', '-req', '-in', 'signer.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'signer.crt', '-days', '2']);
  root = path.join(dir, 'ca.crt');
  leafKey = createPrivateKey(readFileSync(path.join(dir, 'signer.key')));
  x5c = [der64('signer.crt'), der64('ca.crt')];
  // The token server: alice (password alice-pw) may pull and push team/*, nobody anything else.
  tokenServer = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://t');
    if (req.headers.authorization !== basic('alice', 'alice-pw')) { res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="tokens"' }); res.end(); return; }
    const access = url.searchParams.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean).map((s) => {
      const [type, name, actions] = s.split(':');
      return { type, name, actions: name.startsWith('team/') ? actions.split(',').filter((a) => a === 'pull' || a === 'push') : [] };
    });
    const token = await sign({ access, sub: 'alice' });
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ token, access_token: token, expires_in: 300 }));
  });
  await new Promise<void>((r) => tokenServer.listen(0, '127.0.0.1', r));
  realm = `http://127.0.0.1:${(tokenServer.address() as import('node:net').AddressInfo).port}/token`;
});

after(async () => {
  await new Promise((r) => tokenServer.close(r));
  removeDir(dir);
});

const config = (store: string, token: Record<string, unknown>) => ({ storage: { filesystem: { rootdirectory: path.join(dir, store) } }, auth: { token: { realm, service: SERVICE, issuer: ISSUER, ...token } } });

test('rootcertbundle: the challenge names the external realm, tokens it signed are honoured within their scopes, skopeo pushes and pulls through it', async () => {
  const srv = await startDray(dir, { config: config('bundle-store', { rootcertbundle: root }) });
  try {
    const ch = await request('GET', `${srv.url}/v2/team/app/manifests/v1`);
    assert.equal(ch.status, 401);
    assert.equal(ch.headers['www-authenticate'], `Bearer realm="${realm}",service="${SERVICE}",scope="repository:team/app:pull"`);
    // It issues no tokens of its own.
    assert.equal((await request('GET', `${srv.url}/auth/token?service=${SERVICE}`, { headers: { Authorization: basic('alice', 'alice-pw') } })).status, 404);

    await skopeoOk(dir, ['copy', '--dest-tls-verify=false', '--dest-creds', 'alice:alice-pw', `oci:${dir}/oci:v1`, `docker://${host(srv)}/team/app:v1`]);
    const info = JSON.parse(await skopeoOk(dir, ['inspect', '--tls-verify=false', '--creds', 'alice:alice-pw', `docker://${host(srv)}/team/app:v1`]));
    assert.equal(info.Digest, img.manifestDigest);
    // Outside what the server grants: refused, and nothing stored.
    const other = await skopeo(dir, ['copy', '--dest-tls-verify=false', '--dest-creds', 'alice:alice-pw', `oci:${dir}/oci:v1`, `docker://${host(srv)}/other/app:v1`]);
    assert.notEqual(other.code, 0);
    assert.match(other.stderr, /unauthorized|denied|authentication required/i);
    const wrongPw = await skopeo(dir, ['inspect', '--tls-verify=false', '--creds', 'alice:nope', `docker://${host(srv)}/team/app:v1`]);
    assert.notEqual(wrongPw.code, 0);

    const pull = { type: 'repository', name: 'team/app', actions: ['pull'] };
    const get = (token: string) => request('GET', `${srv.url}/v2/team/app/manifests/v1`, { headers: { Authorization: `Bearer ${token}`, Accept: OCI_MANIFEST } });
    assert.equal((await get(await sign({ access: [pull] }))).status, 200);
    // Without x5c the bundle's keys are tried: the CA's own key signs a good token too.
    const caKey = createPrivateKey(readFileSync(path.join(dir, 'ca.key')));
    assert.equal((await get(await sign({ access: [pull] }, { key: caKey, header: {} }))).status, 200);

    // Each bad token: 401 invalid_token with the reason, never the content.
    const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const cases: Array<[string, Promise<string>, RegExp]> = [
      ['signed by a key outside the bundle, claiming the chain', sign({ access: [pull] }, { key: stranger }), /not signed by a trusted key/],
      ['signed by a key outside the bundle, no chain', sign({ access: [pull] }, { key: stranger, header: {} }), /not signed by a trusted key/],
      ['another issuer', sign({ access: [pull] }, { issuer: 'someone-else' }), /"iss" claim/],
      ['another audience', sign({ access: [pull] }, { audience: 'another-registry' }), /"aud" claim/],
      ['expired', sign({ access: [pull] }, { expiresIn: -120 }), /"exp" claim/],
      ['a chain that leads nowhere trusted', sign({ access: [pull] }, { key: stranger, header: { x5c: [selfSigned()] } }), /does not lead to a certificate of auth\.token\.rootcertbundle/],
    ];
    for (const [what, tok, why] of cases) {
      const r = await get(await tok);
      assert.equal(r.status, 401, what);
      assert.equal(errCode(r), 'UNAUTHORIZED', what);
      assert.match(r.headers['www-authenticate'] as string, /error="invalid_token"/, what);
      assert.match(String(r.json?.errors?.[0]?.detail), why, what);
    }
    // A good token without the scope asked: insufficient_scope.
    const pushOnly = await request('DELETE', `${srv.url}/v2/team/app/manifests/${img.manifestDigest}`, { headers: { Authorization: `Bearer ${await sign({ access: [pull] })}` } });
    assert.equal(pushOnly.status, 401);
    assert.match(pushOnly.headers['www-authenticate'] as string, /error="insufficient_scope"/);
  } finally {
    await srv.stop();
  }
});

/** A self-signed certificate no bundle trusts, as base64 DER for an x5c header. */
function selfSigned(): string {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'rogue.key', '-out', 'rogue.crt', '-days', '2', '-subj', '/CN=rogue']);
  return der64('rogue.crt');
}

test('jwks: a token whose kid names a key of the set is honoured; config without realm or issuer, or with a built-in key too, is refused at start', async () => {
  const k = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwks = path.join(dir, 'jwks.json');
  writeFileSync(jwks, JSON.stringify({ keys: [{ ...k.publicKey.export({ format: 'jwk' }), kid: 'k1', use: 'sig', alg: 'ES256' }] }));
  const srv = await startDray(dir, { config: config('jwks-store', { jwks }) });
  try {
    const ok = await request('GET', `${srv.url}/v2/_catalog`, { headers: { Authorization: `Bearer ${await sign({ access: [{ type: 'registry', name: 'catalog', actions: ['*'] }] }, { key: k.privateKey, header: { kid: 'k1' } })}` } });
    assert.equal(ok.status, 200, ok.body.toString());
    const other = await request('GET', `${srv.url}/v2/_catalog`, { headers: { Authorization: `Bearer ${await sign({ access: [{ type: 'registry', name: 'catalog', actions: ['*'] }] }, { key: leafKey, header: { kid: 'k1' } })}` } });
    assert.equal(other.status, 401);
  } finally {
    await srv.stop();
  }
  for (const [token, why] of [
    [{ rootcertbundle: root, realm: undefined }, /needs its realm/],
    [{ rootcertbundle: root, issuer: undefined }, /needs the issuer/],
    [{ rootcertbundle: root, key: path.join(dir, 'ca.key') }, /with rootcertbundle or jwks the tokens come from elsewhere/],
    [{ rootcertbundle: path.join(dir, 'ext.cnf-missing') }, /ENOENT|no such file/],
  ] as Array<[Record<string, unknown>, RegExp]>) {
    const cfg = config('bad-store', {});
    cfg.auth.token = { ...cfg.auth.token, ...token };
    for (const [key, v] of Object.entries(cfg.auth.token)) if (v === undefined) delete (cfg.auth.token as Record<string, unknown>)[key];
    await assert.rejects(startDray(dir, { config: cfg }), why);
  }
});
