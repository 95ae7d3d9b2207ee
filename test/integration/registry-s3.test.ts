// `dray registry serve` on S3 storage: s3rver (npm) started here in-process on 127.0.0.1, the
// server configured for it with presigned redirects for blob downloads. skopeo pushes and pulls
// through it (following the redirects to the bucket), GC and scrub work over the bucket, and two
// registry processes share it. s3rver does not check request signatures, so this proves the
// registry's use of S3, not the AWS SDK's signing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import {
  Server, TestImage, drayJs, makeImage, nodeBin, removeDir, request, run, skopeoOk, startDray, tempDir, writeOciLayout,
} from '../helpers/registry';

let dir: string;
let s3: any;
let endpoint: string;
let img: TestImage;

before(async () => {
  dir = tempDir();
  const S3rver = require('s3rver');
  s3 = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: path.join(dir, 's3'), configureBuckets: [{ name: 'registry' }] });
  endpoint = `http://127.0.0.1:${(await s3.run()).port}`;
  img = await makeImage([300_000, 200_000]);
  writeOciLayout(path.join(dir, 'oci'), img, 'v1');
});

after(async () => {
  await s3?.close();
  removeDir(dir);
});

const s3config = (redirect: boolean) => ({
  storage: { s3: { bucket: 'registry', regionendpoint: endpoint, region: 'us-east-1', accesskey: 'S3RVER', secretkey: 'S3RVER', rootdirectory: '/dray', redirect, chunksize: '5MiB' } },
});

test('skopeo pushes to and pulls from a registry on S3; blob GETs redirect to presigned URLs', async () => {
  const a = await startDray(dir, { config: s3config(true) });
  let b: Server | undefined;
  try {
    await skopeoOk(dir, ['copy', '--dest-tls-verify=false', `oci:${dir}/oci:v1`, `docker://127.0.0.1:${a.port}/s3/app:v1`]);
    const blob = await request('GET', `${a.url}/v2/s3/app/blobs/${img.layers[0].digest}`);
    assert.equal(blob.status, 307);
    const loc = blob.headers.location as string;
    assert.ok(loc.startsWith(`${endpoint}/registry/dray/blobs/sha256/`), loc);
    const direct = await request('GET', loc);
    assert.ok(direct.body.equals(img.layers[0].data), 'the presigned URL serves the blob');
    // HEAD answers here (no redirect), with the size
    const head = await request('HEAD', `${a.url}/v2/s3/app/blobs/${img.layers[0].digest}`);
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(img.layers[0].size));
    const out = path.join(dir, 'pulled');
    await skopeoOk(dir, ['copy', '--src-tls-verify=false', `docker://127.0.0.1:${a.port}/s3/app:v1`, `oci:${out}:v1`]);
    for (const x of [img.config, ...img.layers]) assert.ok(readFileSync(path.join(out, 'blobs', 'sha256', x.digest.slice(7))).equals(x.data));
    // a second registry process on the same bucket sees the same content, and can add to it
    b = await startDray(dir, { config: s3config(false) });
    const info = JSON.parse(await skopeoOk(dir, ['inspect', '--tls-verify=false', `docker://127.0.0.1:${b.port}/s3/app:v1`]));
    assert.equal(info.Digest, img.manifestDigest);
    await skopeoOk(dir, ['copy', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://127.0.0.1:${b.port}/s3/app:v1`, `docker://127.0.0.1:${b.port}/s3/copy:v1`]);
    assert.deepEqual((await request('GET', `${a.url}/v2/_catalog`)).json.repositories, ['s3/app', 's3/copy']);
    const served = await request('GET', `${b.url}/v2/s3/copy/blobs/${img.layers[1].digest}`);
    assert.ok(served.body.equals(img.layers[1].data), 'served through the registry without a redirect');
  } finally {
    await a.stop();
    await b?.stop();
  }
});

test('dray registry gc and scrub over the bucket', async () => {
  const srv = await startDray(dir, { config: s3config(false) });
  try {
    await skopeoOk(dir, ['copy', '--dest-tls-verify=false', `oci:${dir}/oci:v1`, `docker://127.0.0.1:${srv.port}/s3/gc:v1`]);
    const other = await makeImage([50_000]);
    writeOciLayout(path.join(dir, 'oci-other'), other, 'v1');
    await skopeoOk(dir, ['copy', '--dest-tls-verify=false', `oci:${dir}/oci-other:v1`, `docker://127.0.0.1:${srv.port}/s3/gone:v1`]);
    assert.equal((await request('DELETE', `${srv.url}/v2/s3/gone/manifests/${other.manifestDigest}`)).status, 202);
    const cfg = path.join(dir, 's3-config.json');
    writeFileSync(cfg, JSON.stringify(s3config(false)));
    await new Promise((r) => setTimeout(r, 3100)); // S3's times are whole seconds, read as the end of theirs
    const gc = await run(nodeBin, [drayJs, 'registry', 'gc', '--config', cfg, '--delay', '1s', '--json'], 60_000);
    assert.equal(gc.code, 0, gc.stderr);
    assert.deepEqual(JSON.parse(gc.stdout).deleted.sort(), [other.manifestDigest, other.config.digest, other.layers[0].digest].sort());
    const scrub = await run(nodeBin, [drayJs, 'registry', 'scrub', '--config', cfg], 60_000);
    assert.equal(scrub.code, 0, scrub.stderr);
    assert.match(scrub.stdout, /all match their digests/);
    assert.equal((await request('GET', `${srv.url}/v2/s3/gc/manifests/v1`)).status, 200);
  } finally {
    await srv.stop();
  }
});
