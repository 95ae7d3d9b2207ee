// The OCI runtime config (config.json) of a container, with Docker's defaults (moby's
// oci.DefaultLinuxSpec and daemon/oci_linux.go) adapted to this host's limits (HOST-STACK.md).
import { existsSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { invalid, systemError } from '../lib/errors';
import { mergeEnv } from '../lib/env';
import { DEFAULT_CAPABILITIES, daemonCapabilities, tweakCapabilities } from './caps';
import { defaultDeviceRules, devicesFromPath, hostDevices, parseDeviceCgroupRule, OciDevice, OciDeviceCgroup } from './devices';
import { containerRlimits, daemonRlimits, OciRlimit, RLIM_INFINITY } from './rlimits';
import { OciSeccomp, seccompFor } from './seccomp';
import type { IdMap, IdMapping } from '../lib/idmap';

export interface SpecMount { destination: string; source: string; type: 'bind' | 'tmpfs'; options: string[] }

export interface SpecInput {
  id: string;
  rootfs: string;
  args: string[];
  env: string[];
  cwd: string;
  user: { uid: number; gid: number; additionalGids: number[] };
  tty: boolean;
  hostname: string;
  domainname?: string;
  readonlyRootfs?: boolean;
  privileged?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  securityOpt?: string[];
  network: { mode: 'none' | 'host' | 'path'; path?: string };
  ipc?: 'private' | 'host' | 'shareable';
  pid?: 'private' | 'host';
  uts?: 'private' | 'host';
  /** --cgroupns: "host" runs in the host's cgroup namespace (its /proc/self/cgroup shows the full path). */
  cgroupns?: 'private' | 'host';
  mounts: SpecMount[];
  cgroupsPath: string;
  resources?: {
    memory?: number; memorySwap?: number; cpuShares?: number; cpuQuota?: number; cpuPeriod?: number;
    cpusetCpus?: string; pidsLimit?: number; nanoCpus?: number; blkioWeight?: number;
  };
  shmSize?: number;
  sysctls?: Record<string, string>;
  ulimits?: { Name: string; Soft: number; Hard: number }[];
  init?: boolean;
  oomScoreAdj?: number;
  devices?: { PathOnHost: string; PathInContainer: string; CgroupPermissions: string }[];
  /** --device-cgroup-rule, Docker's "c 1:3 rwm": allowed after the defaults. */
  deviceCgroupRules?: string[];
  /** The default of process.noNewPrivileges (daemon-wide no-new-privileges); --security-opt no-new-privileges[=bool] overrides it. */
  noNewPrivileges?: boolean;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  /** userns-remap: a user namespace with these mappings (container root = the first host ID). */
  userns?: IdMap;
  /** The user namespace to join (a file keeping it, with the mappings of `userns`) rather than make. */
  usernsPath?: string;
}

export interface OciMount { destination: string; type: string; source: string; options?: string[] }
export interface OciNamespace { type: 'pid' | 'network' | 'ipc' | 'uts' | 'mount' | 'cgroup' | 'user'; path?: string }
export interface OciCapabilities { bounding: string[]; effective: string[]; permitted: string[]; inheritable?: string[]; ambient?: string[] }
export interface OciResources {
  devices: OciDeviceCgroup[];
  memory?: { limit?: number; swap?: number };
  cpu?: { shares?: number; quota?: number; period?: number; cpus?: string };
  pids?: { limit: number };
  blockIO?: { weight?: number };
}
export interface OciSpec {
  ociVersion: string;
  process: {
    terminal: boolean;
    user: { uid: number; gid: number; additionalGids?: number[] };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: OciCapabilities;
    rlimits: OciRlimit[];
    noNewPrivileges: boolean;
    oomScoreAdj?: number;
  };
  root: { path: string; readonly: boolean };
  hostname?: string;
  domainname?: string;
  mounts: OciMount[];
  annotations?: Record<string, string>;
  linux: {
    namespaces: OciNamespace[];
    cgroupsPath: string;
    resources: OciResources;
    devices: OciDevice[];
    sysctl?: Record<string, string>;
    maskedPaths: string[];
    readonlyPaths: string[];
    seccomp?: OciSeccomp;
    rootfsPropagation?: string;
    uidMappings?: IdMapping[];
    gidMappings?: IdMapping[];
  };
}

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;
export const INIT_PATH_IN_CONTAINER = '/sbin/docker-init';

export const DEFAULT_MASKED_PATHS: readonly string[] = [
  '/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];
export const DEFAULT_READONLY_PATHS: readonly string[] = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

// Static builds only: the binary runs inside an arbitrary image, with no libc of ours there.
const INIT_CANDIDATES = ['/usr/libexec/podman/catatonit', '/usr/bin/catatonit', '/usr/bin/tini-static', '/usr/libexec/docker/docker-init', '/usr/bin/docker-init'];

let initPath: string | null | undefined;
export function findInit(): string | undefined {
  if (initPath === undefined) initPath = INIT_CANDIDATES.find((p) => existsSync(p)) ?? null;
  return initPath ?? undefined;
}

interface SecurityOpts { seccomp?: string; noNewPrivileges?: boolean; unmaskSystemPaths: boolean }

/** Whether the host enforces AppArmor / SELinux (neither does on this kind of machine). */
const hostHas = {
  apparmor: () => { try { return readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').trim() === 'Y'; } catch { return false; } },
  selinux: () => existsSync('/sys/fs/selinux/enforce'),
};

/**
 * Docker's parseSecurityOpt. An AppArmor profile or SELinux label on a host without the module
 * is an error, not silently nothing: whoever asks for one believes the container confined by it.
 * `apparmor=unconfined` and `label=disable` ask for nothing and pass.
 */
export function parseSecurityOpts(list: string[] | undefined): SecurityOpts {
  const r: SecurityOpts = { unmaskSystemPaths: false };
  for (const opt of list ?? []) {
    if (opt === 'no-new-privileges') { r.noNewPrivileges = true; continue; }
    if (opt === 'disable') continue;
    const sep = opt.includes('=') ? '=' : opt.includes(':') ? ':' : '';
    if (!sep) throw invalid(`invalid --security-opt 1: "${opt}"`);
    const k = opt.slice(0, opt.indexOf(sep));
    const v = opt.slice(opt.indexOf(sep) + 1);
    switch (k) {
      case 'apparmor':
        if (v !== 'unconfined' && !hostHas.apparmor()) throw invalid(`--security-opt ${opt}: AppArmor is not enabled on this host`);
        break;
      case 'label':
        if (v !== 'disable' && !hostHas.selinux()) throw invalid(`--security-opt ${opt}: SELinux is not enabled on this host`);
        break;
      case 'seccomp': r.seccomp = v; break;
      case 'systempaths': if (v === 'unconfined') { r.unmaskSystemPaths = true; break; } throw invalid(`invalid --security-opt 2: "${opt}"`);
      case 'no-new-privileges': {
        const b = /^(1|t|true)$/i.test(v) ? true : /^(0|f|false)$/i.test(v) ? false : undefined;
        if (b === undefined) throw invalid(`invalid --security-opt 2: "${opt}"`);
        r.noNewPrivileges = b;
        break;
      }
      default: throw invalid(`invalid --security-opt 2: "${opt}"`);
    }
  }
  return r;
}

function parseCpuList(s: string): number[] | undefined {
  const out: number[] = [];
  for (const part of s.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) return undefined;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) return undefined;
    for (let i = a; i <= b; i++) out.push(i);
  }
  return out;
}

let oomAdj: number | undefined;
function daemonOomScoreAdj(): number {
  if (oomAdj === undefined) {
    try { oomAdj = Number(readFileSync('/proc/self/oom_score_adj', 'utf8').trim()) || 0; } catch { oomAdj = 0; }
  }
  return oomAdj;
}

let swapLimitSupported: boolean | undefined;
function canLimitSwap(): boolean {
  swapLimitSupported ??= existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes') || existsSync('/sys/fs/cgroup/cgroup.controllers');
  return swapLimitSupported;
}

let blkioWeightSupported: boolean | undefined;
function canWeightBlkio(): boolean {
  // crun writes blkio.weight on v1 (absent with blk-mq schedulers other than CFQ); v2 has io.weight/io.bfq.weight.
  blkioWeightSupported ??= existsSync('/sys/fs/cgroup/blkio/blkio.weight') || existsSync('/sys/fs/cgroup/cgroup.controllers');
  return blkioWeightSupported;
}

/** linux.resources with Docker's checks and wording (daemon verifyPlatformContainerResources). */
function buildResources(r: SpecInput['resources'] = {}): Omit<OciResources, 'devices'> {
  const out: Omit<OciResources, 'devices'> = {};
  const memory = r.memory ?? 0;
  const swap = r.memorySwap ?? 0;
  if (memory < 0) throw invalid('Invalid memory limit');
  if (memory > 0 && memory < 6 * 1024 * 1024) throw invalid('Minimum memory limit allowed is 6MB');
  if (swap > 0 && memory === 0) throw invalid('You should always set the Memory limit when using Memoryswap limit, see usage');
  if (memory > 0 && swap > 0 && swap < memory) throw invalid('Minimum memoryswap limit should be larger than memory limit, see usage');
  if (memory > 0) {
    // Docker: an unset swap limit means as much swap as memory again (swap here counts memory+swap).
    out.memory = { limit: memory };
    if (canLimitSwap()) out.memory.swap = swap === 0 ? memory * 2 : swap;
  }

  const ncpu = os.cpus().length || 1;
  const cpu: NonNullable<OciResources['cpu']> = {};
  if (r.nanoCpus) {
    if (r.cpuPeriod) throw invalid('Conflicting options: Nano CPUs and CPU Period cannot both be set');
    if (r.cpuQuota) throw invalid('Conflicting options: Nano CPUs and CPU Quota cannot both be set');
    if (r.nanoCpus < 0 || r.nanoCpus > ncpu * 1e9) throw invalid(`Range of CPUs is from 0.01 to ${ncpu}.00, as there are only ${ncpu} CPUs available`);
    cpu.period = 100_000;
    cpu.quota = Math.round((r.nanoCpus * cpu.period) / 1e9);
  }
  if (r.cpuPeriod) {
    if (r.cpuPeriod < 1000 || r.cpuPeriod > 1_000_000) throw invalid('CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)');
    cpu.period = r.cpuPeriod;
  }
  if (r.cpuQuota) {
    if (r.cpuQuota > 0 && r.cpuQuota < 1000) throw invalid('CPU cfs quota can not be less than 1ms (i.e. 1000)');
    cpu.quota = r.cpuQuota;
  }
  if (r.cpuShares) cpu.shares = r.cpuShares;
  if (r.cpusetCpus) {
    const list = parseCpuList(r.cpusetCpus);
    if (!list) throw invalid(`Invalid value ${r.cpusetCpus} for cpuset cpus`);
    if (list.some((c) => c >= ncpu)) throw invalid(`Requested CPUs are not available - requested ${r.cpusetCpus}, available: ${ncpu === 1 ? '0' : `0-${ncpu - 1}`}`);
    cpu.cpus = r.cpusetCpus;
  }
  if (Object.keys(cpu).length) out.cpu = cpu;
  // Docker: 0 or negative means unlimited.
  if (r.pidsLimit && r.pidsLimit > 0) out.pids = { limit: r.pidsLimit };
  if (r.blkioWeight) {
    if (r.blkioWeight < 10 || r.blkioWeight > 1000) throw invalid('Range of blkio weight is from 10 to 1000');
    // Docker discards the weight (with a warning) where the kernel lacks it; crun would fail instead.
    if (canWeightBlkio()) out.blockIO = { weight: r.blkioWeight };
  }
  return out;
}

// runc's validation of sysctls, done here so the error comes at create with a clear message.
const IPC_SYSCTLS = new Set(['kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax', 'kernel.shmmni', 'kernel.shm_rmid_forced']);
function checkSysctl(k: string, ns: Set<string>): void {
  if (IPC_SYSCTLS.has(k) || k.startsWith('fs.mqueue.')) {
    if (!ns.has('ipc')) throw invalid(`sysctl "${k}" is not allowed in the hosts ipc namespace`);
    return;
  }
  if (k.startsWith('net.')) {
    if (!ns.has('network')) throw invalid(`sysctl "${k}" is not allowed in the hosts network namespace`);
    return;
  }
  if (ns.has('uts') && k === 'kernel.domainname') return;
  if (ns.has('uts') && k === 'kernel.hostname') throw invalid(`sysctl "${k}" is not allowed as it conflicts with the OCI "hostname" field`);
  throw invalid(`sysctl "${k}" is not in a separate kernel namespace`);
}

const depth = (p: string) => path.posix.normalize(p).split('/').filter(Boolean).length;
const PROPAGATIONS = new Set(['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave', 'unbindable', 'runbindable']);

function userMount(m: SpecMount): OciMount {
  if (!m.destination.startsWith('/')) throw invalid(`invalid mount config: mount path must be absolute: ${m.destination}`);
  if (m.type === 'bind') {
    if (!m.source.startsWith('/')) throw invalid(`invalid mount config: bind source path must be absolute: ${m.source}`);
    const options = [...m.options];
    if (!options.includes('bind') && !options.includes('rbind')) options.unshift('rbind');
    if (!options.some((o) => PROPAGATIONS.has(o))) options.push('rprivate');
    return { destination: m.destination, type: 'bind', source: m.source, options };
  }
  return { destination: m.destination, type: 'tmpfs', source: m.source || 'tmpfs', options: [...m.options] };
}

function buildMounts(o: SpecInput, privileged: boolean, hostIpc: boolean): { mounts: OciMount[]; propagation?: string } {
  const shmSize = o.shmSize ?? DEFAULT_SHM_SIZE;
  if (shmSize < 0) throw invalid('SHM size can not be less than 0');
  const defaults: OciMount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', ...(privileged ? [] : ['ro'])] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: [...(privileged ? [] : ['ro']), 'nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    hostIpc
      ? { destination: '/dev/shm', type: 'bind', source: '/dev/shm', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'rprivate'] }
      : { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${shmSize}`] },
  ];
  const user = o.mounts.map(userMount);
  const userDests = new Set(user.map((m) => path.posix.normalize(m.destination)));
  // A user mount replaces the default at its destination; a user /dev replaces everything under it.
  const kept = defaults.filter((m) => !userDests.has(m.destination) && !(userDests.has('/dev') && m.destination.startsWith('/dev/')));
  // Parents before children, as Docker sorts them (stable: equal depths keep the caller's order).
  const sorted = user.map((m, i) => ({ m, i })).sort((a, b) => depth(a.m.destination) - depth(b.m.destination) || a.i - b.i).map((x) => x.m);
  let propagation: string | undefined;
  for (const m of sorted) {
    const opts = m.options ?? [];
    if (opts.includes('shared') || opts.includes('rshared')) propagation = 'shared';
    else if ((opts.includes('slave') || opts.includes('rslave')) && propagation !== 'shared') propagation = 'rslave';
  }
  return { mounts: [...kept, ...sorted], propagation };
}

function buildNamespaces(o: SpecInput): OciNamespace[] {
  const ns: OciNamespace[] = [];
  if (o.pid !== 'host') ns.push({ type: 'pid' });
  if (o.network.mode === 'none') ns.push({ type: 'network' });
  else if (o.network.mode === 'path') {
    if (!o.network.path) throw invalid('network namespace path is missing');
    ns.push({ type: 'network', path: o.network.path.startsWith('/') ? o.network.path : `/run/netns/${o.network.path}` });
  }
  if (o.ipc !== 'host') ns.push({ type: 'ipc' });
  if (o.uts !== 'host') ns.push({ type: 'uts' });
  ns.push({ type: 'mount' });
  if (o.cgroupns !== 'host') ns.push({ type: 'cgroup' });
  if (o.usernsPath) ns.push({ type: 'user', path: o.usernsPath });
  else if (o.userns) ns.push({ type: 'user' });
  return ns;
}

export function buildSpec(o: SpecInput): OciSpec {
  const privileged = !!o.privileged;
  const sec = parseSecurityOpts(o.securityOpt);
  const caps = tweakCapabilities(o.capAdd, o.capDrop, privileged);
  const namespaces = buildNamespaces(o);
  const nsTypes = new Set<string>(namespaces.map((n) => n.type));

  const env = mergeEnv([`PATH=${DEFAULT_PATH}`, `HOSTNAME=${o.hostname}`, ...(o.tty ? ['TERM=xterm'] : [])], o.env);

  const { mounts, propagation } = buildMounts(o, privileged, o.ipc === 'host');
  let args = [...o.args];
  if (args.length === 0) throw invalid('No command specified');
  if (o.init) {
    const init = findInit();
    if (!init) throw systemError(`--init: no init binary on the host; install tini (apt-get install tini, for /usr/bin/tini-static) or catatonit`);
    mounts.push({ destination: INIT_PATH_IN_CONTAINER, type: 'bind', source: init, options: ['bind', 'ro', 'rprivate'] });
    args = [INIT_PATH_IN_CONTAINER, '--', ...args];
  }

  if (o.oomScoreAdj !== undefined) {
    if (!Number.isInteger(o.oomScoreAdj) || o.oomScoreAdj < -1000 || o.oomScoreAdj > 1000) {
      throw invalid(`Invalid value ${o.oomScoreAdj}, range for oom score adj is [-1000, 1000]`);
    }
    const own = daemonOomScoreAdj();
    if (o.oomScoreAdj < own && !daemonCapabilities().effective.has('CAP_SYS_RESOURCE')) {
      throw invalid(`oom score adj ${o.oomScoreAdj} is below the daemon's own (${own}); lowering it needs CAP_SYS_RESOURCE, which the daemon lacks`);
    }
  }

  const devices: OciDevice[] = privileged ? hostDevices() : [];
  let deviceRules: OciDeviceCgroup[] = privileged ? [{ allow: true, access: 'rwm' }] : defaultDeviceRules();
  for (const d of o.devices ?? []) {
    const got = devicesFromPath(d.PathOnHost, d.PathInContainer, d.CgroupPermissions);
    for (const dev of got.devices) {
      const i = devices.findIndex((x) => x.path === dev.path);
      if (i >= 0) devices[i] = dev;
      else devices.push(dev);
    }
    if (!privileged) deviceRules = [...deviceRules, ...got.rules];
  }
  if (!privileged) for (const r of o.deviceCgroupRules ?? []) deviceRules.push(parseDeviceCgroupRule(r));

  const sysctl: Record<string, string> = {};
  if (nsTypes.has('network')) {
    // Docker lets unprivileged processes bind low ports and ping inside their own network namespace.
    sysctl['net.ipv4.ip_unprivileged_port_start'] = '0';
    sysctl['net.ipv4.ping_group_range'] = '0 2147483647';
  }
  for (const [k, v] of Object.entries(o.sysctls ?? {})) {
    checkSysctl(k, nsTypes);
    sysctl[k] = String(v);
  }

  const unmasked = privileged || sec.unmaskSystemPaths;
  const spec: OciSpec = {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: !!o.tty,
      user: { uid: o.user.uid, gid: o.user.gid, additionalGids: [...o.user.additionalGids] },
      args,
      env,
      cwd: o.cwd || '/',
      // Docker (since 23.0) sets neither inheritable nor ambient: a non-root process then keeps
      // no capabilities across exec, and a root one gets the bounding set.
      capabilities: { bounding: [...caps], effective: [...caps], permitted: [...caps] },
      rlimits: containerRlimits(o.ulimits),
      noNewPrivileges: sec.noNewPrivileges ?? !!o.noNewPrivileges,
    },
    root: { path: o.rootfs, readonly: !!o.readonlyRootfs },
    mounts,
    linux: {
      namespaces,
      cgroupsPath: o.cgroupsPath,
      resources: { devices: deviceRules, ...buildResources(o.resources) },
      devices,
      maskedPaths: unmasked ? [] : [...(o.maskedPaths ?? DEFAULT_MASKED_PATHS)],
      readonlyPaths: unmasked ? [] : [...(o.readonlyPaths ?? DEFAULT_READONLY_PATHS)],
    },
  };
  if (o.oomScoreAdj !== undefined) spec.process.oomScoreAdj = o.oomScoreAdj;
  if (nsTypes.has('uts')) {
    spec.hostname = o.hostname;
    if (o.domainname) spec.domainname = o.domainname;
  }
  if (Object.keys(sysctl).length) spec.linux.sysctl = sysctl;
  if (propagation) spec.linux.rootfsPropagation = propagation;
  // Mappings are for a namespace the runtime makes; a joined one has its own.
  if (o.userns && !o.usernsPath) {
    spec.linux.uidMappings = o.userns.uids.map((m) => ({ ...m }));
    spec.linux.gidMappings = o.userns.gids.map((m) => ({ ...m }));
  }
  if (!privileged) {
    const seccomp = seccompFor(sec.seccomp, caps);
    if (seccomp) spec.linux.seccomp = seccomp;
  }
  return spec;
}

const INFINITY_MARK = '\u0000RLIM_INFINITY\u0000';

/**
 * config.json text for a spec. Use this rather than JSON.stringify: it writes RLIM_INFINITY as the
 * exact 2^64-1 that a JS number cannot represent.
 */
export function specToJson(spec: OciSpec): string {
  const text = JSON.stringify(spec, (k, v) => ((k === 'soft' || k === 'hard') && v === RLIM_INFINITY ? INFINITY_MARK : v), 1);
  return text.split(JSON.stringify(INFINITY_MARK)).join('18446744073709551615');
}

export { DEFAULT_CAPABILITIES, daemonRlimits };
