// Container root filesystems: overlay of the image's unpacked layers (read-only lowers) and the
// container's own upper directory. Mounted while the container runs, or briefly for cp/export/diff;
// mounts are counted so two users of one rootfs share one mount.
//
//   <dataRoot>/containers/<id>/fs/
//       upper/    the container's changes (overlay upperdir; a layer diff for commit, or, for a
//                 finished build step, moved into the layer store as the layer: takeUpper)
//       work/     overlay workdir
//       merged/   mount point
//       empty/    stand-in lower for an image without layers (overlay needs one)
//       idmapped/<n>/  a remapped container's idmapped view of lower n, only while its overlay is
//                 being mounted (the overlay keeps private clones of its layers; runtime/userns.ts)
// Where idmapped mounts are not available, a remapped container's lowers are instead per-mapping
// copies of its layers with shifted owners (`remapLower`, LayerStore.remapped), as dockerd's.
import { promises as fsp, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { mountOverlay, unmount, detach, MNT_DETACH } from '../lib/mount';
import { systemError } from '../lib/errors';
import { KeyedMutex } from '../lib/lock';
import { renameSameFs } from '../lib/atomic';
import { idmapMount, remappedRoot, type IdMap } from '../lib/idmap';

export class ContainerFs {
  private refs = new Map<string, number>();
  private lock = new KeyedMutex();
  /** Remapped containers (userns-remap): the mapping their lower layers are seen through. */
  private idmaps = new Map<string, IdMap>();

  /**
   * `remapLower`, when given: how a remapped container sees a lower layer without idmapped mounts
   * (a copy owned by the mapped IDs); unset, lowers are idmapped.
   */
  constructor(private containersDir: string, private remapLower?: (lowerDir: string, map: IdMap) => Promise<string>) {}

  /** Registers a container's ID mapping (at create, and for each record at daemon start). */
  setIdmap(id: string, map: IdMap | undefined): void {
    if (map) this.idmaps.set(id, map);
    else this.idmaps.delete(id);
  }

  dirOf(id: string) { return path.join(this.containersDir, id, 'fs'); }
  upper(id: string) { return path.join(this.dirOf(id), 'upper'); }
  merged(id: string) { return path.join(this.dirOf(id), 'merged'); }

  async create(id: string, idmap?: IdMap): Promise<void> {
    const d = this.dirOf(id);
    await Promise.all(['upper', 'work', 'merged'].map((n) => fsp.mkdir(path.join(d, n), { recursive: true })));
    this.setIdmap(id, idmap);
    // The overlay's root directory is the upper directory's: the remapped root owns it.
    if (idmap) { const r = remappedRoot(idmap); await fsp.chown(this.upper(id), r.uid, r.gid); }
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
        const idmap = this.idmaps.get(id);
        if (idmap && this.remapLower) {
          const copies = await Promise.all(lowers.map((l) => this.remapLower!(l, idmap)))
            .catch((e) => { throw systemError(`preparing the remapped copies of the image's layers: ${(e as Error).message}`); });
          data = data.replace(`lowerdir=${lowers.join(':')}`, `lowerdir=${copies.join(':')}`);
          if (data.length > 4000) throw systemError('too many image layers for one overlay mount');
          await mountOverlay(merged, data);
        } else if (idmap) await this.mountIdmapped(id, lowers, data, idmap);
        else await mountOverlay(merged, data);
      }
      this.refs.set(id, 1);
      return merged;
    });
  }

  /**
   * The overlay of a remapped container: each lower layer is first bound idmapped under
   * idmapped/<n>/ and the overlay made over those; overlayfs takes a private clone of each layer's
   * mount, so the binds are detached again at once and no mount but the overlay outlives this.
   */
  private async mountIdmapped(id: string, lowers: string[], data: string, idmap: IdMap): Promise<void> {
    const base = path.join(this.dirOf(id), 'idmapped');
    await fsp.rm(base, { recursive: true, force: true });
    const views = lowers.map((_, i) => path.join(base, String(i)));
    const bound: string[] = [];
    try {
      for (let i = 0; i < lowers.length; i++) {
        await fsp.mkdir(views[i], { recursive: true });
        await idmapMount(lowers[i], views[i], idmap);
        bound.push(views[i]);
      }
      const lowerdir = `lowerdir=${lowers.join(':')}`;
      await mountOverlay(this.merged(id), data.replace(lowerdir, `lowerdir=${views.join(':')}`));
    } catch (e) {
      throw systemError(`mounting the remapped root file system: ${(e as Error).message}`);
    } finally {
      for (const v of bound) await detach(v, MNT_DETACH).catch(() => {});
      await fsp.rm(base, { recursive: true, force: true }).catch(() => {});
    }
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

  /**
   * Moves the container's upper directory to `dest` (a build step's changes becoming a layer,
   * LayerStore.fromDir) and leaves an empty one in its place. Only for a container that is done
   * with it: refused (false) while the rootfs is mounted, for a remapped container (its upper holds
   * host IDs, a layer its own) and across file systems; the caller then copies as before.
   */
  async takeUpper(id: string, dest: string): Promise<boolean> {
    return this.lock.run(id, async () => {
      if ((this.refs.get(id) ?? 0) > 0 || this.idmaps.has(id) || isMounted(this.merged(id))) return false;
      if (!(await renameSameFs(this.upper(id), dest))) return false;
      await fsp.mkdir(this.upper(id), { recursive: true });
      return true;
    });
  }

  /** After a daemon restart: a running container's existing mount counts as one user. */
  adopt(id: string): void {
    if (isMounted(this.merged(id))) this.refs.set(id, 1);
  }

  async remove(id: string): Promise<void> {
    await this.unmount(id, true);
    this.idmaps.delete(id);
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
