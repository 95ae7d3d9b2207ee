// Hostile layers through a pull, as hostile-input asks of load and import: images in Debian's
// docker-registry (on 127.0.0.1) whose layers climb out with "..", write through a symlink to the
// host, hard-link a host file or carry a whiteout of their own directory. Each pull fails with a
// clear error naming the layer, leaves no image, no partial layer and no partial download, and
// nothing on the host is written; an absolute name is kept inside the layer, as Docker keeps it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { TestDaemon } from '../helpers/daemon';
import { TarEntry as Entry, tarOf } from '../helpers/tar';
import { Registry, tempDir, putBlob, putManifest, stopAll } from '../helpers/registry-client';
import { OCI_MANIFEST } from '../helpers/registry';

const d = new TestDaemon();
let dir: string;
let reg: Registry;
let hostDir: string;
const token = randomBytes(4).toString('hex');

/** Pushes an image of one layer (`entries`, gzipped) as repo:tag; the config's DiffID is the layer's true one. */
async function pushLayerImage(repo: string, entries: Entry[]): Promise<void> {
  const tar = await tarOf(entries);
  const gz = gzipSync(tar);
  const diffId = `sha256:${createHash('sha256').update(tar).digest('hex')}`;
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [diffId] } }));
  const cfgDigest = await putBlob(reg.url, repo, config);
  const layerDigest = await putBlob(reg.url, repo, gz);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cfgDigest, size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: gz.length }],
  }));
  await putManifest(reg.url, repo, 'evil', manifest, OCI_MANIFEST);
}

function assertHostUntouched(): void {
  assert.deepEqual(readdirSync(hostDir).sort(), ['victim']);
  assert.equal(readFileSync(path.join(hostDir, 'victim'), 'utf8'), 'original\n');
  assert.equal(statSync(path.join(hostDir, 'victim')).nlink, 1, 'a hard link to the host file was made');
  assert.ok(!existsSync(path.join(path.dirname(hostDir), `escaped-${token}`)), 'a file climbed out with ..');
}

function assertNothingLeft(): void {
  const layers = path.join(d.dataRoot, 'image', 'layers');
  assert.deepEqual(readdirSync(layers).filter((n) => n.startsWith('.tmp-')), [], 'a partial layer is left');
  const partial = path.join(d.dataRoot, 'image', 'partial');
  if (existsSync(partial)) assert.deepEqual(readdirSync(partial), [], 'a partial download is left');
}

before(async () => {
  dir = tempDir('dray-rhl-');
  hostDir = mkdtempSync('/tmp/dray-hostile-pull-');
  writeFileSync(path.join(hostDir, 'victim'), 'original\n');
  reg = await new Registry(path.join(dir, 'reg')).start();
  await d.start();
});

after(async () => {
  const leaks = await stopAll(d, dir, [reg]);
  rmSync(hostDir, { recursive: true, force: true });
  assert.deepEqual(leaks, []);
});

test('layers that climb out, write through a host symlink, hard-link a host file or white out their own directory are refused at pull, and write nothing', async () => {
  const rel = path.relative('/', hostDir);
  const cases: Array<[string, Entry[], RegExp]> = [
    ['dotdot', [{ name: `../../../../${path.relative('/', path.dirname(hostDir))}/escaped-${token}`, body: 'out\n' }], /invalid layer|failed to register layer/],
    ['symlink', [{ name: 'evil', type: 'symlink', linkname: hostDir, mode: 0o777 }, { name: `evil/PWNED-${token}`, body: 'pwned\n' }], /invalid layer/],
    ['hardlink', [{ name: 'hl', type: 'link', linkname: `/${rel}/victim` }], /invalid layer/],
    ['whiteout', [{ name: 'sub/', type: 'directory', mode: 0o755 }, { name: 'sub/.wh...' }], /invalid layer: whiteout "sub\/\.wh\.\.\." does not name a file in its directory/],
  ];
  for (const [name, entries, why] of cases) {
    await pushLayerImage(`hostile/${name}`, entries);
    const r = d.dray(['pull', `${reg.host}/hostile/${name}:evil`]);
    assert.notEqual(r.code, 0, `${name}: the pull succeeded: ${r.stdout}`);
    assert.match(r.stderr, why, name);
    assert.notEqual(d.dray(['image', 'inspect', `${reg.host}/hostile/${name}:evil`]).code, 0, `${name}: an image was made`);
    assertHostUntouched();
    assertNothingLeft();
  }
  assert.equal(d.dray(['images', '-q']).stdout, '');
});

test('an absolute name is kept inside the layer, as Docker keeps it, and the host is untouched', async () => {
  await pushLayerImage('hostile/absolute', [{ name: `/${path.relative('/', hostDir)}/abs-${token}`, body: 'inside\n' }]);
  const r = d.dray(['pull', `${reg.host}/hostile/absolute:evil`]);
  assert.equal(r.code, 0, r.stderr);
  assertHostUntouched();
  const c = d.dray(['create', `${reg.host}/hostile/absolute:evil`, 'x']);
  assert.equal(c.code, 0, c.stderr);
  const id = c.stdout.trim();
  const out = await d.api('GET', `/containers/${id}/archive?path=${encodeURIComponent(`${hostDir}/abs-${token}`)}`);
  assert.equal(out.status, 200, 'the file is in the container');
  d.dray(['rm', id]);
  d.dray(['rmi', `${reg.host}/hostile/absolute:evil`]);
});
