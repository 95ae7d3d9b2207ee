// The storage driver: the few operations the registry needs from wherever its bytes live (a local
// directory, an S3 bucket). Everything above it (blobs, repositories, uploads, GC) is written once
// against this interface; a driver knows nothing of digests, manifests or repositories.
//
// Paths are absolute, slash-separated and made of [A-Za-z0-9._-] components ("/blobs/sha256/ab/…").
// A "directory" exists as long as some file lies under it; drivers whose store has no directories
// (S3) report one for any common prefix.
//
// Lifecycle of a file written in pieces (an upload): writer(path, false) → write… → close() keeps
// what was written so that a later writer(path, true) appends to it; commit() does the same and
// makes the data durable first; cancel() removes it; sync(path), on drivers whose close() is not
// durable, makes what closed writers left durable. Until a writer commits or closes, nothing it
// wrote is guaranteed to be visible at `path`, and a reader may see the earlier content; callers
// therefore write into a private path and move() the result into place.
import type { Readable } from 'node:stream';

export interface FileInfo {
  path: string;
  size: number;
  modTime: Date;
  isDir: boolean;
}

export interface FileWriter {
  /** Bytes in the file: what was there when the writer opened (append) plus what it was given. */
  readonly size: number;
  write(chunk: Uint8Array): Promise<void>;
  /** Flushes and releases the writer; the data stays for a later writer(path, true). */
  close(): Promise<void>;
  /** Flushes, makes the data durable and releases the writer (a later append is still allowed). */
  commit(): Promise<void>;
  /** Removes the file and everything written to it; releases the writer. */
  cancel(): Promise<void>;
}

/** A file open for reads at any position (the filesystem's pread). */
export interface RandomAccessFile {
  readonly size: number;
  /** Reads up to buf.length bytes at `position`; 0 at the end. */
  read(buf: Buffer, position: number): Promise<number>;
  close(): Promise<void>;
}

export interface RedirectOptions {
  method: 'GET' | 'HEAD';
}

export interface StorageDriver {
  /** "filesystem", "s3": for logs and errors. */
  readonly name: string;
  getContent(path: string): Promise<Buffer>;
  /** Replaces the file at once: readers see the old content or the new, never a mix. */
  putContent(path: string, data: Uint8Array | string): Promise<void>;
  /** The file's bytes from `offset` (0 ≤ offset ≤ size) to its end. */
  reader(path: string, offset: number): Promise<Readable>;
  writer(path: string, append: boolean): Promise<FileWriter>;
  stat(path: string): Promise<FileInfo>;
  /** Full paths of the direct children of a directory. */
  list(path: string): Promise<string[]>;
  /** Moves a file; an existing destination is replaced. */
  move(src: string, dst: string): Promise<void>;
  /** Deletes a file, or a directory and everything under it. */
  delete(path: string): Promise<void>;
  /** Every file under `path`, in no particular order (an empty directory yields nothing). */
  walk(path: string): AsyncIterable<FileInfo>;
  /** A URL the client can fetch the file from directly (S3 presigned), or undefined to serve it here. */
  redirectURL?(path: string, opts: RedirectOptions): Promise<string | undefined>;
  /**
   * The file for positional reads, where the store has them: a server can then send it from a few
   * buffers it reuses instead of a stream that allocates one per chunk (3× the throughput here).
   */
  openRandomAccess?(path: string): Promise<RandomAccessFile>;
  /** Sets the file's modification time to now, where the store can do that in place. */
  touch?(path: string): Promise<void>;
  /**
   * Makes durable what writers closed (not committed) left in the file, so a blob can be made of
   * it without a writer. Drivers whose close() is durable already (S3) do not have it.
   */
  sync?(path: string): Promise<void>;
  /** Releases connections and timers. */
  close?(): Promise<void>;
}

export class StorageError extends Error {
  constructor(readonly driver: string, message: string) {
    super(`${driver}: ${message}`);
    this.name = 'StorageError';
  }
}

export class PathNotFoundError extends StorageError {
  constructor(driver: string, readonly path: string) {
    super(driver, `path not found: ${path}`);
    this.name = 'PathNotFoundError';
  }
}

export class InvalidPathError extends StorageError {
  constructor(driver: string, readonly path: string) {
    super(driver, `invalid path: ${JSON.stringify(path)}`);
    this.name = 'InvalidPathError';
  }
}

export class InvalidOffsetError extends StorageError {
  constructor(driver: string, readonly path: string, readonly offset: number) {
    super(driver, `invalid offset ${offset} for ${path}`);
    this.name = 'InvalidOffsetError';
  }
}

export const isNotFound = (e: unknown): e is PathNotFoundError => e instanceof PathNotFoundError;

const PATH = /^(\/[A-Za-z0-9._-]+)+$/;

/** A file path as drivers accept it; "/" is valid only where a directory is meant (list, walk). */
export function validPath(p: string, rootAllowed = false): boolean {
  if (rootAllowed && p === '/') return true;
  return typeof p === 'string' && PATH.test(p) && !p.split('/').some((c) => c === '.' || c === '..');
}

/**
 * The checks every driver needs, done once here: paths well formed, offsets sane, directories not
 * written as files. Drivers can then assume their arguments are valid.
 */
export function checked(d: StorageDriver): StorageDriver {
  const need = (p: string, root = false) => {
    if (!validPath(p, root)) throw new InvalidPathError(d.name, p);
  };
  const wrapped: StorageDriver = {
    name: d.name,
    async getContent(p) { need(p); return d.getContent(p); },
    async putContent(p, data) { need(p); return d.putContent(p, data); },
    async reader(p, offset) {
      need(p);
      if (!Number.isSafeInteger(offset) || offset < 0) throw new InvalidOffsetError(d.name, p, offset);
      return d.reader(p, offset);
    },
    async writer(p, append) { need(p); return d.writer(p, append); },
    async stat(p) { need(p, true); return d.stat(p); },
    async list(p) { need(p, true); return d.list(p); },
    async move(src, dst) {
      need(src); need(dst);
      if (src === dst) return;
      return d.move(src, dst);
    },
    async delete(p) { need(p); return d.delete(p); },
    walk(p) { need(p, true); return d.walk(p); },
  };
  if (d.redirectURL) wrapped.redirectURL = async (p, o) => { need(p); return d.redirectURL!(p, o); };
  if (d.touch) wrapped.touch = async (p) => { need(p); return d.touch!(p); };
  if (d.sync) wrapped.sync = async (p) => { need(p); return d.sync!(p); };
  if (d.openRandomAccess) wrapped.openRandomAccess = async (p) => { need(p); return d.openRandomAccess!(p); };
  if (d.close) wrapped.close = () => d.close!();
  return wrapped;
}

/** Reads a whole stream into one buffer (small files only). */
export async function readAll(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** A path's last component. */
export const baseName = (p: string) => p.slice(p.lastIndexOf('/') + 1);
/** A path's parent ("/" for a top-level one). */
export const dirName = (p: string) => p.slice(0, p.lastIndexOf('/')) || '/';
export const joinPath = (...parts: string[]) => ('/' + parts.join('/')).replace(/\/+/g, '/').replace(/(.)\/$/, '$1');
