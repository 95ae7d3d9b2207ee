// The configuration hash of a service (label com.docker.compose.config-hash): `up` recreates a
// container when the hash of its service's model differs from the one on the container.
//
// Version 1 (label io.dray.compose.config-hash-version = "1"), documented here so it can be kept:
//   sha256, in hex, of the JSON text of ["dray-compose-config-hash", 1, S], where S is the
//   service as the loader normalised it (model.ts: interpolated, env files read, paths absolute,
//   long syntax), with
//     - left out: name, build, pull_policy, scale, deploy.replicas, depends_on, profiles, and
//       develop (they change how a container is made or how many, not what one container is);
//     - keys sorted at every level (so label or environment order is no change), and empty
//       mappings, empty lists and nulls dropped (`labels: {}` is the same as no labels);
//     - networks as a list of [name, configuration] pairs sorted by name (so a network without
//       configuration still counts);
//     - lists whose order means nothing sorted: cap_add, cap_drop, expose, ports, volumes (by
//       target), extra_hosts, devices, group_add, secrets, configs, tmpfs, security_opt; the
//       others (command, entrypoint, dns, healthcheck.test…) keep their order.
//   Not in it: image IDs (re-pulling a tag that did not change is no change; a container whose
//   image is not the one its tag names now is told apart by its image ID, see planner.ts), the
//   engine, the Dray version or anything of the host.
// A later version of the hash gets a new number and this one stays: a container made with
// version N is compared with version N, so upgrading Dray does not recreate a whole project.
import { createHash } from 'node:crypto';
import type { Service } from './model';

export const HASH_VERSION = 1;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const OMIT = new Set(['name', 'build', 'pull_policy', 'scale', 'depends_on', 'profiles', 'develop']);
const UNORDERED = new Set(['cap_add', 'cap_drop', 'expose', 'ports', 'extra_hosts', 'devices', 'group_add', 'secrets', 'configs', 'tmpfs', 'security_opt']);

/** Sorted keys, no empties: the same model always gives the same text. */
function canonical(v: unknown): Json | undefined {
  if (v === undefined || v === null) return undefined;
  if (Array.isArray(v)) {
    const items = v.map(canonical).filter((x): x is Json => x !== undefined);
    return items.length ? items : undefined;
  }
  if (typeof v === 'object') {
    const out: { [k: string]: Json } = {};
    for (const k of Object.keys(v as object).sort()) {
      const c = canonical((v as Record<string, unknown>)[k]);
      if (c !== undefined) out[k] = c;
    }
    return Object.keys(out).length ? out : undefined;
  }
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') return v;
  return String(v);
}

const text = (v: Json) => JSON.stringify(v);

function hashV1(s: Service): string {
  const src: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s)) if (!OMIT.has(k)) src[k] = v;
  // Network keys must count even where their configuration is empty (`default: null`).
  src.networks = Object.keys(s.networks).sort().map((k) => [k, s.networks[k] ?? {}]);
  if (s.deploy) {
    const { replicas: _r, ...rest } = s.deploy;
    src.deploy = rest;
  }
  const c = (canonical(src) ?? {}) as { [k: string]: Json };
  for (const k of Object.keys(c)) if (UNORDERED.has(k) && Array.isArray(c[k])) c[k] = (c[k] as Json[]).map(text).sort().map((t) => JSON.parse(t));
  if (Array.isArray(c.volumes)) c.volumes = [...c.volumes].sort((a: any, b: any) => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0));
  return createHash('sha256').update(text(['dray-compose-config-hash', 1, c])).digest('hex');
}

const HASHERS: Record<number, (s: Service) => string> = { 1: hashV1 };

/** The service's hash by version `version` (the current one when unknown or absent). */
export function serviceHash(s: Service, version: number = HASH_VERSION): string {
  return (HASHERS[version] ?? HASHERS[HASH_VERSION])(s);
}

/** The hash version a container's labels name, when dray compose knows it. */
export function hashVersionOf(labels: Record<string, string> | null | undefined, label: string): number {
  const v = Number(labels?.[label]);
  return HASHERS[v] ? v : HASH_VERSION;
}
