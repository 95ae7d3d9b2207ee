// One full garbage collection (its flags are explained where it runs), then
// malloc_trim, once the daemon has been idle for a while. V8 collects its old generation under allocation pressure, which an idle daemon never has: after a
// burst of work (an image bootstrap, a save, a build) the garbage it left stays resident for as
// long as nothing else happens. The collection and the trim give that memory back (measured: idle
// RSS after bootstrap + save 63 → 58 MiB), and the next request pays to get it again: V8 drops
// the optimized code tied to what was collected and recompiles it, and glibc takes fresh pages
// from the kernel. Measured on a private drayd, a fully cached 50 MB docker build went from
// ~160 ms back to back to ~245 ms after each second-long pause, and a `docker run --rm` took
// twice the daemon CPU (22 → 49 ms). So "idle" means half a minute without a request, not one
// second: a burst (a compose up, a test suite, an edit-and-rebuild loop) stays warm.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { log } from './log';
import { nativeAddon } from './native';

/** Quiet time before the collection; the bench's idle rows wait this long (bench/lib/scenarios/memory.ts). */
export const IDLE_GC_QUIET_MS = 30_000;
/** From the collection to the trim: time for V8's helper thread to free the dead buffers. */
const TRIM_AFTER_MS = 200;
let gc: (() => void) | undefined;
let quietMs = IDLE_GC_QUIET_MS;
let lastActivity = 0;
let timer: NodeJS.Timeout | undefined;
/** Reclaims done (collection and trim): for tests. */
export let idleReclaims = 0;

/** Exposes V8's gc() to this process; call once at start-up. Tests pass a shorter quiet time. */
export function enableIdleGc(quiet = IDLE_GC_QUIET_MS): void {
  quietMs = quiet;
  setFlagsFromString('--expose-gc');
  gc = runInNewContext('gc') as () => void;
}

/** Marks activity (a request began or ended): a collection follows once things are quiet. */
export function noteActivity(): void {
  if (!gc) return;
  lastActivity = Date.now();
  if (!timer) schedule(quietMs);
}

function schedule(ms: number): void {
  timer = setTimeout(() => {
    const quietFor = Date.now() - lastActivity;
    if (quietFor < quietMs) { schedule(quietMs - quietFor); return; }
    timer = undefined;
    // A full collection that also drops the baseline (Sparkplug) code of every function, keeping
    // their bytecode: that code is a one-pass translation of the bytecode, made again the moment
    // a function runs hot (1.2 MiB; the first `ps`, `run` or cached build after the pause took
    // no longer, within the host's noise). Flushing the bytecode too saved 0.5 MiB more, and the
    // first request after a pause then recompiled its code from source (+15-40 ms). Not a
    // compacting one any more: on Node 20 forcing compaction took the bench's idle RSS after the
    // workload from 63.3 to 58.0 MiB, but on Node 24 (V8 13) it costs ~3 MiB instead (a private
    // drayd, fresh: 60.3 → 63.9 MiB; after a small workload: 71.6 → 74.8 MiB).
    setFlagsFromString('--stress-flush-code --flush-baseline-code --no-flush-bytecode');
    try { gc!(); } finally { setFlagsFromString('--no-stress-flush-code --no-flush-baseline-code --flush-bytecode'); }
    // What the collection freed outside V8's heap (buffers, received request bodies) sits in
    // glibc's free lists, scattered between live chunks; only a trim gives it back. Not at once:
    // V8 frees the backing stores of dead ArrayBuffers on a helper thread after the collection,
    // and a trim that ran first found most of them still allocated (a test's 120 MiB of freed
    // buffers: 0-25 MiB given back about one time in three, on a busy host).
    const trim = setTimeout(() => {
      const trimmed = nativeAddon()?.mallocTrim() ?? false;
      idleReclaims++;
      const m = process.memoryUsage();
      log.debug('idle gc', { trimmed, rss: m.rss >> 20, heapTotal: m.heapTotal >> 20, heapUsed: m.heapUsed >> 20, external: m.external >> 20, arrayBuffers: m.arrayBuffers >> 20 });
    }, TRIM_AFTER_MS);
    trim.unref();
  }, ms);
  timer.unref();
}
