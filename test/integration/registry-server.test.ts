// `dray registry serve` against the OCI Distribution Spec v1.1 with raw HTTP: every endpoint of
// pull, push, content discovery and content management, Docker's and OCI's manifest types, the
// spec's error codes and statuses, and what must never be visible (an interrupted or cancelled
// upload, a blob whose digest does not match). One server, started by the test on 127.0.0.1 with
// a free port, over a temp dir.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import {
  DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, Server, drayJs, errCode, makeImage, nodeBin, pushImage,
  removeDir, request, run, sha256, sleep, startDray, tempDir,
} from '../helpers/registry';

let dir: string;
let srv: Server;
let base: string;

before(async () => {
  dir = tempDir();
  srv = await startDray(dir, { args: ['--storage', path.join(dir, 'store')] });
  base = srv.url;
});

after(async () => {
  await srv?.stop();
  removeDir(dir);
});

/** How many files of the store hold exactly these bytes. */
function copiesInStore(data: Buffer): number {
  let n = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (statSync(p).size === data.length && readFileSync(p).equals(data)) n++;
    }
  };
  walk(path.join(dir, 'store'));
  return n;
}

const put = (p: string, body: Buffer | string, headers: Record<string, string | number> = {}) =>
  request('PUT', `${base}${p}`, { headers: { 'Content-Length': Buffer.byteLength(body), ...headers }, body });

async function monolithic(repo: string, data: Buffer): Promise<string> {
  const d = sha256(data);
  const r = await request('POST', `${base}/v2/${repo}/blobs/uploads/?digest=${d}`, { headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': data.length }, body: data });
  assert.equal(r.status, 201, r.body.toString());
  return d;
}

function manifestOf(config: Buffer, layers: Buffer[], extra: Record<string, unknown> = {}, mediaType = OCI_MANIFEST): Buffer {
  const docker = mediaType === DOCKER_MANIFEST;
  return Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType,
    config: { mediaType: docker ? 'application/vnd.docker.container.image.v1+json' : 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
    layers: layers.map((l) => ({ mediaType: docker ? 'application/vnd.docker.image.rootfs.diff.tar.gzip' : 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(l), size: l.length })),
    ...extra,
  }));
}

/** An image's blobs pushed into `repo`, its manifest not yet. */
async function blobsFor(repo: string): Promise<{ config: Buffer; layer: Buffer }> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, n: randomBytes(4).toString('hex') }));
  const layer = randomBytes(2000);
  await monolithic(repo, config);
  await monolithic(repo, layer);
  return { config, layer };
}

test('GET /v2/ answers 200 {} with the API version header, on errors too', async () => {
  const r = await request('GET', `${base}/v2/`);
  assert.equal(r.status, 200);
  assert.equal(r.headers['docker-distribution-api-version'], 'registry/2.0');
  assert.deepEqual(r.json, {});
  const e = await request('GET', `${base}/v2/nope/manifests/latest`);
  assert.equal(e.status, 404);
  assert.equal(e.headers['docker-distribution-api-version'], 'registry/2.0');
  assert.equal(e.headers['content-type'], 'application/json; charset=utf-8');
  assert.equal(errCode(e), 'MANIFEST_UNKNOWN');
});

test('blobs: single-POST upload, HEAD, GET, byte ranges', async () => {
  const data = randomBytes(10_000);
  const d = await monolithic('pull/ranges', data);
  const h = await request('HEAD', `${base}/v2/pull/ranges/blobs/${d}`);
  assert.equal(h.status, 200);
  assert.equal(h.headers['content-length'], '10000');
  assert.equal(h.headers['docker-content-digest'], d);
  const g = await request('GET', `${base}/v2/pull/ranges/blobs/${d}`);
  assert.ok(g.body.equals(data));
  assert.equal(g.headers['content-type'], 'application/octet-stream');
  const r = await request('GET', `${base}/v2/pull/ranges/blobs/${d}`, { headers: { Range: 'bytes=100-199' } });
  assert.equal(r.status, 206);
  assert.equal(r.headers['content-range'], 'bytes 100-199/10000');
  assert.ok(r.body.equals(data.subarray(100, 200)));
  const open = await request('GET', `${base}/v2/pull/ranges/blobs/${d}`, { headers: { Range: 'bytes=9990-' } });
  assert.ok(open.body.equals(data.subarray(9990)));
  const suffix = await request('GET', `${base}/v2/pull/ranges/blobs/${d}`, { headers: { Range: 'bytes=-5' } });
  assert.ok(suffix.body.equals(data.subarray(9995)));
  const bad = await request('GET', `${base}/v2/pull/ranges/blobs/${d}`, { headers: { Range: 'bytes=10000-' } });
  assert.equal(bad.status, 416);
  assert.equal(bad.headers['content-range'], 'bytes */10000');
});

test('push: POST then PUT with the whole body (monolithic)', async () => {
  const data = randomBytes(5000);
  const p = await request('POST', `${base}/v2/push/mono/blobs/uploads/`);
  assert.equal(p.status, 202);
  assert.equal(p.headers.range, '0-0');
  assert.match(p.headers['docker-upload-uuid'] as string, /^[0-9a-f-]{36}$/);
  const loc = p.headers.location as string;
  assert.ok(loc.startsWith(`${base}/v2/push/mono/blobs/uploads/`), loc);
  const d = sha256(data);
  const f = await request('PUT', `${loc}?digest=${d}`, { headers: { 'Content-Length': data.length, 'Content-Type': 'application/octet-stream' }, body: data });
  assert.equal(f.status, 201, f.body.toString());
  assert.equal(f.headers.location, `${base}/v2/push/mono/blobs/${d}`);
  assert.equal(f.headers['docker-content-digest'], d);
  assert.ok((await request('GET', `${base}/v2/push/mono/blobs/${d}`)).body.equals(data));
});

test('push: chunked with Content-Range and the Range status; a chunk out of order is 416', async () => {
  const data = randomBytes(30_000);
  const p = await request('POST', `${base}/v2/push/chunked/blobs/uploads/`);
  const loc = p.headers.location as string;
  const c1 = await request('PATCH', loc, { headers: { 'Content-Range': '0-9999', 'Content-Length': 10000, 'Content-Type': 'application/octet-stream' }, body: data.subarray(0, 10000) });
  assert.equal(c1.status, 202);
  assert.equal(c1.headers.range, '0-9999');
  assert.equal(c1.headers.location, loc);
  const wrong = await request('PATCH', loc, { headers: { 'Content-Range': '20000-29999', 'Content-Length': 10000 }, body: data.subarray(20000) });
  assert.equal(wrong.status, 416);
  assert.equal(wrong.headers.range, '0-9999');
  const mismatch = await request('PATCH', loc, { headers: { 'Content-Range': '10000-10009', 'Content-Length': 5 }, body: Buffer.alloc(5) });
  assert.equal(mismatch.status, 400);
  assert.equal(errCode(mismatch), 'SIZE_INVALID');
  const st = await request('GET', loc);
  assert.equal(st.status, 204);
  assert.equal(st.headers.range, '0-9999');
  assert.equal(st.headers['docker-upload-uuid'], p.headers['docker-upload-uuid']);
  // a streamed chunk: no Content-Range, no Content-Length (chunked transfer encoding)
  const streamed = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = http.request(loc, { method: 'PATCH', headers: { 'Content-Type': 'application/octet-stream' } }, resolve);
    req.on('error', reject);
    req.write(data.subarray(10000, 15000));
    setTimeout(() => req.end(data.subarray(15000, 20000)), 20);
  });
  streamed.resume();
  assert.equal(streamed.statusCode, 202);
  assert.equal(streamed.headers.range, '0-19999');
  const d = sha256(data);
  // not visible before the final PUT
  assert.equal((await request('HEAD', `${base}/v2/push/chunked/blobs/${d}`)).status, 404);
  const f = await request('PUT', `${loc}?digest=${d}`, { headers: { 'Content-Range': '20000-29999', 'Content-Length': 10000 }, body: data.subarray(20000) });
  assert.equal(f.status, 201, f.body.toString());
  assert.ok((await request('GET', `${base}/v2/push/chunked/blobs/${d}`)).body.equals(data));
  const gone = await request('GET', loc);
  assert.equal(gone.status, 404);
  assert.equal(errCode(gone), 'BLOB_UPLOAD_UNKNOWN');
});

test('push: a cancelled upload is gone and never visible', async () => {
  const data = randomBytes(4000);
  const p = await request('POST', `${base}/v2/push/cancel/blobs/uploads/`);
  const loc = p.headers.location as string;
  await request('PATCH', loc, { headers: { 'Content-Length': data.length }, body: data });
  const del = await request('DELETE', loc);
  assert.equal(del.status, 204);
  assert.equal(errCode(await request('GET', loc)), 'BLOB_UPLOAD_UNKNOWN');
  const late = await request('PUT', `${loc}?digest=${sha256(data)}`, { headers: { 'Content-Length': 0 } });
  assert.equal(late.status, 404);
  assert.equal(errCode(late), 'BLOB_UPLOAD_UNKNOWN');
  assert.equal((await request('HEAD', `${base}/v2/push/cancel/blobs/${sha256(data)}`)).status, 404);
  assert.equal(errCode(await request('DELETE', loc)), 'BLOB_UPLOAD_UNKNOWN');
});

test('push: an interrupted PATCH is never visible, keeps what arrived, and resumes', async () => {
  const data = randomBytes(400_000);
  const d = sha256(data);
  const p = await request('POST', `${base}/v2/push/interrupted/blobs/uploads/`);
  const loc = p.headers.location as string;
  // half the promised bytes, then the connection drops
  await new Promise<void>((resolve) => {
    const req = http.request(loc, { method: 'PATCH', headers: { 'Content-Length': data.length, 'Content-Range': `0-${data.length - 1}` } });
    req.on('error', () => resolve());
    req.write(data.subarray(0, 200_000), () => setTimeout(() => { req.destroy(); resolve(); }, 200));
  });
  let range = '';
  for (let i = 0; i < 100 && range !== '0-199999'; i++) {
    range = (await request('GET', loc)).headers.range as string;
    if (range !== '0-199999') await sleep(50);
  }
  assert.equal(range, '0-199999', 'the bytes that arrived are kept for a resume');
  assert.equal((await request('HEAD', `${base}/v2/push/interrupted/blobs/${d}`)).status, 404);
  const rest = await request('PATCH', loc, { headers: { 'Content-Range': `200000-${data.length - 1}`, 'Content-Length': 200_000 }, body: data.subarray(200_000) });
  assert.equal(rest.status, 202);
  assert.equal((await request('PUT', `${loc}?digest=${d}`, { headers: { 'Content-Length': 0 } })).status, 201);
  assert.ok((await request('GET', `${base}/v2/push/interrupted/blobs/${d}`)).body.equals(data));
  // an interrupted single-POST upload leaves nothing at all
  const other = randomBytes(300_000);
  await new Promise<void>((resolve) => {
    const req = http.request(`${base}/v2/push/interrupted/blobs/uploads/?digest=${sha256(other)}`, { method: 'POST', headers: { 'Content-Length': other.length } });
    req.on('error', () => resolve());
    req.write(other.subarray(0, 100_000), () => setTimeout(() => { req.destroy(); resolve(); }, 200));
  });
  await sleep(200);
  assert.equal((await request('HEAD', `${base}/v2/push/interrupted/blobs/${sha256(other)}`)).status, 404);
});

test('push: wrong digests and malformed digests are DIGEST_INVALID; nothing is stored', async () => {
  const data = randomBytes(3000);
  const claimed = sha256(Buffer.from('not this'));
  const r = await request('POST', `${base}/v2/push/bad/blobs/uploads/?digest=${claimed}`, { headers: { 'Content-Length': data.length }, body: data });
  assert.equal(r.status, 400);
  assert.equal(errCode(r), 'DIGEST_INVALID');
  for (const d of [claimed, sha256(data)]) assert.equal((await request('HEAD', `${base}/v2/push/bad/blobs/${d}`)).status, 404);
  const p = await request('POST', `${base}/v2/push/bad/blobs/uploads/`);
  const loc = p.headers.location as string;
  await request('PATCH', loc, { headers: { 'Content-Length': data.length }, body: data });
  const f = await request('PUT', `${loc}?digest=${claimed}`, { headers: { 'Content-Length': 0 } });
  assert.equal(errCode(f), 'DIGEST_INVALID');
  assert.equal((await request('HEAD', `${base}/v2/push/bad/blobs/${sha256(data)}`)).status, 404);
  for (const bad of ['sha256:1234', 'md5:d41d8cd98f00b204e9800998ecf8427e', 'sha256:' + 'G'.repeat(64)]) {
    const h = await request('GET', `${base}/v2/push/bad/blobs/${bad}`);
    assert.equal(h.status, 400, bad);
    assert.equal(errCode(h), 'DIGEST_INVALID', bad);
  }
  const missing = await request('PUT', `${(await request('POST', `${base}/v2/push/bad/blobs/uploads/`)).headers.location}`, { headers: { 'Content-Length': 0 } });
  assert.equal(errCode(missing), 'DIGEST_INVALID');
});

test('names and tags outside the spec grammar are NAME_INVALID and TAG_INVALID', async () => {
  for (const name of ['Upper/case', 'a..b', '-lead', 'trail-', 'a//b', 'x'.repeat(256), 'a/_b']) {
    const r = await request('POST', `${base}/v2/${name}/blobs/uploads/`);
    assert.equal(r.status, 400, name);
    assert.equal(errCode(r), 'NAME_INVALID', name);
  }
  for (const name of ['a_b', 'a__b', 'a---b', 'a.b/c-d/e_f', 'x'.repeat(200)]) {
    assert.equal((await request('GET', `${base}/v2/${name}/tags/list`)).status, 404, name); // valid, unknown
  }
  const t = await put('/v2/tags/bad/manifests/-tag', '{}', { 'Content-Type': OCI_MANIFEST });
  assert.equal(t.status, 400);
  assert.equal(errCode(t), 'TAG_INVALID');
  const long = await request('GET', `${base}/v2/tags/bad/manifests/${'t'.repeat(129)}`);
  assert.equal(errCode(long), 'TAG_INVALID');
});

test('cross-repository mount links a blob without a copy; a source lacking it starts an upload', async () => {
  const data = randomBytes(6000);
  const d = await monolithic('mount/src', data);
  const m = await request('POST', `${base}/v2/mount/dst/blobs/uploads/?mount=${d}&from=mount/src`);
  assert.equal(m.status, 201);
  assert.equal(m.headers.location, `${base}/v2/mount/dst/blobs/${d}`);
  assert.equal(m.headers['docker-content-digest'], d);
  assert.ok((await request('GET', `${base}/v2/mount/dst/blobs/${d}`)).body.equals(data));
  const fallback = await request('POST', `${base}/v2/mount/dst2/blobs/uploads/?mount=${d}&from=mount/elsewhere`);
  assert.equal(fallback.status, 202);
  assert.ok(fallback.headers.location);
  assert.equal(copiesInStore(data), 1, 'the blob is stored once for both repositories');
});

test('the same blob uploaded concurrently into several repositories is safe and stored once', async () => {
  const data = randomBytes(500_000);
  const d = sha256(data);
  const rs = await Promise.all([0, 1, 2, 3, 4].map(async (i) => {
    const loc = (await request('POST', `${base}/v2/conc/r${i}/blobs/uploads/`)).headers.location as string;
    await request('PATCH', loc, { headers: { 'Content-Range': '0-249999', 'Content-Length': 250_000 }, body: data.subarray(0, 250_000) });
    return request('PUT', `${loc}?digest=${d}`, { headers: { 'Content-Length': 250_000, 'Content-Range': `250000-${data.length - 1}` }, body: data.subarray(250_000) });
  }));
  assert.deepEqual(rs.map((r) => r.status), [201, 201, 201, 201, 201]);
  for (let i = 0; i < 5; i++) assert.ok((await request('GET', `${base}/v2/conc/r${i}/blobs/${d}`)).body.equals(data));
  assert.equal(copiesInStore(data), 1);
});

test('manifests: PUT by tag, GET and HEAD by tag and digest byte for byte, ETag and If-None-Match', async () => {
  const { config, layer } = await blobsFor('man/oci');
  const body = Buffer.from(JSON.stringify(JSON.parse(manifestOf(config, [layer]).toString()), null, 7)); // odd formatting is kept
  const r = await put('/v2/man/oci/manifests/v1', body, { 'Content-Type': OCI_MANIFEST });
  assert.equal(r.status, 201, r.body.toString());
  const d = sha256(body);
  assert.equal(r.headers['docker-content-digest'], d);
  assert.equal(r.headers.location, `${base}/v2/man/oci/manifests/${d}`);
  for (const ref of ['v1', d]) {
    const g = await request('GET', `${base}/v2/man/oci/manifests/${ref}`, { headers: { Accept: OCI_MANIFEST } });
    assert.equal(g.status, 200);
    assert.ok(g.body.equals(body), 'stored byte for byte');
    assert.equal(g.headers['content-type'], OCI_MANIFEST);
    assert.equal(g.headers['docker-content-digest'], d);
    assert.equal(g.headers.etag, `"${d}"`);
    const h = await request('HEAD', `${base}/v2/man/oci/manifests/${ref}`);
    assert.equal(h.status, 200);
    assert.equal(h.headers['content-length'], String(body.length));
    assert.equal(h.body.length, 0);
  }
  const nm = await request('GET', `${base}/v2/man/oci/manifests/v1`, { headers: { 'If-None-Match': `"${d}"` } });
  assert.equal(nm.status, 304);
  // by digest: the digest must be the body's
  assert.equal((await put(`/v2/man/oci/manifests/${d}`, body, { 'Content-Type': OCI_MANIFEST })).status, 201);
  const wrong = await put(`/v2/man/oci/manifests/${sha256('x')}`, body, { 'Content-Type': OCI_MANIFEST });
  assert.equal(wrong.status, 400);
  assert.equal(errCode(wrong), 'DIGEST_INVALID');
  // a manifest without a mediaType field takes the Content-Type it was pushed with
  const bare = JSON.parse(manifestOf(config, [layer]).toString());
  delete bare.mediaType;
  const bareBody = Buffer.from(JSON.stringify(bare));
  assert.equal((await put('/v2/man/oci/manifests/bare', bareBody, { 'Content-Type': OCI_MANIFEST })).status, 201);
  assert.equal((await request('GET', `${base}/v2/man/oci/manifests/bare`)).headers['content-type'], OCI_MANIFEST);
});

test('manifests: Docker schema 2, Docker manifest list and OCI index keep their types', async () => {
  const { config, layer } = await blobsFor('man/docker');
  const m = manifestOf(config, [layer], {}, DOCKER_MANIFEST);
  assert.equal((await put(`/v2/man/docker/manifests/${sha256(m)}`, m, { 'Content-Type': DOCKER_MANIFEST })).status, 201);
  const oci = manifestOf(config, [layer]);
  assert.equal((await put(`/v2/man/docker/manifests/${sha256(oci)}`, oci, { 'Content-Type': OCI_MANIFEST })).status, 201);
  const list = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: DOCKER_LIST, manifests: [{ mediaType: DOCKER_MANIFEST, digest: sha256(m), size: m.length, platform: { architecture: 'amd64', os: 'linux' } }] }));
  assert.equal((await put('/v2/man/docker/manifests/list', list, { 'Content-Type': DOCKER_LIST })).status, 201);
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: sha256(oci), size: oci.length, platform: { architecture: 'amd64', os: 'linux' } }] }));
  assert.equal((await put('/v2/man/docker/manifests/index', index, { 'Content-Type': OCI_INDEX })).status, 201);
  for (const [ref, type, body] of [[sha256(m), DOCKER_MANIFEST, m], ['list', DOCKER_LIST, list], ['index', OCI_INDEX, index]] as const) {
    const g = await request('GET', `${base}/v2/man/docker/manifests/${ref}`);
    assert.equal(g.headers['content-type'], type);
    assert.ok(g.body.equals(body));
  }
  // an index naming a manifest the repository does not have
  const dangling = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: sha256('nothing'), size: 7 }] }));
  const r = await put('/v2/man/docker/manifests/dangling', dangling, { 'Content-Type': OCI_INDEX });
  assert.equal(r.status, 400);
  assert.equal(errCode(r), 'MANIFEST_BLOB_UNKNOWN');
});

test('manifests: bad bodies are MANIFEST_INVALID, missing blobs MANIFEST_BLOB_UNKNOWN, over 4 MiB 413', async () => {
  const { config, layer } = await blobsFor('man/bad');
  const cases: [Buffer | string, string, string][] = [
    ['{not json', OCI_MANIFEST, 'MANIFEST_INVALID'],
    ['[]', OCI_MANIFEST, 'MANIFEST_INVALID'],
    [JSON.stringify({ schemaVersion: 1, name: 'x', tag: 'y', fsLayers: [] }), 'application/vnd.docker.distribution.manifest.v1+prettyjws', 'MANIFEST_INVALID'],
    [manifestOf(config, [layer], { schemaVersion: 3 }), OCI_MANIFEST, 'MANIFEST_INVALID'],
    [manifestOf(config, [layer]), DOCKER_MANIFEST, 'MANIFEST_INVALID'], // mediaType says OCI, Content-Type Docker
    [manifestOf(config, [layer]), 'application/x-unknown', 'MANIFEST_INVALID'],
    [JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'x', digest: 'sha256:zz', size: 1 }, layers: [] }), OCI_MANIFEST, 'DIGEST_INVALID'],
    [manifestOf(config, [randomBytes(100)]), OCI_MANIFEST, 'MANIFEST_BLOB_UNKNOWN'],
  ];
  for (const [body, ct, code] of cases) {
    const r = await put('/v2/man/bad/manifests/t', body, { 'Content-Type': ct });
    assert.equal(errCode(r), code, `${ct}: ${body.toString().slice(0, 60)}`);
    assert.equal(r.status, 400);
  }
  // a blob of another repository is not this repository's
  const { layer: foreign } = await blobsFor('man/other');
  const r = await put('/v2/man/bad/manifests/t', manifestOf(config, [foreign]), { 'Content-Type': OCI_MANIFEST });
  assert.equal(errCode(r), 'MANIFEST_BLOB_UNKNOWN');
  const huge = manifestOf(config, [layer], { annotations: { pad: 'x'.repeat(4 << 20) } });
  const big = await put('/v2/man/bad/manifests/t', huge, { 'Content-Type': OCI_MANIFEST });
  assert.equal(big.status, 413);
  assert.equal(errCode(big), 'MANIFEST_INVALID');
  assert.equal((await request('GET', `${base}/v2/man/bad/manifests/t`)).status, 404);
});

test('unknown things: MANIFEST_UNKNOWN, BLOB_UNKNOWN, NAME_UNKNOWN; wrong methods UNSUPPORTED', async () => {
  assert.equal(errCode(await request('GET', `${base}/v2/unknown/repo/manifests/latest`)), 'MANIFEST_UNKNOWN');
  assert.equal(errCode(await request('GET', `${base}/v2/unknown/repo/manifests/${sha256('m')}`)), 'MANIFEST_UNKNOWN');
  const b = await request('GET', `${base}/v2/unknown/repo/blobs/${sha256('b')}`);
  assert.equal(b.status, 404);
  assert.equal(errCode(b), 'BLOB_UNKNOWN');
  const t = await request('GET', `${base}/v2/unknown/repo/tags/list`);
  assert.equal(t.status, 404);
  assert.equal(errCode(t), 'NAME_UNKNOWN');
  const m = await request('POST', `${base}/v2/unknown/repo/manifests/latest`);
  assert.equal(m.status, 405);
  assert.equal(errCode(m), 'UNSUPPORTED');
  assert.equal(errCode(await request('PATCH', `${base}/v2/unknown/repo/blobs/uploads/00000000-0000-0000-0000-000000000000`, { body: 'x' })), 'BLOB_UPLOAD_UNKNOWN');
  assert.equal(errCode(await request('GET', `${base}/v2/unknown/repo/blobs/uploads/not-an-id`)), 'BLOB_UPLOAD_UNKNOWN');
});

test('tags/list in lexical order with n/last pagination and a Link header', async () => {
  const { config, layer } = await blobsFor('disc/tags');
  const m = manifestOf(config, [layer]);
  const tags = ['v2', 'latest', 'v10', 'A', 'v1', '_x'];
  for (const t of tags) assert.equal((await put(`/v2/disc/tags/manifests/${t}`, m, { 'Content-Type': OCI_MANIFEST })).status, 201);
  const all = await request('GET', `${base}/v2/disc/tags/tags/list`);
  assert.deepEqual(all.json, { name: 'disc/tags', tags: [...tags].sort() });
  assert.equal(all.headers.link, undefined);
  const seen: string[] = [];
  let url = `${base}/v2/disc/tags/tags/list?n=4`;
  for (let i = 0; i < 5 && url; i++) {
    const r = await request('GET', url);
    assert.ok(r.json.tags.length <= 4);
    seen.push(...r.json.tags);
    const link = r.headers.link as string | undefined;
    url = link ? `${base}${/^<([^>]+)>; rel="next"$/.exec(link)![1]}` : '';
  }
  assert.deepEqual(seen, [...tags].sort());
  assert.deepEqual((await request('GET', `${base}/v2/disc/tags/tags/list?last=v1`)).json.tags, ['v10', 'v2']);
  assert.deepEqual((await request('GET', `${base}/v2/disc/tags/tags/list?n=0`)).json.tags, []);
  assert.equal(errCode(await request('GET', `${base}/v2/disc/tags/tags/list?n=-1`)), 'PAGINATION_NUMBER_INVALID');
});

test('_catalog lists repositories in order, paginated', async () => {
  const r = await request('GET', `${base}/v2/_catalog`);
  assert.equal(r.status, 200);
  const all: string[] = r.json.repositories;
  assert.ok(all.includes('disc/tags') && all.includes('man/oci') && all.includes('pull/ranges'), all.join(' '));
  assert.deepEqual(all, [...all].sort());
  const seen: string[] = [];
  let url = `${base}/v2/_catalog?n=3`;
  for (let i = 0; i < 50 && url; i++) {
    const p = await request('GET', url);
    seen.push(...p.json.repositories);
    const link = p.headers.link as string | undefined;
    url = link ? `${base}${/^<([^>]+)>; rel="next"$/.exec(link)![1]}` : '';
  }
  assert.deepEqual(seen, all);
});

test('referrers: pushing a manifest with a subject answers OCI-Subject; the index lists it; artifactType filters', async () => {
  const { config, layer } = await blobsFor('disc/refs');
  const subject = manifestOf(config, [layer]);
  const sd = sha256(subject);
  assert.equal((await put('/v2/disc/refs/manifests/v1', subject, { 'Content-Type': OCI_MANIFEST })).status, 201);
  const empty = Buffer.from('{}');
  await monolithic('disc/refs', empty);
  const emptyDesc = { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(empty), size: 2 };
  const artifact = (type: string, note: string) => Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: type, config: emptyDesc,
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: layer.length }],
    subject: { mediaType: OCI_MANIFEST, digest: sd, size: subject.length }, annotations: { note },
  }));
  const sig = artifact('application/vnd.example.signature', 'sig');
  const sbom = artifact('application/vnd.example.sbom', 'sbom');
  for (const a of [sig, sbom]) {
    const r = await put(`/v2/disc/refs/manifests/${sha256(a)}`, a, { 'Content-Type': OCI_MANIFEST });
    assert.equal(r.status, 201, r.body.toString());
    assert.equal(r.headers['oci-subject'], sd);
  }
  // one whose artifactType comes from its config
  const viaConfig = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { ...emptyDesc, mediaType: 'application/vnd.example.config' }, layers: [], subject: { mediaType: OCI_MANIFEST, digest: sd, size: subject.length } }));
  assert.equal((await put(`/v2/disc/refs/manifests/${sha256(viaConfig)}`, viaConfig, { 'Content-Type': OCI_MANIFEST })).status, 201);
  const r = await request('GET', `${base}/v2/disc/refs/referrers/${sd}`);
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-type'], OCI_INDEX);
  assert.equal(r.json.schemaVersion, 2);
  assert.equal(r.json.mediaType, OCI_INDEX);
  const got = new Map(r.json.manifests.map((m: any) => [m.digest, m]));
  assert.equal(got.size, 3);
  assert.deepEqual(got.get(sha256(sig)), { mediaType: OCI_MANIFEST, digest: sha256(sig), size: sig.length, artifactType: 'application/vnd.example.signature', annotations: { note: 'sig' } });
  assert.equal((got.get(sha256(viaConfig)) as any).artifactType, 'application/vnd.example.config', 'artifactType falls back to the config media type');
  const f = await request('GET', `${base}/v2/disc/refs/referrers/${sd}?artifactType=application/vnd.example.sbom`);
  assert.equal(f.headers['oci-filters-applied'], 'artifactType');
  assert.deepEqual(f.json.manifests.map((m: any) => m.digest), [sha256(sbom)]);
  const none = await request('GET', `${base}/v2/disc/refs/referrers/${sha256('no such subject')}`);
  assert.equal(none.status, 200);
  assert.deepEqual(none.json.manifests, []);
  assert.equal(errCode(await request('GET', `${base}/v2/disc/refs/referrers/sha256:nope`)), 'DIGEST_INVALID');
  // a deleted referrer is no longer listed
  assert.equal((await request('DELETE', `${base}/v2/disc/refs/manifests/${sha256(sig)}`)).status, 202);
  const after = await request('GET', `${base}/v2/disc/refs/referrers/${sd}`);
  assert.deepEqual(after.json.manifests.map((m: any) => m.digest).sort(), [sha256(sbom), sha256(viaConfig)].sort());
});

test('content management: delete a tag, a manifest (and its tags), a blob', async () => {
  const { config, layer } = await blobsFor('mgmt/app');
  const m = manifestOf(config, [layer]);
  const d = sha256(m);
  for (const t of ['a', 'b', 'c']) await put(`/v2/mgmt/app/manifests/${t}`, m, { 'Content-Type': OCI_MANIFEST });
  assert.equal((await request('DELETE', `${base}/v2/mgmt/app/manifests/a`)).status, 202);
  assert.equal(errCode(await request('GET', `${base}/v2/mgmt/app/manifests/a`)), 'MANIFEST_UNKNOWN');
  assert.equal((await request('GET', `${base}/v2/mgmt/app/manifests/b`)).status, 200);
  assert.deepEqual((await request('GET', `${base}/v2/mgmt/app/tags/list`)).json.tags, ['b', 'c']);
  assert.equal((await request('DELETE', `${base}/v2/mgmt/app/manifests/${d}`)).status, 202);
  for (const ref of ['b', 'c', d]) assert.equal(errCode(await request('GET', `${base}/v2/mgmt/app/manifests/${ref}`)), 'MANIFEST_UNKNOWN', ref);
  assert.deepEqual((await request('GET', `${base}/v2/mgmt/app/tags/list`)).json.tags, []);
  assert.equal(errCode(await request('DELETE', `${base}/v2/mgmt/app/manifests/${d}`)), 'MANIFEST_UNKNOWN');
  assert.equal(errCode(await request('DELETE', `${base}/v2/mgmt/app/manifests/nosuchtag`)), 'MANIFEST_UNKNOWN');
  assert.equal((await request('DELETE', `${base}/v2/mgmt/app/blobs/${sha256(layer)}`)).status, 202);
  assert.equal((await request('HEAD', `${base}/v2/mgmt/app/blobs/${sha256(layer)}`)).status, 404);
  assert.equal(errCode(await request('DELETE', `${base}/v2/mgmt/app/blobs/${sha256(layer)}`)), 'BLOB_UNKNOWN');
});

test('a raw push of a whole image, then /metrics counts it', async () => {
  const img = await makeImage([20_000, 30_000]);
  await pushImage(base, 'metrics/app', img, 'v1');
  const r = await request('GET', `${base}/metrics`);
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'] as string, /^text\/plain; version=0\.0\.4/);
  const text = r.body.toString();
  assert.match(text, /^# TYPE dray_registry_http_requests_total counter$/m);
  assert.match(text, /^dray_registry_http_requests_total\{route="manifest",method="PUT",code="201"\} \d+$/m);
  assert.match(text, /^dray_registry_blobs_committed_total\{result="stored"\} \d+$/m);
  assert.match(text, /^process_resident_memory_bytes \d+$/m);
  // and the request log has one line per request
  assert.match(srv.log(), /"msg":"request","method":"PUT","path":"\/v2\/metrics\/app\/manifests\/v1","status":201/);
});

test('the CLI: dray registry lists its commands; mistakes in the configuration exit 1 with a message', async () => {
  const cli = (args: string[]) => run(nodeBin, [drayJs, 'registry', ...args], 30_000);
  const group = await cli([]);
  assert.equal(group.code, 0);
  for (const c of ['serve', 'gc', 'scrub']) assert.match(group.stdout, new RegExp(`^  ${c} `, 'm'));
  const help = await cli(['serve', '--help']);
  for (const f of ['--listen', '--storage', '--config', '--tls-cert', '--tls-key', '--htpasswd', '--proxy', '--gc-interval']) assert.ok(help.stdout.includes(f), f);
  for (const [args, msg] of [
    [['serve'], /no storage/],
    [['serve', '--storage', path.join(dir, 'x'), '--listen', 'nowhere'], /invalid listen address/],
    [['serve', '--config', path.join(dir, 'missing.yml')], /cannot read config file/],
    [['serve', '--storage', path.join(dir, 'x'), '--listen', `127.0.0.1:${srv.port}`], /EADDRINUSE|address already in use/],
    [['gc', '--storage', path.join(dir, 'no-such-store')], /no registry storage at/],
  ] as [string[], RegExp][]) {
    const r = await cli(args);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, msg);
  }
});
