// The planner: compares the model with what exists (observe.ts) and says what `up` must do, as
// data the executor (executor.ts) runs and tests can read. Nothing here talks to the engine.
//   images      which services to build, which images to pull
//   networks    to create, or found (by name), or external (must exist)
//   volumes     the same
//   containers  per service, in dependency order: keep (and start if stopped), create, recreate
//               (the configuration hash or the image changed, or --force-recreate), and the
//               containers past the service's scale to remove
//   orphans     containers of services the model no longer has
import type { ContainerSummary, Network, Volume } from '../client/types';
import type { NetworkConfig, Project, Service, VolumeConfig } from './model';
import { dependencyOrder, dependenciesOf, scaleOf } from './model';
import { ComposeError } from './errors';
import { hashVersionOf, serviceHash } from './hash';
import { imageName } from './convert';
import * as L from './labels';
import { imageIdOf, isOneoff, labelOf, numberOf, Observed, serviceOf } from './observe';

export type RecreatePolicy = 'diverged' | 'force' | 'never';

export interface UpOptions {
  /** Services named on the command line; none means all. */
  services?: string[];
  noDeps?: boolean;
  /** For the services named (or all): --force-recreate, --no-recreate. */
  recreate?: RecreatePolicy;
  /** For the services pulled in as dependencies. */
  recreateDeps?: RecreatePolicy;
  /** --scale SERVICE=N. */
  scale?: Record<string, number>;
  /** --build (always), --no-build (never), otherwise when the image is missing. */
  build?: 'auto' | 'always' | 'never';
  /** --pull always|missing|never. */
  pull?: 'always' | 'missing' | 'never';
}

/** The services `up` works on: the ones named and what they depend on (unless --no-deps). */
export function selectServices(p: Project, names: string[] | undefined, noDeps = false): string[] {
  if (!names?.length) return dependencyOrder(p.services);
  for (const n of names) if (!p.services[n]) throw new ComposeError(p.disabled[n] ? `service ${JSON.stringify(n)} is not enabled by the active profiles` : `no such service: ${n}`);
  const want = new Set<string>();
  const add = (n: string) => {
    if (want.has(n) || !p.services[n]) return;
    want.add(n);
    if (!noDeps) for (const d of dependenciesOf(p.services[n])) add(d);
  };
  names.forEach(add);
  return dependencyOrder(p.services).filter((n) => want.has(n));
}

// ---- images ------------------------------------------------------------------------------------

export interface ImagePlan { service: string; ref: string; action: 'build' | 'pull' }

export function planImages(p: Project, obs: Observed, services: string[], o: UpOptions = {}): ImagePlan[] {
  const out: ImagePlan[] = [];
  const seen = new Set<string>();
  for (const n of services) {
    const s = p.services[n];
    const ref = imageName(p, s);
    const have = imageIdOf(obs, ref) !== undefined;
    const policy = s.pull_policy ?? 'missing';
    let action: ImagePlan['action'] | undefined;
    if (s.build) {
      if (o.build === 'always' || policy === 'build') action = 'build';
      else if (o.build === 'never') action = undefined;
      else if (!have) action = policy === 'always' ? 'pull' : 'build';
      else if (o.pull === 'always' && s.image) action = undefined;
    } else {
      const pull = o.pull ?? (policy === 'if_not_present' ? 'missing' : policy);
      if (pull === 'always' || (pull === 'missing' && !have) || (/^(daily|weekly|every_|refresh)/.test(pull) && !have)) action = 'pull';
    }
    if (!action || seen.has(`${action}:${ref}`)) continue;
    seen.add(`${action}:${ref}`);
    out.push({ service: n, ref, action });
  }
  return out;
}

// ---- networks and volumes ---------------------------------------------------------------------

export interface NetworkPlan { key: string; config: NetworkConfig; existing?: Network }
export interface VolumePlan { key: string; config: VolumeConfig; existing?: Volume }

export function planNetworks(p: Project, obs: Observed, services: string[]): NetworkPlan[] {
  const keys = new Set<string>();
  for (const n of services) if (!p.services[n].network_mode) for (const k of Object.keys(p.services[n].networks)) keys.add(k);
  const out: NetworkPlan[] = [];
  for (const key of [...keys].sort()) {
    const config = p.networks[key];
    const existing = obs.networks.find((x) => x.Name === config.name) ?? (config.external ? obs.networks.find((x) => x.Id === config.name) : undefined);
    if (config.external && !existing) throw new ComposeError(`network ${config.name} declared as external, but could not be found`);
    out.push({ key, config, existing });
  }
  return out;
}

export function planVolumes(p: Project, obs: Observed, services: string[]): VolumePlan[] {
  const keys = new Set<string>();
  for (const n of services) for (const v of p.services[n].volumes) if (v.type === 'volume' && v.source) keys.add(v.source);
  const out: VolumePlan[] = [];
  for (const key of [...keys].sort()) {
    const config = p.volumes[key];
    const existing = obs.volumes.find((x) => x.Name === config.name);
    if (config.external && !existing) throw new ComposeError(`external volume ${JSON.stringify(config.name)} not found`);
    out.push({ key, config, existing });
  }
  return out;
}

// ---- containers -------------------------------------------------------------------------------

export type ContainerAction =
  | { kind: 'keep'; number: number; container: ContainerSummary; start: boolean }
  | { kind: 'create'; number: number }
  | { kind: 'recreate'; number: number; container: ContainerSummary; reason: string };

export interface ServicePlan {
  name: string;
  service: Service;
  containers: ContainerAction[];
  /** Past the scale: stopped and removed, highest numbers first. */
  remove: ContainerSummary[];
}

export interface ContainersPlan { services: ServicePlan[]; orphans: ContainerSummary[] }

/** Why a container no longer matches its service, or undefined when it does. */
export function divergence(p: Project, s: Service, c: ContainerSummary, obs: Observed): string | undefined {
  const version = hashVersionOf(c.Labels, L.HASH_VERSION);
  if (labelOf(c, L.CONFIG_HASH) !== serviceHash(s, version)) return 'configuration changed';
  const want = imageIdOf(obs, imageName(p, s));
  if (want && c.ImageID && c.ImageID !== want) return 'image changed';
  return undefined;
}

export function serviceContainers(obs: Observed, service: string): ContainerSummary[] {
  return obs.containers.filter((c) => serviceOf(c) === service && !isOneoff(c)).sort((a, b) => numberOf(a) - numberOf(b) || a.Created - b.Created);
}

export function planContainers(p: Project, obs: Observed, services: string[], o: UpOptions = {}): ContainersPlan {
  const named = new Set(o.services?.length ? o.services : services);
  // One-shot services others wait on to complete: once they exited 0, their work is done and an
  // unchanged `up` leaves them so (Docker Compose would run them again).
  const oneShot = new Set<string>();
  for (const s of Object.values(p.services)) for (const [d, c] of Object.entries(s.depends_on)) if (c.condition === 'service_completed_successfully') oneShot.add(d);
  const recreated = new Set<string>();
  const out: ServicePlan[] = [];
  for (const name of services) {
    const s = p.services[name];
    const policy = (named.has(name) ? o.recreate : o.recreateDeps) ?? 'diverged';
    const scale = o.scale?.[name] ?? scaleOf(s);
    const existing = serviceContainers(obs, name);
    // One container per number: the first of each is kept, the others go.
    const byNumber = new Map<number, ContainerSummary>();
    const extra: ContainerSummary[] = [];
    for (const c of existing) {
      const n = numberOf(c);
      if (n > 0 && !byNumber.has(n)) byNumber.set(n, c); else extra.push(c);
    }
    const numbers = [...byNumber.keys()].sort((a, b) => a - b);
    const kept = numbers.slice(0, scale);
    const remove = [...numbers.slice(scale).map((n) => byNumber.get(n)!).reverse(), ...extra];
    const actions: ContainerAction[] = [];
    // A service sharing another's namespace must follow it when that one is recreated.
    const sharesWithRecreated = [s.network_mode, s.ipc, s.pid].some((m) => typeof m === 'string' && m.startsWith('service:') && recreated.has(m.slice(8)));
    for (const n of kept) {
      const c = byNumber.get(n)!;
      let reason: string | undefined;
      if (policy === 'force') reason = 'forced';
      else if (policy === 'diverged') reason = sharesWithRecreated ? 'namespace owner recreated' : divergence(p, s, c, obs);
      if (reason) {
        actions.push({ kind: 'recreate', number: n, container: c, reason });
        recreated.add(name);
      } else {
        const done = oneShot.has(name) && c.State === 'exited' && /^Exited \(0\)/.test(c.Status);
        actions.push({ kind: 'keep', number: n, container: c, start: !done && c.State !== 'running' && c.State !== 'restarting' && c.State !== 'paused' });
      }
    }
    // New containers take the lowest free numbers.
    let next = 1;
    const used = new Set(kept);
    while (actions.length < scale) {
      while (used.has(next)) next++;
      used.add(next);
      actions.push({ kind: 'create', number: next });
    }
    out.push({ name, service: s, containers: actions, remove });
  }
  const known = new Set([...Object.keys(p.services), ...Object.keys(p.disabled)]);
  const orphans = obs.containers.filter((c) => !isOneoff(c) && !known.has(serviceOf(c)));
  return { services: out, orphans };
}

/** True when the plan changes nothing: every container kept as it runs. */
export const isNoop = (c: ContainersPlan, nets: NetworkPlan[], vols: VolumePlan[]): boolean =>
  nets.every((n) => n.existing) && vols.every((v) => v.existing) && c.services.every((s) => !s.remove.length && s.containers.every((a) => a.kind === 'keep' && !a.start));
