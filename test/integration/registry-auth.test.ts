// Auth and TLS of `dray registry serve`: htpasswd basic auth (bcrypt), the built-in token server
// (Docker's bearer flow with per-repository pull/push/delete scopes, refresh tokens), skopeo
// --creds through both, and HTTPS with a test CA made by openssl here, trusted by skopeo through
// --cert-dir. Everything on 127.0.0.1.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import * as bcrypt from 'bcryptjs';
import {
  OCI_MANIFEST, Server, TestImage, errCode, makeImage, makeTestCA, pushImage, removeDir, request, run, skopeo, skopeoOk,
  startDray, tempDir, writeOciLayout,
} from '../helpers/registry';
import { until } from '../helpers/daemon';

let dir: string;
let img: TestImage;
let htpasswd: string;
const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
const host = (s: Server) => `127.0.0.1:${s.port}`;

before(async () => {
  dir = tempDir();
  img = await makeImage([50_000]);
  writeOciLayout(path.join(dir, 'oci'), img, 'v1');
  htpasswd = path.join(dir, 'htpasswd');
  // cost 5, as `htpasswd -B` makes them; $2y$ is Apache's prefix
  writeFileSync(htpasswd, ['alice', 'bob', 'carol'].map((u) => `${u}:${bcrypt.hashSync(`${u}-pw`, 5).replace(/^\$2b\$/, '$2y$')}`).join('\n') + '\n');
});

after(() => removeDir(dir));

test('htpasswd: 401 with a Basic challenge without or with wrong credentials; skopeo --creds pushes and pulls', async () => {
  const srv = await startDray(dir, { args: ['--storage', path.join(dir, 'basic-store'), '--htpasswd', htpasswd] });
  try {
    const none = await request('GET', `${srv.url}/v2/`);
    assert.equal(none.status, 401);
    assert.equal(errCode(none), 'UNAUTHORIZED');
    assert.equal(none.headers['www-authenticate'], 'Basic realm="Dray Registry"');
    const wrong = await request('GET', `${srv.url}/v2/`, { headers: { Authorization: basic('alice', 'nope') } });
    assert.equal(wrong.status, 401);
    assert.equal((await request('GET', `${srv.url}/v2/`, { headers: { Authorization: basic('alice', 'alice-pw') } })).status, 200);
    assert.equal((await request('GET', `${srv.url}/v2/x/tags/list`)).status, 401);
    const denied = await skopeo(dir, ['copy', '--dest-tls-verify=false', `oci:${dir}/oci:v1`, `docker://${host(srv)}/basic/app:v1`]);
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /authentication required|unauthorized/i);
    await skopeoOk(dir, ['copy', '--dest-tls-verify=false', '--dest-creds', 'alice:alice-pw', `oci:${dir}/oci:v1`, `docker://${host(srv)}/basic/app:v1`]);
    const info = JSON.parse(await skopeoOk(dir, ['inspect', '--tls-verify=false', '--creds', 'bob:bob-pw', `docker://${host(srv)}/basic/app:v1`]));
    assert.equal(info.Digest, img.manifestDigest);
  } finally {
    await srv.stop();
  }
});

function tokenConfig(store: string, tls?: { cert: string; key: string }) {
  return {
    storage: { filesystem: { rootdirectory: store } },
    http: tls ? { tls: { certificate: tls.cert, key: tls.key } } : {},
    auth: {
      htpasswd: { realm: 'dray', path: htpasswd },
      token: { service: 'test-registry', issuer: 'test-issuer', expiration: '2m' },
      access: [
        { account: 'alice', repository: 'alice/*', actions: ['pull', 'push', 'delete'] },
        { account: 'alice', repository: 'public/*', actions: ['pull', 'push'] },
        { account: 'bob', repository: 'alice/*', actions: ['pull'] },
        { account: '*', repository: 'public/*', actions: ['pull'] },
        { account: 'anonymous', repository: 'public/*', actions: ['pull'] },
      ],
    },
  };
}

async function token(base: string, scope: string[], user?: string, opts: Record<string, string> = {}): Promise<{ status: number; json: any }> {
  const q = new URLSearchParams({ service: 'test-registry', ...opts });
  for (const s of scope) q.append('scope', s);
  const r = await request('GET', `${base}/auth/token?${q}`, { headers: user ? { Authorization: basic(user, `${user}-pw`) } : {} });
  return { status: r.status, json: r.json };
}

const claims = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());

test('token auth: the Bearer challenge, tokens with per-repository scopes, skopeo --creds through the flow', async () => {
  const srv = await startDray(dir, { config: tokenConfig(path.join(dir, 'token-store')) });
  try {
    const ch = await request('GET', `${srv.url}/v2/`);
    assert.equal(ch.status, 401);
    assert.equal(ch.headers['www-authenticate'], `Bearer realm="${srv.url}/auth/token",service="test-registry"`);
    const scoped = await request('GET', `${srv.url}/v2/alice/app/manifests/v1`);
    assert.equal(scoped.headers['www-authenticate'], `Bearer realm="${srv.url}/auth/token",service="test-registry",scope="repository:alice/app:pull"`);

    // what the token server grants: the asked actions the rules allow, no more
    const t = await token(srv.url, ['repository:alice/app:pull,push', 'repository:bob/app:pull'], 'alice');
    assert.equal(t.status, 200);
    assert.equal(t.json.token, t.json.access_token);
    assert.equal(t.json.expires_in, 120);
    const c = claims(t.json.token);
    assert.equal(c.iss, 'test-issuer');
    assert.equal(c.aud, 'test-registry');
    assert.equal(c.sub, 'alice');
    assert.deepEqual(c.access, [{ type: 'repository', name: 'alice/app', actions: ['pull', 'push'] }, { type: 'repository', name: 'bob/app', actions: [] }]);
    assert.deepEqual(claims((await token(srv.url, ['repository:alice/app:pull,push,delete'], 'bob')).json.token).access[0].actions, ['pull']);
    assert.equal((await token(srv.url, ['repository:alice/app:pull'], 'alice', {})).status, 200);
    const bad = await request('GET', `${srv.url}/auth/token?service=test-registry`, { headers: { Authorization: basic('alice', 'wrong') } });
    assert.equal(bad.status, 401);

    // with the token: allowed within its scope, 401 insufficient_scope beyond it
    const auth = { Authorization: `Bearer ${t.json.token}` };
    await pushImage(srv.url, 'alice/app', img, 'v1', auth);
    assert.equal((await request('GET', `${srv.url}/v2/alice/app/manifests/v1`, { headers: auth })).status, 200);
    const del = await request('DELETE', `${srv.url}/v2/alice/app/manifests/v1`, { headers: auth });
    assert.equal(del.status, 401);
    assert.match(del.headers['www-authenticate'] as string, /scope="repository:alice\/app:delete",error="insufficient_scope"/);
    const garbage = await request('GET', `${srv.url}/v2/alice/app/manifests/v1`, { headers: { Authorization: 'Bearer not.a.token' } });
    assert.equal(garbage.status, 401);
    assert.match(garbage.headers['www-authenticate'] as string, /error="invalid_token"/);

    // skopeo does the token flow itself
    await skopeoOk(dir, ['copy', '--dest-tls-verify=false', '--dest-creds', 'alice:alice-pw', `oci:${dir}/oci:v1`, `docker://${host(srv)}/alice/tool:v1`]);
    await skopeoOk(dir, ['copy', '--dest-tls-verify=false', '--dest-creds', 'alice:alice-pw', `oci:${dir}/oci:v1`, `docker://${host(srv)}/public/tool:v1`]);
    const asBob = JSON.parse(await skopeoOk(dir, ['inspect', '--tls-verify=false', '--creds', 'bob:bob-pw', `docker://${host(srv)}/alice/tool:v1`]));
    assert.equal(asBob.Digest, img.manifestDigest);
    const bobPush = await skopeo(dir, ['copy', '--dest-tls-verify=false', '--dest-creds', 'bob:bob-pw', `oci:${dir}/oci:v1`, `docker://${host(srv)}/alice/tool:v2`]);
    assert.notEqual(bobPush.code, 0, 'bob may only pull from alice/*');
    assert.match(bobPush.stderr, /denied|unauthorized|authentication required/i);
    const anon = JSON.parse(await skopeoOk(dir, ['inspect', '--tls-verify=false', '--no-creds', `docker://${host(srv)}/public/tool:v1`]));
    assert.equal(anon.Digest, img.manifestDigest);
    const anonPrivate = await skopeo(dir, ['inspect', '--tls-verify=false', '--no-creds', `docker://${host(srv)}/alice/tool:v1`]);
    assert.notEqual(anonPrivate.code, 0);

    // the catalog lists only what the caller may pull
    const cat = async (user?: string) => {
      const tk = (await token(srv.url, ['registry:catalog:*'], user)).json.token;
      return (await request('GET', `${srv.url}/v2/_catalog`, { headers: { Authorization: `Bearer ${tk}` } })).json?.repositories;
    };
    assert.deepEqual(await cat('alice'), ['alice/app', 'alice/tool', 'public/tool']);
    assert.deepEqual(await cat('bob'), ['alice/app', 'alice/tool', 'public/tool']);
    assert.deepEqual(await cat('carol'), ['public/tool']);
    assert.deepEqual(await cat(), ['public/tool']);

    // Basic credentials sent straight to the registry: the rules apply, and refusal is DENIED (403)
    const bobBasic = await request('POST', `${srv.url}/v2/alice/app/blobs/uploads/`, { headers: { Authorization: basic('bob', 'bob-pw') } });
    assert.equal(bobBasic.status, 403);
    assert.equal(errCode(bobBasic), 'DENIED');
    assert.equal((await request('GET', `${srv.url}/v2/alice/app/tags/list`, { headers: { Authorization: basic('bob', 'bob-pw') } })).status, 200);
  } finally {
    await srv.stop();
  }
});

test('token server: the OAuth2 password grant with a refresh token, and the refresh grant (docker login)', async () => {
  const srv = await startDray(dir, { config: tokenConfig(path.join(dir, 'oauth-store')) });
  try {
    const form = (f: Record<string, string>) => request('POST', `${srv.url}/auth/token`, { headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(f).toString() });
    const pw = await form({ grant_type: 'password', username: 'alice', password: 'alice-pw', service: 'test-registry', scope: 'repository:alice/x:pull repository:public/y:pull', client_id: 'docker', access_type: 'offline' });
    assert.equal(pw.status, 200);
    assert.ok(pw.json.refresh_token);
    assert.deepEqual(claims(pw.json.access_token).access.map((a: any) => a.name), ['alice/x', 'public/y']);
    const rf = await form({ grant_type: 'refresh_token', refresh_token: pw.json.refresh_token, service: 'test-registry', scope: 'repository:alice/x:push', client_id: 'docker' });
    assert.equal(rf.status, 200);
    assert.equal(claims(rf.json.access_token).sub, 'alice');
    assert.deepEqual(claims(rf.json.access_token).access[0].actions, ['push']);
    assert.equal((await form({ grant_type: 'password', username: 'alice', password: 'no', service: 'test-registry' })).status, 401);
    assert.equal((await form({ grant_type: 'refresh_token', refresh_token: rf.json.access_token, service: 'test-registry' })).status, 401, 'an access token is no refresh token');
    assert.equal((await form({ grant_type: 'client_credentials' })).status, 400);
  } finally {
    await srv.stop();
  }
});

test('TLS with a test CA: HTTPS answers, skopeo verifies against the CA (and fails without it); token realm is https', async () => {
  const ca = makeTestCA(dir);
  const caPem = readFileSync(ca.ca);
  const srv = await startDray(dir, { args: ['--storage', path.join(dir, 'tls-store'), '--tls-cert', ca.cert, '--tls-key', ca.key] });
  try {
    assert.ok(srv.url.startsWith('https://'));
    const r = await request('GET', `${srv.url}/v2/`, { ca: caPem });
    assert.equal(r.status, 200);
    await assert.rejects(request('GET', `${srv.url}/v2/`), /self-signed|unable to verify|certificate/i);
    await skopeoOk(dir, ['copy', '--dest-cert-dir', ca.certDir, `oci:${dir}/oci:v1`, `docker://${host(srv)}/tls/app:v1`]);
    const info = JSON.parse(await skopeoOk(dir, ['inspect', '--cert-dir', ca.certDir, `docker://${host(srv)}/tls/app:v1`]));
    assert.equal(info.Digest, img.manifestDigest);
    const untrusted = await skopeo(dir, ['inspect', `docker://${host(srv)}/tls/app:v1`]);
    assert.notEqual(untrusted.code, 0);
    assert.match(untrusted.stderr, /x509|certificate/i);
    // HTTP/2 for a client that offers it (skopeo, whose TLS settings keep Go at HTTP/1.1, was
    // served HTTP/1.1 above), an image pulled over it, and a bad upload over it still the spec's
    // error (no HTTP/1-only header breaks the stream).
    const h2 = await run('curl', ['-sS', '--http2', '--cacert', ca.ca, '-H', `Accept: ${OCI_MANIFEST}`, '-w', '\n%{http_version} %{http_code}', `${srv.url}/v2/tls/app/manifests/v1`]);
    assert.match(h2.stdout, /"schemaVersion": ?2[\s\S]*\n2 200$/, h2.stdout + h2.stderr);
    // The server logs a request once its answer is out: the line may come a moment after curl ends.
    const h2Line = /"path":"\/v2\/tls\/app\/manifests\/v1","status":200.*"proto":"HTTP\/2\.0"/;
    await until(() => h2Line.test(srv.log()), 'the HTTP/2 manifest request in the registry log', 3000);
    // Locations name this server, from HTTP/2's :authority (there is no Host header).
    const start = await run('curl', ['-sS', '--http2', '--cacert', ca.ca, '-X', 'POST', '-D', '-', '-o', '/dev/null', `${srv.url}/v2/tls/app/blobs/uploads/`]);
    assert.match(start.stdout, new RegExp(`^location: ${srv.url}/v2/tls/app/blobs/uploads/[0-9a-f-]+\\r?$`, 'mi'), start.stdout);
    const curl = await run('curl', ['-sS', '--http2', '--cacert', ca.ca, '-X', 'PUT', '-H', 'Content-Type: application/octet-stream', '--data-binary', 'x', '-w', '\n%{http_version} %{http_code}', `${srv.url}/v2/tls/app/blobs/uploads/nope?digest=sha256:${'0'.repeat(64)}`]);
    assert.match(curl.stdout, /BLOB_UPLOAD_UNKNOWN[\s\S]*\n2 404$/, curl.stdout + curl.stderr);
  } finally {
    await srv.stop();
  }
  // http.http2.disabled: HTTP/1.1 only.
  const h1 = await startDray(dir, { config: { storage: { filesystem: { rootdirectory: path.join(dir, 'tls-h1-store') } }, http: { tls: { certificate: ca.cert, key: ca.key }, http2: { disabled: true } } } });
  try {
    const curl = await run('curl', ['-sS', '--http2', '--cacert', ca.ca, '-o', '/dev/null', '-w', '%{http_version}', `${h1.url}/v2/`]);
    assert.equal(curl.stdout, '1.1', curl.stderr);
  } finally {
    await h1.stop();
  }
  const tok = await startDray(dir, { config: tokenConfig(path.join(dir, 'tls-token-store'), { cert: ca.cert, key: ca.key }) });
  try {
    const ch = await request('GET', `${tok.url}/v2/`, { ca: caPem });
    assert.equal(ch.headers['www-authenticate'], `Bearer realm="${tok.url}/auth/token",service="test-registry"`);
    await skopeoOk(dir, ['copy', '--dest-cert-dir', ca.certDir, '--dest-creds', 'alice:alice-pw', `oci:${dir}/oci:v1`, `docker://${host(tok)}/alice/tls:v1`]);
    const m = await request('GET', `${tok.url}/v2/alice/tls/manifests/v1`, { ca: caPem, headers: { Authorization: basic('alice', 'alice-pw'), Accept: OCI_MANIFEST } });
    assert.equal(m.status, 200);
    assert.equal(m.headers['docker-content-digest'], img.manifestDigest);
  } finally {
    await tok.stop();
  }
});
