// A service of the model → the Engine API's container create body (Config, HostConfig and
// NetworkingConfig), as Docker Compose v2 fills it in, with the labels that keep compose's state.
import { parseDuration } from '../lib/units';
import type { ContainerCreateBody, EndpointSettings, HostConfig, Mount, PortMap } from '../client/types';
import type { Project, Service, ServiceNetwork } from './model';
import * as L from './labels';
import { serviceHash, HASH_VERSION } from './hash';
import { ComposeError, notImplemented } from './errors';

/** The image a service runs: its `image`, or for a build without one `<project>-<service>`. */
export const imageName = (p: Project, s: Service): string => s.image ?? `${p.name}-${s.name}`;

/** `<project>-<service>-<n>`, or the service's container_name. */
export const containerName = (p: Project, s: Service, n: number): string => s.container_name ?? `${p.name}-${s.name}-${n}`;

/** Networks by priority (higher first), then name: the first is the container's primary one. */
export function networksByPriority(s: Service): string[] {
  const prio = (n: string) => (s.networks[n] as ServiceNetwork | null)?.priority ?? 0;
  return Object.keys(s.networks).sort((a, b) => prio(b) - prio(a) || (a < b ? -1 : a > b ? 1 : 0));
}

const seconds = (d: string) => Math.ceil(parseDuration(d) / 1e9);
/** cpu_rt_*: microseconds, or a duration. */
const micros = (v: number | string) => (typeof v === 'number' || /^\d+$/.test(v) ? Number(v) : Math.round(parseDuration(v) / 1e3));

/** "on-failure:3", "unless-stopped" → the API's RestartPolicy; deploy.restart_policy as a fallback. */
function restartPolicy(s: Service): HostConfig['RestartPolicy'] {
  if (s.restart) {
    const [name, count] = s.restart.split(':');
    if (!['no', 'always', 'on-failure', 'unless-stopped'].includes(name)) throw new ComposeError(`invalid restart policy: unknown policy '${name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`);
    return { Name: name, MaximumRetryCount: count ? Number(count) : 0 };
  }
  const rp = s.deploy?.restart_policy;
  if (rp?.condition) {
    const name = rp.condition === 'none' ? 'no' : rp.condition === 'any' ? 'always' : 'on-failure';
    return { Name: name, MaximumRetryCount: rp.max_attempts ?? 0 };
  }
  return { Name: 'no', MaximumRetryCount: 0 };
}

function healthcheck(s: Service): ContainerCreateBody['Healthcheck'] {
  const h = s.healthcheck;
  if (!h) return undefined;
  if (h.disable || h.test?.[0] === 'NONE') return { Test: ['NONE'] };
  const ns = (d?: string) => (d === undefined ? undefined : parseDuration(d));
  return { Test: h.test, Interval: ns(h.interval), Timeout: ns(h.timeout), StartPeriod: ns(h.start_period), StartInterval: ns(h.start_interval), Retries: h.retries };
}

function ports(s: Service): { exposed: Record<string, {}>; bindings: PortMap } {
  const exposed: Record<string, {}> = {};
  const bindings: PortMap = {};
  for (const e of s.expose) {
    const [p, proto = 'tcp'] = e.split('/');
    const [a, b] = p.split('-').map(Number);
    for (let i = a; i <= (b || a); i++) exposed[`${i}/${proto}`] = {};
  }
  for (const p of s.ports) {
    if (p.mode === 'host' || p.mode === 'ingress' || p.mode === undefined) {
      const key = `${p.target}/${p.protocol ?? 'tcp'}`;
      exposed[key] = {};
      (bindings[key] ??= []).push({ HostIp: p.host_ip ?? '', HostPort: p.published ?? '' });
    }
  }
  return { exposed, bindings };
}

/** How containers of other services are found (network_mode service:x, volumes_from). */
export type ContainerOf = (service: string) => string | undefined;

export interface CreateInput {
  project: Project;
  service: Service;
  number: number;
  name: string;
  imageId?: string;
  oneoff?: boolean;
  /** Anonymous volumes of the container being replaced, by target: kept across a recreate. */
  inheritedVolumes?: Record<string, string>;
  containerOf: ContainerOf;
  /** For one-off containers: no service alias on the networks (docker compose run without --use-aliases). */
  noServiceAlias?: boolean;
  extraLabels?: Record<string, string>;
}

function mounts(inp: CreateInput): { binds: string[]; mounts: Mount[] } {
  const { project, service: s } = inp;
  const binds: string[] = [];
  const out: Mount[] = [];
  for (const v of s.volumes) {
    switch (v.type) {
      case 'bind': {
        if (v.bind?.create_host_path) {
          // Short syntax: Binds, so the daemon creates a missing host directory (as `-v` does).
          const opts = [v.read_only ? 'ro' : '', v.bind.propagation ?? '', v.bind.selinux ?? ''].filter(Boolean);
          binds.push(`${v.source}:${v.target}${opts.length ? `:${opts.join(',')}` : ''}`);
        } else {
          out.push({ Type: 'bind', Source: v.source, Target: v.target, ReadOnly: !!v.read_only, ...(v.bind?.propagation ? { BindOptions: { Propagation: v.bind.propagation } } : {}) });
        }
        break;
      }
      case 'volume': {
        const name = v.source ? project.volumes[v.source].name : inp.inheritedVolumes?.[v.target];
        const m: Mount = { Type: 'volume', Target: v.target, ReadOnly: !!v.read_only };
        if (name) m.Source = name;
        if (v.volume?.nocopy || v.volume?.subpath) m.VolumeOptions = { ...(v.volume.nocopy ? { NoCopy: true } : {}), ...(v.volume.subpath ? { Subpath: v.volume.subpath } : {}) };
        out.push(m);
        break;
      }
      case 'tmpfs': {
        const m: Mount = { Type: 'tmpfs', Target: v.target, ReadOnly: !!v.read_only };
        if (v.tmpfs?.size !== undefined || v.tmpfs?.mode !== undefined) {
          m.TmpfsOptions = {
            ...(v.tmpfs.size !== undefined ? { SizeBytes: Number(v.tmpfs.size) } : {}),
            ...(v.tmpfs.mode !== undefined ? { Mode: typeof v.tmpfs.mode === 'string' ? parseInt(v.tmpfs.mode, 8) : v.tmpfs.mode } : {}),
          };
        }
        out.push(m);
        break;
      }
      default: throw notImplemented(`services.${s.name}.volumes: type ${v.type}`);
    }
  }
  // File-based secrets and configs are bind-mounted read-only, as Docker Compose does without swarm.
  for (const r of s.secrets ?? []) {
    const sec = project.secrets[r.source];
    const target = r.target ? (r.target.startsWith('/') ? r.target : `/run/secrets/${r.target}`) : `/run/secrets/${r.source}`;
    if (sec.file) out.push({ Type: 'bind', Source: sec.file, Target: target, ReadOnly: true });
  }
  for (const r of s.configs ?? []) {
    const cfg = project.configs[r.source];
    const target = r.target ?? `/${r.source}`;
    if (cfg.file) out.push({ Type: 'bind', Source: cfg.file, Target: target, ReadOnly: true });
  }
  return { binds, mounts: out };
}

/** Secrets and configs given by `environment` or `content`: copied into the container before it starts. */
export function injectedFiles(p: Project, s: Service): Array<{ target: string; content: string; mode: number; uid?: number; gid?: number }> {
  const out: Array<{ target: string; content: string; mode: number; uid?: number; gid?: number }> = [];
  const add = (obj: { file?: string; environment?: string; content?: string } | undefined, target: string, r: { mode?: number | string; uid?: string; gid?: string }) => {
    if (!obj || obj.file) return;
    const content = obj.content ?? (obj.environment !== undefined ? p.environment[obj.environment] ?? '' : undefined);
    if (content === undefined) return;
    const mode = r.mode === undefined ? 0o444 : typeof r.mode === 'string' ? parseInt(r.mode, 8) : r.mode;
    out.push({ target, content, mode, uid: r.uid !== undefined ? Number(r.uid) : undefined, gid: r.gid !== undefined ? Number(r.gid) : undefined });
  };
  for (const r of s.secrets ?? []) add(p.secrets[r.source], r.target ? (r.target.startsWith('/') ? r.target : `/run/secrets/${r.target}`) : `/run/secrets/${r.source}`, r);
  for (const r of s.configs ?? []) add(p.configs[r.source], r.target ?? `/${r.source}`, r);
  return out;
}

/** "service:web" → "container:<id>" for network_mode, ipc and pid. */
function refMode(mode: string | undefined, inp: CreateInput, what: string): string | undefined {
  if (!mode?.startsWith('service:')) return mode;
  const dep = mode.slice(8);
  const id = inp.containerOf(dep);
  if (!id) throw new ComposeError(`service ${JSON.stringify(dep)} has no container to share its ${what} with ${inp.service.name}`);
  return `container:${id}`;
}

export function composeLabels(inp: CreateInput): Record<string, string> {
  const { project: p, service: s } = inp;
  const deps = Object.entries(s.depends_on).map(([d, c]) => `${d}:${c.condition}:${c.restart}`).join(',');
  const labels: Record<string, string> = {
    ...s.labels,
    [L.PROJECT]: p.name,
    [L.SERVICE]: s.name,
    [L.ONEOFF]: inp.oneoff ? 'True' : 'False',
    [L.CONFIG_HASH]: serviceHash(s),
    [L.HASH_VERSION]: String(HASH_VERSION),
    [L.DEPENDS_ON]: deps,
    [L.WORKING_DIR]: p.workingDir,
    [L.CONFIG_FILES]: p.configFiles.join(','),
    [L.VERSION]: L.DRAY_COMPOSE_VERSION,
    ...(inp.extraLabels ?? {}),
  };
  if (!inp.oneoff) labels[L.NUMBER] = String(inp.number);
  if (p.envFiles.length) labels[L.ENV_FILE] = p.envFiles.join(',');
  if (inp.imageId) labels[L.IMAGE] = inp.imageId;
  return labels;
}

export function createBody(inp: CreateInput): ContainerCreateBody {
  const { project: p, service: s } = inp;
  const { exposed, bindings } = ports(s);
  const m = mounts(inp);
  const limits = s.deploy?.resources?.limits;
  const reservations = s.deploy?.resources?.reservations;
  const cpus = s.cpus ?? limits?.cpus;
  const tmpfs: Record<string, string> = {};
  for (const t of (s.tmpfs ?? []) as string[]) {
    const i = t.indexOf(':');
    tmpfs[i >= 0 ? t.slice(0, i) : t] = i >= 0 ? t.slice(i + 1) : '';
  }
  let networkMode: string;
  const endpoints: Record<string, EndpointSettings> = {};
  if (s.network_mode) {
    networkMode = refMode(s.network_mode, inp, 'network')!;
  } else {
    const order = networksByPriority(s);
    networkMode = order.length ? p.networks[order[0]].name : 'none';
    for (const key of order) {
      const cfg = (s.networks[key] ?? {}) as ServiceNetwork;
      const ep: EndpointSettings = {};
      const aliases = [...(inp.noServiceAlias ? [] : [s.name]), ...(cfg.aliases ?? [])];
      if (aliases.length) ep.Aliases = aliases;
      if (cfg.ipv4_address || cfg.ipv6_address || cfg.link_local_ips) {
        ep.IPAMConfig = { ...(cfg.ipv4_address ? { IPv4Address: cfg.ipv4_address } : {}), ...(cfg.ipv6_address ? { IPv6Address: cfg.ipv6_address } : {}), ...(cfg.link_local_ips ? { LinkLocalIPs: cfg.link_local_ips } : {}) };
      }
      if (cfg.mac_address) ep.MacAddress = cfg.mac_address;
      if (cfg.driver_opts) ep.DriverOpts = cfg.driver_opts;
      endpoints[p.networks[key].name] = ep;
    }
  }
  const volumesFrom = ((s.volumes_from ?? []) as string[]).map((v) => {
    if (v.startsWith('container:')) return v.slice(10);
    const [svc, mode] = v.split(':');
    const id = inp.containerOf(svc);
    if (!id) throw new ComposeError(`service ${JSON.stringify(svc)} has no container for volumes_from of ${s.name}`);
    return mode ? `${id}:${mode}` : id;
  });
  const hostConfig: HostConfig = {
    Binds: m.binds.length ? m.binds : undefined,
    Mounts: m.mounts.length ? m.mounts : undefined,
    NetworkMode: networkMode,
    PortBindings: Object.keys(bindings).length ? bindings : undefined,
    RestartPolicy: restartPolicy(s),
    LogConfig: s.logging ? { Type: s.logging.driver ?? '', Config: s.logging.options ?? {} } : undefined,
    CapAdd: s.cap_add, CapDrop: s.cap_drop,
    Privileged: s.privileged,
    SecurityOpt: s.security_opt,
    ReadonlyRootfs: s.read_only,
    Init: s.init,
    Dns: s.dns?.length ? s.dns : undefined,
    DnsSearch: s.dns_search?.length ? s.dns_search : undefined,
    DnsOptions: s.dns_opt,
    ExtraHosts: s.extra_hosts?.length ? s.extra_hosts : undefined,
    GroupAdd: s.group_add?.map(String),
    Tmpfs: Object.keys(tmpfs).length ? tmpfs : undefined,
    Sysctls: s.sysctls && Object.keys(s.sysctls).length ? s.sysctls : undefined,
    Ulimits: s.ulimits ? Object.entries(s.ulimits as Record<string, { soft: number; hard: number }>).map(([Name, u]) => ({ Name, Soft: Number(u.soft), Hard: Number(u.hard) })) : undefined,
    Devices: s.devices?.map((d: any) => ({ PathOnHost: d.source, PathInContainer: d.target, CgroupPermissions: d.permissions ?? 'rwm' })),
    DeviceCgroupRules: s.device_cgroup_rules,
    Memory: s.mem_limit ?? limits?.memory,
    MemoryReservation: s.mem_reservation ?? reservations?.memory,
    MemorySwap: s.memswap_limit,
    MemorySwappiness: s.mem_swappiness,
    NanoCpus: cpus !== undefined ? Math.round(Number(cpus) * 1e9) : undefined,
    CpuShares: s.cpu_shares, CpuQuota: s.cpu_quota, CpuPeriod: s.cpu_period,
    CpusetCpus: s.cpuset,
    PidsLimit: s.pids_limit ?? limits?.pids,
    ShmSize: s.shm_size,
    OomKillDisable: s.oom_kill_disable,
    OomScoreAdj: s.oom_score_adj,
    PidMode: refMode(s.pid ?? undefined, inp, 'pid namespace'),
    IpcMode: refMode(s.ipc, inp, 'ipc namespace'),
    UTSMode: s.uts,
    UsernsMode: s.userns_mode,
    CgroupnsMode: s.cgroup,
    CgroupParent: s.cgroup_parent,
    Runtime: s.runtime,
    Isolation: s.isolation,
    StorageOpt: s.storage_opt,
    Links: s.links || s.external_links ? [...(s.links ?? []), ...(s.external_links ?? [])] : undefined,
    CpuRealtimePeriod: s.cpu_rt_period !== undefined ? micros(s.cpu_rt_period) : undefined,
    CpuRealtimeRuntime: s.cpu_rt_runtime !== undefined ? micros(s.cpu_rt_runtime) : undefined,
    VolumesFrom: volumesFrom.length ? volumesFrom : undefined,
    Annotations: s.annotations && Object.keys(s.annotations).length ? s.annotations : undefined,
  };
  const body: ContainerCreateBody = {
    Hostname: s.hostname,
    Domainname: s.domainname,
    User: s.user,
    ExposedPorts: Object.keys(exposed).length ? exposed : undefined,
    Tty: s.tty,
    OpenStdin: s.stdin_open,
    AttachStdout: true,
    AttachStderr: true,
    Env: Object.keys(s.environment).sort().map((k) => `${k}=${s.environment[k]}`),
    Cmd: s.command ?? undefined,
    Entrypoint: s.entrypoint ?? undefined,
    Image: imageName(p, s),
    WorkingDir: s.working_dir,
    Labels: composeLabels(inp),
    StopSignal: s.stop_signal,
    StopTimeout: s.stop_grace_period !== undefined ? seconds(s.stop_grace_period) : undefined,
    Healthcheck: healthcheck(s),
    MacAddress: s.mac_address,
    HostConfig: hostConfig,
    NetworkingConfig: Object.keys(endpoints).length ? { EndpointsConfig: endpoints } : undefined,
  };
  const clean = (o: any) => { for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k]; };
  clean(body); clean(hostConfig);
  return body;
}

/** Seconds to wait for a service's containers to stop: -t, else stop_grace_period, else Docker's 10. */
export function stopTimeout(s: Service | undefined, flag?: number): number | undefined {
  if (flag !== undefined) return flag;
  if (s?.stop_grace_period) return seconds(s.stop_grace_period);
  return undefined;
}
