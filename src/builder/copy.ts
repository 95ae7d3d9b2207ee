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
import { globMatch, hasGlob, cleanPath } from './dockerignore';

const MAX_ENTRIES = 1_000_000;

export interface SourceItem {
  /** Host path of the source (after following symlinks in scope). */
  abs: string;
  /** The path as the Dockerfile named it after glob expansion, for messages and hashes. */
  rel: string;
  st: Stats;
}

export interface ResolveOptions {
  /** The instruction name for messages ("COPY", "ADD"). */
  what: string;
  /** Sources come from the build context (else from another stage or image). */
  fromContext: boolean;
}

export const isUrl = (s: string): boolean => /^(https?|git|ssh):\/\//i.test(s) || /^git@/.test(s);

export async function resolveSources(root: string, srcs: string[], o: ResolveOptions): Promise<SourceItem[]> {
  const out: SourceItem[] = [];
  for (const src of srcs) {
    if (isUrl(src)) {
      if (o.what === 'COPY') throw invalid(`${o.what} failed: source can't be a URL for COPY`);
      throw notImplemented(`ADD from a URL (${src}) is not implemented in Dray: download the file into the build context and COPY it`);
    }
    const rel = cleanPath('/' + src).slice(1);
    if (hasGlob(rel)) {
      const before = out.length;
      await walk(root, '', async (r, abs, st) => {
        if (globMatch(rel, r)) out.push({ abs, rel: r, st: st.isSymbolicLink() ? await fsp.stat(abs).catch(() => st) : st });
      });
      if (out.length === before) throw invalid(`${o.what} failed: no source files were specified`);
      continue;
    }
    const abs = await resolveInRoot(root, rel);
    const st = await fsp.stat(abs).catch(() => undefined);
    if (!st) {
      if (o.fromContext) throw invalid(`${o.what} failed: file not found in build context or excluded by .dockerignore: stat ${src}: file does not exist`);
      throw invalid(`${o.what} failed: stat ${src}: file does not exist`);
    }
    out.push({ abs, rel: rel || '.', st });
  }
  return out;
}

/** Depth-first walk in name order; `fn` gets the root-relative path. Bounded by MAX_ENTRIES. */
async function walk(root: string, rel: string, fn: (rel: string, abs: string, st: Stats) => Promise<void>, counter = { n: 0 }): Promise<void> {
  const dir = path.join(root, rel);
  const names = (await fsp.readdir(dir)).sort();
  for (const name of names) {
    if (++counter.n > MAX_ENTRIES) throw invalid('too many files to copy');
    const r = rel ? `${rel}/${name}` : name;
    const abs = path.join(root, r);
    const st = await fsp.lstat(abs);
    await fn(r, abs, st);
    if (st.isDirectory()) await walk(root, r, fn, counter);
  }
}

/**
 * Content hash of the sources: names, types, modes, link targets and file contents — not mtimes
 * nor owners (owners in the context are the client's, and COPY replaces them).
 * Spelled as the legacy builder's history: `file:<hex>`, `dir:<hex>` or `multi:<hex>`; `files`
 * has one hash per path, so a cache miss can name what changed.
 */
export async function hashSources(items: SourceItem[]): Promise<{ digest: string; files: Record<string, string> }> {
  const files: Record<string, string> = {};
  const entryHash = async (abs: string, st: Stats): Promise<string> => {
    const h = createHash('sha256');
    h.update(`${st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : 'f'}\0${(st.mode & 0o7777).toString(8)}\0`);
    if (st.isSymbolicLink()) h.update(await fsp.readlink(abs));
    else if (st.isFile()) await pipeline(createReadStream(abs), async function* (src) { for await (const c of src) h.update(c as Buffer); });
    return h.digest('hex');
  };
  const parts: string[] = [];
  for (const it of items) {
    const h = createHash('sha256');
    const top = await entryHash(it.abs, it.st);
    h.update(`.\0${top}\n`);
    if (!it.st.isDirectory()) files[it.rel] = top;
    else {
      await walk(it.abs, '', async (r, abs, st) => {
        const eh = await entryHash(abs, st);
        h.update(`${r}\0${eh}\n`);
        if (!st.isDirectory()) files[it.rel === '.' ? r : `${it.rel}/${r}`] = eh;
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
  /** --chmod, applied to everything copied. */
  mode?: number;
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
      await w.mkdir(destClean, it.st, true);
      await walk(it.abs, '', async (r, abs, st) => { await w.put(path.posix.join(destClean, r), abs, st); });
      continue;
    }
    if (o.extractArchives && it.st.isFile() && (await isArchive(it.abs))) {
      await w.mkdir(destClean, undefined, false);
      const tmp = await fsp.mkdtemp(path.join(o.scratch, 'add-'));
      try {
        const r = await run('tar', ['-x', '-f', it.abs, '-C', tmp], { allowFailure: true });
        if (r.code !== 0) throw invalid(`${o.what} failed: unpacking ${it.rel}: ${tarMessage(r.stderr)}`);
        const keep = new Writer(rootfs, { ...o, keepOwners: o.keepOwners ?? true });
        await walk(tmp, '', async (rr, abs, st) => { await keep.put(path.posix.join(destClean, rr), abs, st); });
      } finally {
        await fsp.rm(tmp, { recursive: true, force: true });
      }
      continue;
    }
    const target = intoDir ? path.posix.join(destClean, path.posix.basename(it.rel)) : destClean;
    await w.put(target, it.abs, it.st);
  }
}

/** Writes entries into a rootfs at container paths, creating parents as Docker does (0755, owner). */
class Writer {
  private dirs = new Map<string, string>();
  constructor(private rootfs: string, private o: CopyOptions) {}

  private owner(st?: Stats): [number, number] {
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
  async mkdir(cpath: string, src: Stats | undefined, onlyIfNew: boolean): Promise<void> {
    const existed = this.dirs.has(cpath) || !!(await fsp.stat(await resolveInRoot(this.rootfs, cpath)).catch(() => undefined));
    const host = await this.hostDir(cpath);
    if (src && !(onlyIfNew && existed)) await this.meta(host, src, false);
  }

  private async meta(host: string, st: Stats, link: boolean): Promise<void> {
    const [uid, gid] = this.owner(st);
    await fsp.lchown(host, uid, gid);
    if (!link) await fsp.chmod(host, this.o.mode ?? (st.mode & 0o7777));
    const t = st.mtime;
    await (link ? fsp.lutimes(host, t, t) : fsp.utimes(host, t, t)).catch(() => {});
  }

  async put(cpath: string, abs: string, st: Stats): Promise<void> {
    if (st.isDirectory()) { await this.mkdir(cpath, st, false); return; }
    const parent = await this.hostDir(path.posix.dirname(cpath));
    const host = path.join(parent, path.posix.basename(cpath));
    const cur = await fsp.lstat(host).catch(() => undefined);
    if (cur?.isDirectory()) throw invalid(`${this.o.what} failed: cannot overwrite directory "${cpath}" with non-directory`);
    if (cur) await fsp.rm(host, { force: true });
    if (st.isSymbolicLink()) {
      await fsp.symlink(await fsp.readlink(abs), host);
      await this.meta(host, st, true);
    } else if (st.isFile()) {
      await fsp.copyFile(abs, host);
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
