// The uploads' stream hash (src/lib/stream-hash.ts): SHA-256 on libuv's thread pool through the
// native addon (native/sha256.c), node:crypto for other algorithms; the same answers as
// node:crypto whatever the chunks, a hash that goes on after hex(), and backpressure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { streamHash } from '../../src/lib/stream-hash';
import { nativeAddon } from '../../src/lib/native';

const ref = (algorithm: string, parts: Buffer[]) => { const h = createHash(algorithm); for (const p of parts) h.update(p); return h.digest('hex'); };

test('the native addon has the pool SHA-256 (so the uploads do not hash on the event loop)', () => {
  const a = nativeAddon();
  assert.ok(a, 'dist/dray_sys.node is built');
  assert.equal(typeof a.sha256New, 'function');
});

test('sha256: chunks of any size, given as fast as they come, hash as node:crypto does', async () => {
  const data = randomBytes(9 << 20);
  const h = streamHash('sha256');
  const parts: Buffer[] = [];
  let waited = 0;
  for (let i = 0, n = 1; i < data.length; i += n, n = (n * 13 + 7) % 200_000 + 1) {
    const p = data.subarray(i, i + n);
    parts.push(p);
    h.update(p);
    const r = h.ready();
    if (r) { waited++; await r; }
  }
  assert.equal(await h.hex(), ref('sha256', parts));
  assert.equal(h.failed, false);
  // 9 MiB given without pause: the caller was held back at least once (at most 4 MiB wait)
  assert.ok(waited >= 1, `waited ${waited} times`);
});

test('sha256: hex() does not end the hash, and the empty input has the known digest', async () => {
  const h = streamHash('sha256');
  assert.equal(await h.hex(), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  const a = randomBytes(100_000);
  const b = randomBytes(50_001);
  h.update(a);
  h.update(Buffer.alloc(0));
  assert.equal(await h.hex(), ref('sha256', [a]));
  h.update(b);
  assert.equal(await h.hex(), ref('sha256', [a, b]));
});

test('two hashes at once on the pool keep apart', async () => {
  const xs = [randomBytes(3 << 20), randomBytes(2 << 20)];
  const hs = xs.map(() => streamHash('sha256'));
  for (let off = 0; off < 3 << 20; off += 65_536) xs.forEach((x, i) => { if (off < x.length) hs[i].update(x.subarray(off, off + 65_536)); });
  const got = await Promise.all(hs.map((h) => h.hex()));
  assert.deepEqual(got, xs.map((x) => ref('sha256', [x])));
});

test('other algorithms hash with node:crypto', async () => {
  const h = streamHash('sha512');
  const a = randomBytes(70_000);
  h.update(a);
  assert.equal(h.ready(), undefined);
  assert.equal(await h.hex(), ref('sha512', [a]));
});

test('the addon refuses a second update in flight and bad arguments', () => {
  const a = nativeAddon()!;
  const h = a.sha256New();
  a.sha256Update(h, [randomBytes(1 << 20)], () => {});
  assert.throws(() => a.sha256Update(h, [Buffer.from('x')], () => {}), /already in flight/);
  assert.throws(() => a.sha256Hex(h), /in flight/);
  assert.throws(() => a.sha256Update(h, 'nope' as never, () => {}), TypeError);
  assert.throws(() => a.sha256Update({} as never, [], () => {}), TypeError);
});
