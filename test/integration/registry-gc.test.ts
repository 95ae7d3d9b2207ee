// Maintenance of a running `dray registry serve`: garbage collection while pushes go on (the
// scheduled GC inside the server and `dray registry gc` from another process, both at once, with
// nothing locked), scrub finding a corrupted blob, the purge of abandoned uploads, untagged-manifest
// collection, deletes switched off, and the upload limit's 429.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import {
  OCI_MANIFEST, TestImage, composeImage, drayJs, errCode, layerTar, makeImage, nodeBin, pushImage, removeDir,
  request, run, sha256, skopeoOk, sleep, startDray, tempDir, writeOciLayout,
} from '../helpers/registry';

let dir: string;
before(() => { dir = tempDir(); });
after(() => removeDir(dir));

const dataPath = (store: string, digest: string) => path.join(store, 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7), 'data');
const drayRegistry = (args: string[]) => run(nodeBin, [drayJs, 'registry', ...args], 60_000);

/** Every blob of `img` served by `base` under `repo`, byte for byte. */
async function assertComplete(base: string, repo: string, tag: string, img: TestImage): Promise<void> {
  const m = await request('GET', `${base}/v2/${repo}/manifests/${tag}`);
  assert.equal(m.status, 200, `${repo}:${tag}`);
  assert.equal(m.headers['docker-content-digest'], img.manifestDigest);
  for (const b of [img.config, ...img.layers]) {
    const r = await request('GET', `${base}/v2/${repo}/blobs/${b.digest}`);
    assert.equal(r.status, 200, `${repo}: ${b.digest}`);
    assert.ok(r.body.equals(b.data), `${repo}: ${b.digest}`);
  }
}

test('GC while pushing: the scheduled GC and `dray registry gc` run throughout; every push stays whole, garbage goes', async () => {
  const store = path.join(dir, 'gc-store');
  const delay = '3s';
  const srv = await startDray(dir, { config: { storage: { filesystem: { rootdirectory: store } }, gc: { interval: '200ms', delay } } });
  try {
    // garbage: images pushed, then deleted; one of their layers comes back in a new image below
    const shared = await layerTar(120_000, 'shared.bin');
    const doomed = [composeImage([shared, await layerTar(90_000)]), await makeImage([80_000])];
    for (const [i, g] of doomed.entries()) await pushImage(srv.url, `gc/old${i}`, g, 'v1');
    for (const [i, g] of doomed.entries()) assert.equal((await request('DELETE', `${srv.url}/v2/gc/old${i}/manifests/${g.manifestDigest}`)).status, 202);
    await sleep(3500); // older than the delay: now really garbage

    // pushes, each a few layers, while both collectors run
    const imgs: TestImage[] = [];
    for (let i = 0; i < 8; i++) {
      const tars = [await layerTar(60_000 + i * 1000), await layerTar(40_000)];
      // the first two reuse the deleted image's layer: their client finds it (HEAD) and skips the upload
      if (i < 2) tars.unshift(shared);
      imgs.push(composeImage(tars));
    }
    for (const [i, img] of imgs.entries()) writeOciLayout(path.join(dir, `gc-oci-${i}`), img, 'v1');
    let stop = false;
    let cliRuns = 0;
    const cliLoop = (async () => {
      while (!stop) {
        const r = await drayRegistry(['gc', '--storage', store, '--delay', delay, '--json']);
        assert.equal(r.code, 0, r.stderr);
        cliRuns++;
      }
    })();
    const started = Date.now();
    await Promise.all(imgs.map(async (_img, i) => {
      await sleep(i * 150);
      // the old image's layer is pushed into the same repository it was deleted from, so skopeo HEADs it
      const repo = i < 2 ? 'gc/old0' : `gc/new${i}`;
      await skopeoOk(dir, ['copy', '--dest-tls-verify=false', `oci:${dir}/gc-oci-${i}:v1`, `docker://127.0.0.1:${srv.port}/${repo}:v${i}`]);
    }));
    stop = true;
    await cliLoop;
    assert.ok(cliRuns >= 1, 'dray registry gc ran during the pushes');
    assert.ok(Date.now() - started < 30_000);
    for (const [i, img] of imgs.entries()) await assertComplete(srv.url, i < 2 ? 'gc/old0' : `gc/new${i}`, `v${i}`, img);
    // the deleted images' own layers and manifests are gone; the reused layer stays
    for (const b of [doomed[0].layers[1], doomed[1].layers[0], doomed[0].config]) assert.ok(!existsSync(dataPath(store, b.digest)), `garbage ${b.digest} collected`);
    assert.ok(existsSync(dataPath(store, doomed[0].layers[0].digest)), 'the reused layer is kept');
    const metrics = (await request('GET', `${srv.url}/metrics`)).body.toString();
    const runs = Number(/^dray_registry_gc_runs_total\{result="ok"\} (\d+)$/m.exec(metrics)?.[1] ?? 0);
    assert.ok(runs >= 3, `scheduled GC ran ${runs} times`);
    assert.match(metrics, /^dray_registry_gc_blobs_deleted_total \d+$/m);
  } finally {
    await srv.stop();
  }
});

test('dray registry gc: --dry-run lists, the real run deletes, --delete-untagged drops untagged manifests but keeps referrers of tagged ones', async () => {
  const store = path.join(dir, 'cli-store');
  const srv = await startDray(dir, { args: ['--storage', store, '--gc-interval', '0'] });
  try {
    const kept = await makeImage([30_000]);
    const untagged = await makeImage([20_000]);
    await pushImage(srv.url, 'cli/app', kept, 'v1');
    await pushImage(srv.url, 'cli/app', untagged, untagged.manifestDigest);
    // a signature-like referrer of the tagged image, pushed by digest (untagged, but its subject is tagged)
    const empty = Buffer.from('{}');
    await request('POST', `${srv.url}/v2/cli/app/blobs/uploads/?digest=${sha256(empty)}`, { headers: { 'Content-Length': 2 }, body: empty });
    const sig = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: 'application/vnd.example.sig', config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(empty), size: 2 }, layers: [], subject: { mediaType: OCI_MANIFEST, digest: kept.manifestDigest, size: kept.manifest.length } }));
    assert.equal((await request('PUT', `${srv.url}/v2/cli/app/manifests/${sha256(sig)}`, { headers: { 'Content-Type': OCI_MANIFEST }, body: sig })).status, 201);
    await sleep(1100);
    const dry = await drayRegistry(['gc', '--storage', store, '--delay', '0s', '--delete-untagged', '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    for (const b of [untagged.layers[0], untagged.config]) assert.match(dry.stdout, new RegExp(`would delete ${b.digest}`));
    assert.ok(existsSync(dataPath(store, untagged.layers[0].digest)), 'a dry run deletes nothing');
    const real = await drayRegistry(['gc', '--storage', store, '--delay', '0s', '--delete-untagged', '--json']);
    assert.equal(real.code, 0, real.stderr);
    const report = JSON.parse(real.stdout);
    assert.equal(report.manifestsDeleted, 1);
    assert.deepEqual(report.deleted.sort(), [untagged.manifestDigest, untagged.config.digest, untagged.layers[0].digest].sort());
    await assertComplete(srv.url, 'cli/app', 'v1', kept);
    assert.equal((await request('GET', `${srv.url}/v2/cli/app/manifests/${sha256(sig)}`)).status, 200, 'the referrer of a tagged image stays');
    assert.equal((await request('GET', `${srv.url}/v2/cli/app/manifests/${untagged.manifestDigest}`)).status, 404);
  } finally {
    await srv.stop();
  }
});

test('a HEAD that tells a pusher to skip an upload keeps the unreferenced blob through the next GC', async () => {
  const store = path.join(dir, 'head-store');
  const srv = await startDray(dir, { args: ['--storage', store, '--gc-interval', '0'] });
  try {
    const img = await makeImage([20_000, 20_000]);
    // the blobs arrive, and the push stops before its manifest (a client that crashed, or one slow
    // to come back for the rest): unreferenced, and soon older than GC's delay
    for (const b of [img.config, ...img.layers]) {
      assert.equal((await request('POST', `${srv.url}/v2/head/app/blobs/uploads/?digest=${b.digest}`, { headers: { 'Content-Length': b.data.length }, body: b.data })).status, 201);
    }
    await sleep(4000);
    // the push resumes: its client asks for the config and the first layer, finds them, skips them
    for (const b of [img.config, img.layers[0]]) assert.equal((await request('HEAD', `${srv.url}/v2/head/app/blobs/${b.digest}`)).status, 200);
    // (a delay of 2 s: the blobs are twice that old, the HEADs far younger)
    const r = await drayRegistry(['gc', '--storage', store, '--delay', '2s', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).deleted, [img.layers[1].digest], 'only the blob nobody asked for goes');
    assert.equal((await request('PUT', `${srv.url}/v2/head/app/manifests/v1`, { headers: { 'Content-Type': OCI_MANIFEST }, body: img.manifest })).status, 400, 'the layer GC took is missing: MANIFEST_BLOB_UNKNOWN');
    await pushImage(srv.url, 'head/app', img, 'v1');
    await assertComplete(srv.url, 'head/app', 'v1', img);
  } finally {
    await srv.stop();
  }
});

test('scrub: a corrupted blob is reported by `dray registry scrub` (exit 1) and by the server in its log and /metrics', async () => {
  const store = path.join(dir, 'scrub-store');
  const img = await makeImage([50_000]);
  let srv = await startDray(dir, { args: ['--storage', store] });
  await pushImage(srv.url, 'scrub/app', img, 'v1');
  await srv.stop();
  const ok = await drayRegistry(['scrub', '--storage', store]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /checked 3 blobs .* all match their digests/);
  const victim = dataPath(store, img.layers[0].digest);
  const bytes = readFileSync(victim);
  bytes[1000] ^= 0xff;
  writeFileSync(victim, bytes);
  const bad = await drayRegistry(['scrub', '--storage', store]);
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, new RegExp(`CORRUPT ${img.layers[0].digest}`));
  srv = await startDray(dir, { config: { storage: { filesystem: { rootdirectory: store } }, scrub: { interval: '300ms', rate: '0' } } });
  try {
    let metrics = '';
    for (let i = 0; i < 60 && !/^dray_registry_scrub_corrupt_blobs 1$/m.test(metrics); i++) {
      await sleep(100);
      metrics = (await request('GET', `${srv.url}/metrics`)).body.toString();
    }
    assert.match(metrics, /^dray_registry_scrub_corrupt_blobs 1$/m);
    assert.match(srv.log(), new RegExp(`"msg":"scrub: blob does not match its digest","digest":"${img.layers[0].digest}"`));
  } finally {
    await srv.stop();
  }
});

test('abandoned uploads are purged after the upload timeout', async () => {
  const store = path.join(dir, 'purge-store');
  const srv = await startDray(dir, { config: { storage: { filesystem: { rootdirectory: store }, maintenance: { uploadpurging: { age: '1s', interval: '300ms' } } } } });
  try {
    const loc = (await request('POST', `${srv.url}/v2/purge/app/blobs/uploads/`)).headers.location as string;
    await request('PATCH', loc, { headers: { 'Content-Length': 5 }, body: 'hello' });
    assert.equal((await request('GET', loc)).status, 204);
    let status = 204;
    for (let i = 0; i < 60 && status === 204; i++) { await sleep(100); status = (await request('GET', loc)).status; }
    assert.equal(status, 404);
    assert.match(srv.log(), /abandoned uploads purged/);
    const metrics = (await request('GET', `${srv.url}/metrics`)).body.toString();
    assert.match(metrics, /^dray_registry_uploads_purged_total [1-9]\d*$/m);
  } finally {
    await srv.stop();
  }
});

test('deletes switched off answer 405 UNSUPPORTED; the upload limit answers 429 TOOMANYREQUESTS', async () => {
  const store = path.join(dir, 'limits-store');
  const srv = await startDray(dir, { config: { storage: { filesystem: { rootdirectory: store }, delete: { enabled: false } }, limits: { concurrentuploads: 1 } } });
  try {
    const img = await makeImage([10_000]);
    await pushImage(srv.url, 'lim/app', img, 'v1');
    const del = await request('DELETE', `${srv.url}/v2/lim/app/manifests/${img.manifestDigest}`);
    assert.equal(del.status, 405);
    assert.equal(errCode(del), 'UNSUPPORTED');
    assert.equal(errCode(await request('DELETE', `${srv.url}/v2/lim/app/blobs/${img.layers[0].digest}`)), 'UNSUPPORTED');
    // one upload request in flight (a PATCH still sending), another is refused for now
    const loc = (await request('POST', `${srv.url}/v2/lim/app/blobs/uploads/`)).headers.location as string;
    const slow = http.request(loc, { method: 'PATCH', headers: { 'Content-Length': 10 } });
    const slowDone = new Promise<number>((resolve, reject) => { slow.on('response', (r) => { r.resume(); resolve(r.statusCode ?? 0); }); slow.on('error', reject); });
    slow.write('12345');
    await sleep(200);
    const busy = await request('POST', `${srv.url}/v2/lim/app/blobs/uploads/`);
    assert.equal(busy.status, 429);
    assert.equal(errCode(busy), 'TOOMANYREQUESTS');
    assert.equal(busy.headers['retry-after'], '1');
    slow.end('67890');
    assert.equal(await slowDone, 202);
    assert.equal((await request('POST', `${srv.url}/v2/lim/app/blobs/uploads/`)).status, 202);
  } finally {
    await srv.stop();
  }
});
