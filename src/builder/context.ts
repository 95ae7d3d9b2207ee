// The build context: the request body (a tar, maybe gzip/bzip2/xz; or a bare Dockerfile, as
// `docker build - < Dockerfile` sends), read once as it streams in. Each member goes into an
// in-memory tree with the metadata GNU tar would give it on disk, each file is hashed on the way
// (the build cache's source hashes never re-read it), and the bytes are kept by stream offset (see
// Spool). Nothing is unpacked up front: a COPY/ADD that misses the cache writes out just its own
// sources, so a fully cached rebuild writes no file of the context. .dockerignore is applied on
// the daemon side too: clients that send raw tars get Docker's result.
//
// Everything on disk lives in a private temp directory under the image store's tmp/ (emptied when
// the daemon starts, so a crash leaves nothing behind):
//
//   <tmp>/build-<random>/
//     context.spool   the body's bytes beyond the memory budget (usually empty)
//     context/        sources written out for steps that needed them on disk (materialize)
//     scratch/        heredocs, unpacked ADD archives, FROM scratch layers
import { promises as fsp, constants } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createGunzip } from 'node:zlib';
import { Readable, PassThrough } from 'node:stream';
import { invalid, notFound, systemError, errorMessage } from '../lib/errors';
import { log } from '../lib/log';
import { IgnoreMatcher } from './dockerignore';
import { TarReader, TarHeader } from './tar-reader';
import { FileInfo, SourceTree, ContentHasher, entryHasher } from './copy';
import { decompressWithTool } from '../store/tar';

export interface BuildContext {
  /** Host directory the context's files are written to when a step needs them on disk. */
  dir: string;
  /** The context (ignored files already left out). */
  tree: SourceTree;
  dockerfile: string;
  dockerfileName: string;
  ignore: IgnoreMatcher;
  /** Scratch space of this build, inside the same temp directory. */
  scratch: string;
  /** Call before a step mounts an overlay (see Spool.writeback). */
  beforeMount(): void;
  cleanup(): Promise<void>;
}

const MAX_ENTRIES = 1_000_000;
const MAX_SYMLINKS = 255;
/** Spool bytes waiting for the disk before the body is paused. */
const SPOOL_BACKLOG = 32 << 20;
const COPY_CHUNK = 1 << 20;

/**
 * `dockerfileParam` false: a named context (named-contexts.ts), files only, no Dockerfile looked for.
 * `complete`: the body is a plain tar of part of the context (dray build's incremental context,
 * context-snapshots.ts) and `complete` adds the rest to the tree once the tar is in.
 */
export async function receiveContext(body: NodeJS.ReadableStream | AsyncIterable<Buffer>, tmpRoot: string, dockerfileParam: string | null | false, complete?: (tree: ContextTree) => Promise<void>): Promise<BuildContext> {
  const work = path.join(tmpRoot, `build-${randomBytes(6).toString('hex')}`);
  const dir = path.join(work, 'context');
  const scratch = path.join(work, 'scratch');
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  await fsp.mkdir(scratch, { recursive: true, mode: 0o700 });
  let spool: Spool | undefined;
  // The removal runs after the caller moved on: it is not part of the build's result, and a
  // crash midway leaves only what the daemon's start empties anyway.
  const cleanup = async () => {
    await spool?.close();
    void fsp.rm(work, { recursive: true, force: true }).catch((e) => log.warn('removing a build context failed', { dir: work, error: errorMessage(e) }));
  };
  try {
    spool = await Spool.create(path.join(work, 'context.spool'));
    // What GNU tar would give the context root and the directories it makes on its own.
    const rootInfo = await fsp.stat(dir);
    const tree = new ContextTree(dir, spool, rootInfo.mode & 0o7777, 0o777 & ~process.umask(), rootInfo.mtime.getTime());
    const input = complete ? { archive: true, stream: body as AsyncIterable<Buffer> } : await openBody(body as NodeJS.ReadableStream);
    let dockerfileName = dockerfileParam || 'Dockerfile';
    let dockerfile: string;
    if (dockerfileParam === false) {
      if (input.archive) {
        const reader = new TarReader(tree.loader());
        await take(input.stream, spool, reader);
        reader.end();
      } else {
        // An empty directory's tar is its end blocks alone: no ustar header to know it by.
        await take(input.stream, spool);
        if (!(await spool.read(0, spool.size)).every((b) => b === 0)) throw invalid('a named build context is not a tar archive');
      }
      dockerfile = '';
      dockerfileName = '';
    } else if (input.archive) {
      const reader = new TarReader(tree.loader());
      await take(input.stream, spool, reader);
      reader.end();
      await complete?.(tree);
      dockerfile = await readDockerfile(tree, dockerfileName, !dockerfileParam);
    } else {
      // The body is the Dockerfile itself and the context is empty.
      await take(input.stream, spool);
      dockerfile = (await spool.read(0, spool.size)).toString('utf8');
      dockerfileName = 'Dockerfile';
    }
    const ignoreText = await tree.readTextFile('.dockerignore').catch(() => '');
    const ignore = IgnoreMatcher.parse(ignoreText ?? '');
    if (!ignore.empty) tree.removeIgnored(ignore);
    const sp = spool;
    return { dir, tree, dockerfile, dockerfileName, ignore, scratch, beforeMount: () => sp.writeback(), cleanup };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

/** Feeds the body to the spool (and to the tar reader, for an archive) until it ends. */
async function take(stream: AsyncIterable<Buffer | string>, spool: Spool, reader?: TarReader): Promise<void> {
  for await (const chunk of stream) {
    const b = chunk as Buffer;
    spool.append(b);
    reader?.push(b);
    if (spool.backlog > SPOOL_BACKLOG) await spool.flushed();
  }
  await spool.flushed();
}

/**
 * The body as uncompressed bytes, and whether it is an archive: a tar (by its ustar magic) or a
 * gzip, bzip2 or xz stream. Anything else is a bare Dockerfile.
 */
async function openBody(body: NodeJS.ReadableStream): Promise<{ archive: boolean; stream: AsyncIterable<Buffer | string> }> {
  const it = (body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let headLen = 0;
  let done = false;
  while (headLen < 512) {
    const r = await it.next();
    if (r.done) { done = true; break; }
    head.push(r.value);
    headLen += r.value.length;
  }
  const rest = () => replay(head, done ? undefined : it);
  const b = Buffer.concat(head);
  if (b[0] === 0x1f && b[1] === 0x8b) {
    const src = Readable.from(rest());
    const gz = createGunzip();
    const out = new PassThrough();
    src.on('error', (e) => out.destroy(e));
    gz.on('error', (e) => out.destroy(invalid(`failed to read the build context: gzip: ${e.message}`)));
    return { archive: true, stream: src.pipe(gz).pipe(out) };
  }
  if (b.subarray(0, 3).toString('latin1') === 'BZh') return { archive: true, stream: decompressContext('bzip2', Readable.from(rest())) };
  if (b.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return { archive: true, stream: decompressContext('xz', Readable.from(rest())) };
  const archive = b.length >= 262 && b.subarray(257, 262).toString('latin1') === 'ustar';
  return { archive, stream: rest() };
}

/**
 * The chunks read ahead, then the rest of the stream. At module level: a generator function made
 * per body gives its generators a map of their own, and V8's optimized take() was thrown out at
 * each new one (--trace-deopt: "wrong map").
 */
async function* replay(head: Buffer[], it: AsyncIterator<Buffer> | undefined): AsyncGenerator<Buffer> {
  for (const h of head) yield h;
  if (!it) return;
  for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
}

const decompressContext = (tool: string, input: Readable): Readable =>
  decompressWithTool(tool, input, 'build contexts', (detail) => invalid(`failed to read the build context: ${detail}`));

async function readDockerfile(tree: ContextTree, name: string, defaulted: boolean): Promise<string> {
  const rel = name.replace(/^\/+/, '');
  let text = await tree.readTextFile(rel);
  // Docker falls back to "dockerfile" when the default name is absent.
  if (text === undefined && defaulted) text = await tree.readTextFile('dockerfile');
  if (text === undefined) throw notFound(`Cannot locate specified Dockerfile: ${name}`);
  return text;
}

/**
 * Context bytes held in memory by all builds together; what does not fit goes to a file (page
 * cache, never synced). Small contexts, the common case, then never touch the disk. The budget is
 * small on purpose: memory that Node.js has received into is not given back to the system after
 * the build (glibc keeps it), and measured side by side a 50 MB context builds as fast from the
 * file as from memory (fully cached: 142 ms against 144 ms median), while held in memory (a 128
 * MiB budget) it left the idle daemon ~40 MiB larger (137 MiB against 90–100 MiB).
 */
let memoryBudget = 4 << 20;
let memoryInUse = 0;

/** Sets the memory budget (tests use 0 to send everything to the file); returns the old one. */
export function setContextMemoryBudget(bytes: number): number {
  const old = memoryBudget;
  memoryBudget = bytes;
  return old;
}

/**
 * Where the body's bytes are kept for the build's lifetime, addressed by stream offset. The first
 * bytes stay in memory (the received chunks themselves, within the memory budget); a cached rebuild
 * never reads them back. The rest goes to a file, in batches (one writev per batch) while the body
 * keeps streaming; `backlog` lets the reader pause when the disk falls behind. The file is not
 * synced: it lives only as long as the build.
 */
class Spool {
  size = 0;
  /** Memory holds [0, memBytes) in `chunks`; the file holds the rest, at offset pos - memBytes. */
  private memBytes = 0;
  private chunks: Buffer[] = [];
  /** Stream offset of each chunk, for a binary search. */
  private starts: number[] = [];
  /** Budget taken: the chunks' backing stores (a slice keeps its whole store alive). */
  private reserved = 0;
  private lastStore?: ArrayBufferLike;
  private spilled = false;
  private queue: Buffer[] = [];
  private queued = 0;
  private writing?: Promise<void>;
  private failed?: unknown;
  private syncing?: Promise<void>;
  private synced = false;
  private closed = false;

  private constructor(private fh: fsp.FileHandle) {}

  static async create(file: string): Promise<Spool> {
    return new Spool(await fsp.open(file, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o600));
  }

  get backlog(): number { return this.queued; }

  append(b: Buffer): void {
    if (this.failed) throw this.failed;
    if (this.closed) throw systemError('the build context was released');
    if (!b.length) return;
    if (!this.spilled) {
      const cost = b.buffer === this.lastStore ? 0 : b.buffer.byteLength;
      if (memoryInUse + cost > memoryBudget) this.spilled = true;
      else {
        this.chunks.push(b);
        this.starts.push(this.memBytes);
        this.lastStore = b.buffer;
        this.reserved += cost;
        memoryInUse += cost;
        this.memBytes += b.length;
        this.size += b.length;
        return;
      }
    }
    this.queue.push(b);
    this.queued += b.length;
    this.size += b.length;
    if (!this.writing) this.writing = this.drain();
  }

  private async drain(): Promise<void> {
    let pos = this.size - this.queued - this.memBytes;
    try {
      while (this.queue.length) {
        const batch = this.queue;
        const n = this.queued;
        this.queue = [];
        this.queued = 0;
        let off = 0;
        while (off < n) {
          const { bytesWritten } = await this.fh.writev(off ? sliceFrom(batch, off) : batch, pos + off);
          if (bytesWritten <= 0) throw systemError('writing the build context: short write');
          off += bytesWritten;
        }
        pos += n;
      }
    } catch (e) {
      this.failed = e;
    } finally {
      this.writing = undefined;
    }
  }

  /**
   * Starts writing the file's pages to the disk, in the background, once. Not for durability:
   * unmounting an overlay syncs the whole file system under its upper directory, so every step
   * container's teardown would otherwise wait for those dirty pages; a fully cached build mounts
   * nothing and never pays for this.
   */
  writeback(): void {
    if (this.synced || this.failed || !this.spilled) return;
    this.synced = true;
    this.syncing = this.flushed().then(() => this.fh.datasync()).catch(() => {}).finally(() => { this.syncing = undefined; });
  }

  /** Resolves when everything appended is in memory or on its way to disk (in the page cache). */
  async flushed(): Promise<void> {
    while (this.writing) await this.writing;
    if (this.failed) throw this.failed;
  }

  /** Calls `fn` with the pieces of [pos, pos + len), in order (memory slices or file reads). */
  private async pieces(pos: number, len: number, fn: (b: Buffer) => Promise<void>): Promise<void> {
    if (this.closed) throw systemError('the build context was released');
    const end = pos + len;
    let lo = 0;
    for (let hi = this.starts.length - 1; lo < hi;) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid] <= pos) lo = mid; else hi = mid - 1;
    }
    for (let k = lo; k < this.chunks.length && pos < Math.min(end, this.memBytes); k++) {
      const from = pos - this.starts[k];
      const to = Math.min(end - this.starts[k], this.chunks[k].length);
      await fn(this.chunks[k].subarray(from, to));
      pos = this.starts[k] + to;
    }
    if (pos >= end) return;
    const buf = Buffer.allocUnsafe(Math.min(COPY_CHUNK, end - pos));
    while (pos < end) {
      const { bytesRead } = await this.fh.read(buf, 0, Math.min(buf.length, end - pos), pos - this.memBytes);
      if (bytesRead === 0) throw systemError('reading the build context: unexpected end of the spool');
      await fn(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
  }

  async read(pos: number, len: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    await this.pieces(pos, len, async (b) => { parts.push(Buffer.from(b)); });
    return Buffer.concat(parts, len);
  }

  /** Copies `len` bytes at `pos` to the new file `dest`, created with `mode`. */
  async copyTo(pos: number, len: number, dest: string, mode: number): Promise<void> {
    const out = await fsp.open(dest, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
    try {
      await this.pieces(pos, len, async (b) => {
        for (let w = 0; w < b.length;) w += (await out.write(b, w, b.length - w)).bytesWritten;
      });
    } finally {
      await out.close();
    }
  }

  /** Gives the memory back and closes the file; a writeback still running ends on its own. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    memoryInUse -= this.reserved;
    this.reserved = 0;
    this.chunks = [];
    this.starts = [];
    this.lastStore = undefined;
    await this.writing?.catch(() => {});
    const close = () => this.fh.close().catch(() => {});
    if (this.syncing) void this.syncing.then(close);
    else await close();
  }
}

function sliceFrom(bufs: Buffer[], off: number): Buffer[] {
  const out: Buffer[] = [];
  for (const b of bufs) {
    if (off >= b.length) { off -= b.length; continue; }
    out.push(off ? b.subarray(off) : b);
    off = 0;
  }
  return out;
}

type Kind = 'file' | 'dir' | 'symlink' | 'other';

interface Node {
  kind: Kind;
  /** Permission bits as on disk after GNU tar (as root) would have unpacked the member. */
  mode: number;
  mtimeMs: number;
  /** Files: where the data is in the spool. */
  pos: number;
  size: number;
  /** Symlinks: the target, as written. */
  link?: string;
  /** Files: the entry hash (see copy.ts), computed while the data streamed by. */
  hash?: string;
  /** Files kept from an earlier build (context-snapshots.ts): the data is this file, not the spool. */
  blob?: string;
  children?: Map<string, Node>;
  /** Written out under the context directory (for a directory: itself, not its children). */
  onDisk?: boolean;
  /** A directory whose whole subtree is on disk. */
  complete?: boolean;
}

const TYPE_BITS: Record<Kind, number> = { file: 0o100000, dir: 0o040000, symlink: 0o120000, other: 0o010000 };

function info(n: Node): FileInfo {
  // As fs.Stats makes its Date: rounded to the millisecond.
  const mtime = new Date(Math.round(n.mtimeMs));
  return {
    isFile: () => n.kind === 'file',
    isDirectory: () => n.kind === 'dir',
    isSymbolicLink: () => n.kind === 'symlink',
    // Symlinks read 0777 on Linux whatever the archive says.
    mode: TYPE_BITS[n.kind] | (n.kind === 'symlink' ? 0o777 : n.mode),
    mtime,
    // Unpacked with --no-same-owner by the daemon: root's.
    uid: 0,
    gid: 0,
  };
}

/** Splits a member name as GNU tar does: leading "/" and "." components dropped, ".." refused. */
function memberPath(name: string): string[] {
  const parts = name.split('/').filter((c) => c && c !== '.');
  if (parts.includes('..')) throw invalid(`failed to read the build context: ${name}: Member name contains '..'`);
  return parts;
}

/** The context as GNU tar would have unpacked it, without unpacking it. */
export class ContextTree implements SourceTree {
  private readonly top: Node;
  private entries = 0;

  constructor(readonly root: string, private spool: Spool, rootMode: number, private implicitDirMode: number, private nowMs: number) {
    this.top = { kind: 'dir', mode: rootMode, mtimeMs: nowMs, pos: 0, size: 0, children: new Map(), onDisk: true };
  }

  /** The TarReader handler that fills the tree. */
  loader() {
    let hash: ContentHasher | undefined;
    let current: Node | undefined;
    return {
      entry: (h: TarHeader, pos: number) => {
        if (++this.entries > MAX_ENTRIES) throw invalid('build context has too many files');
        current = this.add(h, pos);
        hash = current?.kind === 'file' && !current.hash ? entryHasher(info(current)) : undefined;
      },
      data: (chunk: Buffer) => { hash?.update(chunk); },
      endEntry: () => {
        if (current && hash) current.hash = hash.digest('hex');
        hash = undefined;
        current = undefined;
      },
    };
  }

  /**
   * Adds a member that did not come in the tar (an incremental context's manifest); a file's data
   * is then `blob`, an immutable file whose entry hash is `hash`.
   */
  addMember(h: TarHeader, blob?: { path: string; hash: string }): void {
    if (++this.entries > MAX_ENTRIES) throw invalid('build context has too many files');
    const n = this.add(h, 0);
    if (n?.kind === 'file' && blob) { n.blob = blob.path; n.hash = blob.hash; }
  }

  /**
   * From now on `rel`'s data is read from `blob` (an immutable copy, the same entry hash): later
   * steps then copy it with copy_file_range rather than through this process.
   */
  adoptBlob(rel: string, blob: string): void {
    const n = this.node(rel);
    if (n?.kind === 'file' && !n.blob) n.blob = blob;
  }

  /** Whether `rel` is a file whose data came in this build's tar (not from an earlier build). */
  receivedFile(rel: string): boolean {
    const n = this.node(rel);
    return n?.kind === 'file' && !n.blob;
  }

  private add(h: TarHeader, pos: number): Node | undefined {
    const parts = memberPath(h.name);
    if (parts.length === 0) {
      // "./": GNU tar gives the directory it unpacks into the member's mode and time.
      if (h.kind === 'dir') { this.top.mode = h.mode; this.top.mtimeMs = h.mtimeMs; }
      return undefined;
    }
    const parent = this.parentFor(parts, h.name);
    const name = parts[parts.length - 1];
    const old = parent.children!.get(name);
    if (h.kind === 'hardlink') {
      const target = this.lookup(memberPath(h.linkname));
      if (!target || target.kind === 'dir') throw invalid(`failed to read the build context: ${h.name}: Cannot hard link to '${h.linkname}': No such file or directory`);
      // A hard link is the same inode: same data, mode and time.
      parent.children!.set(name, { ...target, children: undefined, onDisk: false });
      return undefined;
    }
    if (h.kind === 'dir' && old?.kind === 'dir') {
      old.mode = h.mode;
      old.mtimeMs = h.mtimeMs;
      return old;
    }
    const n: Node = { kind: h.kind, mode: h.mode, mtimeMs: h.mtimeMs, pos, size: h.kind === 'file' ? h.size : 0 };
    if (h.kind === 'symlink') n.link = h.linkname;
    if (h.kind === 'dir') n.children = new Map();
    parent.children!.set(name, n);
    return n;
  }

  /** The directory that holds `parts`' last component, made as GNU tar makes missing ones. */
  private parentFor(parts: string[], name: string): Node {
    let d = this.top;
    for (const c of parts.slice(0, -1)) {
      let next = d.children!.get(c);
      if (!next) {
        next = { kind: 'dir', mode: this.implicitDirMode, mtimeMs: this.nowMs, pos: 0, size: 0, children: new Map() };
        d.children!.set(c, next);
      } else if (next.kind !== 'dir') {
        // GNU tar would write through a symlink here; a context never needs that.
        throw invalid(`failed to read the build context: ${name}: a parent is not a directory`);
      }
      d = next;
    }
    return d;
  }

  /** The node at `parts`, no symlink followed. */
  private lookup(parts: string[]): Node | undefined {
    let n: Node | undefined = this.top;
    for (const c of parts) {
      if (n?.kind !== 'dir') return undefined;
      n = n.children!.get(c);
    }
    return n;
  }

  private node(rel: string): Node | undefined {
    return this.lookup(rel.split('/').filter((c) => c && c !== '.'));
  }

  /**
   * Leaves out what .dockerignore excludes, as deleting it from an unpacked context would:
   * directories are walked only when a `!` could keep a child, and an ignored directory that ends
   * up empty goes too.
   */
  removeIgnored(ignore: IgnoreMatcher): void {
    const walk = (d: Node, rel: string) => {
      for (const [name, n] of [...d.children!]) {
        const r = rel ? `${rel}/${name}` : name;
        const ignored = ignore.matches(r);
        if (n.kind === 'dir') {
          if (ignored && !ignore.hasExclusions) { d.children!.delete(name); continue; }
          walk(n, r);
          if (ignored && n.children!.size === 0) d.children!.delete(name);
        } else if (ignored) {
          d.children!.delete(name);
        }
      }
    };
    walk(this.top, '');
  }

  /** A file's text, following symlinks in scope; undefined when it is not a file. */
  async readTextFile(rel: string): Promise<string | undefined> {
    const n = this.node(await this.resolve(rel));
    if (n?.kind !== 'file') return undefined;
    if (n.blob) return fsp.readFile(n.blob, 'utf8');
    return (await this.spool.read(n.pos, n.size)).toString('utf8');
  }

  // ---- SourceTree ----------------------------------------------------------------------------

  async lstat(rel: string): Promise<FileInfo | undefined> {
    const n = this.node(rel);
    return n && info(n);
  }

  async readdir(rel: string): Promise<string[]> {
    const n = this.node(rel);
    if (n?.kind !== 'dir') throw systemError(`readdir ${rel}: not a directory`);
    return [...n.children!.keys()];
  }

  async readlink(rel: string): Promise<string> {
    const n = this.node(rel);
    if (n?.kind !== 'symlink') throw systemError(`readlink ${rel}: not a symbolic link`);
    return n.link!;
  }

  async resolve(unsafe: string): Promise<string> {
    let pending = unsafe.split('/').filter((c) => c && c !== '.');
    const done: string[] = [];
    let links = 0;
    let d: Node = this.top;
    while (pending.length) {
      const c = pending.shift()!;
      if (c === '..') { done.pop(); d = this.lookup(done)!; continue; }
      const n = d.kind === 'dir' ? d.children!.get(c) : undefined;
      // A missing component ends the walk and the rest is kept as-is (resolveInRoot's rule).
      if (!n) return [...done, c, ...pending].join('/');
      if (n.kind !== 'symlink') { done.push(c); d = n; continue; }
      if (++links > MAX_SYMLINKS) throw invalid(`too many levels of symbolic links resolving ${unsafe} in the container`);
      if (n.link!.startsWith('/')) { done.length = 0; d = this.top; }
      pending = [...n.link!.split('/').filter((x) => x && x !== '.'), ...pending];
    }
    return done.join('/');
  }

  async entryHash(rel: string, st: FileInfo): Promise<string> {
    const n = this.node(rel);
    if (n?.kind === 'file' && n.hash) return n.hash;
    const h = entryHasher(st);
    if (n?.kind === 'symlink') h.update(n.link!);
    return h.digest('hex');
  }

  async copyFile(rel: string, dest: string): Promise<void> {
    const n = this.node(rel);
    if (n?.kind !== 'file') throw systemError(`copy ${rel}: not a file`);
    await this.fileTo(n, dest);
  }

  /**
   * Writes `rel` (with its subtree) under the context directory, with GNU tar's result for modes
   * and times. Parents are made as needed; directory times are set after their children, and
   * again on every call, since writing a child moves its directory's time.
   */
  async materialize(rel: string): Promise<void> {
    const parts = rel.split('/').filter((c) => c && c !== '.');
    const chain: Array<[string, Node]> = [[this.root, this.top]];
    let d = this.top;
    for (const c of parts) {
      const n = d.kind === 'dir' ? d.children!.get(c) : undefined;
      if (!n) throw systemError(`materialize ${rel}: no such entry in the build context`);
      chain.push([path.join(chain[chain.length - 1][0], c), n]);
      d = n;
    }
    const parents = chain.slice(0, -1);
    for (const [host, n] of parents) {
      if (!n.onDisk) { await fsp.mkdir(host); await fsp.chmod(host, n.mode); n.onDisk = true; }
    }
    const [host, n] = chain[chain.length - 1];
    await this.write(host, n);
    // Deepest first, so a parent's time is set after its child was touched.
    for (let i = parents.length - 1; i >= 0; i--) await setTimes(parents[i][0], parents[i][1], false);
  }

  /** Writes a file node's data to the new file `dest` (mode 0600). */
  private async fileTo(n: Node, dest: string): Promise<void> {
    if (!n.blob) return this.spool.copyTo(n.pos, n.size, dest, 0o600);
    // copy_file_range: the kernel copies, no pass through this process.
    await fsp.copyFile(n.blob, dest, constants.COPYFILE_EXCL);
    await fsp.chmod(dest, 0o600);
  }

  private async write(host: string, n: Node): Promise<void> {
    if (n.kind === 'dir') {
      if (n.complete) return;
      if (!n.onDisk) { await fsp.mkdir(host); n.onDisk = true; }
      await fsp.chmod(host, n.mode);
      for (const [name, c] of n.children!) await this.write(path.join(host, name), c);
      n.complete = true;
      await setTimes(host, n, false);
      return;
    }
    if (n.onDisk) return;
    if (n.kind === 'file') {
      await this.fileTo(n, host);
      await fsp.chmod(host, n.mode);
      await setTimes(host, n, false);
    } else if (n.kind === 'symlink') {
      await fsp.symlink(n.link!, host);
      await setTimes(host, n, true);
    }
    // Devices and FIFOs are not made: nothing copies them.
    n.onDisk = true;
  }
}

/**
 * Sets a written entry's time. Readers see times through fs.Stats' Date (rounded to the
 * millisecond), and the kernel only gets microseconds from a float: the rounded millisecond is
 * what is set, so it reads back the same.
 */
async function setTimes(host: string, n: Node, link: boolean): Promise<void> {
  const t = Math.round(n.mtimeMs) / 1000;
  await (link ? fsp.lutimes(host, t, t) : fsp.utimes(host, t, t)).catch(() => {});
}
