// A container's root filesystem as drayd touches it while the container may be running: every path
// is resolved by the kernel with the root as "/" at the moment it is used (openat2 with
// RESOLVE_IN_ROOT, native/inroot.c), never by drayd walking a path string that the container
// can change between the check and the use. An operation on one entry goes through the fd of the
// directory that holds it: "/proc/self/fd/<dir>/<name>" is that name in that very directory, and
// calls that must not follow a symlink there (lstat, lchown, unlink, mkdir, open with O_NOFOLLOW)
// then act on the entry itself.
import { closeSync, constants, openSync, promises as fsp, readlinkSync } from 'node:fs';
import * as path from 'node:path';
import { nativeAddon, SysAddon } from './native';
import { notImplemented } from './errors';

/** O_PATH (Linux, x86-64 and arm64): an fd that names a file without opening it for I/O. */
export const O_PATH = 0o10000000;
export const { O_DIRECTORY, O_NOFOLLOW, O_RDONLY, O_WRONLY, O_CREAT, O_EXCL } = constants;

/** `name` in the directory open as `dirFd`. */
export const entryPath = (dirFd: number, name: string): string => `/proc/self/fd/${dirFd}/${name}`;
/** The file open as `fd` itself (for chmod, chown, utimes on an fd opened with O_PATH). */
export const fdPath = (fd: number): string => `/proc/self/fd/${fd}`;

/** `p` as an absolute, clean container path: `..` stops at "/". */
export function cleanContainerPath(p: string): string {
  return path.posix.normalize('/' + p).replace(/(.)\/+$/, '$1');
}

function addon(): SysAddon {
  const a = nativeAddon();
  if (!a || typeof a.openInRoot !== 'function') throw notImplemented('paths inside a container need drayd\'s native addon (dist/dray_sys.node), which is not built');
  return a;
}

export class RootFs {
  private constructor(readonly host: string, readonly fd: number, private readonly a: SysAddon, private readonly foreign: boolean) {}

  /**
   * Opens the root at host path `host` (drayd's own path, not one a container controls).
   * `foreign`: a root in another mount namespace (/proc/<pid>/root), whose fds' paths read back
   * as that namespace names them.
   */
  static open(host: string, foreign = false): RootFs {
    const a = addon();
    const fd = openSync(host, O_PATH | O_DIRECTORY);
    return new RootFs(path.resolve(host), fd, a, foreign);
  }

  close(): void { closeSync(this.fd); }

  /** An fd of container path `p` (symlinks followed inside the root); O_PATH unless `flags` say otherwise. */
  open(p: string, flags = O_PATH, mode = 0): number {
    return this.a.openInRoot(this.fd, cleanContainerPath(p), flags, mode);
  }

  /**
   * An fd of relative path `p` whose whole walk stays under the root: a `..` above it or a symlink
   * that leads out of it (an absolute one included) fails with EXDEV rather than being taken back
   * to the root as open() does. O_PATH unless `flags` say otherwise.
   */
  openBeneath(p: string, flags = O_PATH): number {
    return this.a.openInRoot(this.fd, p, flags, 0, true);
  }

  /**
   * The directory that holds `p` (its path resolved inside the root) as an O_PATH fd, and p's last
   * component, which is not followed. For "/" the root itself and "".
   */
  parent(p: string): { dir: number; name: string } {
    const clean = cleanContainerPath(p);
    if (clean === '/') return { dir: this.a.openInRoot(this.fd, '/', O_PATH | O_DIRECTORY, 0), name: '' };
    return { dir: this.open(path.posix.dirname(clean), O_PATH | O_DIRECTORY), name: path.posix.basename(clean) };
  }

  /** The container path of an fd opened inside this root. */
  containerPath(fd: number): string {
    const host = readlinkSync(fdPath(fd));
    if (this.foreign) return host;
    const rel = path.relative(this.host, host);
    return rel.startsWith('..') ? '/' : '/' + rel;
  }

  mknodAt(dir: number, name: string, mode: number, major: number, minor: number): void {
    this.a.mknodAt(dir, name, mode, major, minor);
  }

  setxattr(p: string, name: string, value: Buffer): void {
    this.a.setxattr(p, name, value);
  }

  /** A new file `name` in `dir` (see SysAddon.createFileAt): its fd, or -1 once `finish`ed. */
  createFileAt(dir: number, name: string, data: Buffer | null, finish: boolean, mode: number, uid: number, gid: number, mtimeMs: number): Promise<number> {
    return this.a.createFileAt(dir, name, data, finish, mode, uid, gid, mtimeMs);
  }

  finishFile(fd: number, mode: number, uid: number, gid: number, mtimeMs: number): Promise<number> {
    return this.a.finishFile(fd, mode, uid, gid, mtimeMs);
  }

  mkdirAt(dir: number, name: string, mode: number, uid: number, gid: number): Promise<number> {
    return this.a.mkdirAt(dir, name, mode, uid, gid);
  }
}

/** Runs `fn` with the root open, closing it after. */
export async function withRoot<T>(host: string, fn: (root: RootFs) => Promise<T>): Promise<T> {
  const root = RootFs.open(host);
  try { return await fn(root); } finally { root.close(); }
}

/** Closes an fd from openInRoot, ignoring one already closed. */
export function closeFd(fd: number): void {
  try { closeSync(fd); } catch { /* closed */ }
}

/**
 * Removes `name` from the directory `dir`, a whole tree if it is one, without following any symlink
 * in it: each level is opened with O_NOFOLLOW and emptied through its own fd.
 */
export async function removeAt(dir: number, name: string): Promise<void> {
  const p = entryPath(dir, name);
  const st = await fsp.lstat(p).catch((e) => { if (e?.code === 'ENOENT') return undefined; throw e; });
  if (!st) return;
  if (!st.isDirectory()) { await fsp.unlink(p); return; }
  const fh = await fsp.open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  try {
    for (const child of await fsp.readdir(fdPath(fh.fd))) await removeAt(fh.fd, child);
  } finally { await fh.close(); }
  await fsp.rmdir(p);
}

/**
 * The content of container file `p`, or undefined when it is missing or not a regular file. It is
 * opened for reading only once it is known to be a file: opening a FIFO the container put there
 * would block.
 */
export async function readFileInRoot(host: string, p: string): Promise<string | undefined> {
  return withRoot(host, async (root) => {
    let fd: number;
    try { fd = root.open(p); } catch (e: any) {
      if (e?.code === 'ENOENT' || e?.code === 'ENOTDIR' || e?.code === 'ELOOP') return undefined;
      throw e;
    }
    try {
      if (!(await fsp.stat(fdPath(fd))).isFile()) return undefined;
      return await fsp.readFile(fdPath(fd), 'utf8');
    } finally { closeFd(fd); }
  });
}
