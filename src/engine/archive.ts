// `docker cp` and `docker export`: stat, read and write paths inside a container's file system,
// which a running container changes under our feet. Every path is resolved by the kernel inside
// the root at the moment of use (lib/in-root.ts), so neither a symlink planted in the destination
// nor one swapped in mid-copy leads outside it. The root is what the container sees, volumes and
// bind mounts included (withCopyRoot):
//   - out (GET): the directory holding the source is opened inside the root and handed to GNU tar
//     as its fd 3; tar walks from there with openat(O_NOFOLLOW) and fstatat(AT_SYMLINK_NOFOLLOW).
//   - in (PUT): the archive is unpacked here, entry by entry: the entry's directory is opened
//     inside the root and the entry made through that fd, never by a host path string.
import { closeSync, fstatSync, lchownSync, mkdirSync, openSync, promises as fsp, statSync, write } from 'node:fs';
import { promisify } from 'node:util';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import type { ServerResponse } from 'node:http';
import * as tarStream from 'tar-stream';
import { spawnChild } from '../lib/spawn';
import { DrayError, invalid, notFound, systemError, errorMessage } from '../lib/errors';
import { RootFs, closeFd, removeAt, entryPath, fdPath, cleanContainerPath, O_PATH, O_DIRECTORY, O_NOFOLLOW, O_RDONLY, O_WRONLY, O_CREAT, O_EXCL } from '../lib/in-root';
import { cleanName, tarMessage, mapTarOwners, type OwnerMap } from '../store/tar';
import { PassThrough } from 'node:stream';
import type { ContainerFs } from '../store/container-fs';
import type { MountPoint } from './container-record';
import { KeyedMutex } from '../lib/lock';
import { bindMount as mountSys, detach as umountSys, MNT_DETACH } from '../lib/mount';
import { log } from '../lib/log';

// Go's os.FileMode type bits, which the docker CLI reads from the stat header.
const MODE_DIR = 0x80000000;
const MODE_SYMLINK = 0x08000000;

const missing = (p: string) => notFound(`Could not find the file ${p} in container`);
const isMissing = (e: any) => e?.code === 'ENOENT' || e?.code === 'ENOTDIR';

export interface PathStat { name: string; size: number; mode: number; mtime: string; linkTarget: string }

function statIn(root: RootFs, p: string): Promise<PathStat> {
  return withParent(root, p, async (dir, name) => {
    const st = await fsp.lstat(name ? entryPath(dir, name) : fdPath(dir)).catch((e) => { throw isMissing(e) ? missing(p) : e; });
    let mode = st.mode & 0o7777;
    let linkTarget = '';
    if (st.isDirectory()) mode = (mode | MODE_DIR) >>> 0;
    if (st.isSymbolicLink()) {
      mode = (mode | MODE_SYMLINK) >>> 0;
      linkTarget = followedPath(root, p) ?? path.posix.resolve(path.posix.dirname(cleanContainerPath(p)), await fsp.readlink(entryPath(dir, name)));
    }
    return { name: path.posix.basename(cleanContainerPath(p)) || '/', size: st.size, mode, mtime: st.mtime.toISOString(), linkTarget };
  });
}

/** Where `p` leads with every symlink followed inside the root, or undefined if that is missing. */
function followedPath(root: RootFs, p: string): string | undefined {
  let fd: number;
  try { fd = root.open(p); } catch { return undefined; }
  try { return root.containerPath(fd); } finally { closeFd(fd); }
}

/** Runs `fn` with the directory that holds `p` open; a missing directory is Docker's not-found. */
async function withParent<T>(root: RootFs, p: string, fn: (dir: number, name: string) => Promise<T>): Promise<T> {
  let parent: { dir: number; name: string };
  try { parent = root.parent(p); } catch (e) { throw isMissing(e) ? missing(p) : e; }
  try { return await fn(parent.dir, parent.name); } finally { closeFd(parent.dir); }
}

export function archiveStat(root: RootFs, p: string): Promise<PathStat> {
  return statIn(root, p);
}

/**
 * `owners`: a remapped container's files leave with the IDs it sees (lib/idmap.ts outOf), as
 * dockerd's archives of a remapped container do.
 */
export function getArchive(root: RootFs, p: string, res: ServerResponse, owners?: OwnerMap): Promise<void> {
  const out = (w: NodeJS.WritableStream) => ownersMapped(w, owners);
  return (async () => {
    const st = await statIn(root, p);
    const header = {
      'Content-Type': 'application/x-tar',
      'X-Docker-Container-Path-Stat': Buffer.from(JSON.stringify(st)).toString('base64'),
    };
    const clean = cleanContainerPath(p);
    // A trailing "/" (or "/.") asks for what a symlink leads to; the archive still names the
    // entry as the caller did.
    if (clean === '/' || /\/\.?$/.test(p)) {
      let fd: number;
      try { fd = root.open(p, O_PATH | O_DIRECTORY); } catch (e) { throw isMissing(e) ? missing(p) : e; }
      try {
        res.writeHead(200, header);
        const name = path.posix.basename(clean);
        await out(res)((w) => runTar(['-C', '/proc/self/fd/3', '--numeric-owner', '-cf', '-', ...(name ? [`--transform=s|^\\.|${escapeSed(name)}|S`] : []), '.'], fd, undefined, w));
      } finally { closeFd(fd); }
      return;
    }
    await withParent(root, p, async (dir, name) => {
      res.writeHead(200, header);
      await out(res)((w) => runTar(['-C', '/proc/self/fd/3', '--numeric-owner', '-cf', '-', '--', name], dir, undefined, w));
    });
  })();
}

export interface PutOptions {
  /** Refuse to replace a directory with a non-directory or the reverse (the docker CLI asks for it). */
  noOverwriteDirNonDir: boolean;
  /** Every entry owned by this uid/gid instead of the archive's (docker cp -a). */
  owner?: { uid: number; gid: number };
  /** A remapped container: the (container) IDs of entries as the host's (lib/idmap.ts into). */
  toHost?: OwnerMap;
}

export async function putArchive(root: RootFs, p: string, body: Readable, o: PutOptions): Promise<void> {
  let destFd: number;
  try { destFd = root.open(p, O_PATH | O_DIRECTORY); } catch (e: any) {
    if (e?.code === 'ENOTDIR') throw invalid('extraction point is not a directory');
    throw isMissing(e) ? missing(p) : e;
  }
  let dest: string;
  try { dest = root.containerPath(destFd); } finally { closeFd(destFd); }
  await new Unpacker(root, dest, o).run(body);
}

/** What withCopyRoot needs of a container. */
export interface CopyTarget {
  Id: string;
  State: { Running: boolean; Pid: number };
  Mounts: MountPoint[];
  Dray: { lowerDirs: string[] };
}

const copyLocks = new KeyedMutex();
const MS_BIND = 0x1000;
const MS_REC = 0x4000;
const MS_REMOUNT = 0x20;
const MS_RDONLY = 0x1;

/**
 * Runs `fn` with the container's file system as the container sees it, as Docker's cp does:
 * - running: the root of its own mount namespace (/proc/<pid>/root), where its volumes, bind
 *   mounts and tmpfs are already in place. That the pid is still this container's is checked
 *   after the root is open: the open root must be the container's overlay.
 * - otherwise: its root file system, mounted, with its volumes and bind mounts bound over it for
 *   the copy's time (each onto the directory fd resolved inside the root, never by a path string
 *   the container may have made a symlink) and unbound after. One such copy at a time per container.
 */
export async function withCopyRoot<T>(fs: ContainerFs, c: CopyTarget, fn: (root: RootFs) => Promise<T>): Promise<T> {
  if (c.State.Running && c.State.Pid > 0) {
    const running = openRunningRoot(fs, c);
    if (running) {
      try { return await fn(running); } finally { running.close(); }
    }
  }
  const merged = await fs.mount(c.Id, c.Dray.lowerDirs);
  try {
    return await copyLocks.run(c.Id, async () => {
      const root = RootFs.open(merged);
      const bound: string[] = [];
      try {
        for (const m of [...c.Mounts].sort((a, b) => depth(a.Destination) - depth(b.Destination))) {
          if ((m.Type !== 'bind' && m.Type !== 'volume') || !m.Source) continue;
          await bindInto(root, m);
          bound.push(m.Destination);
        }
        return await fn(root);
      } finally {
        for (const dest of bound.reverse()) await unbind(root, dest).catch((e) => log.warn('unbinding a copy mount failed', { id: c.Id, dest, error: errorMessage(e) }));
        root.close();
      }
    });
  } finally {
    await fs.unmount(c.Id);
  }
}

const depth = (p: string) => cleanContainerPath(p).split('/').length;

function openRunningRoot(fs: ContainerFs, c: CopyTarget): RootFs | undefined {
  let root: RootFs;
  try { root = RootFs.open(`/proc/${c.State.Pid}/root`, true); } catch { return undefined; }
  try {
    const a = fstatSync(root.fd);
    const b = statSync(fs.merged(c.Id));
    if (a.dev === b.dev && a.ino === b.ino) return root;
  } catch { /* exited meanwhile */ }
  root.close();
  return undefined;
}

/** Binds a volume or bind mount over its place in the root (made when missing, as Docker does). */
async function bindInto(root: RootFs, m: MountPoint): Promise<void> {
  const isDir = statSync(m.Source).isDirectory();
  let fd: number;
  try { fd = root.open(m.Destination, O_PATH); } catch (e: any) {
    if (e?.code !== 'ENOENT') throw e;
    makeMountPoint(root, m.Destination, isDir);
    fd = root.open(m.Destination, O_PATH);
  }
  try {
    await mountSys(m.Source, fdPath(fd), MS_BIND | MS_REC);
  } finally { closeFd(fd); }
  if (!m.RW) {
    const top = root.open(m.Destination, O_PATH);
    try { await mountSys(null, fdPath(top), MS_BIND | MS_REMOUNT | MS_RDONLY); } finally { closeFd(top); }
  }
}

function makeMountPoint(root: RootFs, dest: string, dir: boolean): void {
  const clean = cleanContainerPath(dest);
  const parentPath = path.posix.dirname(clean);
  let parent: number;
  try { parent = root.open(parentPath, O_PATH | O_DIRECTORY); } catch (e: any) {
    if (e?.code !== 'ENOENT' || parentPath === '/') throw e;
    makeMountPoint(root, parentPath, true);
    parent = root.open(parentPath, O_PATH | O_DIRECTORY);
  }
  try {
    const at = entryPath(parent, path.posix.basename(clean));
    if (dir) mkdirSync(at, 0o755);
    else closeSync(openSync(at, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644));
  } catch (e: any) { if (e?.code !== 'EEXIST') throw e; } finally { closeFd(parent); }
}

/** Unbinds what bindInto put at `dest`: the fd resolves to the bound mount's root. */
async function unbind(root: RootFs, dest: string): Promise<void> {
  const fd = root.open(dest, O_PATH);
  try { await umountSys(fdPath(fd), MNT_DETACH); } finally { closeFd(fd); }
}

/** `docker export`: the whole root filesystem as one tar (`owners` as for getArchive). */
export async function exportRootfs(rootHost: string, res: ServerResponse, owners?: OwnerMap): Promise<void> {
  res.writeHead(200, { 'Content-Type': 'application/x-tar' });
  await ownersMapped(res, owners)((w) => runTar(['-C', rootHost, '--numeric-owner', '--xattrs', '-cf', '-', '.'], undefined, undefined, w));
}

/** Runs `write` into `res`, through mapTarOwners when there are owners to translate. */
function ownersMapped(res: NodeJS.WritableStream, owners?: OwnerMap): (write: (w: NodeJS.WritableStream) => Promise<void>) => Promise<void> {
  return async (write) => {
    if (!owners) return write(res);
    const raw = new PassThrough();
    const mapped = mapTarOwners(raw, owners);
    const done = new Promise<void>((resolve, reject) => { mapped.on('error', reject); mapped.on('end', () => resolve()); });
    mapped.pipe(res);
    try {
      await write(raw);
    } catch (e) {
      raw.destroy();
      throw e;
    }
    await done;
  };
}

function escapeSed(s: string): string { return s.replace(/[|\\&.*^$[\]]/g, '\\$&'); }

/** GNU tar with `dirFd` (if any) as its fd 3. */
function runTar(args: string[], dirFd: number | undefined, input: Readable | undefined, out: NodeJS.WritableStream | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const stdio: (number | 'pipe' | 'ignore')[] = [input ? 'pipe' : 'ignore', out ? 'pipe' : 'ignore', 'pipe'];
    if (dirFd !== undefined) stdio.push(dirFd);
    const p = spawnChild('tar', args, { stdio });
    let err = '';
    p.stderr!.on('data', (b) => { err += b; });
    if (input) input.pipe(p.stdin!);
    if (out) {
      p.stdout!.pipe(out);
      // A reader gone mid-stream (client disconnected) unpipes: tar would block on a full pipe for good.
      // Its stdout is then drained to nowhere, or the child's 'close' would wait for it for good.
      (out as NodeJS.EventEmitter).once('close', () => { if (!exited) { p.kill(); p.stdout!.resume(); } });
    }
    let exited = false;
    p.on('exit', () => { exited = true; });
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve() : reject(systemError(`tar: ${tarMessage(err)}`))));
  });
}

const TYPE_BITS: Record<string, number> = { 'character-device': 0o020000, 'block-device': 0o060000, fifo: 0o010000 };
/** Files up to this size are collected and written by one native call; larger ones stream. */
const SMALL_FILE = 1 << 20;
/** Directories of the archive kept open for the entries that follow them. */
const OPEN_DIRS = 64;
/**
 * Small files made at once: creating a file waits on the file system's journal, and on a slow disk
 * that wait, not the CPU, is the time of a copy; the thread pool overlaps up to this many.
 */
const IN_FLIGHT = 4;

/**
 * Unpacks an archive into container directory `dest`, as moby's Untar does for `docker cp`: entries
 * keep the archive's owner, mode and times (directories' times set last), missing parents are made
 * 0755, an existing entry is replaced unless both are directories, and nothing may land outside
 * `dest`. Directories are held by fd while their entries are made: a directory the container
 * moves meanwhile is still inside its root, so what is written there stays in the container.
 */
class Unpacker {
  private dirTimes: [string, Date][] = [];
  private dirs = new Map<string, number>();
  /** Small files being made, by container path; their directories' fds stay open until they end. */
  private inflight = new Map<string, Promise<void>>();
  private failure: unknown;
  /** Directory fds no longer held, closed only once nothing in flight can still use them (a closed
   * fd's number is soon another file's, and a late *at call on it would land there). */
  private retired: number[] = [];

  constructor(private root: RootFs, private dest: string, private o: PutOptions) {}

  async run(body: Readable): Promise<void> {
    try {
      await new Promise<void>((resolve, reject) => {
        const extract = tarStream.extract();
        let failed = false;
        const fail = (e: unknown) => {
          if (failed) return;
          failed = true;
          body.unpipe(extract);
          body.resume();
          extract.destroy();
          reject(e instanceof DrayError ? e : systemError(`error while extracting the archive: ${errorMessage(e)}`));
        };
        extract.on('entry', (h, stream, next) => {
          this.entry(h, stream as unknown as Readable).then(() => next(), (e) => { stream.resume(); fail(e); });
        });
        extract.on('finish', () => { if (!failed) this.finish().then(resolve, fail); });
        extract.on('error', (e: Error) => fail(invalid(`invalid tar archive: ${e.message}`)));
        body.on('error', fail);
        body.pipe(extract);
      });
    } finally {
      await Promise.allSettled(this.inflight.values());
      for (const fd of [...this.dirs.values(), ...this.retired]) closeFd(fd);
      this.dirs.clear();
      this.retired = [];
    }
  }

  /** Waits for every small file in flight; throws the first failure among them. */
  private async drain(): Promise<void> {
    await Promise.allSettled(this.inflight.values());
    for (const fd of this.retired) closeFd(fd);
    this.retired = [];
    if (this.failure) throw this.failure;
  }

  /** The container path of archive member `name`, refused when it would leave `dest`. */
  private target(name: string, what = 'entry'): string {
    const rel = cleanName(name);
    const full = path.posix.join(this.dest, rel);
    const back = path.posix.relative(this.dest, full);
    if (back === '..' || back.startsWith('../')) throw invalid(`invalid tar ${what} "${name}": it is outside of the destination "${this.dest}"`);
    return full;
  }

  private remember(cpath: string, fd: number): number {
    const old = this.dirs.get(cpath);
    if (old !== undefined && old !== fd) this.retired.push(old);
    this.dirs.delete(cpath);
    this.dirs.set(cpath, fd);
    if (this.dirs.size > OPEN_DIRS) {
      const [k, v] = this.dirs.entries().next().value as [string, number];
      this.dirs.delete(k);
      this.retired.push(v);
    }
    return fd;
  }

  /** After `cpath` was removed: the directories held under it are gone with it. */
  private forget(cpath: string): void {
    for (const [k, fd] of this.dirs) {
      if (k === cpath || k.startsWith(cpath + '/')) { this.dirs.delete(k); this.retired.push(fd); }
    }
  }

  /** An fd of directory `cpath` (held for the entries that follow), made 0755 with its parents when missing. */
  private dirFd(cpath: string): number {
    const held = this.dirs.get(cpath);
    if (held !== undefined) return held;
    try { return this.remember(cpath, this.root.open(cpath, O_PATH | O_DIRECTORY)); } catch (e: any) {
      if (e?.code !== 'ENOENT' || cpath === this.dest || cpath === '/') throw e;
    }
    const parent = this.dirFd(path.posix.dirname(cpath));
    try {
      // Through the directory's fd: mkdir of its entry never follows a symlink there.
      mkdirSync(entryPath(parent, path.posix.basename(cpath)), 0o755);
      // As dockerd's implied directories: the container's root owns them.
      if (this.o.toHost) { const r = this.o.toHost(0, 0); lchownSync(entryPath(parent, path.posix.basename(cpath)), r.uid, r.gid); }
    } catch (e: any) { if (e?.code !== 'EEXIST') throw e; }
    return this.remember(cpath, this.root.open(cpath, O_PATH | O_DIRECTORY));
  }

  private async entry(h: tarStream.Header, stream: Readable): Promise<void> {
    if (h.type !== 'file' && h.type !== 'contiguous-file' && h.type !== 'directory' && h.type !== 'symlink' && h.type !== 'link' && !(h.type! in TYPE_BITS)) {
      stream.resume();
      return; // pax and GNU extension records are read by tar-stream; other kinds are skipped, as moby does
    }
    const cpath = this.target(h.name);
    if (this.failure) throw this.failure;
    const small = (h.type === 'file' || h.type === 'contiguous-file') && (h.size ?? 0) <= SMALL_FILE
      && !Object.keys(h.pax ?? {}).some((k) => k.startsWith('SCHILY.xattr.'));
    // Anything but a small file, or one whose name is already being made, waits for those in flight.
    if (!small || this.inflight.has(cpath) || this.retired.length > OPEN_DIRS) await this.drain();
    if (cpath === this.dest) {
      // "./": the destination's own owner, mode and times, as moby applies them.
      stream.resume();
      if (h.type !== 'directory') throw invalid(`cannot overwrite directory "${cpath}" with non-directory "${h.name}"`);
      const fd = this.root.open(cpath, O_PATH | O_DIRECTORY);
      try { await this.own(fd, h); } finally { closeFd(fd); }
      this.dirTimes.push([cpath, h.mtime ?? new Date()]);
      return;
    }
    const dir = this.dirFd(path.posix.dirname(cpath));
    const name = path.posix.basename(cpath);
    if (small) {
      const data = await collect(stream);
      const made = this.smallFile(dir, name, cpath, h, data)
        .catch((e) => { this.failure ??= e; })
        .finally(() => { this.inflight.delete(cpath); });
      this.inflight.set(cpath, made);
      if (this.inflight.size >= IN_FLIGHT) await Promise.race(this.inflight.values());
      return;
    }
    if (h.type === 'directory') await this.directory(dir, name, cpath, h);
    else if (h.type === 'file' || h.type === 'contiguous-file') await this.largeFile(dir, name, cpath, h, stream);
    else await this.other(dir, name, cpath, h);
    stream.resume();
  }

  /** Clears what stands where a directory and a non-directory meet, unless the caller forbade it. */
  private async clear(dir: number, name: string, cpath: string, h: tarStream.Header, curIsDir: boolean): Promise<void> {
    if (this.o.noOverwriteDirNonDir) {
      throw invalid(curIsDir ? `cannot overwrite directory "${cpath}" with non-directory "${h.name}"` : `cannot overwrite non-directory "${cpath}" with directory "${h.name}"`);
    }
    await removeAt(dir, name);
    this.forget(cpath);
  }

  private async directory(dir: number, name: string, cpath: string, h: tarStream.Header): Promise<void> {
    const [uid, gid] = this.ids(h);
    const mode = (h.mode ?? 0o755) & 0o7777;
    let fd: number;
    try { fd = await this.root.mkdirAt(dir, name, mode, uid, gid); } catch (e: any) {
      if (e?.code !== 'ENOTDIR') throw e;
      await this.clear(dir, name, cpath, h, false);
      fd = await this.root.mkdirAt(dir, name, mode, uid, gid);
    }
    this.remember(cpath, fd);
    this.xattrs(fdPath(fd), h);
    this.dirTimes.push([cpath, h.mtime ?? new Date()]);
  }

  /** A file written whole by one native call; an existing directory in its place is cleared (or refused) first. */
  private async smallFile(dir: number, name: string, cpath: string, h: tarStream.Header, data: Buffer): Promise<void> {
    const [uid, gid] = this.ids(h);
    const mode = (h.mode ?? 0o644) & 0o7777;
    const mtime = (h.mtime ?? new Date()).getTime();
    try { await this.root.createFileAt(dir, name, data, true, mode, uid, gid, mtime); } catch (e: any) {
      if (e?.code !== 'EISDIR') throw e;
      await this.clear(dir, name, cpath, h, true);
      await this.root.createFileAt(dir, name, data, true, mode, uid, gid, mtime);
    }
  }

  /** A large file (or one with extended attributes), streamed to the new file's fd. */
  private async largeFile(dir: number, name: string, cpath: string, h: tarStream.Header, stream: Readable): Promise<void> {
    const [uid, gid] = this.ids(h);
    const mode = (h.mode ?? 0o644) & 0o7777;
    const mtime = (h.mtime ?? new Date()).getTime();
    let fd: number;
    try { fd = await this.root.createFileAt(dir, name, null, false, mode, uid, gid, mtime); } catch (e: any) {
      if (e?.code !== 'EISDIR') throw e;
      await this.clear(dir, name, cpath, h, true);
      fd = await this.root.createFileAt(dir, name, null, false, mode, uid, gid, mtime);
    }
    // O_EXCL made it: the fd is this file's, whatever the container does to the name meanwhile.
    try {
      for await (const chunk of stream) await writeAll(fd, chunk as Buffer);
      this.xattrs(fdPath(fd), h);
    } catch (e) { closeFd(fd); throw e; }
    await this.root.finishFile(fd, mode, uid, gid, mtime);
  }

  /** Symlinks, hard links, device nodes and FIFOs: rare in a copy, made through Node's fs by path in `dir`. */
  private async other(dir: number, name: string, cpath: string, h: tarStream.Header): Promise<void> {
    const at = entryPath(dir, name);
    const cur = await fsp.lstat(at).catch((e) => { if (e?.code === 'ENOENT') return undefined; throw e; });
    if (cur?.isDirectory()) await this.clear(dir, name, cpath, h, true);
    else if (cur) await fsp.unlink(at);
    const [uid, gid] = this.ids(h);
    const mtime = h.mtime ?? new Date();
    if (h.type === 'symlink') {
      await fsp.symlink(h.linkname ?? '', at);
      await fsp.lchown(at, uid, gid);
      await fsp.lutimes(at, mtime, mtime).catch(() => {});
    } else if (h.type === 'link') {
      const target = this.target(h.linkname ?? '', 'hard link');
      await withParent(this.root, target, (tdir, tname) => fsp.link(entryPath(tdir, tname), at));
    } else {
      this.root.mknodAt(dir, name, TYPE_BITS[h.type!] | 0o600, h.devmajor ?? 0, h.devminor ?? 0);
      // The node is reached through its own O_PATH fd: a swap of the name cannot redirect this.
      const fh = await fsp.open(at, O_PATH | O_NOFOLLOW);
      try {
        await this.own(fh.fd, h);
        await fsp.utimes(fdPath(fh.fd), mtime, mtime);
      } finally { await fh.close(); }
    }
  }

  private ids(h: tarStream.Header): [number, number] {
    const [uid, gid] = this.o.owner ? [this.o.owner.uid, this.o.owner.gid] : [h.uid ?? 0, h.gid ?? 0];
    if (!this.o.toHost) return [uid, gid];
    const host = this.o.toHost(uid, gid);
    return [host.uid, host.gid];
  }

  /**
   * Owner, then mode (a chown clears set-id bits), then the archive's extended attributes, of the
   * file open as `fd` (any kind of fd: "/proc/self/fd/<fd>" is the file itself, never a path again).
   */
  private async own(fd: number, h: tarStream.Header): Promise<void> {
    const p = fdPath(fd);
    const [uid, gid] = this.ids(h);
    await fsp.chown(p, uid, gid);
    await fsp.chmod(p, (h.mode ?? 0o644) & 0o7777);
    this.xattrs(p, h);
  }

  private xattrs(p: string, h: tarStream.Header): void {
    for (const [k, v] of Object.entries((h.pax ?? {}) as Record<string, string>)) {
      // tar-stream reads PAX values as UTF-8: a binary value it could not read is left out.
      if (!k.startsWith('SCHILY.xattr.') || v.includes('\uFFFD')) continue;
      this.root.setxattr(p, k.slice('SCHILY.xattr.'.length), Buffer.from(v, 'utf8'));
    }
  }

  /** Directories' times, deepest first, once their content is in. */
  private async finish(): Promise<void> {
    await this.drain();
    for (const [cpath, t] of this.dirTimes.reverse()) {
      let fd: number;
      try { fd = this.root.open(cpath, O_RDONLY | O_DIRECTORY | O_NOFOLLOW); } catch { continue; }
      try { await fsp.utimes(fdPath(fd), t, t); } finally { closeFd(fd); }
    }
  }
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
}

const writeFd = promisify(write);
async function writeAll(fd: number, b: Buffer): Promise<void> {
  for (let off = 0; off < b.length;) off += (await writeFd(fd, b, off, b.length - off)).bytesWritten;
}
