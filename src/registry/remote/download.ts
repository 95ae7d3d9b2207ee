// Fetching one blob: resumable, verified while it streams, each byte handed on (to the unpacker)
// as it arrives.
//
//   partial/<hex> holds N bytes  →  read them back: hash them, hand them on (no network)
//   GET /v2/<repo>/blobs/<digest>  Range: bytes=N-   →  206: append, hash, hand on
//                                                     200: the registry ignored Range: skip N
//   connection cut / stalled     →  next attempt (mirrors first, then the registry) from the new N
//   complete                     →  size and digest checked; the caller commits the file
//
// The partial file is appended in 1 MiB batches (256 KiB ones cost a pull ~10% of its
// throughput, measured), and what a stalled transfer left pending is written after 100 ms, so a
// killed drayd loses at most a batch of what it had received, and nothing of what came before a
// stall. The network never waits for the unpacker: bytes go to the sink from memory while it keeps
// up, and from the partial file (the page cache, in practice) once it falls more than 8 MiB behind,
// until it catches up again. A slow unpacker would otherwise hold the connection back and what
// then sat in the sockets' buffers would be lost to a killed drayd.
import { promises as fsp, createReadStream } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { Session, LiveEndpoint } from './client';
import { responseError } from './client';
import type { Descriptor } from './manifest';
import type { Partials } from './partials';
import { Verifier } from './verify';
import { regError, REG_ERR, RegistryError, isRetryable } from './errors';
import { log } from '../../lib/log';

export interface DownloadOptions {
  session: Session;
  desc: Descriptor;
  partials: Partials;
  attempts: number;
  /** Every byte of the blob, from the first, in order (resumed bytes included). */
  sink?: (chunk: Buffer) => Promise<void>;
  /** Bytes of the blob on hand so far (resumed ones included). */
  onProgress?: (received: number) => void;
  /** Bytes that came over the network (for the tests and the bench). */
  onNetwork?: (n: number) => void;
  what?: string;
}

const BATCH = 1024 * 1024;
/** Bytes kept in memory for the sink; past that it is fed from the file. */
const AHEAD = 8 * 1024 * 1024;
const READ = 1024 * 1024;

/** Hands the blob's bytes to the sink in order, from memory or from the partial file. */
class Feeder {
  private q: { at: number; buf: Buffer }[] = [];
  private queued = 0;
  private next = 0;
  private pushedEnd: number;
  private fileEnd: number;
  private spilling: boolean;
  private finished = false;
  private err?: unknown;
  private wake?: () => void;
  private readonly done: Promise<void>;

  /** `onDisk`: bytes of the blob already in the file (a resumed download) — fed from there. */
  constructor(private readonly sink: (c: Buffer) => Promise<void>, private readonly fh: FileHandle, onDisk: number) {
    this.pushedEnd = this.fileEnd = onDisk;
    this.spilling = onDisk > 0;
    this.done = this.pump().catch((e) => { this.err = e; this.q = []; });
  }

  private poke(): void { const w = this.wake; this.wake = undefined; w?.(); }

  /** The next bytes of the blob, as they arrive; never waits. */
  push(buf: Buffer): void {
    if (this.err) throw this.err;
    const at = this.pushedEnd;
    this.pushedEnd += buf.length;
    if (!this.spilling && this.queued + buf.length <= AHEAD) { this.q.push({ at, buf }); this.queued += buf.length; } else this.spilling = true;
    this.poke();
  }

  /** Bytes [0, end) are in the file and readable. */
  flushed(end: number): void { this.fileEnd = end; this.poke(); }

  private stopped = false;

  private async pump(): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      const head = this.q[0];
      if (head && head.at === this.next) {
        this.q.shift();
        this.queued -= head.buf.length;
        await this.sink(head.buf);
        this.next += head.buf.length;
        continue;
      }
      if (this.next < this.fileEnd && (!head || head.at > this.next)) {
        const n = Math.min(READ, this.fileEnd - this.next);
        const buf = Buffer.allocUnsafe(n);
        const { bytesRead } = await this.fh.read(buf, 0, n, this.next);
        if (bytesRead <= 0) throw new Error('partial download shorter than written');
        await this.sink(bytesRead === n ? buf : buf.subarray(0, bytesRead));
        this.next += bytesRead;
        continue;
      }
      if (this.spilling && this.next === this.pushedEnd) { this.spilling = false; continue; }
      if (this.finished && this.next >= this.pushedEnd) return;
      await new Promise<void>((r) => { this.wake = r; });
    }
  }

  /** Stops feeding (the download failed); resolves when the pump is idle. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.poke();
    await this.done;
  }

  /** Resolves once the sink took every byte pushed; throws the sink's failure. */
  async drain(): Promise<void> {
    this.finished = true;
    this.poke();
    await this.done;
    if (this.err) throw this.err;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Downloads `desc` into its partial file; resolves with that file's path once verified. */
export async function downloadBlob(o: DownloadOptions): Promise<string> {
  const { desc, partials } = o;
  const file = partials.path(desc.digest);
  const verifier = new Verifier(desc.digest, desc.size, o.what ?? 'filesystem layer');
  let have = await partials.size(desc.digest);
  if (have > desc.size) { await partials.remove(desc.digest); have = 0; }
  if (have > 0) {
    // The hash state of the first attempt is gone: the kept bytes are hashed again (the feeder
    // hands them to the unpacker from the file meanwhile).
    log.debug('resuming blob from its partial download', { digest: desc.digest, have, size: desc.size });
    let n = 0;
    for await (const c of createReadStream(file, { end: have - 1, highWaterMark: 1024 * 1024 })) {
      verifier.update(c as Buffer);
      n += (c as Buffer).length;
    }
    have = n;
    o.onProgress?.(have);
  }
  const fh = await fsp.open(file, have > 0 ? 'r+' : 'w+');
  const feeder = o.sink ? new Feeder(o.sink, fh, have) : undefined;
  const state: FetchState = { have, unsynced: 0, feeder };
  let ok = false;
  try {
    await fh.truncate(have);
    // Attempts count failures without progress: a flaky link that moves the blob forward each
    // time is given more, up to a bound.
    let fruitless = 0;
    for (let total = 0; state.have < desc.size; total++) {
      const before = state.have;
      try {
        await o.session.each((ep) => fetchFrom(ep, o, fh, verifier, state), { fallback: (e) => !isContentError(e) });
      } catch (e) {
        fruitless = state.have > before ? 1 : fruitless + 1;
        if (fruitless >= o.attempts || total >= o.attempts * 4 || !isRetryable(e)) throw e;
        log.info('blob download interrupted; resuming', { digest: desc.digest, have: state.have, size: desc.size, error: (e as Error).message });
        await sleep(Math.min(250 * 2 ** fruitless, 4000));
      }
    }
    // The unpacker's tail and the disk's run together.
    await Promise.all([state.syncing, fh.sync(), feeder?.drain()]);
    ok = true;
  } finally {
    // A failed download stops the feeder before its file goes (the caller aborts the unpacker).
    if (!ok) await feeder?.stop();
    await fh.close();
  }
  try { verifier.check(); } catch (e) {
    await partials.remove(desc.digest);
    throw e;
  }
  return file;
}

interface FetchState {
  have: number;
  /** Bytes written since the last background fdatasync started. */
  unsynced: number;
  syncing?: Promise<void>;
  feeder?: Feeder;
}

/** How long a transfer may stall before what it received is written out. */
const STALL_FLUSH_MS = 100;

/** Written bytes between background flushes: the disk works while the network does, and the last fsync has little left. */
const SYNC_EVERY = 16 * 1024 * 1024;

const isContentError = (e: unknown) => e instanceof RegistryError && (e.code === REG_ERR.SIZE_MISMATCH || e.code === REG_ERR.DIGEST_MISMATCH);

async function fetchFrom(ep: LiveEndpoint, o: DownloadOptions, fh: FileHandle, verifier: Verifier, state: FetchState): Promise<void> {
  const { desc } = o;
  const start = state.have;
  const headers: Record<string, string> = { Accept: '*/*' };
  if (start > 0) headers.Range = `bytes=${start}-`;
  // One attempt per call: the loop in downloadBlob retries with the offset reached.
  const res = await o.session.request(ep, { method: 'GET', path: `/v2/${o.session.repository}/blobs/${desc.digest}`, headers }, { attempts: 1 });
  if (res.status !== 200 && res.status !== 206) throw await responseError(res, 'blob');
  let skip = 0;
  if (start > 0 && res.status === 200) skip = start; // the registry ignored Range: drop what we have
  if (res.status === 206) {
    const m = /^bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''));
    if (!m || Number(m[1]) !== start) { res.destroy(); throw regError(REG_ERR.HTTP, `blob ${desc.digest}: the registry answered a range from byte ${m?.[1] ?? '?'} when asked from ${start}`, { retryable: false }); }
  }
  let pending: Buffer[] = [];
  let pendingLen = 0;
  let fileAt = start;
  // Writes are chained: one at a time, each at the offset the last one reached.
  let writing: Promise<void> = Promise.resolve();
  const flush = () => (writing = writing.then(write));
  const write = async () => {
    if (!pendingLen) return;
    const bufs = pending;
    pending = []; pendingLen = 0;
    const { bytesWritten } = await fh.writev(bufs, fileAt);
    fileAt += bytesWritten;
    state.feeder?.flushed(fileAt);
    state.unsynced += bytesWritten;
    if (state.unsynced >= SYNC_EVERY && !state.syncing) {
      state.unsynced = 0;
      state.syncing = fh.datasync().catch(() => {}).finally(() => { state.syncing = undefined; });
    }
  };
  // A transfer that stalls (a cut link, a registry that stopped sending) has its last bytes, up to
  // a batch, written within STALL_FLUSH_MS: a drayd killed while it waits keeps them for the resume.
  let lastChunk = Date.now();
  const stallTimer = setInterval(() => { if (pendingLen && Date.now() - lastChunk >= STALL_FLUSH_MS) flush().catch(() => {}); }, STALL_FLUSH_MS);
  stallTimer.unref();
  try {
    for await (let c of res.chunks()) {
      lastChunk = Date.now();
      if (skip > 0) {
        if (c.length <= skip) { skip -= c.length; continue; }
        c = c.subarray(skip);
        skip = 0;
      }
      o.onNetwork?.(c.length);
      verifier.update(c);
      pending.push(c);
      pendingLen += c.length;
      state.have += c.length;
      state.feeder?.push(c);
      if (pendingLen >= BATCH) await flush();
      o.onProgress?.(state.have);
    }
    await flush();
  } catch (e) {
    // What was received is kept (and counted) whatever went wrong.
    await flush().catch(() => {});
    res.destroy();
    throw e;
  } finally {
    clearInterval(stallTimer);
  }
  if (state.have < desc.size) throw regError(REG_ERR.RESET, `blob ${desc.digest}: the registry ended the transfer at byte ${state.have} of ${desc.size}`, { retryable: true });
}
