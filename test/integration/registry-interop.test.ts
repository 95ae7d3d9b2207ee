// `dray registry serve` with real clients and beside the reference registry: skopeo (Debian) copies
// between oci: / docker-archive: and docker://127.0.0.1:PORT, skopeo inspect, registry-to-registry
// copies, and the same pushes into Debian's docker-registry (distribution 2.8), whose answers ours
// must match where clients depend on them (manifest bytes, digests, content types, blob headers,
// ranges, tags, error codes). Then the pull-through cache in front of a docker-registry, which
// keeps serving once its upstream is gone. Everything on 127.0.0.1, started and stopped here.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import {
  OCI_MANIFEST, DOCKER_MANIFEST, Server, TestImage, errCode, makeImage, removeDir, request, run, sha256, skopeo,
  skopeoOk, startDray, startReference, tempDir, writeDockerArchive, writeOciLayout,
} from '../helpers/registry';

let dir: string;
let dray: Server;
let ref: Server;
let img: TestImage;
const host = (s: Server) => `127.0.0.1:${s.port}`;

before(async () => {
  dir = tempDir();
  img = await makeImage([400_000, 250_000]);
  writeOciLayout(path.join(dir, 'oci'), img, 'v1');
  [dray, ref] = await Promise.all([
    startDray(dir, { args: ['--storage', path.join(dir, 'dray-store')] }),
    startReference(path.join(dir, 'ref')),
  ]);
});

after(async () => {
  await Promise.all([dray?.stop(), ref?.stop()]);
  removeDir(dir);
});

test('skopeo copy oci: to dray and back, byte for byte; skopeo inspect', async () => {
  await skopeoOk(dir, ['copy', '--dest-tls-verify=false', `oci:${dir}/oci:v1`, `docker://${host(dray)}/interop/oci:v1`]);
  const raw = await skopeoOk(dir, ['inspect', '--raw', '--tls-verify=false', `docker://${host(dray)}/interop/oci:v1`]);
  assert.equal(raw, img.manifest.toString(), 'the manifest comes back as pushed');
  const info = JSON.parse(await skopeoOk(dir, ['inspect', '--tls-verify=false', `docker://${host(dray)}/interop/oci:v1`]));
  assert.equal(info.Digest, img.manifestDigest);
  assert.deepEqual(info.Layers, img.layers.map((l) => l.digest));
  assert.deepEqual(info.RepoTags, ['v1']);
  const back = path.join(dir, 'back');
  await skopeoOk(dir, ['copy', '--src-tls-verify=false', `docker://${host(dray)}/interop/oci:v1`, `oci:${back}:v1`]);
  const index = JSON.parse(readFileSync(path.join(back, 'index.json'), 'utf8'));
  assert.equal(index.manifests[0].digest, img.manifestDigest);
  for (const b of [img.config, ...img.layers]) assert.ok(readFileSync(path.join(back, 'blobs', 'sha256', b.digest.slice(7))).equals(b.data), b.digest);
});

test('skopeo copy docker-archive: to dray (Docker schema 2) and back to docker-archive:', async () => {
  const archive = path.join(dir, 'image.tar');
  await writeDockerArchive(archive, img, 'interop/archive:v1');
  await skopeoOk(dir, ['copy', '--dest-tls-verify=false', `docker-archive:${archive}`, `docker://${host(dray)}/interop/archive:v1`]);
  const raw = JSON.parse(await skopeoOk(dir, ['inspect', '--raw', '--tls-verify=false', `docker://${host(dray)}/interop/archive:v1`]));
  assert.equal(raw.mediaType, DOCKER_MANIFEST);
  assert.equal(raw.layers.length, 2);
  const m = await request('GET', `${dray.url}/v2/interop/archive/manifests/v1`);
  assert.equal(m.headers['content-type'], DOCKER_MANIFEST);
  const cfg = JSON.parse((await request('GET', `${dray.url}/v2/interop/archive/blobs/${raw.config.digest}`)).body.toString());
  assert.deepEqual(cfg.rootfs.diff_ids, img.tars.map((t) => sha256(t)), 'the layers unpack to what went in');
  const out = path.join(dir, 'out.tar');
  await skopeoOk(dir, ['copy', '--src-tls-verify=false', `docker://${host(dray)}/interop/archive:v1`, `docker-archive:${out}:interop/archive:v1`]);
  const listing = await run('tar', ['-tf', out]);
  assert.match(listing.stdout, /manifest\.json/);
});

test('the same pushes into docker-registry and dray: the same manifests, digests, headers and errors', async () => {
  const archive = path.join(dir, 'image.tar');
  for (const s of [dray, ref]) {
    await skopeoOk(dir, ['copy', '--dest-tls-verify=false', `oci:${dir}/oci:v1`, `docker://${host(s)}/same/oci:v1`]);
    await skopeoOk(dir, ['copy', '--dest-tls-verify=false', `docker-archive:${archive}`, `docker://${host(s)}/same/docker:v1`]);
  }
  const both = async (method: string, p: string, headers: Record<string, string> = {}) => {
    const [a, b] = await Promise.all([request(method, `${dray.url}${p}`, { headers }), request(method, `${ref.url}${p}`, { headers })]);
    return { dray: a, ref: b };
  };
  const accept = { Accept: [OCI_MANIFEST, DOCKER_MANIFEST].join(', ') };
  for (const repo of ['same/oci', 'same/docker']) {
    const g = await both('GET', `/v2/${repo}/manifests/v1`, accept);
    assert.equal(g.dray.status, 200);
    assert.equal(g.ref.status, 200);
    assert.ok(g.dray.body.equals(g.ref.body), `${repo}: manifest bytes`);
    for (const h of ['content-type', 'docker-content-digest', 'content-length', 'etag']) assert.equal(g.dray.headers[h], g.ref.headers[h], `${repo}: ${h}`);
    const head = await both('HEAD', `/v2/${repo}/manifests/v1`, accept);
    for (const h of ['content-type', 'docker-content-digest', 'content-length']) assert.equal(head.dray.headers[h], head.ref.headers[h], `${repo}: HEAD ${h}`);
    const man = JSON.parse(g.dray.body.toString());
    for (const desc of [man.config, ...man.layers]) {
      const hb = await both('HEAD', `/v2/${repo}/blobs/${desc.digest}`);
      for (const h of ['content-length', 'docker-content-digest', 'etag']) assert.equal(hb.dray.headers[h], hb.ref.headers[h], `${repo}: blob ${h}`);
      const gb = await both('GET', `/v2/${repo}/blobs/${desc.digest}`);
      assert.ok(gb.dray.body.equals(gb.ref.body));
      const rg = await both('GET', `/v2/${repo}/blobs/${desc.digest}`, { Range: 'bytes=10-99' });
      assert.equal(rg.dray.status, 206);
      assert.equal(rg.ref.status, 206);
      assert.equal(rg.dray.headers['content-range'], rg.ref.headers['content-range']);
      assert.ok(rg.dray.body.equals(rg.ref.body));
    }
    const t = await both('GET', `/v2/${repo}/tags/list`);
    assert.deepEqual(t.dray.json, t.ref.json);
    assert.equal(t.dray.headers['content-type'], t.ref.headers['content-type']);
  }
  // skopeo sees the same image in both
  const [rd, rr] = await Promise.all([dray, ref].map((s) => skopeoOk(dir, ['inspect', '--raw', '--tls-verify=false', `docker://${host(s)}/same/docker:v1`])));
  assert.equal(rd, rr);
  // the same errors, by code and status
  const nope = sha256('nope');
  for (const [method, p] of [['GET', '/v2/same/oci/manifests/missing'], ['GET', `/v2/same/oci/manifests/${nope}`], ['GET', `/v2/same/oci/blobs/${nope}`], ['HEAD', `/v2/same/oci/blobs/${nope}`], ['GET', '/v2/no/such/repo/tags/list'], ['GET', '/v2/same/oci/blobs/sha256:abc']]) {
    const e = await both(method, p);
    assert.equal(e.dray.status, e.ref.status, `${method} ${p}`);
    if (method === 'GET') assert.equal(errCode(e.dray), errCode(e.ref), `${method} ${p}`);
    if (method === 'GET') assert.equal(e.dray.json.errors[0].message, e.ref.json.errors[0].message, `${method} ${p}: message`);
  }
  const up = await both('POST', '/v2/same/oci/blobs/uploads/');
  assert.equal(up.dray.status, 202);
  assert.equal(up.ref.status, 202);
  assert.equal(up.dray.headers.range, up.ref.headers.range);
  const cat = await both('GET', '/v2/_catalog');
  for (const r of ['same/docker', 'same/oci']) {
    assert.ok(cat.dray.json.repositories.includes(r));
    assert.ok(cat.ref.json.repositories.includes(r));
  }
});

test('skopeo copies registry to registry: docker-registry to dray, digests kept', async () => {
  await skopeoOk(dir, ['copy', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${host(ref)}/same/oci:v1`, `docker://${host(dray)}/copied/oci:v1`]);
  const [a, b] = await Promise.all([ref, dray].map((s) => request('HEAD', `${s.url}/v2/${s === ref ? 'same' : 'copied'}/oci/manifests/v1`, { headers: { Accept: OCI_MANIFEST } })));
  assert.equal(b.headers['docker-content-digest'], a.headers['docker-content-digest']);
  assert.equal(b.headers['docker-content-digest'], img.manifestDigest);
});

test('pull-through cache: pulls through from docker-registry, then serves its copy with upstream gone', async () => {
  const upDir = path.join(dir, 'upstream');
  mkdirSync(upDir);
  const up = await startReference(upDir);
  let proxy: Server | undefined;
  try {
    await skopeoOk(dir, ['copy', '--dest-tls-verify=false', `oci:${dir}/oci:v1`, `docker://${host(up)}/library/cached:v1`]);
    const store = path.join(dir, 'proxy-store');
    // ttl 0: every pull of a tag asks upstream first, so the second pull below must fall back
    proxy = await startDray(dir, { config: { storage: { filesystem: { rootdirectory: store } }, proxy: { remoteurl: up.url, ttl: '0s' } } });
    const first = path.join(dir, 'via-proxy-1');
    await skopeoOk(dir, ['copy', '--src-tls-verify=false', `docker://${host(proxy)}/library/cached:v1`, `oci:${first}:v1`]);
    assert.equal(JSON.parse(readFileSync(path.join(first, 'index.json'), 'utf8')).manifests[0].digest, img.manifestDigest);
    // the blobs are in the cache now (they were stored as they streamed through)
    for (let i = 0; i < 50; i++) {
      const have = [img.config, ...img.layers].every((b) => existsSync(path.join(store, 'blobs', 'sha256', b.digest.slice(7, 9), b.digest.slice(7), 'data')));
      if (have) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const b of [img.config, ...img.layers]) assert.ok(existsSync(path.join(store, 'blobs', 'sha256', b.digest.slice(7, 9), b.digest.slice(7), 'data')), b.digest);
    // pushes are refused: a cache is read-only
    const push = await request('POST', `${proxy.url}/v2/library/cached/blobs/uploads/`);
    assert.equal(push.status, 405);
    assert.equal(errCode(push), 'UNSUPPORTED');
    await up.stop();
    const second = path.join(dir, 'via-proxy-2');
    await skopeoOk(dir, ['copy', '--src-tls-verify=false', `docker://${host(proxy)}/library/cached:v1`, `oci:${second}:v1`]);
    assert.deepEqual(readdirSync(path.join(second, 'blobs', 'sha256')).sort(), readdirSync(path.join(first, 'blobs', 'sha256')).sort());
    // something never pulled cannot be had without upstream
    const r = await skopeo(dir, ['inspect', '--tls-verify=false', `docker://${host(proxy)}/library/other:v1`]);
    assert.notEqual(r.code, 0);
    const metrics = (await request('GET', `${proxy.url}/metrics`)).body.toString();
    assert.match(metrics, /dray_registry_proxy_requests_total\{kind="manifest",result="stale"\} \d+/);
    assert.match(proxy.log(), /serving a cached tag without checking upstream/);
    assert.match(metrics, /dray_registry_proxy_requests_total\{kind="blob",result="miss"\} \d+/);
  } finally {
    await proxy?.stop();
    await up.stop();
  }
});
