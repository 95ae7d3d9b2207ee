// The idle daemon's malloc_trim (native/sys.c, called by src/lib/idle-gc.ts after its collection).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { nativeAddon } from '../../src/lib/native';

test('malloc_trim gives back memory freed between live allocations', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const rss = () => process.memoryUsage.rss();
  // 64 KiB buffers come from glibc's heap, as received request bodies do; every 16th stays
  // alive, so the freed ones are holes glibc's own trimming (top of the heap only) keeps.
  let bufs: Buffer[] | undefined = Array.from({ length: 2048 }, () => Buffer.allocUnsafeSlow(65536).fill(1));
  const keep = bufs.filter((_, i) => i % 16 === 15);
  bufs = undefined;
  // V8 frees array buffers' memory after a collection, off the main thread.
  gc();
  await new Promise((r) => setTimeout(r, 200));
  gc();
  const before = rss();
  assert.equal(nativeAddon()!.mallocTrim(), true);
  const released = before - rss();
  assert.ok(released > 64 << 20, `malloc_trim released ${released >> 20} MiB of ~120 MiB freed`);
  assert.equal(keep.length, 128);
});
