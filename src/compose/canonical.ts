// One file's model in canonical form, before it is merged with the others: every field that has
// a short and a long syntax takes the long one (ports, volumes, depends_on, networks, build,
// env_file, secrets, configs), lists of KEY=VALUE become mappings (environment, labels, build
// args, sysctls), strings that may be lists become lists, and relative host paths become absolute
// against the file's base directory. The merge (merge.ts) then only has to combine like with like,
// and `config` prints this form, as Docker Compose does.
import * as os from 'node:os';
import * as path from 'node:path';
import { parsePortSpec } from '../cli/opts/ports';
import { ComposeError } from './errors';
import { splitShellWords } from '../lib/shell-words';
import { isOverride, isReset, makeOverride } from './yaml';

type Dict = Record<string, any>;
const isDict = (v: unknown): v is Dict => !!v && typeof v === 'object' && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;

/** Applies `fn` to a value, looking through an !override marker (an !reset stays as it is). */
function through(v: unknown, fn: (x: any) => unknown): unknown {
  if (isReset(v)) return v;
  if (isOverride(v)) return makeOverride(fn(v.override));
  return fn(v);
}

const scalarString = (v: unknown): string => (v === null || v === undefined ? '' : typeof v === 'string' ? v : String(v));

/** list_or_dict: ["A=1", "B"] or {A: 1, B: null} → {A: "1", B: null} (bare keys: `bare`). */
export function toMapping(v: unknown, bare: null | '' = null): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  if (Array.isArray(v)) {
    for (const item of v) {
      const s = scalarString(item);
      const eq = s.indexOf('=');
      if (eq < 0) out[s] = bare; else out[s.slice(0, eq)] = s.slice(eq + 1);
    }
    return out;
  }
  if (isDict(v)) {
    for (const [k, x] of Object.entries(v)) out[k] = x === null || x === undefined ? bare : scalarString(x);
    return out;
  }
  return out;
}

const toList = (v: unknown): unknown[] => (v === undefined || v === null ? [] : Array.isArray(v) ? v : [v]);

/** A command string split into words as a POSIX shell would, without expanding anything (Compose: shellwords). */
export function shellSplit(s: string): string[] {
  return splitShellWords(s, (m) => new ComposeError(m));
}

const isRemote = (ctx: string) => /^[a-z][a-z0-9+.-]*:\/\//i.test(ctx) || ctx.startsWith('git@') || ctx.startsWith('github.com/');

/** A host path of the file: ~ expanded, relative ones against `base`. */
export function hostPath(p: string, base: string): string {
  if (p === '~' || p.startsWith('~/')) return path.join(os.homedir(), p.slice(1));
  return path.resolve(base, p);
}

// ---- ports ------------------------------------------------------------------------------------

export interface PortConfig { name?: string; mode?: string; host_ip?: string; target: number; published?: string; protocol?: string; app_protocol?: string }

/** "127.0.0.1:8080:80/udp", 80, {target: 80, published: 8080} → long syntax entries. */
export function canonicalPorts(list: unknown[]): PortConfig[] {
  const out: PortConfig[] = [];
  for (const p of list) {
    if (isDict(p)) {
      const e: PortConfig = { mode: p.mode ?? 'ingress', target: p.target, protocol: p.protocol ?? 'tcp' };
      if (p.name !== undefined) e.name = p.name;
      if (p.host_ip !== undefined) e.host_ip = p.host_ip;
      if (p.published !== undefined && p.published !== null && p.published !== '') e.published = String(p.published);
      if (p.app_protocol !== undefined) e.app_protocol = p.app_protocol;
      out.push(e);
      continue;
    }
    let specs;
    try { specs = parsePortSpec(String(p)); } catch (err: any) { throw new ComposeError(`invalid port ${JSON.stringify(String(p))}: ${err.message}`); }
    for (const { port, binding } of specs) {
      const [target, protocol] = port.split('/');
      const e: PortConfig = { mode: 'ingress', target: Number(target), protocol };
      if (binding.HostIp) e.host_ip = binding.HostIp;
      if (binding.HostPort) e.published = binding.HostPort;
      out.push(e);
    }
  }
  return out;
}

// ---- volumes ----------------------------------------------------------------------------------

export interface VolumeMount {
  type: 'volume' | 'bind' | 'tmpfs' | 'npipe' | 'cluster' | 'image';
  source?: string;
  target: string;
  read_only?: boolean;
  consistency?: string;
  bind?: { propagation?: string; create_host_path?: boolean; selinux?: string; recursive?: string };
  volume?: { nocopy?: boolean; subpath?: string; labels?: Record<string, string> };
  tmpfs?: { size?: number | string; mode?: number | string };
  image?: { subpath?: string };
}

const PROPAGATION = new Set(['shared', 'rshared', 'slave', 'rslave', 'private', 'rprivate']);
const CONSISTENCY = new Set(['consistent', 'cached', 'delegated']);
const looksLikePath = (s: string) => s.startsWith('.') || s.startsWith('/') || s.startsWith('~');

/** "src:dst:ro", "dst", "./data:/data", "name:/data:nocopy" (Compose's format.ParseVolume). */
export function parseVolumeShort(spec: string, base: string): VolumeMount {
  const parts = spec.split(':');
  let source = '';
  let target: string;
  let mode = '';
  if (parts.length === 1) target = parts[0];
  else if (parts.length === 2) { [source, target] = parts; }
  else if (parts.length === 3) { [source, target, mode] = parts; }
  else throw new ComposeError(`invalid spec: ${spec}: too many colons`);
  if (!target) throw new ComposeError(`invalid spec: ${spec}: empty section between colons`);
  let m: VolumeMount;
  if (!source) m = { type: 'volume', target };
  else if (looksLikePath(source)) m = { type: 'bind', source: hostPath(source, base), target, bind: { create_host_path: true } };
  else m = { type: 'volume', source, target, volume: {} };
  for (const opt of mode ? mode.split(',') : []) {
    if (opt === 'ro') m.read_only = true;
    else if (opt === 'rw') m.read_only = false;
    else if (opt === 'nocopy') m.volume = { ...(m.volume ?? {}), nocopy: true };
    else if (PROPAGATION.has(opt)) m.bind = { ...(m.bind ?? {}), propagation: opt };
    else if (opt === 'z' || opt === 'Z') m.bind = { ...(m.bind ?? {}), selinux: opt };
    else if (CONSISTENCY.has(opt)) m.consistency = opt;
    else throw new ComposeError(`invalid spec: ${spec}: unknown option ${JSON.stringify(opt)}`);
  }
  if (m.read_only === false) delete m.read_only;
  return m;
}

function canonicalVolumes(list: unknown[], base: string): VolumeMount[] {
  return list.map((v) => {
    if (typeof v === 'string') return parseVolumeShort(v, base);
    const m = { ...(v as Dict) } as VolumeMount;
    if (m.type === 'bind' && m.source) m.source = hostPath(m.source, base);
    return m;
  });
}

// ---- the rest of a service --------------------------------------------------------------------

/** depends_on: [a, b] or {a: {condition: …}} → {a: {condition, required, restart}}. */
function canonicalDependsOn(v: unknown): Dict {
  const out: Dict = {};
  if (Array.isArray(v)) for (const s of v) out[String(s)] = { condition: 'service_started', required: true };
  else if (isDict(v)) for (const [k, d] of Object.entries(v)) out[k] = { condition: 'service_started', required: true, ...(isDict(d) ? d : {}) };
  return out;
}

function canonicalNetworks(v: unknown): Dict {
  if (Array.isArray(v)) return Object.fromEntries(v.map((n) => [String(n), null]));
  if (isDict(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, isDict(x) ? { ...x } : null]));
  return {};
}

function canonicalEnvFiles(v: unknown, base: string): Dict[] {
  return toList(v).map((e) => (typeof e === 'string' ? { path: hostPath(e, base), required: true } : { required: true, ...(e as Dict), path: hostPath(String((e as Dict).path), base) }));
}

/** extra_hosts: ["a=1.2.3.4", "b:1.2.3.5"] or {a: "1.2.3.4"} → ["a:1.2.3.4", …] (the API's form). */
function canonicalExtraHosts(v: unknown): string[] {
  if (isDict(v)) {
    const out: string[] = [];
    for (const [k, x] of Object.entries(v)) for (const ip of toList(x)) out.push(`${k}:${scalarString(ip)}`);
    return out;
  }
  return toList(v).map((s) => {
    const str = scalarString(s);
    const eq = str.indexOf('=');
    return eq >= 0 ? `${str.slice(0, eq)}:${str.slice(eq + 1)}` : str;
  });
}

function canonicalMountRefs(v: unknown): Dict[] {
  return toList(v).map((s) => (typeof s === 'string' ? { source: s } : { ...(s as Dict) }));
}

function canonicalDevices(v: unknown): Dict[] {
  return toList(v).map((d) => {
    if (isDict(d)) return { permissions: 'rwm', ...d };
    const parts = String(d).split(':');
    return { source: parts[0], target: parts[1] ?? parts[0], permissions: parts[2] ?? 'rwm' };
  });
}

function canonicalUlimits(v: unknown): Dict {
  const out: Dict = {};
  if (!isDict(v)) return out;
  for (const [k, x] of Object.entries(v)) out[k] = isDict(x) ? { soft: x.soft, hard: x.hard } : { soft: x, hard: x };
  return out;
}

function canonicalBuild(v: unknown, base: string): Dict {
  const b: Dict = typeof v === 'string' ? { context: v } : { ...(v as Dict) };
  const ctx = b.context === undefined ? '.' : String(b.context);
  b.context = isRemote(ctx) ? ctx : hostPath(ctx, base);
  if (b.args !== undefined) b.args = through(b.args, (x) => toMapping(x));
  if (b.labels !== undefined) b.labels = through(b.labels, (x) => toMapping(x, ''));
  if (b.extra_hosts !== undefined) b.extra_hosts = through(b.extra_hosts, canonicalExtraHosts);
  if (typeof b.tags === 'string') b.tags = [b.tags];
  return b;
}

function canonicalHealthcheck(v: Dict): Dict {
  const h = { ...v };
  if (typeof h.test === 'string') h.test = ['CMD-SHELL', h.test];
  return h;
}

const SERVICE_RULES: Record<string, ((v: any, base: string) => unknown) | undefined> = {
  build: canonicalBuild,
  command: (v) => (typeof v === 'string' ? shellSplit(v) : v),
  entrypoint: (v) => (typeof v === 'string' ? shellSplit(v) : v),
  environment: (v) => toMapping(v),
  labels: (v) => toMapping(v, ''),
  annotations: (v) => toMapping(v, ''),
  sysctls: (v) => toMapping(v, ''),
  ports: (v) => canonicalPorts(toList(v)),
  expose: (v) => toList(v).map(scalarString),
  volumes: (v, base) => canonicalVolumes(toList(v), base),
  depends_on: canonicalDependsOn,
  networks: canonicalNetworks,
  env_file: canonicalEnvFiles,
  extra_hosts: canonicalExtraHosts,
  dns: (v) => toList(v).map(scalarString),
  dns_search: (v) => toList(v).map(scalarString),
  tmpfs: (v) => toList(v).map(scalarString),
  secrets: canonicalMountRefs,
  configs: canonicalMountRefs,
  devices: canonicalDevices,
  ulimits: canonicalUlimits,
  healthcheck: (v) => (isDict(v) ? canonicalHealthcheck(v) : v),
  label_file: (v, base) => toList(v).map((f) => hostPath(String(f), base)),
  develop: (v, base) => {
    if (!isDict(v) || !Array.isArray(v.watch)) return v;
    return { ...v, watch: v.watch.map((w: Dict) => ({ ...w, path: hostPath(String(w.path), base) })) };
  },
  extends: (v, base) => {
    const e: Dict = typeof v === 'string' ? { service: v } : { ...(v as Dict) };
    if (e.file) e.file = hostPath(String(e.file), base);
    return e;
  },
};

export function canonicalService(svc: Dict, base: string): Dict {
  const out: Dict = {};
  for (const [k, v] of Object.entries(svc)) {
    const rule = SERVICE_RULES[k];
    out[k] = rule && v !== null && v !== undefined ? through(v, (x) => rule(x, base)) : v;
  }
  return out;
}

function canonicalTopLevel(kind: 'networks' | 'volumes' | 'secrets' | 'configs', v: unknown, base: string): Dict {
  const out: Dict = {};
  if (!isDict(v)) return out;
  for (const [k, raw] of Object.entries(v)) {
    if (isReset(raw) || isOverride(raw)) { out[k] = raw; continue; }
    const d: Dict = isDict(raw) ? { ...raw } : {};
    // The old form `external: {name: x}`.
    if (isDict(d.external)) { if (d.external.name) d.name = d.external.name; d.external = true; }
    if (d.labels !== undefined) d.labels = toMapping(d.labels, '');
    if ((kind === 'secrets' || kind === 'configs') && typeof d.file === 'string') d.file = hostPath(d.file, base);
    out[k] = d;
  }
  return out;
}

/** One file's (interpolated, validated) model in canonical form; paths against `base`. */
export function canonicalFile(model: Dict, base: string): Dict {
  const out: Dict = { ...model };
  if (isDict(model.services)) {
    out.services = Object.fromEntries(Object.entries(model.services).map(([n, s]) => [n, isDict(s) ? canonicalService(s, base) : isOverride(s) ? makeOverride(canonicalService(s.override as Dict, base)) : s ?? {}]));
  }
  for (const kind of ['networks', 'volumes', 'secrets', 'configs'] as const) {
    if (model[kind] !== undefined) out[kind] = canonicalTopLevel(kind, model[kind], base);
  }
  return out;
}
