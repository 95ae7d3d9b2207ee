// Layers unpacked on worker threads. A pull's main thread reads the network, hashes the blob and
// appends it to its partial file; inflating, hashing the DiffID, parsing the tar and feeding GNU
// tar for each layer is as much work again, and on the same thread it made the event loop the
// bottleneck of every pull (a 200 MB two-layer pull: the main thread ~85% busy). Here each layer
// being unpacked has a worker of its own, kept 30 s for the next pull and ended when idle,
// so an idle drayd holds none.
//
//   main                                   worker (drayd.js again, workerData.drayRole = 'unpack')
//   start {id, dir}              ───────▶  PassThrough → gunzip/zstd → unpackLayer(dir)
//   data {id, buf} (1 MiB, moved) ──────▶   … ack {id, bytes} once taken (main keeps ≤ 8 MiB in flight)
//   end {id} / abort {id}        ───────▶
//                                ◀───────  done {id, diffId, size} / failed {id, message, kind}
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { PassThrough } from 'node:stream';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type { UnpackResult } from './tar';
import { DrayError, ErrorKind } from '../lib/errors';

export const UNPACK_ROLE = 'unpack';

/** True in a thread started to unpack layers. */
export function isUnpackWorker(): boolean {
  return !isMainThread && workerData?.drayRole === UNPACK_ROLE;
}

// ---- the worker's side ------------------------------------------------------------------------------

/** Serves unpack jobs on this worker thread until the main thread ends it. */
export function serveUnpackJobs(): void {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { unpackLayer, detectCompression, decompressing } = require('./tar') as typeof import('./tar');
  const port = parentPort!;
  const jobs = new Map<number, { input: PassThrough; started: boolean; dir: string; owed: number }>();
  const start = (id: number, first: Buffer) => {
    const job = jobs.get(id)!;
    job.started = true;
    const c = detectCompression(first.subarray(0, 4));
    const tar = c === 'none' ? job.input : decompressing(job.input, c);
    unpackLayer(tar, job.dir).then(
      (r) => { jobs.delete(id); port.postMessage({ type: 'done', id, diffId: r.diffId, size: r.size, compression: c }); },
      (e) => { jobs.delete(id); port.postMessage({ type: 'failed', id, message: (e as Error)?.message ?? String(e), kind: (e as DrayError)?.kind }); },
    );
  };
  port.on('message', (m: { type: string; id: number; dir?: string; buf?: ArrayBuffer }) => {
    if (m.type === 'start') {
      const input = new PassThrough({ highWaterMark: 1024 * 1024 });
      input.on('error', () => {});
      jobs.set(m.id, { input, started: false, dir: m.dir!, owed: 0 });
      return;
    }
    const job = jobs.get(m.id);
    if (!job) return;
    if (m.type === 'data') {
      const buf = Buffer.from(m.buf!);
      if (!job.started) start(m.id, buf);
      // Acknowledged once taken: at once, or (behind a full buffer) all together at the next drain.
      const waiting = job.owed > 0;
      job.owed += buf.length;
      if (job.input.write(buf) && !waiting) { port.postMessage({ type: 'ack', id: m.id, bytes: job.owed }); job.owed = 0; return; }
      if (waiting) return;
      job.input.once('drain', () => { port.postMessage({ type: 'ack', id: m.id, bytes: job.owed }); job.owed = 0; });
    } else if (m.type === 'end') {
      if (!job.started) start(m.id, Buffer.alloc(0));
      job.input.end();
    } else if (m.type === 'abort') {
      job.input.destroy(new Error('aborted'));
      if (!job.started) { jobs.delete(m.id); port.postMessage({ type: 'failed', id: m.id, message: 'aborted' }); }
    }
  });
}

// ---- the main thread's side ------------------------------------------------------------------------

interface Pending { resolve(r: UnpackResult & { compression: string }): void; reject(e: Error): void; acked: () => void; inFlight: number }

const IDLE_MS = 30_000;
const MESSAGE = 1024 * 1024;
const IN_FLIGHT = 8 * 1024 * 1024;

class UnpackThread {
  readonly worker: Worker;
  readonly jobs = new Map<number, Pending>();
  private idleTimer?: NodeJS.Timeout;
  dead = false;

  constructor(script: string, private readonly onExit: (t: UnpackThread) => void) {
    this.worker = new Worker(script, { workerData: { drayRole: UNPACK_ROLE }, argv: [], execArgv: [], stdout: false, stderr: false });
    this.worker.unref();
    this.worker.on('message', (m: { type: string; id: number; bytes?: number; diffId?: string; size?: number; compression?: string; message?: string; kind?: string }) => {
      const p = this.jobs.get(m.id);
      if (!p) return;
      if (m.type === 'ack') { p.inFlight -= m.bytes!; p.acked(); return; }
      this.jobs.delete(m.id);
      if (m.type === 'done') p.resolve({ diffId: m.diffId!, size: m.size!, compression: m.compression! });
      else p.reject(m.kind ? new DrayError(m.kind as ErrorKind, m.message!) : new Error(m.message));
      this.armIdle();
    });
    const fail = (e: Error) => {
      this.dead = true;
      for (const p of this.jobs.values()) p.reject(e);
      this.jobs.clear();
      onExit(this);
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`unpack worker exited (${code})`)));
  }

  armIdle(): void {
    clearTimeout(this.idleTimer);
    if (this.jobs.size === 0) this.idleTimer = setTimeout(() => { if (this.jobs.size === 0) void this.worker.terminate(); }, IDLE_MS).unref();
  }

  busy(): boolean { return this.jobs.size > 0; }
  hold(): void { clearTimeout(this.idleTimer); }
}

let seq = 0;
const threads: UnpackThread[] = [];

/**
 * The script a worker runs: dray-unpack.js beside drayd's bundle, or drayd's own bundle (which
 * serves jobs too when started as a worker) where a build has no such file.
 */
let scriptPath: string | null | undefined;
function workerScript(): string | undefined {
  if (scriptPath === undefined) {
    const main = require.main?.filename;
    scriptPath = null;
    if (main && /drayd\.js$/.test(main)) {
      const slim = path.join(path.dirname(main), 'dray-unpack.js');
      scriptPath = existsSync(slim) ? slim : main;
    }
  }
  return scriptPath ?? undefined;
}

/** Starts worker threads ahead of a pull's layers (a thread takes a while to load its bundle). */
export function prewarmUnpackWorkers(n: number): void {
  if (!workersAvailable()) return;
  const script = workerScript()!;
  while (threads.filter((t) => !t.dead && !t.busy()).length < n) {
    const t = new UnpackThread(script, (dead) => { const i = threads.indexOf(dead); if (i >= 0) threads.splice(i, 1); });
    threads.push(t);
    t.armIdle();
  }
}

export function workersAvailable(): boolean { return workerScript() !== undefined && process.env.DRAY_UNPACK_WORKERS !== '0'; }

/** A layer unpacked into `dir` on a worker thread: write the blob's bytes, then end(). */
export class WorkerUnpack {
  private readonly id = ++seq;
  private readonly thread: UnpackThread;
  private readonly result: Promise<UnpackResult & { compression: string }>;
  private pending!: Pending;
  private batch: Buffer[] = [];
  private batchLen = 0;
  private waiter?: () => void;

  constructor(dir: string) {
    const script = workerScript()!;
    let t = threads.find((x) => !x.dead && !x.busy());
    if (!t) {
      t = new UnpackThread(script, (dead) => { const i = threads.indexOf(dead); if (i >= 0) threads.splice(i, 1); });
      threads.push(t);
    }
    t.hold();
    this.thread = t;
    this.result = new Promise((resolve, reject) => {
      this.pending = { resolve, reject, inFlight: 0, acked: () => { const w = this.waiter; this.waiter = undefined; w?.(); } };
    });
    this.result.catch(() => {});
    t.jobs.set(this.id, this.pending);
    t.worker.postMessage({ type: 'start', id: this.id, dir });
  }

  private send(): void {
    if (!this.batchLen) return;
    // A buffer of our own, moved to the worker: the chunks may still be on their way to the
    // partial file, and a small Buffer would be a slice of Node's shared pool.
    const buf = Buffer.allocUnsafeSlow(this.batchLen);
    let at = 0;
    for (const c of this.batch) { c.copy(buf, at); at += c.length; }
    this.batch = [];
    this.batchLen = 0;
    this.pending.inFlight += buf.length;
    const ab = buf.buffer as ArrayBuffer;
    this.thread.worker.postMessage({ type: 'data', id: this.id, buf: ab }, [ab]);
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.thread.dead) throw new Error('unpack worker gone');
    this.batch.push(chunk);
    this.batchLen += chunk.length;
    if (this.batchLen >= MESSAGE) this.send();
    while (this.pending.inFlight > IN_FLIGHT && this.thread.jobs.has(this.id)) await new Promise<void>((r) => { this.waiter = r; });
  }

  end(): Promise<UnpackResult & { compression: string }> {
    this.send();
    this.thread.worker.postMessage({ type: 'end', id: this.id });
    return this.result;
  }

  async abort(): Promise<void> {
    this.thread.worker.postMessage({ type: 'abort', id: this.id });
    await this.result.catch(() => {});
  }
}

