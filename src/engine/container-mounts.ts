// How a container's mounts are resolved, with Docker's grammar and error wording:
//   create → planMounts: parse -v / --mount / --tmpfs / --volumes-from / image VOLUMEs, validate
//            all of them, then create the volumes that do not exist yet → the inspect "Mounts"
//   start  → startMounts: acquire volumes, copy image content into new volumes, stage volume
//            subpaths (volume-subpath.ts), OCI mounts
//   exit   → stopMounts: unstage subpaths, release
//   rm -v  → removeAnonymous
// Parsing follows moby's linux mount parser (volume/mounts/linux_parser.go): the messages are
// matched by scripts and tests, so they are reproduced exactly.
import { resolveInRoot } from '../lib/root-path';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { run } from '../lib/exec';
import { log } from '../lib/log';
import { invalid, notFound, errorMessage, isKind } from '../lib/errors';
import { isLocalSubpath, stageSubpath, unstageAll } from './volume-subpath';
import type { HostConfig, HostMount, MountPoint } from './container-record';
import { ANONYMOUS_LABEL, VolumeService } from './volumes';

export interface OciMountSpec { destination: string; source: string; type: 'bind' | 'tmpfs'; options: string[] }

/** One mount request after parsing, before any volume exists. */
export interface ParsedMount {
  type: 'bind' | 'volume' | 'tmpfs';
  /** Host path (bind), volume name ('' for anonymous), '' for tmpfs. */
  source: string;
  destination: string;
  readOnly: boolean;
  /** The mode string of a `-v` spec as given ('' when none, and for --mount). */
  mode: string;
  propagation: string;
  /** Docker's CopyData = !noCopy: fill a new volume with the image's content. */
  noCopy: boolean;
  driver?: string;
  driverOpts?: Record<string, string>;
  labels?: Record<string, string>;
  /** tmpfs mount data (size=…,mode=…), Docker's ConvertTmpfsOptions. */
  tmpfsData?: string;
}

const RW_MODES = new Set(['rw', 'ro']);
const LABEL_MODES = new Set(['z', 'Z']);
const PROPAGATION_MODES = new Set(['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave']);
const COPY_MODES = new Set(['nocopy']);
const CONSISTENCY_MODES = new Set(['consistent', 'cached', 'delegated', 'default']);

const errInvalidSpec = (spec: string) => `invalid volume specification: '${spec}'`;
class MountConfigError extends Error {
  constructor(type: string, detail: string) { super(`invalid mount config for type "${type}": ${detail}`); }
}

function validMountMode(mode: string): boolean {
  if (mode === '') return true;
  const counts = [0, 0, 0, 0, 0];
  for (const o of mode.split(',')) {
    if (RW_MODES.has(o)) counts[0]++;
    else if (LABEL_MODES.has(o)) counts[1]++;
    else if (PROPAGATION_MODES.has(o)) counts[2]++;
    else if (COPY_MODES.has(o)) counts[3]++;
    else if (CONSISTENCY_MODES.has(o)) counts[4]++;
    else return false;
  }
  return counts.every((c) => c <= 1);
}
const modeReadWrite = (mode: string) => !mode.split(',').includes('ro');
const modePropagation = (mode: string) => mode.split(',').find((o) => PROPAGATION_MODES.has(o)) ?? '';
const modeNoCopy = (mode: string): boolean | undefined => (mode.split(',').includes('nocopy') ? true : undefined);

/** path.Clean of Go for absolute container paths. */
const clean = (p: string) => path.posix.normalize(p).replace(/(.)\/+$/, '$1');

/** Docker's validateMountConfig + parseMountSpec for one API mount (--mount). Pure: no disk access. */
export function parseMount(m: HostMount): ParsedMount {
  const type = m.Type ?? '';
  const fail = (detail: string) => new MountConfigError(type, detail);
  if (!m.Target) throw fail('field Target must not be empty');
  if (m.Target === '/') throw fail("invalid specification: destination can't be '/'");
  if (!m.Target.startsWith('/')) throw fail(`invalid mount path: '${m.Target}' mount path must be absolute`);
  const destination = clean(m.Target);
  const source = m.Source ?? '';
  switch (type) {
    case 'bind': {
      if (m.VolumeOptions) throw fail('field VolumeOptions must not be specified');
      if (m.TmpfsOptions) throw fail('field TmpfsOptions must not be specified');
      if (!source) throw fail('field Source must not be empty');
      const prop = m.BindOptions?.Propagation ?? '';
      if (prop && !PROPAGATION_MODES.has(prop)) throw fail(`invalid propagation mode: ${prop}`);
      if (!source.startsWith('/')) throw fail(`invalid mount path: '${source}' mount path must be absolute`);
      return { type: 'bind', source: clean(source), destination, readOnly: !!m.ReadOnly, mode: '', propagation: prop || 'rprivate', noCopy: false };
    }
    case 'volume': {
      if (m.BindOptions) throw fail('field BindOptions must not be specified');
      if (m.TmpfsOptions) throw fail('field TmpfsOptions must not be specified');
      if (m.ReadOnly && !source) throw fail('must not set ReadOnly mode when using anonymous volumes');
      const sub = m.VolumeOptions?.Subpath;
      if (sub) {
        if (!source) throw fail('must not set Subpath when using anonymous volumes');
        if (!isLocalSubpath(sub)) throw fail('subpath must be a relative path within the volume');
      }
      const vo = m.VolumeOptions;
      return {
        type: 'volume', source, destination, readOnly: !!m.ReadOnly, mode: '', propagation: '',
        noCopy: !!vo?.NoCopy, driver: vo?.DriverConfig?.Name || undefined,
        driverOpts: vo?.DriverConfig?.Options ?? undefined, labels: vo?.Labels ?? undefined,
      };
    }
    case 'tmpfs': {
      if (m.BindOptions) throw fail('field BindOptions must not be specified');
      if (source) throw fail('field Source must not be specified');
      const data = tmpfsData(m.TmpfsOptions ?? undefined, !!m.ReadOnly);
      try { mergeTmpfsOptions(data ? data.split(',') : []); } catch (e) { throw fail(errorMessage(e)); }
      return { type: 'tmpfs', source: '', destination, readOnly: !!m.ReadOnly, mode: '', propagation: '', noCopy: false, tmpfsData: data };
    }
    default:
      throw fail('mount type unknown');
  }
}

/** A `-v` / Binds entry: `name:/ctr[:mode]`, `/host:/ctr[:mode]` or `/ctr` (anonymous volume). */
export function parseVolumeSpec(raw: string, volumeDriver = ''): ParsedMount {
  const arr = raw.split(':');
  if (arr[0] === '') throw invalid(errInvalidSpec(raw));
  let source = '';
  let target: string;
  let mode = '';
  if (arr.length === 1) target = arr[0];
  else if (arr.length === 2) {
    // "/foo:rw" is a destination with a mode, which a volume cannot have.
    if (validMountMode(arr[1])) throw invalid(errInvalidSpec(raw));
    [source, target] = arr;
  } else if (arr.length === 3) [source, target, mode] = arr;
  else throw invalid(errInvalidSpec(raw));
  if (!validMountMode(mode)) throw invalid(`invalid mode: ${mode}`);

  const m: HostMount = { Type: source.startsWith('/') ? 'bind' : 'volume', Source: source, Target: target, ReadOnly: !modeReadWrite(mode) };
  if (volumeDriver && m.Type === 'volume') m.VolumeOptions = { DriverConfig: { Name: volumeDriver } };
  const noCopy = modeNoCopy(mode);
  if (noCopy !== undefined) m.VolumeOptions = { ...(m.VolumeOptions ?? {}), NoCopy: noCopy };
  const prop = modePropagation(mode);
  if (prop) m.BindOptions = { Propagation: prop };
  try {
    const p = parseMount(m);
    return { ...p, mode };
  } catch (e) {
    throw invalid(`${errInvalidSpec(raw)}: ${errorMessage(e)}`);
  }
}

/** `--volumes-from ctr[:ro|rw]`. */
export function parseVolumesFrom(spec: string): { ref: string; readOnly: boolean } {
  if (!spec) throw invalid('volumes-from specification cannot be an empty string');
  const i = spec.indexOf(':');
  const ref = i < 0 ? spec : spec.slice(0, i);
  let mode = 'rw';
  if (i >= 0) {
    mode = spec.slice(i + 1);
    // Propagation and copy modes are the source container's business.
    if (!validMountMode(mode) || modePropagation(mode) || modeNoCopy(mode) !== undefined) throw invalid(`invalid mode: ${mode}`);
  }
  return { ref, readOnly: !modeReadWrite(mode) };
}

/** Docker's ConvertTmpfsOptions: ro, mode in octal, size with the largest exact k/m/g suffix. */
export function tmpfsData(opt: HostMount['TmpfsOptions'] | undefined, readOnly: boolean): string {
  const raw: string[] = [];
  if (readOnly) raw.push('ro');
  if (opt?.Mode) raw.push(`mode=${opt.Mode.toString(8)}`);
  if (opt?.SizeBytes) {
    let size = opt.SizeBytes;
    let suffix = '';
    for (const [s, d] of [['g', 2 ** 30], ['m', 2 ** 20], ['k', 2 ** 10]] as const) {
      if (size % d === 0) { size /= d; suffix = s; break; }
    }
    raw.push(`size=${size}${suffix}`);
  }
  return raw.join(',');
}

// Flags of one family override each other (noexec/exec); the later one wins.
const FLAG_FAMILY: Record<string, string> = {
  ro: 'rdonly', rw: 'rdonly', suid: 'suid', nosuid: 'suid', dev: 'dev', nodev: 'dev', exec: 'exec', noexec: 'exec',
  sync: 'sync', async: 'sync', dirsync: 'dirsync', remount: 'remount', mand: 'mand', nomand: 'mand',
  atime: 'atime', noatime: 'atime', diratime: 'diratime', nodiratime: 'diratime', relatime: 'relatime', norelatime: 'relatime',
  strictatime: 'strictatime', nostrictatime: 'strictatime',
  private: 'prop', rprivate: 'prop', shared: 'prop', rshared: 'prop', slave: 'prop', rslave: 'prop', unbindable: 'prop', runbindable: 'prop',
};
const TMPFS_DATA = new Set(['size', 'mode', 'uid', 'gid', 'nr_inodes', 'nr_blocks', 'mpol']);

/** moby's MergeTmpfsOptions: de-duplicates, the last of a flag family or data key wins. */
export function mergeTmpfsOptions(options: string[]): string[] {
  const flags = new Set<string>();
  const data = new Set<string>();
  const out: string[] = [];
  for (let i = options.length - 1; i >= 0; i--) {
    const o = options[i];
    if (o === 'defaults' || o === '') continue;
    const fam = FLAG_FAMILY[o];
    if (fam) {
      if (!flags.has(fam)) { out.unshift(o); flags.add(fam); }
      continue;
    }
    const eq = o.indexOf('=');
    const key = eq < 0 ? o : o.slice(0, eq);
    if (eq < 0 || !TMPFS_DATA.has(key)) throw invalid(`invalid tmpfs option [${(eq < 0 ? [o] : [key, o.slice(eq + 1)]).map((x) => JSON.stringify(x)).join(' ')}]`); // Go's %q of a []string
    if (!data.has(key)) { out.unshift(o); data.add(key); }
  }
  return out;
}

/** Docker's ValidateTmpfsMountDestination for `--tmpfs` keys. */
export function validateTmpfsDestination(dest: string): void {
  if (dest === '/') throw invalid("invalid specification: destination can't be '/'");
  if (!dest.startsWith('/')) throw invalid(`invalid mount path: '${dest}' mount path must be absolute`);
}

const tmpfsOciOptions = (data: string) => mergeTmpfsOptions(['noexec', 'nosuid', 'nodev', ...(data ? data.split(',') : [])]);

// ---- create ---------------------------------------------------------------------------------

export interface PlanInput {
  binds: string[];
  mounts: HostConfig['Mounts'];
  tmpfs: Record<string, string> | null | undefined;
  volumesFrom: string[];
  /** Keys of the container's merged Config.Volumes (image VOLUMEs and the CLI's `-v /path`). */
  imageVolumes: string[];
  /** Another container's MountPoints, for --volumes-from; throws NotFound. */
  readContainerMounts: (ref: string) => MountPoint[];
  /** HostConfig.VolumeDriver: the driver of volumes named by -v. */
  volumeDriver?: string;
}

type Planned =
  | { kind: 'ready'; mp: MountPoint }
  | { kind: 'volume'; p: ParsedMount; anonymous: boolean; origin: 'binds' | 'mounts' | 'image' };

/**
 * Validates every mount of a create request, then creates the volumes it names that do not exist
 * yet; returns the container's MountPoints (inspect "Mounts"). Nothing is created when any mount
 * is invalid; anonymous volumes made here are removed again if a later volume cannot be created.
 */
export async function planMounts(input: PlanInput, volumes: VolumeService): Promise<MountPoint[]> {
  const byDest = new Map<string, Planned>();
  const claimed = new Set<string>();
  const tmpfsDests = new Set<string>();

  for (const dest of Object.keys(input.tmpfs ?? {})) {
    validateTmpfsDestination(dest);
    mergeTmpfsOptions((input.tmpfs![dest] || '').split(',').filter(Boolean));
    tmpfsDests.add(clean(dest));
  }

  // --volumes-from first: the container's own -v/--mount replace those at the same destination.
  for (const spec of input.volumesFrom ?? []) {
    const { ref, readOnly } = parseVolumesFrom(spec);
    for (const m of input.readContainerMounts(ref)) {
      if (m.Type === 'volume' && m.Name && !volumes.has(m.Name)) throw notFound(`get ${m.Name}: no such volume`);
      const mp: MountPoint = { Type: m.Type, Source: m.Source, Destination: m.Destination, Mode: '', RW: m.RW && !readOnly, Propagation: m.Propagation };
      if (m.Name !== undefined) mp.Name = m.Name;
      if (m.Driver !== undefined) mp.Driver = m.Driver;
      byDest.delete(m.Destination);
      byDest.set(m.Destination, { kind: 'ready', mp });
    }
  }

  const claim = (dest: string) => {
    if (claimed.has(dest) || tmpfsDests.has(dest)) throw invalid(`Duplicate mount point: ${dest}`);
    claimed.add(dest);
  };
  const put = (dest: string, pl: Planned) => { byDest.delete(dest); byDest.set(dest, pl); };

  for (const raw of input.binds ?? []) {
    const p = parseVolumeSpec(raw, input.volumeDriver);
    claim(p.destination);
    if (p.type === 'bind') {
      put(p.destination, { kind: 'ready', mp: { Type: 'bind', Source: p.source, Destination: p.destination, Mode: p.mode, RW: !p.readOnly, Propagation: p.propagation } });
    } else {
      put(p.destination, { kind: 'volume', p, anonymous: !p.source, origin: 'binds' });
    }
  }

  for (const m of input.mounts ?? []) {
    let p: ParsedMount;
    try { p = parseMount(m); } catch (e) { throw e instanceof MountConfigError ? invalid(e.message) : e; }
    claim(p.destination);
    if (p.type === 'bind') {
      if (!(await exists(p.source))) throw invalid(`invalid mount config for type "bind": bind source path does not exist: ${p.source}`);
      put(p.destination, { kind: 'ready', mp: { Type: 'bind', Source: p.source, Destination: p.destination, Mode: '', RW: !p.readOnly, Propagation: p.propagation } });
    } else if (p.type === 'tmpfs') {
      put(p.destination, { kind: 'ready', mp: { Type: 'tmpfs', Source: '', Destination: p.destination, Mode: '', RW: !p.readOnly, Propagation: '' } });
    } else {
      put(p.destination, { kind: 'volume', p, anonymous: !p.source, origin: 'mounts' });
    }
  }

  // A --tmpfs replaces what --volumes-from brought to the same place.
  for (const d of tmpfsDests) byDest.delete(d);

  for (const v of input.imageVolumes ?? []) {
    const dest = clean(v.startsWith('/') ? v : '/' + v);
    if (byDest.has(dest) || tmpfsDests.has(dest)) continue;
    byDest.set(dest, {
      kind: 'volume', anonymous: true, origin: 'image',
      p: { type: 'volume', source: '', destination: dest, readOnly: false, mode: '', propagation: '', noCopy: false, driver: input.volumeDriver || undefined },
    });
  }

  // Everything is valid: now create volumes.
  const createdHere: string[] = [];
  const out: MountPoint[] = [];
  try {
    for (const [dest, pl] of byDest) {
      if (pl.kind === 'ready') { out.push(pl.mp); continue; }
      const { p, anonymous } = pl;
      const existed = !anonymous && volumes.has(p.source);
      const labels = anonymous ? { ...(p.labels ?? {}), [ANONYMOUS_LABEL]: '' } : p.labels;
      const v = await volumes.create({ Name: p.source || undefined, Driver: p.driver, DriverOpts: p.driverOpts, Labels: labels });
      if (anonymous || !existed) createdHere.push(v.Name);
      out.push({
        Type: 'volume', Name: v.Name, Source: v.Mountpoint, Destination: dest, Driver: 'local',
        // Volumes of -v and --mount get mode "z" when none was given (moby setBindModeIfNull);
        // image VOLUMEs keep "".
        Mode: pl.origin === 'image' ? '' : (p.mode || 'z'), RW: !p.readOnly, Propagation: '',
      });
    }
  } catch (e) {
    for (const n of createdHere) await volumes.remove(n, true).catch(() => {});
    throw e;
  }
  return out;
}

// ---- start / stop / remove ------------------------------------------------------------------

export interface StartOptions {
  /** The container: volume references are held under its id (idempotent), and named in events. */
  containerId?: string;
  /** For --tmpfs, --mount tmpfs sizes, nocopy of --mount volumes, and which binds are --mount. */
  hostConfig?: Pick<HostConfig, 'Binds' | 'Mounts' | 'Tmpfs'>;
}

/**
 * The OCI mounts of a container at start: acquires its volumes (mounting option-volumes), fills
 * new volumes with the image's content at their destination (read from `rootfs`, owners and modes
 * kept), recreates missing `-v` bind sources. On failure everything acquired is released again.
 */
export async function startMounts(points: MountPoint[], rootfs: string, volumes: VolumeService, opts: StartOptions = {}): Promise<OciMountSpec[]> {
  const hc = opts.hostConfig ?? {};
  const apiMounts = new Map((hc.Mounts ?? []).map((m) => [clean(m.Target ?? ''), m] as const));
  const ref = opts.containerId;
  const acquired: string[] = [];
  const out: OciMountSpec[] = [];
  let staging: string | undefined;
  try {
    for (const [i, p] of points.entries()) {
      const rw = p.RW ? 'rw' : 'ro';
      if (p.Type === 'bind') {
        const api = apiMounts.get(p.Destination);
        if (!(await exists(p.Source))) {
          if (api?.Type === 'bind' && !api.BindOptions?.CreateMountpoint) {
            throw invalid(`invalid mount config for type "bind": bind source path does not exist: ${p.Source}`);
          }
          // `-v /missing:/x` creates the host directory, as Docker does.
          await fsp.mkdir(p.Source, { recursive: true, mode: 0o755 });
        }
        const recursive = api?.BindOptions?.NonRecursive ? 'bind' : 'rbind';
        out.push({ destination: p.Destination, source: p.Source, type: 'bind', options: [recursive, rw, p.Propagation || 'rprivate'] });
      } else if (p.Type === 'volume') {
        const name = p.Name!;
        const source = await volumes.acquire(name, {
          ref,
          event: ref ? { container: ref, destination: p.Destination, propagation: p.Propagation, 'read/write': String(p.RW) } : undefined,
        });
        acquired.push(name);
        const vo = apiMounts.get(p.Destination)?.VolumeOptions;
        const noCopy = p.Mode.split(',').includes('nocopy') || !!vo?.NoCopy;
        if (vo?.Subpath) {
          if (!ref) throw invalid('a volume subpath needs the container it is mounted for');
          if (!staging) {
            staging = volumes.subpathStaging(ref);
            // What a start cut short by a crash left for this container.
            await unstageAll(staging);
          }
          const point = path.join(staging, String(i));
          const isDir = await stageSubpath(source, vo.Subpath, point);
          // Docker copies the image's content into an empty subpath directory (its
          // copyExistingContents runs on the subpath's mount), at every such start; the volume's
          // one-time mark is about its root, so it is neither read nor set here.
          if (isDir && !noCopy) await copyUp(rootfs, p.Destination, point);
          out.push({ destination: p.Destination, source: point, type: 'bind', options: ['rbind', rw, 'rprivate'] });
          continue;
        }
        if (!noCopy) await volumes.populateOnce(name, (data) => copyUp(rootfs, p.Destination, data));
        out.push({ destination: p.Destination, source, type: 'bind', options: ['rbind', rw, 'rprivate'] });
      } else if (p.Type === 'tmpfs') {
        const api = apiMounts.get(p.Destination);
        const data = tmpfsData(api?.TmpfsOptions ?? undefined, !p.RW);
        out.push({ destination: p.Destination, source: 'tmpfs', type: 'tmpfs', options: tmpfsOciOptions(data) });
      }
    }
    for (const [dest, data] of Object.entries(hc.Tmpfs ?? {})) {
      out.push({ destination: clean(dest), source: 'tmpfs', type: 'tmpfs', options: tmpfsOciOptions(data) });
    }
  } catch (e) {
    if (staging) await unstageAll(staging);
    for (const n of acquired) await volumes.release(n, { ref }).catch(() => {});
    throw e;
  }
  return out;
}

/**
 * Takes the volume references of a container that is still running after a daemon restart, without
 * copy-up or events. Call for every running container, then `volumes.sweepMounts()`.
 */
export async function adoptMounts(points: MountPoint[], volumes: VolumeService, containerId: string): Promise<void> {
  for (const p of points) {
    if (p.Type !== 'volume' || !p.Name || !volumes.has(p.Name)) continue;
    await volumes.acquire(p.Name, { ref: containerId }).catch((e) => log.warn('cannot re-acquire volume', { name: p.Name, id: containerId, error: errorMessage(e) }));
  }
}

/** Releases the container's volumes after it stopped. Never throws: the exit must be recorded. */
export async function stopMounts(points: MountPoint[], volumes: VolumeService, opts: { containerId?: string } = {}): Promise<void> {
  const ref = opts.containerId;
  // Subpath staging points first: they hold the volumes' own mounts busy.
  if (ref && points.some((p) => p.Type === 'volume')) {
    let dir: string | undefined;
    try { dir = volumes.subpathStaging(ref); } catch { /* no exec root: nothing was staged */ }
    if (dir) await unstageAll(dir);
  }
  for (const p of points) {
    if (p.Type !== 'volume' || !p.Name) continue;
    await volumes.release(p.Name, { ref, event: ref ? { container: ref } : undefined })
      .catch((e) => log.warn('cannot release volume', { name: p.Name, id: ref, error: errorMessage(e) }));
  }
}

/**
 * `rm -v`: removes the container's anonymous volumes that no other container uses; named ones stay.
 * `containerId` is the container being removed, whose own reference does not count.
 */
export async function removeAnonymous(points: MountPoint[], volumes: VolumeService, containerId?: string): Promise<void> {
  for (const p of points) {
    if (p.Type !== 'volume' || !p.Name || !volumes.isAnonymous(p.Name)) continue;
    try {
      await volumes.remove(p.Name, true, { except: containerId });
    } catch (e) {
      // Another container still using it is not an error (Docker ignores it too).
      if (!isKind(e, 'Conflict')) log.warn('cannot remove anonymous volume', { name: p.Name, error: errorMessage(e) });
    }
  }
}

// ---- copy-up --------------------------------------------------------------------------------

/**
 * Docker's copyExistingContents: when the volume is empty and the image has a directory at the
 * destination, copy its content and the directory's owner and mode. Returns whether the image had
 * that directory (then the volume counts as populated, even if the directory was empty).
 */
async function copyUp(rootfs: string, destination: string, data: string): Promise<boolean> {
  const src = await resolveInRoot(rootfs, destination);
  const st = await fsp.stat(src).catch(() => undefined);
  if (!st?.isDirectory()) return false;
  const entries = await fsp.readdir(data);
  if (entries.length !== 0) return true;
  if ((await fsp.readdir(src)).length) await run('cp', ['-a', '--', src + '/.', data + '/']);
  await fsp.chown(data, st.uid, st.gid);
  await fsp.chmod(data, st.mode & 0o7777);
  return true;
}

async function exists(p: string): Promise<boolean> {
  return fsp.lstat(p).then(() => true, () => false);
}
