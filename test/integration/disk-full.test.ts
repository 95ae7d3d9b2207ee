// A full disk (ENOSPC) under drayd: its data root is a small tmpfs of the test's own. A build
// whose context does not fit, a build step that fills the disk, and a pull whose layers do not
// fit each fail with a clear error; none leaves a tag, an image, a build container, a partial
// layer or a temporary file behind; and once space is freed drayd carries on as before.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, statfsSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { TestDaemon } from '../helpers/daemon';
import { Registry, tempDir } from '../helpers/registry-client';
import { tarOf } from '../helpers/tar';

const d = new TestDaemon();
const SIZE_MB = 64;
let reg: Registry;
let regDir: string;

before(async () => {
  mkdirSync(d.dataRoot, { recursive: true });
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${SIZE_MB}m,mode=0711`, 'dray-test-full', d.dataRoot], { encoding: 'utf8' });
  assert.equal(m.status, 0, m.stderr);
  regDir = tempDir('dray-full-reg-');
  reg = await new Registry(path.join(regDir, 'reg')).start();
  await d.start();
  await d.bootstrapBusybox();
});

after(async () => {
  try {
    for (const c of (await d.api('GET', '/containers/json?all=1')).json ?? []) await d.api('DELETE', `/containers/${c.Id}?force=1`);
    await d.stopDaemon();
  } finally {
    spawnSync('umount', [d.dataRoot]);
    await reg.stop();
    spawnSync('rm', ['-rf', regDir]);
  }
  assert.deepEqual(await d.stop(), [], 'nothing may be left behind');
});

const freeMB = () => { const s = statfsSync(d.dataRoot); return (s.bavail * s.bsize) / 2 ** 20; };
/** drayd lets go of a build's context after it answered: the space comes back a moment later (bounded wait). */
async function spaceBack(atLeast: number): Promise<number> {
  for (let i = 0; i < 50 && freeMB() <= atLeast; i++) await new Promise((r) => setTimeout(r, 100));
  return freeMB();
}

/** What must not outlive a failure: temporary and partial files, build containers, layer directories. */
async function assertNothingHalfMade(what: string, images: number): Promise<void> {
  assert.equal((await d.api('GET', '/images/json?all=1')).json.length, images, `${what}: no new image`);
  assert.deepEqual((await d.api('GET', '/containers/json?all=1')).json, [], `${what}: no build container`);
  const layers = readdirSync(path.join(d.dataRoot, 'image', 'layers')).filter((n) => n.startsWith('.tmp'));
  assert.deepEqual(layers, [], `${what}: no partial layer`);
  const tmp = spawnSync('find', [d.dataRoot, '(', '-name', '*.tmp', '-o', '-path', `${d.dataRoot}/tmp/*`, '-o', '-path', `${d.dataRoot}/image/tmp/*`, '-o', '-path', `${d.dataRoot}/image/blobs/ingest/*`, ')', '-type', 'f'], { encoding: 'utf8' }).stdout.trim();
  assert.equal(tmp, '', `${what}: temporary files left:\n${tmp}`);
}

async function build(files: Record<string, string | Buffer>, tag: string) {
  const ctx = await tarOf(Object.entries(files).map(([name, body]) => ({ name, body })));
  const r = await d.api('POST', `/build?t=${tag}&networkmode=none`, ctx, { 'Content-Type': 'application/x-tar' });
  const lines = r.body.toString().split(/\r?\n/).filter(Boolean).map((l) => { try { return JSON.parse(l); } catch { return { raw: l }; } });
  return { status: r.status, error: (lines.find((l) => l.error)?.error ?? (r.status >= 400 ? r.json?.message : undefined)) as string | undefined };
}

test('a build context larger than the free space: a clear error, nothing kept', { timeout: 90_000 }, async () => {
  const images = (await d.api('GET', '/images/json?all=1')).json.length;
  const before = freeMB();
  const r = await build({ Dockerfile: 'FROM busybox\nCOPY big /big\n', big: randomBytes(Math.ceil(before + 8) * 2 ** 20) }, 'toobig:1');
  assert.match(r.error ?? '', /no space left on device/i, JSON.stringify(r));
  assert.equal((await d.api('GET', '/images/toobig:1/json')).status, 404, 'no tag');
  const back = await spaceBack(before - 2);
  await assertNothingHalfMade('context', images);
  assert.ok(back > before - 2, `the space came back (${back.toFixed(1)} of ${before.toFixed(1)} MiB free)`);
});

test('a RUN step that fills the disk fails the build with the step\'s error; the layer is not kept', { timeout: 90_000 }, async () => {
  const images = (await d.api('GET', '/images/json?all=1')).json.length;
  const before = freeMB();
  const r = await build({ Dockerfile: `FROM busybox\nRUN head -c ${SIZE_MB * 2}m /dev/zero > /fill\n` }, 'filled:1');
  assert.match(r.error ?? '', /returned a non-zero code/, JSON.stringify(r));
  assert.equal((await d.api('GET', '/images/filled:1/json')).status, 404, 'no tag');
  const back = await spaceBack(before - 2);
  await assertNothingHalfMade('RUN', images);
  assert.ok(back > before - 2, `the space came back (${back.toFixed(1)} of ${before.toFixed(1)} MiB free)`);
});

test('an import larger than the disk: a clear error, nothing kept', { timeout: 90_000 }, async () => {
  const images = (await d.api('GET', '/images/json?all=1')).json.length;
  const big = await tarOf([{ name: 'blob', body: randomBytes(Math.ceil(freeMB() + 8) * 2 ** 20) }]);
  const imp = await d.api('POST', '/images/create?fromSrc=-&repo=imported&tag=1', big, { 'Content-Type': 'application/x-tar' });
  assert.match(imp.body.toString(), /no space left on device/i);
  await assertNothingHalfMade('import', images);
});

test('an import whose blob fits but whose layer does not: the disk\'s error, and the blob goes with it', { timeout: 90_000 }, async () => {
  const images = (await d.api('GET', '/images/json?all=1')).json.length;
  const before = freeMB();
  // Stored once as the blob, once more unpacked: three quarters of the free space fit only once.
  const big = await tarOf([{ name: 'blob', body: randomBytes(Math.floor(before * 0.75) * 2 ** 20) }]);
  const imp = await d.api('POST', '/images/create?fromSrc=-&repo=imported&tag=2', big, { 'Content-Type': 'application/x-tar' });
  assert.equal(imp.status, 500, imp.body.toString());
  assert.match(imp.json?.message ?? '', /no space left on device/i);
  await assertNothingHalfMade('import', images);
  assert.ok(freeMB() > before - 2, `the blob was not kept (${freeMB().toFixed(1)} of ${before.toFixed(1)} MiB free)`);
});

test('a pull whose layers do not fit fails naming the cause, stores no image, keeps no partial blob; drayd carries on', { timeout: 90_000 }, async () => {
  const images = (await d.api('GET', '/images/json?all=1')).json.length;
  // A one-layer image bigger than the data root, put into the registry by skopeo from a layer tar on the host's disk.
  const layer = path.join(regDir, 'layer.tar');
  writeFileSync(layer, await tarOf([{ name: 'blob', body: randomBytes(Math.ceil(freeMB() + 16) * 2 ** 20) }]));
  const push = spawnSync('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `tarball:${layer}`, `docker://${reg.host}/full/big:1`], { encoding: 'utf8' });
  assert.equal(push.status, 0, push.stderr);
  const pull = d.dray(['pull', `${reg.host}/full/big:1`]);
  assert.notEqual(pull.code, 0, 'the pull of an image larger than the disk succeeded');
  assert.match(pull.stderr, /no space left on device/i);
  await assertNothingHalfMade('pull', images);
  assert.ok(freeMB() > SIZE_MB / 2, `the partial download was not kept (${freeMB().toFixed(1)} MiB free)`);
  const small = d.dray(['run', '--rm', 'busybox', 'echo', 'still here']);
  assert.equal(small.stdout, 'still here\n', small.stderr);
});
