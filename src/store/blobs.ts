// Content store: immutable blobs by sha256 digest.
// Lifecycle: ingest (bytes stream into blobs/ingest/<random> while hashed) → commit (fsync, rename
// to blobs/sha256/<hex>; a blob that already exists is kept and the new copy dropped) → read by
// digest → delete (by the image store's garbage collection). Uncommitted data is never visible
// under a digest; init() removes whatever a crash left in ingest/.
import { createReadStream, fdatasync, promises as fsp, type WriteStream } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { StoreLayout, hex } from './layout';
import { writeFileAtomic, fsyncDir, sweepTempFiles } from '../lib/atomic';
import { recyclingWriteStream } from '../lib/recycled-buffers';

export interface BlobInfo {
  digest: string;
  size: number;
  /** This call put it in the store (it was not there before): the caller may take it out again. */
  fresh?: boolean;
}

const WRITEBACK_STEP = 8 * 1024 * 1024;
/**
 * What ingest holds between hashing and the blob's write. At the streams' default (16 KiB) every
 * 1 MiB piece waited for its write before the next one was hashed; with room for a few pieces
 * the hashing (on this thread) and the writes (on the thread pool) overlap: a 50 MB layer's tar
 * and commit went from a median of ~64 to ~54 ms here.
 */
const INGEST_BUFFER = 4 << 20;

export class BlobStore {
  constructor(private layout: StoreLayout) {}

  async init(): Promise<void> {
    await fsp.mkdir(this.layout.blobsDir, { recursive: true });
    // putBytes writes through writeFileAtomic: a crash leaves its temporary file beside the blobs.
    await sweepTempFiles(this.layout.blobsDir);
    await fsp.rm(this.layout.ingestDir, { recursive: true, force: true });
    await fsp.mkdir(this.layout.ingestDir, { recursive: true });
  }

  path(digest: string): string { return this.layout.blob(digest); }

  async has(digest: string): Promise<boolean> {
    try { await fsp.access(this.path(digest)); return true; } catch { return false; }
  }

  async size(digest: string): Promise<number> { return (await fsp.stat(this.path(digest))).size; }

  read(digest: string): Promise<Buffer> { return fsp.readFile(this.path(digest)); }

  async list(): Promise<string[]> {
    return (await fsp.readdir(this.layout.blobsDir)).filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}`);
  }

  async putBytes(data: Buffer | string): Promise<BlobInfo> {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    const digest = 'sha256:' + createHash('sha256').update(buf).digest('hex');
    if (!(await this.has(digest))) await writeFileAtomic(this.path(digest), buf);
    return { digest, size: buf.length };
  }

  /** Streams `src` into the store; resolves once the blob is committed under its digest. */
  async ingest(src: NodeJS.ReadableStream): Promise<BlobInfo> {
    const tmp = path.join(this.layout.ingestDir, randomBytes(8).toString('hex'));
    const hash = createHash('sha256');
    let size = 0;
    let out: WriteStream | undefined;
    // Write-back is started every WRITEBACK_STEP bytes while the blob still streams in, so the
    // closing fsync waits for the last step only, not for the whole blob (50 MB: ~27 ms here).
    let synced = 0;
    let syncing: Promise<void> | undefined;
    const startSync = () => {
      const fd = (out as unknown as { fd?: number | null } | undefined)?.fd;
      if (syncing || typeof fd !== 'number' || size - synced < WRITEBACK_STEP) return;
      synced = size;
      syncing = new Promise<void>((resolve) => fdatasync(fd, () => { syncing = undefined; resolve(); }));
    };
    const tap = new Transform({
      highWaterMark: INGEST_BUFFER,
      transform(chunk: Buffer, _e, cb) { hash.update(chunk); size += chunk.length; startSync(); cb(null, chunk); },
      // The write stream closes its fd after this: no sync may still hold it then.
      flush(cb) { void (syncing ?? Promise.resolve()).then(() => cb()); },
    });
    try {
      // A layer's tar reads its files into recycled buffers (writeDiffTar): they go back once written.
      out = recyclingWriteStream(tmp, { flags: 'wx', highWaterMark: INGEST_BUFFER });
      await pipeline(src, tap, out);
      const fh = await fsp.open(tmp, 'r');
      try { await fh.sync(); } finally { await fh.close(); }
      const digest = 'sha256:' + hash.digest('hex');
      return { digest, size, fresh: await this.commitFile(tmp, digest) };
    } finally {
      await fsp.rm(tmp, { force: true });
    }
  }

  /** Moves a file (on the same filesystem, e.g. from the store's tmp/) into the store. */
  async adoptFile(file: string): Promise<BlobInfo> {
    const hash = createHash('sha256');
    let size = 0;
    for await (const c of createReadStream(file)) { hash.update(c as Buffer); size += (c as Buffer).length; }
    const digest = 'sha256:' + hash.digest('hex');
    const fh = await fsp.open(file, 'r');
    try { await fh.sync(); } finally { await fh.close(); }
    return { digest, size, fresh: await this.commitFile(file, digest) };
  }

  /**
   * Moves a file whose digest the caller has just checked while it streamed in (a pulled blob)
   * into the store, without reading it again; `synced`: the caller fsynced it already.
   */
  async adoptVerified(file: string, digest: string, o: { synced?: boolean } = {}): Promise<BlobInfo> {
    const fh = await fsp.open(file, 'r');
    let size: number;
    try { if (!o.synced) await fh.sync(); size = (await fh.stat()).size; } finally { await fh.close(); }
    return { digest, size, fresh: await this.commitFile(file, digest) };
  }

  /** False: the store had the blob already, and `file` is dropped. */
  private async commitFile(file: string, digest: string): Promise<boolean> {
    hex(digest);
    if (await this.has(digest)) { await fsp.rm(file, { force: true }); return false; }
    await fsp.rename(file, this.path(digest));
    await fsyncDir(this.layout.blobsDir);
    return true;
  }

  async delete(digest: string): Promise<void> {
    await fsp.rm(this.path(digest), { force: true });
  }
}
