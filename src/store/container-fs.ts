// Container root filesystems: overlay of the image's unpacked layers (read-only lowers) and the
// container's own upper directory. Mounted while the container runs, or briefly for cp/export/diff;
// mounts are counted so two users of one rootfs share one mount.
//
//   <dataRoot>/containers/<id>/fs/
//       upper/    the container's changes (overlay upperdir; a layer diff for commit)
//       work/     overlay workdir
//       merged/   mount point
//       empty/    stand-in lower for an image without layers (overlay needs one)
import { promises as fsp, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { mountOverlay, unmount } from '../lib/mount';
import { systemError } from '../lib/errors';
import { KeyedMutex } from '../lib/lock';

export class ContainerFs {
  private refs = new Map<string, number>();
  private lock = new KeyedMutex();

  constructor(private containersDir: string) {}

  dirOf(id: string) { return path.join(this.containersDir, id, 'fs'); }
  upper(id: string) { return path.join(this.dirOf(id), 'upper'); }
  merged(id: string) { return path.join(this.dirOf(id), 'merged'); }

  async create(id: string): Promise<void> {
    const d = this.dirOf(id);
    await Promise.all(['upper', 'work', 'merged'].map((n) => fsp.mkdir(path.join(d, n), { recursive: true })));
  }

  /**
   * Mounts (or shares the existing mount of) the container's rootfs and returns its path.
   * `volatile` is for scratch file systems (build steps, --rm containers): overlayfs then skips
   * the sync of the whole upper file system at unmount (tens of ms with other dirty data on the
   * disk). Their content is committed as a layer or discarded, so a crash loses nothing that matters.
   */
  async mount(id: string, lowerDirs: string[], opts: { volatile?: boolean } = {}): Promise<string> {
    return this.lock.run(id, async () => {
      const merged = this.merged(id);
      const n = this.refs.get(id) ?? 0;
      if (n > 0) { this.refs.set(id, n + 1); return merged; }
      if (!isMounted(merged)) {
        let lowers = lowerDirs;
        if (lowers.length === 0) {
          const empty = path.join(this.dirOf(id), 'empty');
          await fsp.mkdir(empty, { recursive: true });
          lowers = [empty];
        }
        const work = path.join(this.dirOf(id), 'work');
        let data = `lowerdir=${lowers.join(':')},upperdir=${this.upper(id)},workdir=${work}`;
        // A volatile mount leaves its marker, <workdir>/work/incompat/volatile, behind even after a
        // clean unmount, and overlayfs refuses any later mount of that workdir while it is there
        // (an interrupted build step or `run --rm`, mounted again for cp, commit or a restart).
        // Only scratch file systems are mounted volatile: what a crash may have left unsynced in
        // them is thrown away anyway.
        await fsp.rm(path.join(work, 'work', 'incompat'), { recursive: true, force: true });
        if (opts.volatile) data += ',volatile';
        if (data.length > 4000) throw systemError('too many image layers for one overlay mount');
        await mountOverlay(merged, data);
      }
      this.refs.set(id, 1);
      return merged;
    });
  }

  /** Drops one user of the mount; unmounts when none is left. `force` unmounts regardless. */
  async unmount(id: string, force = false): Promise<void> {
    await this.lock.run(id, async () => {
      const n = (this.refs.get(id) ?? 0) - 1;
      if (n > 0 && !force) { this.refs.set(id, n); return; }
      this.refs.delete(id);
      await unmountIfMounted(this.merged(id));
    });
  }

  /** After a daemon restart: a running container's existing mount counts as one user. */
  adopt(id: string): void {
    if (isMounted(this.merged(id))) this.refs.set(id, 1);
  }

  async remove(id: string): Promise<void> {
    await this.unmount(id, true);
    await fsp.rm(this.dirOf(id), { recursive: true, force: true });
  }
}

export function isMounted(dir: string): boolean {
  const mounts = readFileSync('/proc/self/mounts', 'utf8');
  const target = ' ' + dir.replace(/ /g, '\\040') + ' ';
  return mounts.includes(target);
}

export async function unmountIfMounted(dir: string): Promise<void> {
  if (isMounted(dir)) await unmount(dir);
}
