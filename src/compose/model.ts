// The project model: what the loader (loader.ts) makes of the files once merged, with defaults
// filled in, values of the right types, env files read, profiles applied and references checked.
// Services keep the Compose file's own key names (snake_case), so `config` prints the model as it
// is and the hash (hash.ts) is taken over the same text a user reads.
import { readFileSync } from 'node:fs';
import { ramInBytes, parseDuration } from '../lib/units';
import { ComposeError, invalidProject } from './errors';
import { parseDotenv } from './dotenv';
import type { PortConfig, VolumeMount } from './canonical';

export type { PortConfig, VolumeMount };

export interface DependsOn { condition: 'service_started' | 'service_healthy' | 'service_completed_successfully'; required: boolean; restart: boolean }
export interface ServiceNetwork { aliases?: string[]; ipv4_address?: string; ipv6_address?: string; priority?: number; mac_address?: string; link_local_ips?: string[]; driver_opts?: Record<string, string>; gw_priority?: number }
export interface Healthcheck { test?: string[]; interval?: string; timeout?: string; start_period?: string; start_interval?: string; retries?: number; disable?: boolean }
export interface BuildConfig {
  context: string; dockerfile?: string; dockerfile_inline?: string; args?: Record<string, string | null>; target?: string;
  labels?: Record<string, string>; tags?: string[]; network?: string; extra_hosts?: string[]; no_cache?: boolean; pull?: boolean;
  [k: string]: unknown;
}
export interface MountRef { source: string; target?: string; uid?: string; gid?: string; mode?: number | string }

export interface Service {
  name: string;
  image?: string;
  build?: BuildConfig;
  command?: string[] | null;
  entrypoint?: string[] | null;
  environment: Record<string, string>;
  ports: PortConfig[];
  expose: string[];
  volumes: VolumeMount[];
  networks: Record<string, ServiceNetwork | null>;
  network_mode?: string;
  depends_on: Record<string, DependsOn>;
  healthcheck?: Healthcheck;
  labels: Record<string, string>;
  profiles?: string[];
  container_name?: string;
  restart?: string;
  scale?: number;
  deploy?: { replicas?: number; resources?: { limits?: { cpus?: number | string; memory?: number; pids?: number }; reservations?: { cpus?: number | string; memory?: number } }; restart_policy?: { condition?: string; max_attempts?: number }; [k: string]: unknown };
  secrets?: MountRef[];
  configs?: MountRef[];
  pull_policy?: string;
  [k: string]: any;
}

export interface NetworkConfig { name: string; external?: boolean; driver?: string; driver_opts?: Record<string, string>; ipam?: { driver?: string; config?: Array<{ subnet?: string; ip_range?: string; gateway?: string; aux_addresses?: Record<string, string> }>; options?: Record<string, string> }; internal?: boolean; attachable?: boolean; enable_ipv6?: boolean; labels?: Record<string, string>; [k: string]: unknown }
export interface VolumeConfig { name: string; external?: boolean; driver?: string; driver_opts?: Record<string, string>; labels?: Record<string, string>; [k: string]: unknown }
export interface FileObject { name: string; file?: string; environment?: string; content?: string; external?: boolean; [k: string]: unknown }

export interface Project {
  name: string;
  workingDir: string;
  configFiles: string[];
  /** The variables interpolation saw: the environment over the .env file. */
  environment: Record<string, string>;
  envFiles: string[];
  services: Record<string, Service>;
  /** Services left out by profiles. */
  disabled: Record<string, Service>;
  networks: Record<string, NetworkConfig>;
  volumes: Record<string, VolumeConfig>;
  secrets: Record<string, FileObject>;
  configs: Record<string, FileObject>;
  /** Top-level x- keys, kept for `config`. */
  extensions: Record<string, unknown>;
}

type Dict = Record<string, any>;
const isDict = (v: unknown): v is Dict => !!v && typeof v === 'object' && !Array.isArray(v);

/** strconv.ParseBool, which Compose applies to interpolated booleans. */
function toBool(v: unknown, where: string): boolean {
  if (typeof v === 'boolean') return v;
  const s = String(v);
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
  throw new ComposeError(`${where}: invalid boolean ${JSON.stringify(s)}`);
}

function toNumber(v: unknown, where: string): number {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  const n = Number(String(v).trim());
  if (String(v).trim() === '' || !Number.isFinite(n)) throw new ComposeError(`${where}: invalid number ${JSON.stringify(String(v))}`);
  return n;
}

function toBytes(v: unknown, where: string): number {
  if (typeof v === 'number') return v;
  try { return ramInBytes(String(v)); } catch { throw new ComposeError(`${where}: invalid size ${JSON.stringify(String(v))}`); }
}

function checkDuration(v: unknown, where: string): string {
  const s = String(v);
  try { parseDuration(s); } catch { throw new ComposeError(`${where}: invalid duration ${JSON.stringify(s)}`); }
  return s;
}

const BOOL_FIELDS = ['init', 'privileged', 'read_only', 'tty', 'stdin_open', 'oom_kill_disable', 'attach'];
const NUMBER_FIELDS = ['scale', 'cpus', 'cpu_shares', 'cpu_quota', 'cpu_period', 'pids_limit', 'mem_swappiness', 'oom_score_adj', 'cpu_count', 'cpu_percent'];
const SIZE_FIELDS = ['mem_limit', 'memswap_limit', 'mem_reservation', 'shm_size'];

/** Reads a service's env_file entries (later files win), as Compose does before `environment`. */
function readEnvFiles(entries: Dict[], lookup: (k: string) => string | undefined, where: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of entries) {
    let text: string;
    try { text = readFileSync(e.path, 'utf8'); } catch (err: any) {
      if (err?.code === 'ENOENT' && e.required === false) continue;
      if (err?.code === 'ENOENT') throw new ComposeError(`env file ${e.path} not found: stat ${e.path}: no such file or directory`);
      throw new ComposeError(`${where}: ${err.message}`);
    }
    for (const [k, v] of parseDotenv(text, e.path, (k) => (k in out ? out[k] : lookup(k)))) out[k] = v;
  }
  return out;
}

/** Keys the schema has that dray compose does not act on: a warning each, not an error. */
const IGNORED = ['blkio_config', 'cpu_count', 'cpu_percent', 'credential_spec', 'gpus', 'models', 'provider', 'use_api_socket', 'pull_refresh_after'];

function normalizeService(name: string, raw: Dict, lookup: (k: string) => string | undefined, warn: (m: string) => void): Service {
  const where = `services.${name}`;
  const s: Dict = { ...raw };
  delete s.extends;
  for (const k of IGNORED) if (s[k] !== undefined) warn(`${where}: \`${k}\` is not supported by dray compose and is ignored`);
  // label_file: KEY=VALUE lines, under the service's own labels.
  if (s.label_file) {
    const fromFiles: Record<string, string> = {};
    for (const f of s.label_file as string[]) {
      let text: string;
      try { text = readFileSync(f, 'utf8'); } catch (e: any) { throw new ComposeError(`${where}.label_file: ${e.code === 'ENOENT' ? `open ${f}: no such file or directory` : e.message}`); }
      for (const [k, v] of parseDotenv(text, f)) fromFiles[k] = v;
    }
    s.labels = { ...fromFiles, ...(s.labels ?? {}) };
  }
  for (const k of BOOL_FIELDS) if (s[k] !== undefined && s[k] !== null) s[k] = toBool(s[k], `${where}.${k}`);
  for (const k of NUMBER_FIELDS) if (s[k] !== undefined && s[k] !== null) s[k] = toNumber(s[k], `${where}.${k}`);
  for (const k of SIZE_FIELDS) if (s[k] !== undefined && s[k] !== null) s[k] = k === 'memswap_limit' && String(s[k]) === '-1' ? -1 : toBytes(s[k], `${where}.${k}`);
  if (s.stop_grace_period !== undefined) s.stop_grace_period = checkDuration(s.stop_grace_period, `${where}.stop_grace_period`);

  // Environment: env_file first, then `environment`; a bare key takes the project environment's value.
  const env: Record<string, string> = s.env_file ? readEnvFiles(s.env_file, lookup, where) : {};
  for (const [k, v] of Object.entries((s.environment ?? {}) as Record<string, string | null>)) {
    if (v === null) { const x = lookup(k); if (x !== undefined) env[k] = x; else delete env[k]; } else env[k] = v;
  }
  s.environment = env;
  delete s.env_file;

  s.labels = s.labels ?? {};
  s.ports = (s.ports ?? []).map((p: Dict, i: number) => {
    if (p.target === undefined) throw new ComposeError(`${where}.ports.${i}: target is required`);
    return { ...p, target: toNumber(p.target, `${where}.ports.${i}.target`) };
  });
  s.expose = s.expose ?? [];
  s.volumes = (s.volumes ?? []).map((v: Dict) => {
    const m = { ...v };
    if (m.read_only !== undefined) m.read_only = toBool(m.read_only, `${where}.volumes.read_only`);
    if (m.tmpfs?.size !== undefined) m.tmpfs = { ...m.tmpfs, size: toBytes(m.tmpfs.size, `${where}.volumes.tmpfs.size`) };
    if (m.bind?.create_host_path !== undefined) m.bind = { ...m.bind, create_host_path: toBool(m.bind.create_host_path, `${where}.volumes.bind.create_host_path`) };
    if (m.volume?.nocopy !== undefined) m.volume = { ...m.volume, nocopy: toBool(m.volume.nocopy, `${where}.volumes.volume.nocopy`) };
    return m;
  });
  const deps: Record<string, DependsOn> = {};
  for (const [d, c] of Object.entries((s.depends_on ?? {}) as Dict)) {
    deps[d] = { condition: c.condition ?? 'service_started', required: toBool(c.required ?? true, `${where}.depends_on.${d}.required`), restart: toBool(c.restart ?? false, `${where}.depends_on.${d}.restart`) };
  }
  s.depends_on = deps;
  if (!s.network_mode && !s.networks) s.networks = { default: null };
  s.networks = s.networks ?? {};
  for (const [n, c] of Object.entries(s.networks as Dict)) {
    if (c && c.priority !== undefined) s.networks[n] = { ...c, priority: toNumber(c.priority, `${where}.networks.${n}.priority`) };
  }
  if (s.healthcheck) {
    const h: Dict = { ...s.healthcheck };
    for (const k of ['interval', 'timeout', 'start_period', 'start_interval']) if (h[k] !== undefined) h[k] = checkDuration(h[k], `${where}.healthcheck.${k}`);
    if (h.retries !== undefined) h.retries = toNumber(h.retries, `${where}.healthcheck.retries`);
    if (h.disable !== undefined) h.disable = toBool(h.disable, `${where}.healthcheck.disable`);
    s.healthcheck = h;
  }
  if (s.deploy) {
    const d: Dict = JSON.parse(JSON.stringify(s.deploy));
    if (d.replicas !== undefined) d.replicas = toNumber(d.replicas, `${where}.deploy.replicas`);
    for (const part of ['limits', 'reservations']) {
      const r = d.resources?.[part];
      if (!r) continue;
      if (r.memory !== undefined) r.memory = toBytes(r.memory, `${where}.deploy.resources.${part}.memory`);
      if (r.cpus !== undefined) r.cpus = toNumber(r.cpus, `${where}.deploy.resources.${part}.cpus`);
      if (r.pids !== undefined) r.pids = toNumber(r.pids, `${where}.deploy.resources.${part}.pids`);
    }
    s.deploy = d;
  }
  if (s.build) {
    const b: Dict = { ...s.build };
    for (const k of ['no_cache', 'pull']) if (b[k] !== undefined) b[k] = toBool(b[k], `${where}.build.${k}`);
    s.build = b;
  }
  // `scale` and `deploy.replicas` say the same thing.
  const replicas = s.deploy?.replicas;
  if (s.scale !== undefined && replicas !== undefined && s.scale !== replicas) throw invalidProject(`services.${name}: can't set distinct values on 'scale' and 'deploy.replicas'`);
  const scale = s.scale ?? replicas;
  if (scale !== undefined && scale < 0) throw new ComposeError(`services.${name}.scale: must be greater than or equal to 0`);
  if (s.container_name && (scale ?? 1) > 1) throw invalidProject(`services.${name}: can't set container_name and ${name} as container name must be unique`);
  const limits = s.deploy?.resources?.limits;
  if (limits?.cpus !== undefined && s.cpus !== undefined && limits.cpus !== s.cpus) throw invalidProject(`services.${name}: can't set distinct values on 'cpus' and 'deploy.resources.limits.cpus'`);
  if (limits?.memory !== undefined && s.mem_limit !== undefined && limits.memory !== s.mem_limit) throw invalidProject(`services.${name}: can't set distinct values on 'mem_limit' and 'deploy.resources.limits.memory'`);
  if (limits?.pids !== undefined && s.pids_limit !== undefined && limits.pids !== s.pids_limit) throw invalidProject(`services.${name}: can't set distinct values on 'pids_limit' and 'deploy.resources.limits.pids'`);
  return { ...(s as Service), name };
}

/** The number of containers a service runs (`scale`, `deploy.replicas`, default 1). */
export const scaleOf = (s: Service): number => s.scale ?? s.deploy?.replicas ?? 1;

/** Services that `s` needs first: depends_on, network_mode service:, volumes_from. */
export function dependenciesOf(s: Service): string[] {
  const out = new Set(Object.keys(s.depends_on));
  if (s.network_mode?.startsWith('service:')) out.add(s.network_mode.slice(8));
  for (const v of (s.volumes_from ?? []) as string[]) if (!v.startsWith('container:')) out.add(v.split(':')[0]);
  for (const m of ['ipc', 'pid']) if (typeof s[m] === 'string' && s[m].startsWith('service:')) out.add(s[m].slice(8));
  return [...out];
}

/** Services whose containers `s` needs to exist to be made: network_mode/ipc/pid service:x, volumes_from. */
export function namespaceOwners(s: Service): string[] {
  const out = new Set<string>();
  for (const m of [s.network_mode, s.ipc, s.pid]) if (typeof m === 'string' && m.startsWith('service:')) out.add(m.slice(8));
  for (const v of (s.volumes_from ?? []) as string[]) if (!v.startsWith('container:')) out.add(v.split(':')[0]);
  return [...out];
}

/** Throws "dependency cycle detected: a -> b -> a" when services depend on each other in a ring. */
export function checkCycles(services: Record<string, Service>): void {
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (n: string) => {
    if (state.get(n) === 2) return;
    if (state.get(n) === 1) {
      const i = stack.indexOf(n);
      throw invalidProject(`dependency cycle detected: ${[...stack.slice(i), n].join(' -> ')}`);
    }
    state.set(n, 1);
    stack.push(n);
    for (const d of dependenciesOf(services[n]).sort()) if (services[d]) visit(d);
    stack.pop();
    state.set(n, 2);
  };
  for (const n of Object.keys(services).sort()) visit(n);
}

/** Service names, dependencies before dependents (ties by name, for stable output). */
export function dependencyOrder(services: Record<string, Service>): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const visit = (n: string) => {
    if (seen.has(n) || !services[n]) return;
    seen.add(n);
    for (const d of dependenciesOf(services[n]).sort()) visit(d);
    out.push(n);
  };
  for (const n of Object.keys(services).sort()) visit(n);
  return out;
}

/** Each service's depth in the dependency graph (0: depends on nothing): one level starts, or stops, at a time. */
export function dependencyLevels(services: Record<string, Service>): Map<string, number> {
  const level = new Map<string, number>();
  for (const n of dependencyOrder(services)) {
    const deps = dependenciesOf(services[n]).filter((d) => services[d]);
    level.set(n, deps.length ? 1 + Math.max(...deps.map((d) => level.get(d) ?? 0)) : 0);
  }
  return level;
}

export interface NormalizeInput {
  name: string;
  workingDir: string;
  configFiles: string[];
  envFiles: string[];
  environment: Record<string, string>;
  dict: Dict;
  profiles: string[];
  /** Services named on the command line: enabled whatever their profiles, with what they need. */
  selected?: string[];
  warn?: (m: string) => void;
}

export function normalizeProject(inp: NormalizeInput): Project {
  const d = inp.dict;
  const lookup = (k: string) => inp.environment[k];
  const all: Record<string, Service> = {};
  for (const [n, raw] of Object.entries((d.services ?? {}) as Dict)) all[n] = normalizeService(n, isDict(raw) ? raw : {}, lookup, inp.warn ?? (() => {}));

  // Profiles: a service with none is always on; one with profiles is on when one of them is active.
  const active = new Set(inp.profiles);
  const on = (s: Service) => !s.profiles?.length || active.has('*') || s.profiles.some((p) => active.has(p));
  const enabled = new Set(Object.keys(all).filter((n) => on(all[n])));
  const todo = [...(inp.selected ?? [])];
  const pulled = new Set<string>();
  while (todo.length) {
    const n = todo.pop()!;
    if (!all[n] || pulled.has(n)) continue;
    pulled.add(n);
    enabled.add(n);
    todo.push(...dependenciesOf(all[n]));
  }
  const services: Record<string, Service> = {};
  const disabled: Record<string, Service> = {};
  for (const n of Object.keys(all).sort()) (enabled.has(n) ? services : disabled)[n] = all[n];

  const networks: Record<string, NetworkConfig> = {};
  for (const [k, raw] of Object.entries((d.networks ?? {}) as Dict)) {
    const c: Dict = { ...(raw ?? {}) };
    if (c.external !== undefined) c.external = toBool(c.external, `networks.${k}.external`);
    for (const b of ['internal', 'attachable', 'enable_ipv6']) if (c[b] !== undefined) c[b] = toBool(c[b], `networks.${k}.${b}`);
    c.name = c.name ?? (c.external ? k : `${inp.name}_${k}`);
    networks[k] = c as NetworkConfig;
  }
  const usesDefault = Object.values(services).some((s) => 'default' in s.networks);
  if (usesDefault && !networks.default) networks.default = { name: `${inp.name}_default` };
  const volumes: Record<string, VolumeConfig> = {};
  for (const [k, raw] of Object.entries((d.volumes ?? {}) as Dict)) {
    const c: Dict = { ...(raw ?? {}) };
    if (c.external !== undefined) c.external = toBool(c.external, `volumes.${k}.external`);
    c.name = c.name ?? (c.external ? k : `${inp.name}_${k}`);
    volumes[k] = c as VolumeConfig;
  }
  const fileObjects = (kind: 'secrets' | 'configs') => {
    const out: Record<string, FileObject> = {};
    for (const [k, raw] of Object.entries((d[kind] ?? {}) as Dict)) {
      const c: Dict = { ...(raw ?? {}) };
      if (c.external !== undefined) c.external = toBool(c.external, `${kind}.${k}.external`);
      if (!c.external && c.file === undefined && c.environment === undefined && c.content === undefined) {
        throw invalidProject(`${kind === 'secrets' ? 'secret' : 'config'} ${JSON.stringify(k)} must declare either \`file\` or \`environment\``);
      }
      out[k] = { ...c, name: c.name ?? k } as FileObject;
    }
    return out;
  };
  const secrets = fileObjects('secrets');
  const configs = fileObjects('configs');

  for (const s of Object.values(services)) {
    if (!s.image && !s.build) throw invalidProject(`service ${JSON.stringify(s.name)} has neither an image nor a build context specified`);
    if (s.build?.dockerfile && s.build?.dockerfile_inline) throw invalidProject(`service ${JSON.stringify(s.name)} declares mutualy exclusive dockerfile and dockerfile_inline`);
    if (s.network_mode && raw(d, s.name).networks) throw invalidProject(`service ${s.name} declares mutually exclusive \`network_mode\` and \`networks\``);
    for (const n of Object.keys(s.networks)) if (!networks[n]) throw invalidProject(`service ${JSON.stringify(s.name)} refers to undefined network ${n}`);
    for (const [dep, c] of Object.entries(s.depends_on)) {
      if (services[dep]) continue;
      if (!c.required && !all[dep]) { delete s.depends_on[dep]; continue; }
      throw invalidProject(all[dep] ? `service ${JSON.stringify(s.name)} depends on service ${JSON.stringify(dep)} which is disabled by its profiles` : `service ${JSON.stringify(s.name)} depends on undefined service ${JSON.stringify(dep)}`);
    }
    if (s.network_mode?.startsWith('service:') && !services[s.network_mode.slice(8)]) {
      throw new ComposeError(`service ${JSON.stringify(s.network_mode.slice(8))} not found for network_mode 'service:${s.network_mode.slice(8)}'`);
    }
    for (const v of s.volumes) if (v.type === 'volume' && v.source && !volumes[v.source]) throw invalidProject(`service ${JSON.stringify(s.name)} refers to undefined volume ${v.source}`);
    for (const r of s.secrets ?? []) if (!secrets[r.source]) throw invalidProject(`service ${JSON.stringify(s.name)} refers to undefined secret ${r.source}`);
    for (const r of s.configs ?? []) if (!configs[r.source]) throw invalidProject(`service ${JSON.stringify(s.name)} refers to undefined config ${r.source}`);
    const targets = new Map<string, string>();
    for (const v of s.volumes) {
      const prev = targets.get(v.target);
      if (prev !== undefined) throw new ComposeError(`services.${s.name}.volumes: target ${v.target} already mounted as ${prev}`);
      targets.set(v.target, v.source ?? v.target);
    }
  }
  checkCycles(services);
  const extensions = Object.fromEntries(Object.entries(d).filter(([k]) => k.startsWith('x-')));
  return { name: inp.name, workingDir: inp.workingDir, configFiles: inp.configFiles, environment: inp.environment, envFiles: inp.envFiles, services, disabled, networks, volumes, secrets, configs, extensions };
}

const raw = (d: Dict, name: string): Dict => (d.services?.[name] ?? {}) as Dict;
