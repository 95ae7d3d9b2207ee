// A volume's subdirectory (or file) mounted in place of its root: `VolumeOptions.Subpath` of a
// `--mount type=volume` (Engine API 1.45).
//
// The subpath lies in a volume that running containers may write to, so a path string checked
// now and mounted later could by then lead elsewhere (a directory swapped for a symlink to /).
// Hence the subpath is walked once, by the kernel: openat2 from the volume's _data with
// RESOLVE_BENEATH, which refuses a walk that leaves the volume by `..` or through a symlink,
// gives an O_PATH fd of the very inode found, and that fd is bind-mounted through
// /proc/self/fd/<fd> onto a staging point drayd owns. The runtime binds the staging point, never
// the path string, into the container.
//
// Layout (runtime state, under the exec root):
//   <execRoot>/volume-subpaths/
//     <container id>/
//       <n>          staging point of the container's n-th mount: a directory, or an empty file
//                    for a file subpath, carrying the bind mount of the resolved subpath
//
// Lifecycle: stage at container start → unstage at its exit, at its removal, or when the start
// fails → at drayd start, the staging points of containers that no longer run are swept.
// Staging points are only ever unmounted, then rmdir'ed or unlinked: never removed recursively,
// which through a mount still there would delete the volume's content.
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { getSystemErrorMessage } from 'node:util';
import { RootFs, fdPath, closeFd } from '../lib/in-root';
import { bindMount, unmount } from '../lib/mount';
import { invalid, notFound, systemError, errorMessage } from '../lib/errors';
import { log } from '../lib/log';

const MS_BIND = 4096;

/** Docker's lexical check (Go's filepath.IsLocal): relative, non-empty, no `..` above its start. */
export function isLocalSubpath(p: string): boolean {
  if (p === '' || p.startsWith('/')) return false;
  let depth = 0;
  for (const part of p.split('/')) {
    if (part === '..') { if (--depth < 0) return false; } else if (part !== '' && part !== '.') depth++;
  }
  return true;
}

/** Go's strerror text ("no such file or directory") for a Node.js system error. */
function causeText(e: unknown): string {
  const n = (e as NodeJS.ErrnoException)?.errno;
  if (typeof n === 'number') {
    try { return getSystemErrorMessage(n < 0 ? n : -n).toLowerCase(); } catch { /* unknown errno */ }
  }
  return errorMessage(e);
}

/**
 * Mounts `subpath` of the volume whose content is at `volumeData` on the staging point `point`
 * (made here, a directory or a file as the subpath is). Docker's errors: the subpath missing
 * (NotFound, "cannot access path …"), leaving the volume (InvalidParameter, "path concatenation
 * escapes the base directory …"). Returns whether the subpath is a directory.
 */
export async function stageSubpath(volumeData: string, subpath: string, point: string): Promise<boolean> {
  const root = RootFs.open(volumeData);
  let fd: number;
  try {
    fd = root.openBeneath(subpath);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException)?.code;
    if (code === 'EXDEV') throw invalid(`path concatenation escapes the base directory, base: ${volumeData}, subpath: ${subpath}`);
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') throw notFound(`cannot access path ${path.join(volumeData, subpath)}: ${causeText(e)}`);
    throw systemError(`openat2 ${subpath}: ${errorMessage(e)}`);
  } finally {
    root.close();
  }
  try {
    const isDir = (await fsp.stat(fdPath(fd))).isDirectory();
    await fsp.mkdir(path.dirname(point), { recursive: true, mode: 0o700 });
    if (isDir) await fsp.mkdir(point, { mode: 0o755 });
    else await fsp.writeFile(point, '', { flag: 'wx', mode: 0o600 });
    try {
      await bindMount(fdPath(fd), point, MS_BIND);
    } catch (e) {
      await removePoint(point);
      throw e;
    }
    return isDir;
  } finally {
    closeFd(fd);
  }
}

/** Unmounts and removes every staging point in `dir` (one container's), then `dir` itself. Never throws. */
export async function unstageAll(dir: string): Promise<void> {
  let names: string[];
  try { names = await fsp.readdir(dir); } catch { return; }
  for (const n of names) {
    const point = path.join(dir, n);
    try {
      // A point mounted twice over (a crash between two starts) needs one unmount per layer.
      for (let i = 0; i < 8 && await unmount(point); i++) { /* next layer */ }
      await removePoint(point);
    } catch (e) {
      log.warn('cannot release a volume subpath staging point', { point, error: errorMessage(e) });
    }
  }
  await fsp.rmdir(dir).catch((e) => { if (e?.code !== 'ENOENT') log.warn('staging directory left', { dir, error: errorMessage(e) }); });
}

/** After a drayd restart: unstages every container under `root` not in `keep` (those still running). */
export async function sweepStaging(root: string, keep: Set<string>): Promise<void> {
  let ids: string[];
  try { ids = await fsp.readdir(root); } catch { return; }
  for (const id of ids) if (!keep.has(id)) await unstageAll(path.join(root, id));
}

/** rmdir or unlink, never a recursive removal (see the top of this file). */
async function removePoint(point: string): Promise<void> {
  const st = await fsp.lstat(point).catch(() => undefined);
  if (!st) return;
  if (st.isDirectory()) await fsp.rmdir(point);
  else await fsp.unlink(point);
}
