// The content store: blobs by digest, stored once for every repository (which repository may see
// which blob is the business of repositories.ts).
//
// Lifecycle: an upload (uploads.ts) or a manifest is verified first, then moved or written under
// its digest; from then on it is read by digest; it is deleted only by GC. "Use" is how a request
// that relies on a blob existing (a manifest PUT that references it, a HEAD before a push skips
// the upload, a mount) tells a concurrent GC: the blob's time of last use moves to now, and GC
// spares every blob used since shortly before its mark began. The use and the existence check come
// in that order, and GC looks at the time of use again after taking a blob away (gc.ts), so a
// request either sees the blob gone or keeps it.
import type { Readable } from 'node:stream';
import { FileInfo, StorageDriver, isNotFound } from '../storage/driver';
import { Digest, digestOf, parseDigest } from '../names';
import { BLOBS, digestOfBlobPath, layout } from './layout';

export interface BlobStat { size: number; modTime: Date }

/**
 * Buffers for BlobStore.send, kept for the next request (at most 64 MiB of them), and let go
 * after 10 s without a download, so that an idle registry holds none.
 */
const SEND_BUFFER = 1 << 20;
let pool: Buffer[] = [];
let poolTimer: NodeJS.Timeout | undefined;
const takeBuffer = () => pool.pop() ?? Buffer.allocUnsafeSlow(SEND_BUFFER);
const giveBuffer = (b: Buffer) => {
  if (pool.length < 64) pool.push(b);
  if (poolTimer) poolTimer.refresh();
  else {
    poolTimer = setTimeout(() => { pool = []; poolTimer = undefined; }, 10_000);
    poolTimer.unref();
  }
};

/** A file time as GC must read it: the latest moment it may stand for (see lastUsed). */
export const fileTime = (t: Date) => t.getTime() + 999;

export class BlobStore {
  /** When this process last recorded each blob's use: uses closer together than `useEvery` are one. */
  private usedAt = new Map<string, number>();
  private useEvery: number;

  /**
   * `useEvery`: on drivers that cannot touch a file in place (S3: each use writes a marker),
   * uses of one blob closer together than this are recorded once. It must stay well below the
   * delay of every GC that runs over the storage. Touching in place (a utimes) is cheap enough to
   * do every time.
   */
  constructor(readonly driver: StorageDriver, useEvery = 60_000) {
    this.useEvery = driver.touch ? 0 : useEvery;
  }

  async stat(d: Digest): Promise<BlobStat | undefined> {
    try {
      const st = await this.driver.stat(layout.blobData(d));
      return st.isDir ? undefined : { size: st.size, modTime: st.modTime };
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async get(d: Digest): Promise<Buffer | undefined> {
    try { return await this.driver.getContent(layout.blobData(d)); } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  reader(d: Digest, offset: number): Promise<Readable> {
    return this.driver.reader(layout.blobData(d), offset);
  }

  /**
   * Sends `length` bytes of the blob from `start` through `write`, which resolves once the bytes
   * are handed on (a socket's write callback). From a store with positional reads, two buffers
   * from a shared pool alternate: one is read while the other is being sent. Otherwise a stream.
   */
  async send(d: Digest, start: number, length: number, write: (chunk: Buffer) => Promise<void>): Promise<void> {
    if (!this.driver.openRandomAccess) {
      let left = length;
      for await (const c of await this.reader(d, start)) {
        const b = c as Buffer;
        if (b.length >= left) { await write(b.subarray(0, left)); return; }
        left -= b.length;
        await write(b);
      }
      return;
    }
    const f = await this.driver.openRandomAccess(layout.blobData(d));
    const bufs = [takeBuffer(), takeBuffer()];
    let inFlight: Promise<void> | undefined;
    try {
      let pos = start;
      const end = start + length;
      for (let i = 0; pos < end; i ^= 1) {
        const b = bufs[i];
        const n = await f.read(b.length > end - pos ? b.subarray(0, end - pos) : b, pos);
        if (n === 0) throw new Error(`blob ${d.text} ended at ${pos} of ${end} bytes`);
        if (inFlight) await inFlight;
        pos += n;
        inFlight = write(b.subarray(0, n));
      }
      await inFlight;
    } finally {
      // a buffer still being written when an error ended the loop is not given back
      await (inFlight ?? Promise.resolve()).then(() => bufs.forEach(giveBuffer), () => {});
      await f.close();
    }
  }

  async redirect(d: Digest, method: 'GET' | 'HEAD'): Promise<string | undefined> {
    return this.driver.redirectURL ? this.driver.redirectURL(layout.blobData(d), { method }) : undefined;
  }

  /**
   * Records that a request relies on the blob and says whether it exists. Only a true answer
   * protects the blob from a concurrent GC.
   */
  async use(d: Digest): Promise<boolean> {
    const last = this.usedAt.get(d.text);
    const now = Date.now();
    if (last !== undefined && this.useEvery > 0 && now - last < this.useEvery) {
      if (await this.stat(d)) return true;
      this.usedAt.delete(d.text);
      return false;
    }
    try {
      if (this.driver.touch) await this.driver.touch(layout.blobData(d));
      else {
        // Asked first so that a HEAD of an unknown blob leaves no marker behind; asked again
        // after the marker, since GC may have taken the blob away in between.
        if (!(await this.stat(d))) return false;
        await this.driver.putContent(layout.blobUsed(d), String(now));
        if (!(await this.stat(d))) return false;
      }
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
    this.usedAt.set(d.text, now);
    if (this.usedAt.size > 100_000) this.usedAt.clear();
    return true;
  }

  /**
   * When the blob was last written or used, as GC judges it; `moved` is where GC put its data.
   * Stores' file times may be whole seconds (S3's are): a time read from one counts as the end
   * of its second, so a blob is never judged older than it is.
   */
  async lastUsed(d: Digest, moved?: string): Promise<number | undefined> {
    let t: number | undefined;
    try {
      // A rename keeps the file's time, so on drivers that touch, the moved file still tells.
      if (this.driver.touch) t = fileTime((await this.driver.stat(moved ?? layout.blobData(d))).modTime);
      else if (!moved) t = fileTime((await this.driver.stat(layout.blobData(d))).modTime);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    if (!this.driver.touch) {
      // the marker holds the time of use to the millisecond
      try {
        const u = Number((await this.driver.getContent(layout.blobUsed(d))).toString('utf8')) || 0;
        t = t === undefined ? u : Math.max(t, u);
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
    }
    return t;
  }

  /** Stores a small blob (a manifest) written whole; an existing one is kept and used. */
  async putSmall(data: Buffer, algorithm = 'sha256'): Promise<Digest> {
    const d = parseDigest(digestOf(data, algorithm));
    if (await this.use(d)) return d;
    await this.driver.putContent(layout.blobData(d), data);
    this.usedAt.set(d.text, Date.now());
    return d;
  }

  /**
   * Moves a verified file (an upload's data) into the store under `d`. Returns false when the
   * blob was there already (the file is then removed: the store keeps one copy).
   */
  async commitFrom(src: string, d: Digest): Promise<boolean> {
    if (await this.use(d)) {
      await this.driver.delete(src).catch(() => {});
      return false;
    }
    // The upload may have sat still for a while: its time becomes the blob's, so make it now.
    if (this.driver.touch) await this.driver.touch(src);
    await this.driver.move(src, layout.blobData(d));
    this.usedAt.set(d.text, Date.now());
    return true;
  }

  async delete(d: Digest): Promise<void> {
    this.usedAt.delete(d.text);
    try { await this.driver.delete(layout.blobDir(d)); } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  forget(d: Digest): void { this.usedAt.delete(d.text); }

  /** Every stored blob with its size and time. */
  async *walk(): AsyncIterable<{ digest: Digest; info: FileInfo }> {
    for await (const f of this.driver.walk(BLOBS)) {
      const d = digestOfBlobPath(f.path);
      if (d) yield { digest: d, info: f };
    }
  }
}
