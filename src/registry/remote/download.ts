// Fetching one blob: resumable, verified while it streams, each byte handed on (to the unpacker)
// as it arrives.
//
//   partial/<hex> holds N bytes  →  read them back: hash them, hand them on (no network)
//   GET /v2/<repo>/blobs/<digest>  Range: bytes=N-   →  206: append, hash, hand on
//                                                     200: the registry ignored Range: skip N
//   connection cut / stalled     →  next attempt (mirrors first, then the registry) from the new N
//   complete                     →  size and digest checked; the caller commits the file
//
// The partial file is appended in 1 MiB batches, so a killed drayd loses at most that much of what
// it had received.
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
/** Bytes received but not yet taken by the sink: the network is read ahead of the unpacker by this much. */
const AHEAD = 16 * 1024 * 1024;

/**
 * Hands chunks to the sink in order, letting the network run up to AHEAD bytes in front of it.
 * Without the slack a slow unpacker would hold the connection back, and what the kernel's socket
 * buffers then hold (megabytes on a fast link) is neither in the partial file nor unpacked when
 * drayd is killed — the next pull would fetch it again.
 */
class Feeder {
  private q: Buffer[] = [];
  private queued = 0;
  private running?: Promise<void>;
  private err?: unknown;
  private waiters: (() => void)[] = [];

  constructor(private readonly sink: (c: Buffer) => Promise<void>) {}

  private notify(): void { const w = this.waiters; this.waiters = []; for (const f of w) f(); }

  private async pump(): Promise<void> {
    while (this.q.length) {
      const c = this.q.shift()!;
      await this.sink(c);
      this.queued -= c.length;
      this.notify();
    }
  }

  private kick(): void {
    if (this.running) return;
    this.running = this.pump().catch((e) => { this.err = e; this.q = []; this.queued = 0; }).finally(() => { this.running = undefined; this.notify(); if (this.q.length && !this.err) this.kick(); });
  }

  async push(c: Buffer): Promise<void> {
    if (this.err) throw this.err;
    this.q.push(c);
    this.queued += c.length;
    this.kick();
    while (this.queued > AHEAD && !this.err) await new Promise<void>((r) => this.waiters.push(r));
    if (this.err) throw this.err;
  }

  /** Resolves once the sink took everything; throws its failure. */
  async drain(): Promise<void> {
    while ((this.q.length || this.running) && !this.err) await new Promise<void>((r) => this.waiters.push(r));
    if (this.err) throw this.err;
  }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Downloads `desc` into its partial file; resolves with that file's path once verified. */
export async function downloadBlob(o: DownloadOptions): Promise<string> {
  const { desc, partials } = o;
  const file = partials.path(desc.digest);
  const verifier = new Verifier(desc.digest, desc.size, o.what ?? 'filesystem layer');
  const feeder = o.sink ? new Feeder(o.sink) : undefined;
  const feed = feeder ? (c: Buffer) => feeder.push(c) : undefined;
  let have = await partials.size(desc.digest);
  if (have > desc.size) { await partials.remove(desc.digest); have = 0; }
  if (have > 0) {
    log.debug('resuming blob from its partial download', { digest: desc.digest, have, size: desc.size });
    let n = 0;
    for await (const c of createReadStream(file, { end: have - 1, highWaterMark: 256 * 1024 })) {
      const b = c as Buffer;
      verifier.update(b);
      n += b.length;
      if (feed) await feed(b);
      o.onProgress?.(n);
    }
    have = n;
  }
  const fh = await fsp.open(file, have > 0 ? 'r+' : 'w');
  const state: FetchState = { have, unsynced: 0 };
  try {
    await fh.truncate(have);
    // Attempts count failures without progress: a flaky link that moves the blob forward each
    // time is given more, up to a bound.
    let fruitless = 0;
    for (let total = 0; state.have < desc.size; total++) {
      const before = state.have;
      try {
        await o.session.each((ep) => fetchFrom(ep, o, fh, verifier, state, feed), { fallback: (e) => !isContentError(e) });
      } catch (e) {
        fruitless = state.have > before ? 1 : fruitless + 1;
        if (fruitless >= o.attempts || total >= o.attempts * 4 || !isRetryable(e)) throw e;
        log.info('blob download interrupted; resuming', { digest: desc.digest, have: state.have, size: desc.size, error: (e as Error).message });
        await sleep(Math.min(250 * 2 ** fruitless, 4000));
      }
    }
    // The unpacker's tail and the disk's run together.
    await Promise.all([state.syncing, fh.sync(), feeder?.drain()]);
  } finally {
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
}

/** Written bytes between background flushes: the disk works while the network does, and the last fsync has little left. */
const SYNC_EVERY = 16 * 1024 * 1024;

const isContentError = (e: unknown) => e instanceof RegistryError && (e.code === REG_ERR.SIZE_MISMATCH || e.code === REG_ERR.DIGEST_MISMATCH);

async function fetchFrom(ep: LiveEndpoint, o: DownloadOptions, fh: FileHandle, verifier: Verifier, state: FetchState, feed?: (c: Buffer) => Promise<void>): Promise<void> {
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
  const flush = async () => {
    if (!pendingLen) return;
    const bufs = pending;
    pending = []; pendingLen = 0;
    const { bytesWritten } = await fh.writev(bufs, fileAt);
    fileAt += bytesWritten;
    state.unsynced += bytesWritten;
    if (state.unsynced >= SYNC_EVERY && !state.syncing) {
      state.unsynced = 0;
      state.syncing = fh.datasync().catch(() => {}).finally(() => { state.syncing = undefined; });
    }
  };
  try {
    for await (let c of res.chunks()) {
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
      const wrote = pendingLen >= BATCH ? flush() : undefined;
      if (wrote) await wrote;
      if (feed) await feed(c);
      o.onProgress?.(state.have);
    }
    await flush();
  } catch (e) {
    // What was received is kept (and counted) whatever went wrong.
    await flush().catch(() => {});
    res.destroy();
    throw e;
  }
  if (state.have < desc.size) throw regError(REG_ERR.RESET, `blob ${desc.digest}: the registry ended the transfer at byte ${state.have} of ${desc.size}`, { retryable: true });
}
