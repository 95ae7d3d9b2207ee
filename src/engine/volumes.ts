// Volumes of the "local" driver, the only driver Dray has.
//
// Lifecycle of one volume:
//   create  → <dataRoot>/volumes/<name>/_data made, then volume.json written atomically (the
//             volume exists from that moment; a directory without volume.json is a crash leftover)
//   acquire → a container start takes a reference; a volume with driver options (tmpfs, bind
//             device, any `mount -t`) is mounted on _data by the first reference
//   release → the last reference unmounts it again
//   remove  → refused while any container references it; unmount, then delete the directory
//
// On-disk layout:
//   <dataRoot>/volumes/
//     <name>/
//       volume.json      {Name, CreatedAt, Labels, Options, populated}
//       _data/           the content, or the mount point of an option-volume
//
// `populated` records Docker's copy-up (image content copied into a new volume): it happens once.
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { writeJsonAtomic, readJsonIfExists, sweepTempFiles } from '../lib/atomic';
import { run } from '../lib/exec';
import { unmount } from '../lib/mount';
import { removeTree } from '../lib/trash';
import { KeyedMutex } from '../lib/lock';
import { log } from '../lib/log';
import { conflict, invalid, notFound, notImplemented, systemError, errorMessage, isKind } from '../lib/errors';
import { sweepStaging } from './volume-subpath';
import type { EventBus } from './events';
import { byBytes } from '../lib/compare';

/** Label Docker (API ≥ 1.42) puts on volumes a container created without a name. */
export const ANONYMOUS_LABEL = 'com.docker.volume.anonymous';

/** Docker's Volume object as the API serves it. */
export interface VolumeInfo {
  Name: string;
  Driver: 'local';
  Mountpoint: string;
  CreatedAt: string;
  Labels: Record<string, string> | null;
  Scope: 'local';
  Options: Record<string, string> | null;
  UsageData?: { Size: number; RefCount: number };
}

export interface VolumeCreateRequest {
  Name?: string;
  Driver?: string;
  DriverOpts?: Record<string, string> | null;
  Labels?: Record<string, string> | null;
}

interface VolumeMeta {
  Name: string;
  CreatedAt: string;
  Labels: Record<string, string> | null;
  Options: Record<string, string> | null;
  populated?: boolean;
}

interface VolumeState {
  meta: VolumeMeta;
  /** Who holds the volume mounted: a container id (idempotent), or '' counted per call. */
  holders: Map<string, number>;
  /** Whether _data carries this volume's own mount (option-volumes only). */
  mounted: boolean;
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const VALID_OPTS = new Set(['type', 'device', 'o', 'size']);
// An option given requires these others, as the local driver of Docker checks.
const MANDATORY_OPTS: Record<string, string[]> = { device: ['type'], type: ['device'], o: ['device', 'type'] };

export class VolumeService {
  readonly root: string;
  private readonly events: EventBus;
  private volumes = new Map<string, VolumeState>();
  private lock = new KeyedMutex();
  private usage: (name: string) => string[] = () => [];
  private usageSet = false;

  /** userns-remap: new volumes' _data belongs to the remapped root, as under a remapped dockerd. */
  private readonly owner?: { uid: number; gid: number };

  /** Where containers' volume subpaths are staged (volume-subpath.ts): runtime state. */
  private readonly subpathRoot?: string;

  /** `execRoot`: the daemon's runtime directory, which volume subpaths need for their staging points. */
  constructor(opts: { dataRoot: string; events: EventBus; owner?: { uid: number; gid: number }; execRoot?: string }) {
    this.root = path.join(opts.dataRoot, 'volumes');
    this.events = opts.events;
    this.owner = opts.owner;
    if (opts.execRoot) this.subpathRoot = path.join(opts.execRoot, 'volume-subpaths');
  }

  /** The directory of one container's subpath staging points (volume-subpath.ts). */
  subpathStaging(containerId: string): string {
    if (!this.subpathRoot) throw notImplemented('volume subpaths need the daemon\'s exec root, which this volume service was not given');
    return path.join(this.subpathRoot, containerId);
  }

  /**
   * Loads every volume and cleans what a crash left: directories without volume.json (a create
   * cut short) and mounts of option-volumes no container references. Call setUsage first for the
   * second part; mounts of referenced volumes stay, unheld, until adopted (acquire) or swept.
   */
  async init(): Promise<void> {
    await fsp.mkdir(this.root, { recursive: true, mode: 0o701 });
    const mounts = await mountedPaths();
    for (const name of await fsp.readdir(this.root)) {
      const dir = path.join(this.root, name);
      const st = await fsp.lstat(dir).catch(() => undefined);
      if (!st?.isDirectory()) continue;
      await sweepTempFiles(dir);
      const meta = await readJsonIfExists<VolumeMeta>(path.join(dir, 'volume.json')).catch((e) => {
        log.warn('unreadable volume metadata, volume skipped', { name, error: errorMessage(e) });
        return null;
      });
      if (meta === null) continue;
      const data = path.join(dir, '_data');
      if (!meta) {
        if (mounts.has(data)) await unmount(data).catch(() => {});
        if ((await mountedPaths()).has(data)) { log.warn('half-created volume is still mounted; left alone', { name }); continue; }
        log.info('removing half-created volume', { name });
        await removeTree(dir);
        continue;
      }
      this.volumes.set(meta.Name, { meta, holders: new Map(), mounted: hasMountOptions(meta.Options) && mounts.has(data) });
    }
    if (this.usageSet) {
      for (const [name, v] of this.volumes) {
        if (v.mounted && this.usage(name).length === 0) await this.unmountState(name, v).catch((e) => log.warn('cannot unmount unused volume', { name, error: errorMessage(e) }));
      }
    }
  }

  /** How to find the containers (any state) that reference a volume; they keep it from removal. */
  setUsage(fn: (volumeName: string) => string[]): void {
    this.usage = fn;
    this.usageSet = true;
  }

  async create(req: VolumeCreateRequest): Promise<VolumeInfo> {
    const driver = req.Driver || 'local';
    const name = req.Name || randomBytes(32).toString('hex');
    return this.lock.run(name, async () => {
      const existing = this.volumes.get(name);
      if (existing) {
        if (driver !== 'local') throw conflict(`create ${name}: volume name must be unique`);
        return this.view(existing);
      }
      if (driver !== 'local') throw notFound(`error looking up volume plugin ${driver}: plugin "${driver}" not found`);
      validateName(name);
      const options = req.DriverOpts && Object.keys(req.DriverOpts).length ? { ...req.DriverOpts } : (req.DriverOpts ? {} : null);
      try { await validateOptions(options); } catch (e) { throw wrapOp('create', name, e); }
      const dir = path.join(this.root, name);
      const meta: VolumeMeta = { Name: name, CreatedAt: rfc3339(new Date()), Labels: req.Labels ? { ...req.Labels } : null, Options: options };
      try {
        await fsp.mkdir(path.join(dir, '_data'), { recursive: true, mode: 0o755 });
        if (this.owner) await fsp.chown(path.join(dir, '_data'), this.owner.uid, this.owner.gid);
        await writeJsonAtomic(path.join(dir, 'volume.json'), meta);
      } catch (e) {
        await fsp.rm(dir, { recursive: true, force: true }).catch(() => {});
        throw systemError(`create ${name}: ${errorMessage(e)}`);
      }
      const v: VolumeState = { meta, holders: new Map(), mounted: false };
      this.volumes.set(name, v);
      this.events.publish('volume', 'create', name, { driver: 'local' });
      return this.view(v);
    });
  }

  get(name: string): VolumeInfo {
    return this.view(this.state(name));
  }

  has(name: string): boolean {
    return this.volumes.has(name);
  }

  /** Filters: dangling (true|false|1|0), name (regexp or substring), driver, label (key or key=value). */
  list(filters: Map<string, string[]> = new Map()): VolumeInfo[] {
    for (const k of filters.keys()) if (!['dangling', 'name', 'driver', 'label'].includes(k)) throw invalid(`invalid filter '${k}'`);
    let dangling: boolean | undefined;
    for (const d of filters.get('dangling') ?? []) {
      if (d === 'true' || d === '1') dangling = true;
      else if (d === 'false' || d === '0') dangling = false;
      else throw invalid(`invalid filter 'dangling=${d}'`);
    }
    const names = filters.get('name') ?? [];
    const drivers = filters.get('driver') ?? [];
    const labels = filters.get('label') ?? [];
    const out: VolumeInfo[] = [];
    for (const [name, v] of [...this.volumes].sort(([a], [b]) => byBytes(a, b))) {
      if (dangling !== undefined && (this.refs(name, v).length === 0) !== dangling) continue;
      if (names.length && !names.some((n) => matchName(n, name))) continue;
      if (drivers.length && !drivers.includes('local')) continue;
      if (!labels.every((l) => labelMatches(v.meta.Labels, l))) continue;
      out.push(this.view(v));
    }
    return out;
  }

  /**
   * Removes a volume no container references. `force` only turns "no such volume" into success.
   * `except` is a container id whose reference does not count (the container being removed).
   */
  async remove(name: string, force: boolean, opts: { except?: string } = {}): Promise<void> {
    await this.lock.run(name, async () => {
      const v = this.volumes.get(name);
      if (!v) {
        if (force) return;
        throw notFound(`get ${name}: no such volume`);
      }
      const refs = this.refs(name, v).filter((r) => r !== opts.except);
      if (refs.length) throw conflict(`remove ${name}: volume is in use - [${refs.join(', ')}]`);
      await this.destroy(name, v);
    });
  }

  /**
   * Removes unreferenced volumes. Without `all`, only anonymous ones (API ≥ 1.42; the caller passes
   * all=true for older API versions). Filters: label, label! (key or key=value), all.
   */
  async prune(opts: { all: boolean; filters?: Map<string, string[]> }): Promise<{ VolumesDeleted: string[]; SpaceReclaimed: number }> {
    const filters = opts.filters ?? new Map<string, string[]>();
    for (const k of filters.keys()) if (!['label', 'label!', 'all'].includes(k)) throw invalid(`invalid filter '${k}'`);
    let all = opts.all;
    for (const a of filters.get('all') ?? []) {
      if (a === 'true' || a === '1') all = true;
      else if (a !== 'false' && a !== '0') throw invalid(`invalid filter 'all=${a}'`);
    }
    const want = filters.get('label') ?? [];
    const unwanted = filters.get('label!') ?? [];
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const name of [...this.volumes.keys()].sort()) {
      await this.lock.run(name, async () => {
        const v = this.volumes.get(name);
        if (!v || this.refs(name, v).length) return;
        const labels = v.meta.Labels;
        if (!all && !(labels && ANONYMOUS_LABEL in labels)) return;
        if (!want.every((l) => labelMatches(labels, l))) return;
        if (unwanted.some((l) => labelMatches(labels, l))) return;
        const size = v.mounted ? 0 : await dirSize(path.join(this.root, name, '_data'));
        try {
          await this.destroy(name, v);
        } catch (e) {
          log.warn('prune: cannot remove volume', { name, error: errorMessage(e) });
          return;
        }
        deleted.push(name);
        reclaimed += size;
      });
    }
    return { VolumesDeleted: deleted, SpaceReclaimed: reclaimed };
  }

  /**
   * Path to bind into a container. Mounts an option-volume on first use. `ref` (a container id)
   * makes the reference idempotent: acquiring twice for one ref holds once. `event` attributes,
   * when given, are published with a "mount" event (Docker's per-container mount event).
   */
  async acquire(name: string, opts: { ref?: string; event?: Record<string, string> } = {}): Promise<string> {
    const data = await this.lock.run(name, async () => {
      const v = this.volumes.get(name);
      if (!v) throw notFound(`get ${name}: no such volume`);
      const dataPath = path.join(this.root, name, '_data');
      if (hasMountOptions(v.meta.Options) && !v.mounted) {
        await mountVolume(v.meta.Options!, dataPath);
        v.mounted = true;
      }
      const key = opts.ref ?? '';
      v.holders.set(key, opts.ref !== undefined ? 1 : (v.holders.get(key) ?? 0) + 1);
      return dataPath;
    });
    if (opts.event) this.events.publish('volume', 'mount', name, { driver: 'local', ...opts.event });
    return data;
  }

  /** Drops a reference taken by acquire; the last one unmounts an option-volume. */
  async release(name: string, opts: { ref?: string; event?: Record<string, string> } = {}): Promise<void> {
    const found = await this.lock.run(name, async () => {
      const v = this.volumes.get(name);
      if (!v) return false;
      const key = opts.ref ?? '';
      const n = (v.holders.get(key) ?? 0) - 1;
      if (n > 0 && opts.ref === undefined) v.holders.set(key, n);
      else v.holders.delete(key);
      if (v.holders.size === 0 && v.mounted) await this.unmountState(name, v);
      return true;
    });
    if (found && opts.event) this.events.publish('volume', 'unmount', name, { driver: 'local', ...opts.event });
  }

  /**
   * Unmounts option-volumes that are mounted but held by nobody: after a daemon restart, once the
   * still-running containers have re-acquired theirs (container-mounts adoptMounts).
   */
  async sweepMounts(): Promise<void> {
    // Subpath staging points of containers that hold no volume any more (they stopped while
    // drayd was down) go first: they keep the volume mounts below them busy.
    if (this.subpathRoot) {
      const holders = new Set<string>();
      for (const v of this.volumes.values()) for (const h of v.holders.keys()) if (h) holders.add(h);
      await sweepStaging(this.subpathRoot, holders);
    }
    for (const [name, v] of this.volumes) {
      await this.lock.run(name, async () => {
        if (v.mounted && v.holders.size === 0) await this.unmountState(name, v).catch((e) => log.warn('cannot unmount unused volume', { name, error: errorMessage(e) }));
      });
    }
  }

  /**
   * Runs `fill(dataPath)` once in the life of a volume, serialised with every other user of it:
   * Docker's copy-up of image content into a new volume. `fill` returns whether the volume counts
   * as populated now. A tmpfs volume loses its content on unmount, so for it the mark is not kept.
   */
  async populateOnce(name: string, fill: (dataPath: string) => Promise<boolean>): Promise<void> {
    await this.lock.run(name, async () => {
      const v = this.volumes.get(name);
      if (!v || v.meta.populated) return;
      const done = await fill(path.join(this.root, name, '_data'));
      if (!done || v.meta.Options?.type === 'tmpfs') return;
      v.meta = { ...v.meta, populated: true };
      await writeJsonAtomic(path.join(this.root, name, 'volume.json'), v.meta);
    });
  }

  isAnonymous(name: string): boolean {
    const l = this.volumes.get(name)?.meta.Labels;
    return !!l && ANONYMOUS_LABEL in l;
  }

  /** Volumes with their size and reference count, for /system/df. */
  async diskUsage(): Promise<VolumeInfo[]> {
    const out: VolumeInfo[] = [];
    for (const [name, v] of this.volumes) {
      const size = await dirSize(path.join(this.root, name, '_data'));
      out.push({ ...this.view(v), UsageData: { Size: size, RefCount: this.usage(name).length } });
    }
    return out;
  }

  // ---- internals ------------------------------------------------------------------------------

  private state(name: string): VolumeState {
    const v = this.volumes.get(name);
    if (!v) throw notFound(`get ${name}: no such volume`);
    return v;
  }

  private refs(name: string, v: VolumeState): string[] {
    const ids = new Set(this.usage(name));
    for (const h of v.holders.keys()) if (h) ids.add(h);
    if (v.holders.has('') && ids.size === 0) ids.add('<in use>');
    return [...ids];
  }

  private view(v: VolumeState): VolumeInfo {
    const m = v.meta;
    return {
      CreatedAt: m.CreatedAt, Driver: 'local', Labels: m.Labels ? { ...m.Labels } : null,
      Mountpoint: path.join(this.root, m.Name, '_data'), Name: m.Name,
      Options: m.Options ? { ...m.Options } : null, Scope: 'local',
    };
  }

  private async unmountState(name: string, v: VolumeState): Promise<void> {
    const data = path.join(this.root, name, '_data');
    await unmount(data);
    v.mounted = false;
  }

  /** Caller holds the lock. Never deletes through a mount: a bind device's content is the user's. */
  private async destroy(name: string, v: VolumeState): Promise<void> {
    const dir = path.join(this.root, name);
    const data = path.join(dir, '_data');
    if (v.mounted || (await mountedPaths()).has(data)) await this.unmountState(name, v);
    if ((await mountedPaths()).has(data)) throw systemError(`remove ${name}: volume data is still mounted at ${data}`);
    // Delete volume.json first: a crash midway then leaves a half-made directory init removes.
    await fsp.rm(path.join(dir, 'volume.json'), { force: true });
    this.volumes.delete(name);
    // Containers wrote this tree: it may be deeper than Node's own rm can name.
    await removeTree(dir);
    this.events.publish('volume', 'destroy', name, { driver: 'local' });
  }
}

// ---- helpers ----------------------------------------------------------------------------------

function validateName(name: string): void {
  if (name.length === 1) throw invalid(`create ${name}: volume name is too short, names should be at least two alphanumeric characters`);
  if (!NAME_RE.test(name)) {
    throw invalid(`create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`);
  }
}

async function validateOptions(opts: Record<string, string> | null): Promise<void> {
  if (!opts || Object.keys(opts).length === 0) return;
  for (const k of Object.keys(opts)) if (!VALID_OPTS.has(k)) throw invalid(`invalid option: "${k}"`);
  if ('size' in opts) throw invalid('quota size requested but no quota support');
  for (const [opt, required] of Object.entries(MANDATORY_OPTS)) {
    if (!(opt in opts)) continue;
    for (const r of required) if (!(r in opts)) throw invalid(`missing required option: "${r}"`);
  }
  if (isBindOptions(opts)) {
    const dev = opts.device;
    if (!path.isAbsolute(dev)) throw invalid(`invalid device path for bind: "${dev}" must be absolute`);
    try { await fsp.stat(dev); } catch { throw invalid(`bind device path does not exist: ${dev}`); }
  }
}

const hasMountOptions = (o: Record<string, string> | null): boolean => !!o && !!o.type && !!o.device;
const isBindOptions = (o: Record<string, string>): boolean => (o.o ?? '').split(',').some((x) => x === 'bind' || x === 'rbind');

function wrapOp(op: string, name: string, e: unknown): unknown {
  if (isKind(e, 'InvalidParameter')) return invalid(`${op} ${name}: ${errorMessage(e)}`);
  return e;
}

async function mountVolume(opts: Record<string, string>, target: string): Promise<void> {
  const args = ['-t', opts.type];
  if (opts.o) args.push('-o', opts.o);
  args.push('--', opts.device, target);
  try {
    await run('mount', args);
  } catch (e) {
    throw systemError(`error while mounting volume '${target}': failed to mount local volume: ${errorMessage(e)}`);
  }
}

/** Mount points of this mount namespace (octal escapes of mountinfo decoded). */
export async function mountedPaths(): Promise<Set<string>> {
  const text = await fsp.readFile('/proc/self/mountinfo', 'utf8');
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f.length > 4) out.add(f[4].replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8))));
  }
  return out;
}

function labelMatches(labels: Record<string, string> | null, filter: string): boolean {
  const i = filter.indexOf('=');
  const l = labels ?? {};
  if (i < 0) return filter in l;
  const k = filter.slice(0, i);
  return k in l && l[k] === filter.slice(i + 1);
}

function matchName(filter: string, name: string): boolean {
  try { return new RegExp(filter).test(name); } catch { return name.includes(filter); }
}

/** Go's time.RFC3339 in UTC: seconds, no fraction. */
function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Sum of file sizes under `dir`, each inode once, not crossing into other filesystems. */
export async function dirSize(dir: string): Promise<number> {
  let total = 0;
  const seen = new Set<string>();
  const rootDev = (await fsp.lstat(dir).catch(() => undefined))?.dev;
  if (rootDev === undefined) return 0;
  const walk = async (d: string): Promise<void> => {
    let entries: import('node:fs').Dirent[];
    try { entries = await fsp.readdir(d, { withFileTypes: true }); } catch { return; }
    for (const e of entries) {
      const p = path.join(d, e.name);
      const st = await fsp.lstat(p, { bigint: false }).catch(() => undefined);
      if (!st) continue;
      if (st.isDirectory()) {
        if (st.dev === rootDev) await walk(p);
        continue;
      }
      const key = `${st.dev}:${st.ino}`;
      if (st.nlink > 1) { if (seen.has(key)) continue; seen.add(key); }
      total += st.size;
    }
  };
  await walk(dir);
  return total;
}

export async function isEmptyDir(dir: string): Promise<boolean> {
  const h = await fsp.opendir(dir).catch(() => undefined);
  if (!h) return true;
  try { return (await h.read()) === null; } finally { await h.close().catch(() => {}); }
}
