// Views of an image's file system without a container: an overlay of its layer directories.
// Read-only (no upper directory) for readers that change nothing: the builder's COPY --from, RUN
// --mount from a stage or an image, a --chown name looked up in the image below. Writable for a
// build step that only writes files (COPY, ADD, WORKDIR), whose upper directory then becomes the
// step's layer. Neither has a container record to write and remove: one mount and one unmount.
//
//   <views>/<random>/merged/   the mount point
//   <views>/<random>/empty/    stand-in second lower (overlayfs wants two lowers without an upper)
//   <views>/<random>/upper/, work/   a writable view's changes and overlay workdir
//
// A crash leaves the mounts here; sweepViews() detaches them at the daemon's start, before the
// directory is emptied (a read-only overlay cannot be emptied by rm).
import { promises as fsp, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { mountOverlay, unmount } from '../lib/mount';
import { systemError } from '../lib/errors';

export interface ImageView {
  /** The image's root file system: read-only, but for a ScratchView. */
  readonly rootfs: string;
  /** Unmounts the view; a second call does nothing. */
  close(): Promise<void>;
}

/** A writable view: its changes are in `upper` once `unmount` has returned. */
export interface ScratchView extends ImageView {
  readonly upper: string;
  /** Unmounts, keeping `upper` (and the directory) until `close`. */
  unmount(): Promise<void>;
}

/** Overlay mount options are one page; the container mounts keep to the same bound. */
const MAX_MOUNT_DATA = 4000;

/** `lowerDirs` top first, as for a container's overlay. */
export async function mountView(viewsDir: string, lowerDirs: string[]): Promise<ImageView> {
  const dir = path.join(viewsDir, randomBytes(8).toString('hex'));
  const merged = path.join(dir, 'merged');
  await fsp.mkdir(merged, { recursive: true, mode: 0o700 });
  try {
    if (lowerDirs.length === 0) return { rootfs: merged, close: once(() => fsp.rm(dir, { recursive: true, force: true })) };
    let lowers = lowerDirs;
    if (lowers.length === 1) {
      const empty = path.join(dir, 'empty');
      await fsp.mkdir(empty);
      lowers = [...lowers, empty];
    }
    const data = `lowerdir=${lowers.join(':')}`;
    if (data.length > MAX_MOUNT_DATA) throw systemError('too many image layers for one overlay mount');
    await mountOverlay(merged, data);
  } catch (e) {
    await fsp.rm(dir, { recursive: true, force: true }).catch(() => {});
    throw e;
  }
  return {
    rootfs: merged,
    close: once(async () => {
      await unmount(merged);
      await fsp.rm(dir, { recursive: true, force: true });
    }),
  };
}

/** Detaches every view a crashed daemon left mounted and empties the directory. */
export async function sweepViews(viewsDir: string): Promise<void> {
  const prefix = viewsDir.replace(/ /g, '\\040') + '/';
  const points = readFileSync('/proc/self/mounts', 'utf8').split('\n')
    .map((l) => l.split(' ')[1]).filter((p) => p?.startsWith(prefix))
    .map((p) => p.replace(/\\040/g, ' '));
  for (const p of points) await unmount(p, { lazy: true });
  await fsp.rm(viewsDir, { recursive: true, force: true });
  await fsp.mkdir(viewsDir, { recursive: true, mode: 0o700 });
}

/**
 * `lowerDirs` (top first) under a fresh upper directory, mounted volatile: the changes become a
 * layer or nothing, and a crash loses only what would be thrown away (as a step container's).
 */
export async function mountScratch(viewsDir: string, lowerDirs: string[]): Promise<ScratchView> {
  const dir = path.join(viewsDir, randomBytes(8).toString('hex'));
  const [merged, upper, work, empty] = ['merged', 'upper', 'work', 'empty'].map((n) => path.join(dir, n));
  await fsp.mkdir(dir, { mode: 0o700 });
  try {
    await Promise.all([merged, work, ...(lowerDirs.length ? [] : [empty])].map((d) => fsp.mkdir(d)));
    // The layer's root directory is the upper's: as unpackLayer's diff/, 0755 and root's.
    await fsp.mkdir(upper, { mode: 0o755 });
    const data = `lowerdir=${(lowerDirs.length ? lowerDirs : [empty]).join(':')},upperdir=${upper},workdir=${work},volatile`;
    if (data.length > MAX_MOUNT_DATA) throw systemError('too many image layers for one overlay mount');
    await mountOverlay(merged, data);
  } catch (e) {
    await fsp.rm(dir, { recursive: true, force: true }).catch(() => {});
    throw e;
  }
  const unmountOnce = once(async () => { await unmount(merged); });
  return {
    rootfs: merged,
    upper,
    unmount: unmountOnce,
    close: once(async () => {
      await unmountOnce();
      await fsp.rm(dir, { recursive: true, force: true });
    }),
  };
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= fn());
}
