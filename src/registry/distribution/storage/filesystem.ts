// The filesystem driver: driver paths map onto files under one root directory. Small files are
// replaced atomically (temp, fsync, rename, fsync of the directory); a writer appends to its file
// through one open descriptor, gathering chunks into ~1 MiB writes, one of them on its way to the
// file while the next gathers (so a request's body keeps arriving while the disk write runs);
// move is a rename, so the content store's commit of an upload is atomic and needs no copy.
import { promises as fsp, constants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as nodePath from 'node:path';
import type { Readable } from 'node:stream';
import { writeFileAtomic, fsyncDir } from '../../../lib/atomic';
import { FileInfo, FileWriter, InvalidOffsetError, PathNotFoundError, RandomAccessFile, StorageDriver, StorageError } from './driver';

const NAME = 'filesystem';
const WRITE_BATCH = 1 << 20;
const READ_CHUNK = 1 << 20;

const missing = (e: any) => e?.code === 'ENOENT' || e?.code === 'ENOTDIR';
/** Temp files of writeFileAtomic (".name.random.tmp") are nobody's business above the driver. */
const hidden = (name: string) => name.startsWith('.') && name.endsWith('.tmp');

export class FilesystemDriver implements StorageDriver {
  readonly name = NAME;
  constructor(readonly root: string) {}

  private full(p: string): string { return nodePath.join(this.root, p); }

  async getContent(p: string): Promise<Buffer> {
    try { return await fsp.readFile(this.full(p)); } catch (e) {
      if (missing(e) || (e as any)?.code === 'EISDIR') throw new PathNotFoundError(NAME, p);
      throw e;
    }
  }

  async putContent(p: string, data: Uint8Array | string): Promise<void> {
    const f = this.full(p);
    await fsp.mkdir(nodePath.dirname(f), { recursive: true });
    await writeFileAtomic(f, data);
  }

  async reader(p: string, offset: number): Promise<Readable> {
    let fh: FileHandle;
    try { fh = await fsp.open(this.full(p), 'r'); } catch (e) {
      if (missing(e)) throw new PathNotFoundError(NAME, p);
      throw e;
    }
    const st = await fh.stat();
    if (st.isDirectory()) { await fh.close(); throw new PathNotFoundError(NAME, p); }
    if (offset > st.size) { await fh.close(); throw new InvalidOffsetError(NAME, p, offset); }
    return fh.createReadStream({ start: offset, highWaterMark: READ_CHUNK, autoClose: true });
  }

  async writer(p: string, append: boolean): Promise<FileWriter> {
    const f = this.full(p);
    await fsp.mkdir(nodePath.dirname(f), { recursive: true });
    const fh = await fsp.open(f, append ? constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND : constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o644);
    const size = append ? (await fh.stat()).size : 0;
    return new FsWriter(fh, f, size);
  }

  async stat(p: string): Promise<FileInfo> {
    try {
      const st = await fsp.stat(this.full(p));
      return { path: p, size: st.isDirectory() ? 0 : st.size, modTime: st.mtime, isDir: st.isDirectory() };
    } catch (e) {
      if (missing(e)) throw new PathNotFoundError(NAME, p);
      throw e;
    }
  }

  async list(p: string): Promise<string[]> {
    let names: string[];
    try { names = await fsp.readdir(this.full(p)); } catch (e) {
      if (missing(e)) throw new PathNotFoundError(NAME, p);
      throw e;
    }
    const base = p === '/' ? '' : p;
    return names.filter((n) => !hidden(n)).map((n) => `${base}/${n}`);
  }

  async move(src: string, dst: string): Promise<void> {
    const d = this.full(dst);
    await fsp.mkdir(nodePath.dirname(d), { recursive: true });
    try { await fsp.rename(this.full(src), d); } catch (e) {
      if (missing(e)) throw new PathNotFoundError(NAME, src);
      throw e;
    }
    await fsyncDir(nodePath.dirname(d));
  }

  async delete(p: string): Promise<void> {
    const f = this.full(p);
    try { await fsp.lstat(f); } catch (e) {
      if (missing(e)) throw new PathNotFoundError(NAME, p);
      throw e;
    }
    await fsp.rm(f, { recursive: true, force: true });
  }

  async *walk(p: string): AsyncIterable<FileInfo> {
    let entries;
    try { entries = await fsp.readdir(this.full(p), { withFileTypes: true }); } catch (e) {
      if (missing(e)) return;
      throw e;
    }
    const base = p === '/' ? '' : p;
    for (const ent of entries) {
      if (hidden(ent.name)) continue;
      const child = `${base}/${ent.name}`;
      if (ent.isDirectory()) { yield* this.walk(child); continue; }
      try {
        const st = await fsp.stat(this.full(child));
        yield { path: child, size: st.size, modTime: st.mtime, isDir: false };
      } catch (e) {
        if (!missing(e)) throw e; // removed while we walked
      }
    }
  }

  async openRandomAccess(p: string): Promise<RandomAccessFile> {
    let fh: FileHandle;
    try { fh = await fsp.open(this.full(p), 'r'); } catch (e) {
      if (missing(e)) throw new PathNotFoundError(NAME, p);
      throw e;
    }
    const st = await fh.stat();
    if (st.isDirectory()) { await fh.close(); throw new PathNotFoundError(NAME, p); }
    return {
      size: st.size,
      read: async (buf, position) => (await fh.read(buf, 0, buf.length, position)).bytesRead,
      close: () => fh.close(),
    };
  }

  async sync(p: string): Promise<void> {
    let fh: FileHandle;
    try { fh = await fsp.open(this.full(p), 'r'); } catch (e) {
      if (missing(e)) throw new PathNotFoundError(NAME, p);
      throw e;
    }
    try { await fh.sync(); } finally { await fh.close(); }
  }

  async touch(p: string): Promise<void> {
    const now = new Date();
    try { await fsp.utimes(this.full(p), now, now); } catch (e) {
      if (missing(e)) throw new PathNotFoundError(NAME, p);
      throw e;
    }
  }
}

class FsWriter implements FileWriter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The batch being written, at most one: the file gets the batches in order. */
  private inFlight?: Promise<void>;
  private done = false;

  constructor(private fh: FileHandle, private file: string, public size: number) {}

  /**
   * Resolves once the chunk is taken: at once while a batch gathers, after the previous batch's
   * write when a full one is handed on (so at most two batches are held). A failed batch write
   * rejects the next write, close or commit.
   */
  async write(chunk: Uint8Array): Promise<void> {
    if (this.done) throw new StorageError(NAME, `write to a closed writer: ${this.file}`);
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.pending.push(b);
    this.pendingBytes += b.length;
    this.size += b.length;
    if (this.pendingBytes >= WRITE_BATCH) {
      await this.settle();
      this.inFlight = this.flush();
      // (its failure is reported by the next call; until then it must not count as unhandled)
      this.inFlight.catch(() => {});
    }
  }

  /** Waits for the batch in flight; rethrows its failure. */
  private async settle(): Promise<void> {
    const p = this.inFlight;
    this.inFlight = undefined;
    if (p) await p;
  }

  private async flush(): Promise<void> {
    let bufs = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    while (bufs.length) {
      const total = bufs.reduce((n, b) => n + b.length, 0);
      const { bytesWritten } = await this.fh.writev(bufs);
      if (bytesWritten === total) break;
      // a short write (a full disk reports ENOSPC on the next call): go on from where it stopped
      let skip = bytesWritten;
      while (skip > 0 && skip >= bufs[0].length) skip -= bufs.shift()!.length;
      if (skip > 0) bufs[0] = bufs[0].subarray(skip);
    }
  }

  private async finish(sync: boolean): Promise<void> {
    if (this.done) return;
    this.done = true;
    try {
      await this.settle();
      await this.flush();
      if (sync) await this.fh.sync();
    } finally {
      await this.fh.close();
    }
  }

  close(): Promise<void> { return this.finish(false); }
  commit(): Promise<void> { return this.finish(true); }

  async cancel(): Promise<void> {
    if (!this.done) {
      this.done = true;
      this.pending = [];
      await this.settle().catch(() => {});
      await this.fh.close().catch(() => {});
    }
    await fsp.rm(this.file, { force: true });
  }
}
