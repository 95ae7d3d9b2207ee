// drayd and glibc's allocator (native/sys.c): the idle daemon's malloc_trim (called by src/lib/idle-gc.ts after its
// collection), and the one arena drayd keeps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { spawnSync } from 'node:child_process';
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

// drayd's single malloc arena (native/sys.c mallocArenas, set first thing in src/daemon/main.ts).
// Run in fresh processes: this one's threads have arenas already.
test('mallocArenas(1) keeps threads that allocate at once from getting arenas of their own', () => {
  const child = `
    const { Worker } = require('node:worker_threads');
    const addon = require(${JSON.stringify(require.resolve('../../dist/dray_sys.node'))});
    if (process.argv[1] === 'limit') addon.mallocArenas(1);
    // glibc maps each extra arena as an anonymous region aligned to its 64 MiB maximum size.
    const arenas = () => require('node:fs').readFileSync('/proc/self/maps', 'utf8').split('\\n').filter((l) => {
      const [range, , , , inode] = l.split(/\\s+/);
      if (!range || inode !== '0') return false;
      const start = BigInt('0x' + range.split('-')[0]);
      return start > 0x7f0000000000n && start % (64n << 20n) === 0n;
    }).length;
    const before = arenas();
    let done = 0;
    for (let i = 0; i < 4; i++) {
      const w = new Worker('const b = []; for (let i = 0; i < 20000; i++) { b.push(Buffer.allocUnsafeSlow(256)); if (b.length > 100) b.shift(); }', { eval: true });
      w.on('exit', () => { if (++done === 4) console.log(arenas() - before); });
    }`;
  const added = (mode: string) => {
    const r = spawnSync(process.execPath, ['-e', child, mode], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return Number(r.stdout.trim());
  };
  assert.ok(added('default') > 0, 'four threads allocating at once got no arena of their own: the test sees nothing');
  assert.equal(added('limit'), 0);
  assert.throws(() => nativeAddon()!.mallocArenas(0), /mallocArenas\(n\)/);
});
