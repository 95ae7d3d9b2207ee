// Paths inside a container's root filesystem, resolved from the host as the container would see
// them: symlinks are followed with the rootfs as "/", so nothing resolves outside it.
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { invalid } from './errors';

const MAX_SYMLINKS = 255;

/**
 * The host path of `unsafe` inside `root`, following symlinks as if `root` were "/": `..` and
 * absolute link targets stop at the root. The result need not exist (a missing component ends the
 * walk and the rest is appended as-is).
 */
export async function resolveInRoot(root: string, unsafe: string): Promise<string> {
  const base = path.resolve(root);
  let pending = unsafe.split('/').filter((c) => c && c !== '.');
  const done: string[] = [];
  let links = 0;
  while (pending.length) {
    const c = pending.shift()!;
    if (c === '..') { done.pop(); continue; }
    const candidate = path.join(base, ...done, c);
    let st;
    try { st = await fsp.lstat(candidate); } catch (e: any) {
      if (e?.code === 'ENOENT' || e?.code === 'ENOTDIR') return path.join(base, ...done, c, ...pending);
      throw e;
    }
    if (!st.isSymbolicLink()) { done.push(c); continue; }
    if (++links > MAX_SYMLINKS) throw invalid(`too many levels of symbolic links resolving ${unsafe} in the container`);
    const target = await fsp.readlink(candidate);
    if (target.startsWith('/')) done.length = 0;
    pending = [...target.split('/').filter((x) => x && x !== '.'), ...pending];
  }
  return path.join(base, ...done);
}

