// ID mappings and idmapped mounts (native/idmap.c), for user-namespace remapping
// (runtime/userns.ts says why remapped containers see image layers through idmapped mounts).
import { existsSync, mkdirSync, rmdirSync, rmSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { nativeAddon } from './native';
import { log } from './log';

/** One line of an OCI linux.uidMappings / gidMappings. */
export interface IdMapping { containerID: number; hostID: number; size: number }
export interface IdMap { uids: IdMapping[]; gids: IdMapping[] }

/** A container ID through the mapping to the host's; undefined when the mapping lacks it. */
export function toHostId(ranges: IdMapping[], id: number): number | undefined {
  for (const r of ranges) if (id >= r.containerID && id < r.containerID + r.size) return r.hostID + (id - r.containerID);
  return undefined;
}

/** A host ID back to the container's; undefined outside the mapping. */
export function toContainerId(ranges: IdMapping[], id: number): number | undefined {
  for (const r of ranges) if (id >= r.hostID && id < r.hostID + r.size) return r.containerID + (id - r.hostID);
  return undefined;
}

/** The host uid/gid that is root in the container. */
export function remappedRoot(map: IdMap): { uid: number; gid: number } {
  return { uid: toHostId(map.uids, 0) ?? 0, gid: toHostId(map.gids, 0) ?? 0 };
}

/**
 * An (owner) translation for tar entries leaving a remapped container's files (commit, export, cp
 * out): host IDs in the mapping become the container's; others (written by drayd itself, such as
 * the builder's COPY) are already container IDs and pass unchanged.
 */
export function outOf(map: IdMap): (uid: number, gid: number) => { uid: number; gid: number } {
  return (uid, gid) => ({ uid: toContainerId(map.uids, uid) ?? uid, gid: toContainerId(map.gids, gid) ?? gid });
}

/** The reverse, for what is written into a remapped container (cp in): unmapped IDs become nobody's (the overflow ID). */
export function into(map: IdMap): (uid: number, gid: number) => { uid: number; gid: number } {
  return (uid, gid) => ({ uid: toHostId(map.uids, uid) ?? OVERFLOW_ID, gid: toHostId(map.gids, gid) ?? OVERFLOW_ID });
}
const OVERFLOW_ID = 65534;

const mapText = (m: IdMapping[]) => m.map((r) => `${r.containerID} ${r.hostID} ${r.size}\n`).join('');

const usernsFds = new Map<string, number>();

/**
 * A user namespace carrying `map` (an fd kept for the daemon's life, one per mapping): what
 * idmapped mounts take their mapping from.
 */
export function usernsFd(map: IdMap): number {
  const key = JSON.stringify(map);
  let fd = usernsFds.get(key);
  if (fd === undefined) {
    const a = nativeAddon();
    if (!a) throw new Error('user-namespace remapping needs drayd\'s native addon (dist/dray_sys.node), which is not built');
    fd = a.idmapUserns(mapText(map.uids), mapText(map.gids));
    usernsFds.set(key, fd);
  }
  return fd;
}

/** An idmapped bind of `source` on `target` (an existing directory). */
export async function idmapMount(source: string, target: string, map: IdMap): Promise<void> {
  const a = nativeAddon();
  if (!a) throw new Error('user-namespace remapping needs drayd\'s native addon (dist/dray_sys.node), which is not built');
  await a.idmapMount(source, target, usernsFd(map));
}

/**
 * At daemon start: whether this kernel and the file system under `dir` take idmapped mounts
 * (a scratch directory is idmapped onto another, looked at, and unmounted). Throws the reason.
 */
export async function checkIdmapSupport(dir: string, map: IdMap): Promise<void> {
  const base = path.join(dir, `.idmap-check-${randomBytes(4).toString('hex')}`);
  const src = path.join(base, 'src');
  const dst = path.join(base, 'dst');
  mkdirSync(src, { recursive: true });
  mkdirSync(dst);
  const a = nativeAddon();
  try {
    try {
      await idmapMount(src, dst, map);
    } catch (e) {
      throw new Error(`idmapped mounts (Linux 5.19 or later, and a data-root file system that supports them) are not available under ${dir}: ${(e as Error).message}`);
    }
    await a!.umount2(dst, 2 /* MNT_DETACH */);
  } finally {
    try { rmdirSync(dst); rmdirSync(src); rmdirSync(base); } catch { /* best effort */ }
  }
}

/**
 * At daemon start: how remapped containers will see image layers. Idmapped where the kernel and
 * the data root allow it; otherwise (or when DRAY_USERNS_LAYERS=copy asks, to use or test the
 * fallback on a host that has them) per-mapping copies with shifted owners, as dockerd's.
 */
export async function remapLayersMode(dir: string, map: IdMap): Promise<'idmap' | 'copy'> {
  const asked = process.env.DRAY_USERNS_LAYERS;
  if (asked === 'copy') return 'copy';
  if (asked && asked !== 'idmap') throw new Error(`DRAY_USERNS_LAYERS=${asked}: expected idmap or copy`);
  try {
    await checkIdmapSupport(dir, map);
    return 'idmap';
  } catch (e) {
    if (asked === 'idmap') throw e;
    log.warn(`userns-remap: ${(e as Error).message}; remapped containers get a copy of each image layer they use, owned by the mapped IDs (made once per layer, at the first start)`);
    return 'copy';
  }
}

/**
 * dockerd's check at start: a remapped root must be able to pass through the data root and every
 * directory above it (the runtime, in the container's user namespace, reaches the root file
 * system by that path). Throws dockerd's message naming the first directory that stops it.
 */
export function checkTraversable(dataRoot: string, root: { uid: number; gid: number }): void {
  for (let dir = path.resolve(dataRoot); ; dir = path.dirname(dir)) {
    const st = statSync(dir);
    const ok = st.uid === root.uid ? (st.mode & 0o100) !== 0 : st.gid === root.gid ? (st.mode & 0o010) !== 0 : (st.mode & 0o001) !== 0;
    if (!ok) throw new Error(`a subdirectory in your graphroot path (${dataRoot}) restricts access to the remapped root uid/gid; please fix by allowing 'o+x' permissions on existing directories (${dir} is mode ${(st.mode & 0o7777).toString(8)})`);
    if (dir === '/') return;
  }
}

/**
 * A remapped container's own user namespace, kept by a bind mount on `file`: the container joins
 * it (not a namespace the runtime makes), so that its network namespace can be made beforehand,
 * owned by it (netnsOwnedBy), for netavark to set up. A stale file (a crash) is replaced.
 */
export async function usernsAt(file: string, map: IdMap): Promise<void> {
  const a = nativeAddon();
  if (!a) throw new Error('user-namespace remapping needs drayd\'s native addon (dist/dray_sys.node), which is not built');
  await removeNsFile(file);
  mkdirSync(path.dirname(file), { recursive: true });
  await a.usernsAt(file, mapText(map.uids), mapText(map.gids));
}

/** A new network namespace owned by the user namespace kept on `usernsFile`, kept on `file`. */
export async function netnsOwnedBy(file: string, usernsFile: string): Promise<void> {
  const a = nativeAddon();
  if (!a) throw new Error('user-namespace remapping needs drayd\'s native addon (dist/dray_sys.node), which is not built');
  await a.netnsAt(file, usernsFile);
}

/** Unmounts and removes a namespace file (idempotent). */
export async function removeNsFile(file: string): Promise<void> {
  if (!existsSync(file)) return;
  const a = nativeAddon();
  await a?.umount2(file, 2 /* MNT_DETACH */).catch(() => {});
  rmSync(file, { force: true });
}
