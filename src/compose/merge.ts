// Merging canonical models (canonical.ts), for several -f files and for `extends`, by the
// Compose Specification's rules: mappings merge key by key, scalars are replaced, sequences are
// appended, with these exceptions:
//   command, entrypoint, healthcheck.test     replaced as a whole
//   ports                                     one entry per host ip, published port, target, protocol
//   volumes, secrets, configs, devices        one entry per target (the later one takes its place)
//   expose, dns*, tmpfs, cap_*, profiles, extra_hosts, env_file, links: appended without repeats
//   logging                                   options merge only when the driver is the same
//   networks.*.ipam.config                    one entry per subnet
// A value tagged !reset removes the key; one tagged !override replaces instead of merging.
import { isOverride, isReset } from './yaml';

type Dict = Record<string, any>;
const isDict = (v: unknown): v is Dict => !!v && typeof v === 'object' && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;

const uniqueBy = (key: (x: any) => string) => (a: unknown[], b: unknown[]): unknown[] => {
  const out: unknown[] = [];
  const at = new Map<string, number>();
  for (const x of [...a, ...b]) {
    const k = key(x);
    const i = at.get(k);
    if (i === undefined) { at.set(k, out.length); out.push(x); } else out[i] = x;
  }
  return out;
};
const byValue = uniqueBy((x) => JSON.stringify(x));
const byTarget = uniqueBy((x) => String(x?.target ?? x?.source ?? JSON.stringify(x)));
const byPort = uniqueBy((p) => `${p.host_ip ?? ''}:${p.published ?? ''}:${p.target}/${p.protocol ?? 'tcp'}`);
const byPath = uniqueBy((x) => String(x?.path ?? x));
const bySubnet = uniqueBy((x) => String(x?.subnet ?? JSON.stringify(x)));

type Rule = (a: any, b: any, path: string[]) => unknown;
const replace: Rule = (_a, b) => b;
const seq = (f: (a: unknown[], b: unknown[]) => unknown[]): Rule => (a, b) => (Array.isArray(a) && Array.isArray(b) ? f(a, b) : b);

const SERVICE_RULES: Record<string, Rule> = {
  command: replace,
  entrypoint: replace,
  ports: seq(byPort),
  volumes: seq(byTarget),
  secrets: seq(byTarget),
  configs: seq(byTarget),
  devices: seq(byTarget),
  expose: seq(byValue),
  dns: seq(byValue),
  dns_opt: seq(byValue),
  dns_search: seq(byValue),
  tmpfs: seq(byValue),
  cap_add: seq(byValue),
  cap_drop: seq(byValue),
  profiles: seq(byValue),
  extra_hosts: seq(byValue),
  links: seq(byValue),
  env_file: seq(byPath),
  label_file: seq(byValue),
  logging: (a, b, p) => (isDict(a) && isDict(b) && a.driver !== undefined && b.driver !== undefined && a.driver !== b.driver ? b : mergeDicts(a, b, p)),
};

function ruleFor(path: string[]): Rule | undefined {
  if (path[0] === 'services' && path.length === 3) return SERVICE_RULES[path[2]];
  if (path[0] === 'services' && path.length === 4 && path[2] === 'healthcheck' && path[3] === 'test') return replace;
  if (path[0] === 'services' && path.length === 4 && path[2] === 'ulimits') return replace;
  if (path[0] === 'services' && path.length === 5 && path[2] === 'networks' && path[4] === 'aliases') return seq(byValue);
  if (path[0] === 'networks' && path.length === 4 && path[2] === 'ipam' && path[3] === 'config') return seq(bySubnet);
  return undefined;
}

/** Strips !reset/!override markers that have nothing to apply to (the first file's). */
export function stripMarkers(v: unknown): unknown {
  if (isOverride(v)) return stripMarkers(v.override);
  if (Array.isArray(v)) return v.filter((x) => !isReset(x)).map(stripMarkers);
  if (isDict(v)) {
    const out: Dict = {};
    for (const [k, x] of Object.entries(v)) if (!isReset(x)) out[k] = stripMarkers(x);
    return out;
  }
  return v;
}

/** `b` merged over `a` (neither is modified). */
export function mergeValues(a: unknown, b: unknown, path: string[] = []): unknown {
  if (isOverride(b)) return stripMarkers(b.override);
  if (b === undefined) return a;
  const rule = ruleFor(path);
  if (rule && a !== undefined && a !== null && b !== null) return rule(a, stripMarkers(b), path);
  if (isDict(a) && isDict(b)) return mergeDicts(a, b, path);
  if (Array.isArray(a) && Array.isArray(b)) return [...a, ...(stripMarkers(b) as unknown[])];
  return stripMarkers(b);
}

function mergeDicts(a: Dict, b: Dict, path: string[]): Dict {
  const out: Dict = { ...a };
  for (const [k, v] of Object.entries(b)) {
    if (isReset(v)) { delete out[k]; continue; }
    out[k] = k in a ? mergeValues(a[k], v, [...path, k]) : stripMarkers(v);
  }
  return out;
}

export function mergeModels(a: Dict, b: Dict): Dict {
  return mergeValues(a, b, []) as Dict;
}
