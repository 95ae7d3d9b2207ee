// User-namespace remapping, as dockerd's --userns-remap: every container (unless it asks for
// --userns=host) runs in a user namespace whose root is an unprivileged host user, the first ID of
// a subordinate range in /etc/subuid and /etc/subgid.
//   --userns-remap default      the system user and group `dray` (Docker's `dockremap`), made when
//                               missing, with 65536 IDs in each file where it has none
//   --userns-remap user[:group] an existing user's (and group's) ranges; the group defaults to the
//                               user's name, as in Docker
//
// How image layers become usable under the mapping: *idmapped mounts* (native/idmap.c), not
// dockerd's per-mapping copy of the layer store (<data-root>/<uid>.<gid>/, every layer unpacked
// again and chowned). A remapped container's overlay takes as lower layers idmapped mounts of the
// shared layer directories, so a file stored as 0 is seen as the remapped root by that container
// alone: no layer is copied or chowned, a pulled image serves remapped and --userns=host
// containers alike, and start-up costs one mount_setattr per layer. crun 1.8.1's own "idmap"
// mount option covers bind mounts only, not the root file system, hence the addon. The upper
// directory is not idmapped: it stores host IDs (as dockerd's does), so what the container writes
// is owned on the host by the mapped IDs; commit, export and cp translate at the tar boundary
// (toContainerId / toHostId).
//
// Each remapped container joins a user namespace drayd makes for it at start (lib/idmap.ts
// usernsAt), not one the runtime makes: its network namespace is made beforehand *owned by that
// user namespace*, for netavark to set up as for any container, so the container's root has its
// capabilities over its own network (ping, NET_ADMIN, net.* sysctls written by the runtime), as
// under dockerd, whose runtime makes the network namespace inside the container's user namespace.
//
// Idmapped layers need Linux 5.19 (overlayfs over idmapped layers) and a data-root file system
// that supports idmapped mounts (ext4, xfs, btrfs, tmpfs ≥ 6.3); drayd checks at start. Where
// they are missing (or DRAY_USERNS_LAYERS=copy asks), it falls back to dockerd's way: each layer
// a remapped container uses is unpacked once more from its blob with the owners shifted into the
// mapping (store/layers.ts remapped), at that container's first start; the copy is kept beside
// the layer and goes with it. File capabilities in such copies are those of the layer (written in
// the host's namespace, so not honoured by the remapped root: dockerd's copies have the same limit).
import { closeSync, openSync, readFileSync } from 'node:fs';
import { run } from '../lib/exec';
import type { IdMap, IdMapping } from '../lib/idmap';
import { nativeAddon } from '../lib/native';
import { log } from '../lib/log';

export interface UsernsRemap {
  user: string; group: string; map: IdMap;
  /** How remapped containers see image layers: idmapped mounts, or per-mapping chowned copies where the kernel or file system has no idmapped mounts. */
  layers?: 'idmap' | 'copy';
}

export const DEFAULT_REMAP_USER = 'dray';
const RANGE_SIZE = 65536;
const FIRST_SUBORDINATE = 100000;

interface Account { name: string; id: number }

function readLines(file: string): string[] {
  try { return readFileSync(file, 'utf8').split('\n'); } catch { return []; }
}

function lookup(file: string, nameOrId: string): Account | undefined {
  for (const line of readLines(file)) {
    const f = line.split(':');
    if (f.length < 3) continue;
    if (f[0] === nameOrId || (/^\d+$/.test(nameOrId) && f[2] === nameOrId)) return { name: f[0], id: Number(f[2]) };
  }
  return undefined;
}

/** The ranges of /etc/subuid or /etc/subgid for an account (by name or by number), in file order. */
export function subordinateRanges(file: string, who: Account): { start: number; size: number }[] {
  const out: { start: number; size: number }[] = [];
  for (const line of readLines(file)) {
    const f = line.trim().split(':');
    if (f.length !== 3 || !/^\d+$/.test(f[1]) || !/^\d+$/.test(f[2])) continue;
    if (f[0] === who.name || f[0] === String(who.id)) out.push({ start: Number(f[1]), size: Number(f[2]) });
  }
  return out;
}

/** Ranges one after the other in the container: Docker's createIDMap. */
function mappingOf(ranges: { start: number; size: number }[]): IdMapping[] {
  let next = 0;
  return ranges.filter((r) => r.size > 0).map((r) => { const m = { containerID: next, hostID: r.start, size: r.size }; next += r.size; return m; });
}

/** The first start ≥ 100000 where `size` IDs overlap no range of either file (any user's). */
function freeStart(size: number): number {
  const taken: { start: number; size: number }[] = [];
  for (const file of ['/etc/subuid', '/etc/subgid']) {
    for (const line of readLines(file)) {
      const f = line.trim().split(':');
      if (f.length === 3 && /^\d+$/.test(f[1]) && /^\d+$/.test(f[2])) taken.push({ start: Number(f[1]), size: Number(f[2]) });
    }
  }
  taken.sort((a, b) => a.start - b.start);
  let start = FIRST_SUBORDINATE;
  for (const r of taken) {
    if (r.start + r.size <= start) continue;
    if (r.start >= start + size) break;
    start = r.start + r.size;
  }
  return start;
}

/**
 * Holds an exclusive lock (flock, bounded wait) while `fn` changes the system's accounts, so two
 * drayd starting at once do not both add a user or a range.
 */
async function withAccountsLock<T>(fn: () => Promise<T>): Promise<T> {
  const a = nativeAddon();
  const fd = openSync('/run/dray-userns.lock', 'a+', 0o600);
  try {
    for (const start = Date.now(); a && !a.tryLock(fd);) {
      if (Date.now() - start > 15_000) throw new Error('another process holds /run/dray-userns.lock (creating the userns-remap user) for more than 15 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    return await fn();
  } finally {
    closeSync(fd);
  }
}

/** dockerd's AddNamespaceRangesUser: the `dray` system user and group, then its ranges where it has none. */
async function ensureDefaultUser(): Promise<void> {
  await withAccountsLock(async () => {
    if (!lookup('/etc/passwd', DEFAULT_REMAP_USER)) {
      log.info('creating the userns-remap user', { user: DEFAULT_REMAP_USER });
      const r = await run('useradd', ['--system', '--user-group', '--shell', '/bin/false', '--no-create-home', '--comment', 'Dray user-namespace remapping', DEFAULT_REMAP_USER], { allowFailure: true });
      if (r.code !== 0 && !lookup('/etc/passwd', DEFAULT_REMAP_USER)) throw new Error(`cannot create the user ${DEFAULT_REMAP_USER}: useradd: ${r.stderr.trim() || `exit status ${r.code}`}`);
    }
    const user = lookup('/etc/passwd', DEFAULT_REMAP_USER)!;
    const group = lookup('/etc/group', DEFAULT_REMAP_USER) ?? { name: DEFAULT_REMAP_USER, id: user.id };
    const needUids = subordinateRanges('/etc/subuid', user).length === 0;
    const needGids = subordinateRanges('/etc/subgid', group).length === 0;
    if (!needUids && !needGids) return;
    const start = freeStart(RANGE_SIZE);
    const range = `${start}-${start + RANGE_SIZE - 1}`;
    log.info('adding subordinate ID ranges for the userns-remap user', { user: DEFAULT_REMAP_USER, range });
    // usermod appends to /etc/subuid and /etc/subgid as shadow-utils does (lock files, a new
    // file renamed into place); nobody else's lines are touched.
    await run('usermod', [...(needUids ? ['--add-subuids', range] : []), ...(needGids ? ['--add-subgids', range] : []), DEFAULT_REMAP_USER]);
  });
}

/** Parses and resolves the daemon's userns-remap setting; throws with dockerd's wording. */
export async function resolveRemap(setting: string): Promise<UsernsRemap> {
  const [userPart, groupPart, extra] = setting.split(':');
  if (extra !== undefined || !userPart) throw new Error(`invalid userns-remap "${setting}": expected "default", a user, or user:group`);
  let userName = userPart;
  let groupName = groupPart;
  if (userPart === 'default') {
    if (groupPart) throw new Error(`invalid userns-remap "${setting}": "default" takes no group`);
    await ensureDefaultUser();
    userName = DEFAULT_REMAP_USER;
    groupName = DEFAULT_REMAP_USER;
  }
  const user = lookup('/etc/passwd', userName);
  if (!user) throw new Error(`Error during uid lookup for "${userName}": user: unknown user ${userName}`);
  groupName ??= user.name;
  const group = lookup('/etc/group', groupName);
  if (!group) throw new Error(`Error during gid lookup for "${groupName}": group: unknown group ${groupName}`);
  const uids = mappingOf(subordinateRanges('/etc/subuid', user));
  const gids = mappingOf(subordinateRanges('/etc/subgid', group));
  if (!uids.length) throw new Error(`Can't create ID mappings: No subuid ranges found for user "${user.name}"`);
  if (!gids.length) throw new Error(`Can't create ID mappings: No subgid ranges found for group "${group.name}"`);
  return { user: user.name, group: group.name, map: { uids, gids } };
}

