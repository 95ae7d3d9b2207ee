// One full garbage collection when the daemon falls idle. V8 collects its old generation under
// allocation pressure, which an idle daemon never has: after a burst of work (an image bootstrap,
// a save, a build) the garbage it left stays resident for as long as nothing else happens. A
// collection about a second after the last request gives that memory back (measured: idle RSS
// after bootstrap + save 63 → 58 MiB), at the cost of ~10 ms of main thread once per burst.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { log } from './log';
import { nativeAddon } from './native';

const QUIET_MS = 1000;
let gc: (() => void) | undefined;
let lastActivity = 0;
let timer: NodeJS.Timeout | undefined;

/** Exposes V8's gc() to this process; call once at start-up. */
export function enableIdleGc(): void {
  setFlagsFromString('--expose-gc');
  gc = runInNewContext('gc') as () => void;
}

/** Marks activity (a request began or ended): a collection follows once things are quiet. */
export function noteActivity(): void {
  if (!gc) return;
  lastActivity = Date.now();
  if (!timer) schedule(QUIET_MS);
}

function schedule(ms: number): void {
  timer = setTimeout(() => {
    const quietFor = Date.now() - lastActivity;
    if (quietFor < QUIET_MS) { schedule(QUIET_MS - quietFor); return; }
    timer = undefined;
    gc!();
    // What the collection freed outside V8's heap (buffers, received request bodies) sits in
    // glibc's free lists, scattered between live chunks; only a trim gives it back.
    const trimmed = nativeAddon()?.mallocTrim() ?? false;
    const m = process.memoryUsage();
    log.debug('idle gc', { trimmed, rss: m.rss >> 20, heapTotal: m.heapTotal >> 20, heapUsed: m.heapUsed >> 20, external: m.external >> 20, arrayBuffers: m.arrayBuffers >> 20 });
  }, ms);
  timer.unref();
}
