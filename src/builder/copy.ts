// COPY and ADD on the file system: source resolution (globs, symlinks followed only inside the
// context), Docker's destination rules (a trailing "/" or an existing directory means "into";
// several sources need a directory destination), owners and modes, and the content hash that keys
// the build cache. Every path inside the image's rootfs is resolved with the rootfs as "/" so a
// symlink in the image never makes the daemon write to the host.
import { promises as fsp, createReadStream, Stats } from 'node:fs';
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { run } from '../lib/exec';
import { invalid, notImplemented } from '../lib/errors';
import { tarMessage } from '../store/tar';
import { resolveInRoot } from '../lib/root-path';
import { nativeAddon, SysAddon } from '../lib/native';
import { globMatch, hasGlob, cleanPath, IgnoreMatcher } from './dockerignore';

const MAX_ENTRIES = 1_000_000;

/** What COPY needs of a source's metadata; fs.Stats has it, and so does the streamed context. */
export interface FileInfo {
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
  mode: number;
  mtime: Date;
  uid: number;
  gid: number;
}

/**
 * A tree that COPY/ADD sources come from: the streamed build context (file data held in a spool,
 * written out only when a step misses the cache) or a directory on disk (another stage's rootfs,
 * heredocs). Paths are root-relative with "/" separators; "" is the root.
 */
export interface SourceTree {
  /** Host directory under which `materialize` makes paths exist. */
  readonly root: string;
  /** Like lstat(2): the last component is not followed; undefined when missing. */
  lstat(rel: string): Promise<FileInfo | undefined>;
  readdir(rel: string): Promise<string[]>;
  readlink(rel: string): Promise<string>;
  /** `rel` with every symlink followed with the root as "/" (resolveInRoot's rules). */
  resolve(rel: string): Promise<string>;
  /** entryHasher's hash of type, permission bits, and content or link target: one entry of a source hash. */
  entryHash(rel: string, st: FileInfo): Promise<string>;
  /** Makes `rel` and everything under it exist on disk under `root`, with its metadata. */
  materialize(rel: string): Promise<void>;
  /** Writes the content of file `rel` to the new host file `dest`. */
  copyFile(rel: string, dest: string): Promise<void>;
}

export interface SourceItem {
  tree: SourceTree;
  /** Root-relative path of the source (after following symlinks in scope). */
  path: string;
  /** Host path of the source: valid once `tree.materialize(path)` returned. */
  abs: string;
  /** The path as the Dockerfile named it after glob expansion, for messages and hashes. */
  rel: string;
  st: FileInfo;
  /** COPY --parents: the path the source keeps under the destination. */
  destRel?: string;
  /** COPY --exclude: entries left out (matched against the path inside a directory source, and the path in the tree). */
  exclude?: IgnoreMatcher;
}

export interface ResolveOptions {
  /** The instruction name for messages ("COPY", "ADD"). */
  what: string;
  /** Sources come from the build context (else from another stage or image). */
  fromContext: boolean;
}

export const isUrl = (s: string): boolean => /^(https?|git|ssh):\/\//i.test(s) || /^git@/.test(s);

const item = (tree: SourceTree, p: string, rel: string, st: FileInfo): SourceItem => ({ tree, path: p, abs: path.join(tree.root, p), rel, st });

export async function resolveSources(tree: SourceTree, srcs: string[], o: ResolveOptions): Promise<SourceItem[]> {
  const out: SourceItem[] = [];
  for (const src of srcs) {
    if (isUrl(src)) {
      if (o.what === 'COPY') throw invalid(`${o.what} failed: source can't be a URL for COPY`);
      throw notImplemented(`ADD from a git repository (${src}) is not implemented in Dray: clone it into the build context and COPY it`);
    }
    const rel = cleanPath('/' + src).slice(1);
    if (hasGlob(rel)) {
      const before = out.length;
      await walk(tree, '', async (r, st) => {
        if (!globMatch(rel, r)) return;
        // A matched link stands for its target when that is inside the tree; a dangling one
        // (or one pointing out of the tree) is copied as the link itself.
        const target = st.isSymbolicLink() ? await tree.resolve(r) : r;
        const tst = target === r ? st : await tree.lstat(target);
        out.push(tst ? item(tree, target, r, tst) : item(tree, r, r, st));
      });
      if (out.length === before) throw invalid(`${o.what} failed: no source files were specified`);
      continue;
    }
    const p = await tree.resolve(rel);
    const st = await tree.lstat(p);
    if (!st) {
      if (o.fromContext) throw invalid(`${o.what} failed: file not found in build context or excluded by .dockerignore: stat ${src}: file does not exist`);
      throw invalid(`${o.what} failed: stat ${src}: file does not exist`);
    }
    out.push(item(tree, p, rel || '.', st));
  }
  return out;
}

const join = (a: string, b: string) => (a ? `${a}/${b}` : b);

/** Depth-first walk in name order; `fn` gets the tree-relative path. Bounded by MAX_ENTRIES. */
async function walk(tree: SourceTree, rel: string, fn: (rel: string, st: FileInfo) => Promise<void>, counter = { n: 0 }): Promise<void> {
  const names = (await tree.readdir(rel)).sort();
  for (const name of names) {
    if (++counter.n > MAX_ENTRIES) throw invalid('too many files to copy');
    const r = join(rel, name);
    const st = await tree.lstat(r);
    if (!st) continue;
    await fn(r, st);
    if (st.isDirectory()) await walk(tree, r, fn, counter);
  }
}

/** walk() over a host directory, with each entry's host path and fs.Stats (DiskTree's lstat). */
const walkDisk = (root: string, fn: (rel: string, abs: string, st: Stats) => Promise<void>): Promise<void> =>
  walk(new DiskTree(root), '', (r, st) => fn(r, path.join(root, r), st as Stats));

/** Where an entry hash is computed: fed in pieces, read once. */
export interface ContentHasher {
  update(data: Buffer | string): unknown;
  digest(encoding: 'hex'): string;
}

/**
 * The hash of file contents: BLAKE3 (a 256-bit cryptographic hash, like SHA-256), through the
 * addon (native/blake3.c). A fully cached rebuild still hashes every byte of its context, and on
 * this host BLAKE3 takes 8 ms for 50 MB in 64 KiB pieces against SHA-256's 28.5 (OpenSSL, with
 * SHA-NI). Without the addon, SHA-256; the cache only ever compares hashes made here.
 */
function contentHasher(): ContentHasher {
  const addon = nativeAddon();
  return addon ? new WholeBlocks(new Blake3(addon)) : createHash('sha256');
}

class Blake3 implements ContentHasher {
  private readonly h: unknown;
  constructor(private readonly addon: SysAddon) { this.h = addon.blake3New(); }
  update(data: Buffer): this { this.addon.blake3Update(this.h, data); return this; }
  digest(): string { return this.addon.blake3Digest(this.h); }
}

/** What WholeBlocks passes on at a time (a multiple of BLAKE3's 1 KiB chunk). */
const BLOCK = 64 << 10;

/**
 * BLAKE3 hashes 1 KiB chunks many at a time, but only in subtrees aligned to what it has consumed
 * so far. Fed the context as it arrives (an entry header, then ~32 KiB pieces at any offset), it
 * worked mostly one chunk at a time: 19.5 ms for 50 MB against 8 in aligned 64 KiB pieces. This
 * passes input on in whole multiples of BLOCK. A small file's pieces are only held (received data
 * is never written to again); past BLOCK, pieces are gathered in one buffer the file reuses (a
 * fresh one each time cost more in page faults than the alignment saved).
 */
class WholeBlocks implements ContentHasher {
  /** Input not passed on yet: the pieces themselves while under BLOCK, then `stage`. */
  private parts: Buffer[] = [];
  private stage?: Buffer;
  private held = 0;
  constructor(private readonly h: ContentHasher) {}

  update(data: Buffer | string): this {
    let b = typeof data === 'string' ? Buffer.from(data) : data;
    if (!this.stage) {
      if (this.held + b.length < BLOCK) {
        if (b.length) { this.parts.push(b); this.held += b.length; }
        return this;
      }
      this.stage = Buffer.allocUnsafe(BLOCK);
      let n = 0;
      for (const p of this.parts) n += p.copy(this.stage, n);
      this.parts = [];
    }
    while (b.length) {
      if (this.held === 0 && b.length >= BLOCK) {
        const whole = b.length - (b.length % BLOCK);
        this.h.update(b.subarray(0, whole));
        b = b.subarray(whole);
        continue;
      }
      const n = b.copy(this.stage, this.held, 0, Math.min(b.length, BLOCK - this.held));
      this.held += n;
      b = b.subarray(n);
      if (this.held === BLOCK) { this.h.update(this.stage); this.held = 0; }
    }
    return this;
  }

  digest(encoding: 'hex'): string {
    if (this.stage) { if (this.held) this.h.update(this.stage.subarray(0, this.held)); }
    else for (const p of this.parts) this.h.update(p);
    this.parts = [];
    this.stage = undefined;
    this.held = 0;
    return this.h.digest(encoding);
  }
}

/** The entry hash of copy.ts's scheme, for a file read from disk or fed in pieces. */
export function entryHasher(st: { isDirectory(): boolean; isSymbolicLink(): boolean; mode: number }): ContentHasher {
  const h = contentHasher();
  h.update(`${st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : 'f'}\0${(st.mode & 0o7777).toString(8)}\0`);
  return h;
}

/** A directory on the host as a source tree: nothing to materialize. */
export class DiskTree implements SourceTree {
  readonly root: string;
  constructor(root: string) { this.root = path.resolve(root); }
  private abs(rel: string): string { return path.join(this.root, rel); }
  async lstat(rel: string): Promise<FileInfo | undefined> {
    try { return await fsp.lstat(this.abs(rel)); } catch (e: any) {
      if (e?.code === 'ENOENT' || e?.code === 'ENOTDIR') return undefined;
      throw e;
    }
  }
  readdir(rel: string): Promise<string[]> { return fsp.readdir(this.abs(rel)); }
  readlink(rel: string): Promise<string> { return fsp.readlink(this.abs(rel)); }
  async resolve(rel: string): Promise<string> {
    return path.relative(this.root, await resolveInRoot(this.root, rel)).split(path.sep).join('/');
  }
  async entryHash(rel: string, st: FileInfo): Promise<string> {
    const h = entryHasher(st);
    if (st.isSymbolicLink()) h.update(await this.readlink(rel));
    else if (st.isFile()) await pipeline(createReadStream(this.abs(rel)), async function* (src) { for await (const c of src) h.update(c as Buffer); });
    return h.digest('hex');
  }
  async materialize(): Promise<void> { /* already on disk */ }
  copyFile(rel: string, dest: string): Promise<void> { return fsp.copyFile(this.abs(rel), dest); }
}

/** Whether --exclude leaves out the entry at `sub` inside item `it` (tree path `treeRel`). */
export function excluded(it: SourceItem, sub: string, treeRel: string): boolean {
  return !!it.exclude && (it.exclude.matches(sub) || it.exclude.matches(treeRel));
}

/**
 * Content hash of the sources: names, types, modes, link targets and file contents — not mtimes
 * nor owners (owners in the context are the client's, and COPY replaces them).
 * Spelled as the legacy builder's history: `file:<hex>`, `dir:<hex>` or `multi:<hex>`; `files`
 * has one hash per path, so a cache miss can name what changed.
 */
export async function hashSources(items: SourceItem[]): Promise<{ digest: string; files: Record<string, string> }> {
  const files: Record<string, string> = {};
  const parts: string[] = [];
  for (const it of items) {
    const h = createHash('sha256');
    const top = await it.tree.entryHash(it.path, it.st);
    // Where it goes (--parents) and what is left out (--exclude) change the result.
    h.update(`.\0${top}${it.destRel !== undefined ? `\0${it.destRel}` : ''}\n`);
    if (!it.st.isDirectory()) files[it.rel] = top;
    else {
      await walk(it.tree, it.path, async (r, st) => {
        const sub = it.path ? r.slice(it.path.length + 1) : r;
        if (excluded(it, sub, r)) return;
        const eh = await it.tree.entryHash(r, st);
        h.update(`${sub}\0${eh}\n`);
        if (!st.isDirectory()) files[it.rel === '.' ? sub : `${it.rel}/${sub}`] = eh;
      });
    }
    parts.push(h.digest('hex'));
  }
  if (items.length === 1) return { digest: `${items[0].st.isDirectory() ? 'dir' : 'file'}:${parts[0]}`, files };
  const all = createHash('sha256');
  for (const p of parts) all.update(p);
  return { digest: `multi:${all.digest('hex')}`, files };
}

export interface CopyOptions {
  uid: number;
  gid: number;
  /** --chmod, applied to everything copied: octal, or symbolic relative to each source's mode. */
  mode?: ChmodSpec;
  /** ADD: local tar archives (plain, gzip, bzip2, xz) are unpacked instead of copied. */
  extractArchives: boolean;
  /** Keep the sources' owners (ADD of an archive without --chown). */
  keepOwners?: boolean;
  /** Scratch directory for unpacking archives. */
  scratch: string;
  what: string;
}

/**
 * Copies `items` to `dest` (a container path, absolute; a trailing "/" kept) inside `rootfs`.
 */
export async function copyInto(rootfs: string, items: SourceItem[], dest: string, o: CopyOptions): Promise<void> {
  const slash = dest.endsWith('/') || dest.endsWith('/.');
  const destClean = cleanPath(dest);
  const existing = await fsp.stat(await resolveInRoot(rootfs, destClean)).catch(() => undefined);
  const intoDir = slash || !!existing?.isDirectory();
  if (items.length > 1 && !intoDir) throw invalid(`When using ${o.what} with more than one source file, the destination must be a directory and end with a /`);
  const w = new Writer(rootfs, o);
  for (const it of items) {
    if (it.st.isDirectory()) {
      await it.tree.materialize(it.path);
      const into = it.destRel !== undefined ? path.posix.join(destClean, it.destRel) : destClean;
      await w.mkdir(into, it.st, true);
      await walkDisk(it.abs, async (r, abs, st) => {
        if (excluded(it, r, it.path ? `${it.path}/${r}` : r)) return;
        await w.put(path.posix.join(into, r), diskSource(abs, st));
      });
      continue;
    }
    if (o.extractArchives && it.st.isFile() && (await it.tree.materialize(it.path), await isArchive(it.abs))) {
      await w.mkdir(destClean, undefined, false);
      const tmp = await fsp.mkdtemp(path.join(o.scratch, 'add-'));
      try {
        const r = await run('tar', ['-x', '-f', it.abs, '-C', tmp], { allowFailure: true });
        if (r.code !== 0) throw invalid(`${o.what} failed: unpacking ${it.rel}: ${tarMessage(r.stderr)}`);
        const keep = new Writer(rootfs, { ...o, keepOwners: o.keepOwners ?? true });
        await walkDisk(tmp, async (rr, abs, st) => { await keep.put(path.posix.join(destClean, rr), diskSource(abs, st)); });
      } finally {
        await fsp.rm(tmp, { recursive: true, force: true });
      }
      continue;
    }
    const target = it.destRel !== undefined ? path.posix.join(destClean, it.destRel) : intoDir ? path.posix.join(destClean, path.posix.basename(it.rel)) : destClean;
    // A single file goes straight from the tree: the context's data need not be written twice.
    await w.put(target, { st: it.st, readlink: () => it.tree.readlink(it.path), copyTo: (host) => it.tree.copyFile(it.path, host) });
  }
}

/** One thing to write: its metadata and how to get its content. */
interface PutSource {
  st: FileInfo;
  readlink(): Promise<string>;
  copyTo(host: string): Promise<void>;
}

const diskSource = (abs: string, st: FileInfo): PutSource => ({ st, readlink: () => fsp.readlink(abs), copyTo: (host) => fsp.copyFile(abs, host) });

/** Writes entries into a rootfs at container paths, creating parents as Docker does (0755, owner). */
class Writer {
  private dirs = new Map<string, string>();
  constructor(private rootfs: string, private o: CopyOptions) {}

  private owner(st?: FileInfo): [number, number] {
    return this.o.keepOwners && st ? [st.uid, st.gid] : [this.o.uid, this.o.gid];
  }

  /** Host path of container directory `cpath`, created (with parents) when missing. */
  private async hostDir(cpath: string): Promise<string> {
    const known = this.dirs.get(cpath);
    if (known) return known;
    if (cpath === '/') return path.resolve(this.rootfs);
    await this.hostDir(path.posix.dirname(cpath));
    const host = await resolveInRoot(this.rootfs, cpath);
    const st = await fsp.stat(host).catch(() => undefined);
    if (!st) {
      await fsp.mkdir(host, { mode: 0o755 });
      await fsp.lchown(host, this.o.uid, this.o.gid);
    } else if (!st.isDirectory()) {
      throw invalid(`${this.o.what} failed: cannot copy to non-directory: ${cpath}`);
    }
    this.dirs.set(cpath, host);
    return host;
  }

  /** The directory `cpath`, with the source directory's mode when it is made or copied over. */
  async mkdir(cpath: string, src: FileInfo | undefined, onlyIfNew: boolean): Promise<void> {
    const existed = this.dirs.has(cpath) || !!(await fsp.stat(await resolveInRoot(this.rootfs, cpath)).catch(() => undefined));
    const host = await this.hostDir(cpath);
    if (src && !(onlyIfNew && existed)) await this.meta(host, src, false);
  }

  private async meta(host: string, st: FileInfo, link: boolean): Promise<void> {
    const [uid, gid] = this.owner(st);
    await fsp.lchown(host, uid, gid);
    if (!link) await fsp.chmod(host, this.o.mode ? this.o.mode.apply(st.mode & 0o7777, st.isDirectory()) : (st.mode & 0o7777));
    const t = st.mtime;
    await (link ? fsp.lutimes(host, t, t) : fsp.utimes(host, t, t)).catch(() => {});
  }

  async put(cpath: string, src: PutSource): Promise<void> {
    const st = src.st;
    if (st.isDirectory()) { await this.mkdir(cpath, st, false); return; }
    const parent = await this.hostDir(path.posix.dirname(cpath));
    const host = path.join(parent, path.posix.basename(cpath));
    const cur = await fsp.lstat(host).catch(() => undefined);
    if (cur?.isDirectory()) throw invalid(`${this.o.what} failed: cannot overwrite directory "${cpath}" with non-directory`);
    if (cur) await fsp.rm(host, { force: true });
    if (st.isSymbolicLink()) {
      await fsp.symlink(await src.readlink(), host);
      await this.meta(host, st, true);
    } else if (st.isFile()) {
      await src.copyTo(host);
      await this.meta(host, st, false);
    }
    // Sockets, FIFOs and devices in a context are not copied (the docker CLI does not send them).
  }
}

async function isArchive(file: string): Promise<boolean> {
  const fh = await fsp.open(file, 'r');
  try {
    const b = Buffer.alloc(512);
    const { bytesRead } = await fh.read(b, 0, 512, 0);
    if (b[0] === 0x1f && b[1] === 0x8b) return true;
    if (b.subarray(0, 3).toString('latin1') === 'BZh') return true;
    if (b.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return true;
    return bytesRead >= 262 && b.subarray(257, 262).toString('latin1') === 'ustar';
  } finally { await fh.close(); }
}

/** A --chmod value: octal, or chmod(1)'s symbolic modes (`u+x`, `go=rX`, `a-w,u+s`). */
export interface ChmodSpec {
  text: string;
  apply(mode: number, isDir: boolean): number;
}

const WHO: Record<string, number> = { u: 0o4700, g: 0o2070, o: 0o1007, a: 0o7777 };

/**
 * Parses --chmod. Symbolic clauses apply in order to each entry's own mode, as chmod(1) does with
 * an explicit "who" (and "a" without one: no umask applies); `X` sets execute only for
 * directories and for files that already have an execute bit.
 */
export function parseChmod(spec: string): ChmodSpec {
  if (/^[0-7]{1,4}$/.test(spec)) {
    const m = parseInt(spec, 8);
    return { text: spec, apply: () => m };
  }
  const clauses = spec.split(',');
  const re = /^([ugoa]*)((?:[-+=][rwxXst]*|[-+=][ugo])+)$/;
  const parsed = clauses.map((c) => {
    const m = re.exec(c);
    if (!m) throw invalid(`invalid chmod parameter: ${spec}`);
    const who = m[1] ? [...m[1]].reduce((n, w) => n | WHO[w], 0) : WHO.a;
    const ops = [...m[2].matchAll(/([-+=])([ugo]|[rwxXst]*)/g)].map((o) => ({ op: o[1], perms: o[2] }));
    return { who, ops };
  });
  return {
    text: spec,
    apply(mode: number, isDir: boolean): number {
      let cur = mode & 0o7777;
      for (const { who, ops } of parsed) {
        for (const { op, perms } of ops) {
          let bits = 0;
          if (perms === 'u' || perms === 'g' || perms === 'o') {
            // Copy another class's bits: u=g etc.
            const src = perms === 'u' ? (cur >> 6) & 7 : perms === 'g' ? (cur >> 3) & 7 : cur & 7;
            bits = (src << 6) | (src << 3) | src;
          } else {
            for (const p of perms) {
              if (p === 'r') bits |= 0o444;
              else if (p === 'w') bits |= 0o222;
              else if (p === 'x') bits |= 0o111;
              else if (p === 'X') { if (isDir || (cur & 0o111)) bits |= 0o111; }
              else if (p === 's') bits |= 0o6000;
              else if (p === 't') bits |= 0o1000;
            }
          }
          bits &= who;
          if (op === '+') cur |= bits;
          else if (op === '-') cur &= ~bits;
          else cur = (cur & ~who) | bits;
        }
      }
      return cur & 0o7777;
    },
  };
}
