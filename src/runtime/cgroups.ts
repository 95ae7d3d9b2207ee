// The host's cgroup setup and reading a container's cgroup (crun creates and removes the leaf
// `<hierarchy>/<cgroupsPath>`; we only read it). Hosts are hybrid here (v1 controllers plus an empty
// cgroup2 at /sys/fs/cgroup/unified) but plain v1 and pure v2 are read too.
import { existsSync, promises as fsp, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from '../lib/exec';
import { unavailable } from '../lib/errors';

const ROOT = '/sys/fs/cgroup';
const UNIFIED = `${ROOT}/unified`;

interface CgroupMounts { v1: Map<string, string>; v2?: string }

function readMounts(): CgroupMounts {
  const m: CgroupMounts = { v1: new Map() };
  let text = '';
  try { text = readFileSync('/proc/self/mountinfo', 'utf8'); } catch { return m; }
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const mountPoint = line.slice(0, sep).split(' ')[4];
    const [fstype, , superOpts = ''] = line.slice(sep + 3).split(' ');
    if (fstype === 'cgroup2') m.v2 ??= mountPoint;
    else if (fstype === 'cgroup') {
      for (const o of superOpts.split(',')) if (!m.v1.has(o) && !/^(rw|ro)$/.test(o)) m.v1.set(o, mountPoint);
    }
  }
  return m;
}

let mountsCache: CgroupMounts | undefined;
const mounts = () => (mountsCache ??= readMounts());

async function readControllers(file: string): Promise<string[] | undefined> {
  try { return (await fsp.readFile(file, 'utf8')).split(/\s+/).filter(Boolean); } catch { return undefined; }
}

let preparing: Promise<string[]> | undefined;

/**
 * Makes the host usable by crun: on a hybrid host crun refuses to run while cgroup2 still holds a
 * controller ("cgroups in hybrid mode not supported"), so each such controller is mounted as a v1
 * hierarchy. Idempotent. Returns what it found and did, for the daemon's log.
 */
export function prepareCgroups(): Promise<string[]> {
  preparing ??= doPrepare().finally(() => { preparing = undefined; mountsCache = undefined; });
  return preparing;
}

async function doPrepare(): Promise<string[]> {
  if (existsSync(`${ROOT}/cgroup.controllers`)) return ['cgroups: unified hierarchy (cgroup v2), nothing to prepare'];
  const leftover = await readControllers(`${UNIFIED}/cgroup.controllers`);
  if (leftover === undefined) return ['cgroups: v1 hierarchies only, nothing to prepare'];
  if (leftover.length === 0) return ['cgroups: hybrid (v1 + cgroup2), no controller left on cgroup2'];
  const lines: string[] = [];
  for (const c of leftover) {
    const dir = `${ROOT}/${c}`;
    await fsp.mkdir(dir, { recursive: true });
    const r = await run('mount', ['-t', 'cgroup', '-o', c, 'cgroup', dir], { allowFailure: true, timeoutMs: 10_000 });
    if (r.code !== 0) {
      throw unavailable(`cgroups: crun refuses hybrid mode while cgroup2 holds "${c}", and mounting it as v1 at ${dir} failed: ${r.stderr.trim() || `exit ${r.code}`}`);
    }
    lines.push(`cgroups: moved controller ${c} from cgroup2 to a v1 hierarchy at ${dir} (crun refuses hybrid mode while cgroup2 holds a controller)`);
  }
  const still = await readControllers(`${UNIFIED}/cgroup.controllers`);
  if (still && still.length) throw unavailable(`cgroups: controllers still on cgroup2 after mounting them as v1: ${still.join(' ')}`);
  return lines;
}

function readText(file: string): Promise<string | undefined> {
  return fsp.readFile(file, 'utf8').catch(() => undefined);
}

async function readNum(file: string): Promise<number | undefined> {
  const t = (await readText(file))?.trim();
  if (t === undefined || t === '' || t === 'max') return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

async function readKeyed(file: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const line of ((await readText(file)) ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && Number.isFinite(Number(v))) out[k] = Number(v);
  }
  return out;
}

export interface BlkioEntry { major: number; minor: number; op: string; value: number }

/** Shaped after the Engine API's stats object; times in nanoseconds. Fields a host lacks stay undefined. */
export interface CgroupStats {
  read: string;
  cpu: {
    totalUsage?: number; usageInKernelmode?: number; usageInUsermode?: number; perCpuUsage?: number[];
    systemCpuUsage?: number; onlineCpus: number;
    throttling: { periods: number; throttledPeriods: number; throttledTime: number };
  };
  memory: { usage?: number; maxUsage?: number; limit?: number; failcnt?: number; stats: Record<string, number> };
  pids: { current?: number; limit?: number };
  blkio: { ioServiceBytesRecursive: BlkioEntry[]; ioServicedRecursive: BlkioEntry[] };
}

// Host CPU time as Docker computes system_cpu_usage: /proc/stat jiffies at USER_HZ (100) in ns.
async function systemCpuNs(): Promise<number | undefined> {
  const first = (await readText('/proc/stat'))?.split('\n')[0];
  if (!first?.startsWith('cpu ')) return undefined;
  const ticks = first.trim().split(/\s+/).slice(1, 8).reduce((a, b) => a + Number(b), 0);
  return ticks * 1e7;
}

function parseBlkioV1(text: string | undefined): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const m = /^(\d+):(\d+) (\w+) (\d+)$/.exec(line.trim());
    if (m) out.push({ major: +m[1], minor: +m[2], op: m[3], value: +m[4] });
  }
  return out;
}

function clampLimit(n: number | undefined): number | undefined {
  return n === undefined ? undefined : Math.min(n, os.totalmem());
}

/**
 * A container's cgroupsPath: Docker's <cgroup parent>/<id>, under /dray without --cgroup-parent.
 * Only the cgroupfs driver runs here, so the path is absolute in every hierarchy; a relative
 * parent ("mygroup") is taken from the hierarchies' root, and `..` stops there.
 */
export function containerCgroupPath(id: string, parent?: string | null): string {
  const p = parent ? path.posix.normalize('/' + parent).replace(/\/+$/, '') : '/dray';
  return `${p}/${id}`;
}

function numSync(file: string): number | undefined {
  try { const n = Number(readFileSync(file, 'utf8').trim()); return Number.isFinite(n) ? n : undefined; } catch { return undefined; }
}

const keyRes = new Map<string, RegExp>();

/** One value of a "key value" cgroup file, read synchronously. */
function keyedSync(file: string, key: string): number | undefined {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch { return undefined; }
  let re = keyRes.get(key);
  if (!re) keyRes.set(key, re = new RegExp(`(?:^|\\n)${key} (\\d+)`));
  const m = re.exec(text);
  return m ? Number(m[1]) : undefined;
}

/**
 * CPU time (ns) and memory in use (inactive file cache not counted, as the docker CLI shows it) of
 * the cgroup at `cgroupsPath`, from three small files read synchronously (kernel files: no
 * thread-pool round trip), for samplers of many containers at once; undefined once it is gone.
 */
export function cpuAndMemorySync(cgroupsPath: string): { cpuNs: number; mem: number } | undefined {
  const m = mounts();
  const acct = m.v1.get('cpuacct');
  const memory = m.v1.get('memory');
  if (acct && memory) {
    const cpuNs = numSync(path.join(acct, cgroupsPath, 'cpuacct.usage'));
    const usage = numSync(path.join(memory, cgroupsPath, 'memory.usage_in_bytes'));
    if (cpuNs === undefined || usage === undefined) return undefined;
    const inactive = keyedSync(path.join(memory, cgroupsPath, 'memory.stat'), 'total_inactive_file') ?? 0;
    return { cpuNs, mem: Math.max(0, usage - inactive) };
  }
  if (m.v2) {
    const dir = path.join(m.v2, cgroupsPath);
    const usec = keyedSync(path.join(dir, 'cpu.stat'), 'usage_usec');
    const usage = numSync(path.join(dir, 'memory.current'));
    if (usec === undefined || usage === undefined) return undefined;
    const inactive = keyedSync(path.join(dir, 'memory.stat'), 'inactive_file') ?? 0;
    return { cpuNs: usec * 1000, mem: Math.max(0, usage - inactive) };
  }
  return undefined;
}

/** Best-effort resource usage of the cgroup at `cgroupsPath` (as given to the runtime). */
export async function cgroupStats(cgroupsPath: string): Promise<CgroupStats> {
  const m = mounts();
  const s: CgroupStats = {
    read: new Date().toISOString(),
    cpu: { onlineCpus: os.cpus().length || 1, throttling: { periods: 0, throttledPeriods: 0, throttledTime: 0 } },
    memory: { stats: {} },
    pids: {},
    blkio: { ioServiceBytesRecursive: [], ioServicedRecursive: [] },
  };
  s.cpu.systemCpuUsage = await systemCpuNs();
  const v1 = (ctrl: string) => { const mp = m.v1.get(ctrl); return mp ? path.join(mp, cgroupsPath) : undefined; };
  const mem = v1('memory');
  if (mem) {
    const [usage, maxUsage, limit, failcnt, stats] = await Promise.all([
      readNum(`${mem}/memory.usage_in_bytes`), readNum(`${mem}/memory.max_usage_in_bytes`),
      readNum(`${mem}/memory.limit_in_bytes`), readNum(`${mem}/memory.failcnt`), readKeyed(`${mem}/memory.stat`),
    ]);
    Object.assign(s.memory, { usage, maxUsage, limit: clampLimit(limit), failcnt, stats });
    const acct = v1('cpuacct');
    if (acct) {
      const [total, percpu, st] = await Promise.all([readNum(`${acct}/cpuacct.usage`), readText(`${acct}/cpuacct.usage_percpu`), readKeyed(`${acct}/cpuacct.stat`)]);
      s.cpu.totalUsage = total;
      s.cpu.perCpuUsage = percpu?.trim().split(/\s+/).filter(Boolean).map(Number);
      if (st.user !== undefined) s.cpu.usageInUsermode = st.user * 1e7;
      if (st.system !== undefined) s.cpu.usageInKernelmode = st.system * 1e7;
    }
    const cpu = v1('cpu');
    if (cpu) {
      const st = await readKeyed(`${cpu}/cpu.stat`);
      s.cpu.throttling = { periods: st.nr_periods ?? 0, throttledPeriods: st.nr_throttled ?? 0, throttledTime: st.throttled_time ?? 0 };
    }
    const pids = v1('pids');
    if (pids) {
      s.pids.current = await readNum(`${pids}/pids.current`);
      s.pids.limit = await readNum(`${pids}/pids.max`);
    }
    const blk = v1('blkio');
    if (blk) {
      s.blkio.ioServiceBytesRecursive = parseBlkioV1(await readText(`${blk}/blkio.throttle.io_service_bytes_recursive`));
      s.blkio.ioServicedRecursive = parseBlkioV1(await readText(`${blk}/blkio.throttle.io_serviced_recursive`));
    }
    return s;
  }
  if (m.v2) {
    const dir = path.join(m.v2, cgroupsPath);
    const [usage, limit, stats, cpuStat, pc, pm] = await Promise.all([
      readNum(`${dir}/memory.current`), readNum(`${dir}/memory.max`), readKeyed(`${dir}/memory.stat`),
      readKeyed(`${dir}/cpu.stat`), readNum(`${dir}/pids.current`), readNum(`${dir}/pids.max`),
    ]);
    Object.assign(s.memory, { usage, limit: clampLimit(limit ?? os.totalmem()), stats });
    if (cpuStat.usage_usec !== undefined) s.cpu.totalUsage = cpuStat.usage_usec * 1000;
    if (cpuStat.user_usec !== undefined) s.cpu.usageInUsermode = cpuStat.user_usec * 1000;
    if (cpuStat.system_usec !== undefined) s.cpu.usageInKernelmode = cpuStat.system_usec * 1000;
    s.cpu.throttling = { periods: cpuStat.nr_periods ?? 0, throttledPeriods: cpuStat.nr_throttled ?? 0, throttledTime: (cpuStat.throttled_usec ?? 0) * 1000 };
    s.pids = { current: pc, limit: pm };
  }
  return s;
}

/**
 * Pids of every process in the container's cgroup (for `docker top`). Synchronous: cgroup.procs is
 * a tiny kernel file. Empty when the cgroup is gone.
 */
export function cgroupPids(cgroupsPath: string): number[] {
  const m = mounts();
  const dirs = [m.v1.get('pids'), m.v1.get('memory'), m.v1.get('name=systemd'), m.v2].filter((d): d is string => !!d);
  for (const d of dirs) {
    let text: string;
    try { text = readFileSync(path.join(d, cgroupsPath, 'cgroup.procs'), 'utf8'); } catch { continue; }
    return text.split('\n').filter(Boolean).map(Number).filter(Number.isInteger);
  }
  return [];
}
