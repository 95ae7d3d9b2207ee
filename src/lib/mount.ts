// Mounts and unmounts by system call, through the small native addon in native/sys.c (built into
// dist/dray_sys.node). Every container start and exit mounts and unmounts its root file system;
// spawning mount(8) and umount(8) for that cost two process starts (10–15 ms each on a slow VM).
// Where the addon cannot be loaded, the same calls go through mount(8) and umount(8).
import { run } from './exec';
import { systemError } from './errors';
import { nativeAddon } from './native';

export const MNT_DETACH = 2;
const sys = nativeAddon;

/** How mounts are done here: by system call, or through mount(8) when the addon is missing. */
export function mountBackend(): 'syscall' | 'mount(8)' {
  return sys() ? 'syscall' : 'mount(8)';
}

/** mount -t overlay overlay -o <data> <target> */
export async function mountOverlay(target: string, data: string): Promise<void> {
  const s = sys();
  if (!s) { await run('mount', ['-t', 'overlay', 'overlay', '-o', data, target]); return; }
  try {
    await s.mount('overlay', target, 'overlay', 0, data);
  } catch (e) {
    throw systemError(`mounting the container's root file system: ${(e as Error).message}`);
  }
}

/**
 * Unmounts `target`. When it is busy (a process outside still holds it), detaches it instead: the
 * kernel frees it once unused, and state can still be cleaned. `lazy` detaches at once (what `ip
 * netns delete` does with a namespace file). Resolves false if it was not mounted.
 */
export async function unmount(target: string, opts: { lazy?: boolean } = {}): Promise<boolean> {
  const s = sys();
  if (!s) {
    const r = await run('umount', [...(opts.lazy ? ['-l'] : []), target], { allowFailure: true });
    if (r.code === 0) return true;
    if (/not mounted|no mount point|not found/i.test(r.stderr)) return false;
    const l = await run('umount', ['-l', target], { allowFailure: true });
    if (l.code !== 0) throw systemError(`unmount ${target}: ${(r.stderr || l.stderr).trim()}`);
    return true;
  }
  try {
    await s.umount2(target, opts.lazy ? MNT_DETACH : 0);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EINVAL' || code === 'ENOENT') return false;
    if (code !== 'EBUSY') throw systemError(`unmount ${target}: ${(e as Error).message}`);
  }
  try {
    await s.umount2(target, MNT_DETACH);
    return true;
  } catch (e) {
    throw systemError(`unmount ${target}: ${(e as Error).message}`);
  }
}

/**
 * A new network namespace kept by a bind mount on `file` (which must not exist), as `ip netns add`
 * makes one. Resolves false, having done nothing, where the addon is missing.
 */
export async function newNetnsAt(file: string): Promise<boolean> {
  const s = sys();
  if (!s) return false;
  try {
    await s.netnsAdd(file);
  } catch (e) {
    throw systemError(`creating the network namespace ${file}: ${(e as Error).message}`);
  }
  return true;
}

/** mount(2) with flags (a bind, a remount): `target` may be "/proc/self/fd/<fd>", the directory that fd is. */
export async function bindMount(source: string | null, target: string, flags: number): Promise<void> {
  const s = sys();
  if (!s) throw systemError('bind mounts need drayd\'s native addon (dist/dray_sys.node), which is not built');
  try { await s.mount(source, target, null, flags, null); } catch (e) { throw systemError(`bind mount ${source ?? ''} on ${target}: ${(e as Error).message}`); }
}

/** umount2(2) of `target` with flags, reporting every failure. */
export async function detach(target: string, flags: number): Promise<void> {
  const s = sys();
  if (!s) throw systemError('unmounting needs drayd\'s native addon (dist/dray_sys.node), which is not built');
  await s.umount2(target, flags);
}
