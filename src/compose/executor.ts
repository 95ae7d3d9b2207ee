// The executor: runs what the planner decided, through the Engine API client only, with at most
// `parallel` requests of work in flight. Services go as their dependencies allow: a service's
// containers are created and started once each dependency met its condition (started, healthy,
// completed successfully), so independent services proceed side by side. Every step reports to
// the progress display with Docker Compose's words (Creating, Created, Starting, Started, …).
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { DockerClient } from '../client';
import { StreamError } from '../client/errors';
import type { ContainerInspect, ContainerSummary } from '../client/types';
import { jsonLines, JsonMessage } from '../client/stream';
import type { Project, Service } from './model';
import { dependenciesOf, namespaceOwners } from './model';
import { ComposeError, isApiError } from './errors';
import * as L from './labels';
import { containerName, createBody, imageName, injectedFiles, stopTimeout } from './convert';
import { imageIndex, nameOf, numberOf, Observed, serviceOf } from './observe';
import type { ContainersPlan, ImagePlan, NetworkPlan, ServicePlan, VolumePlan } from './planner';
import { Progress } from './progress';

export interface Hook { command: string | string[]; user?: string; privileged?: boolean; working_dir?: string; environment?: Record<string, string | null> | string[] }

/** A lifecycle hook (post_start, pre_stop): an exec in the container, waited for; its exit code. */
export async function runHook(client: DockerClient, id: string, h: Hook): Promise<number> {
  // A string command is split into words, as a service's `command` is (not run by a shell).
  const cmd = typeof h.command === 'string' ? (require('./canonical') as typeof import('./canonical')).shellSplit(h.command) : h.command;
  const env = Array.isArray(h.environment) ? h.environment : Object.entries(h.environment ?? {}).map(([k, v]) => `${k}=${v ?? ''}`);
  const { Id } = await client.exec.create(id, { Cmd: cmd, User: h.user, Privileged: h.privileged, WorkingDir: h.working_dir, Env: env.length ? env : undefined, AttachStdout: false, AttachStderr: false });
  await client.exec.startDetached(Id);
  for (;;) {
    const r = await client.exec.inspect(Id);
    if (!r.Running) return r.ExitCode ?? 0;
    await sleep(50);
  }
}

/** A counting semaphore: at most `n` tasks at once. */
export class Limiter {
  private active = 0;
  private queue: Array<() => void> = [];
  constructor(private readonly n: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.n) await new Promise<void>((r) => this.queue.push(r));
    this.active++;
    try { return await fn(); } finally {
      this.active--;
      this.queue.shift()?.();
    }
  }
}

export const daemonMessage = (e: any): string => (isApiError(e) ? `Error response from daemon: ${e.message}` : e?.message ?? String(e));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ExecutorOptions {
  parallel?: number;
  /** Where build output goes (stderr). */
  buildOut?: { write(s: string): unknown };
  quietBuild?: boolean;
  /** The X-Registry-Auth for a reference: the credentials `dray login` stored for its registry. */
  registryAuth?: (ref: string) => string;
  /** --dry-run: the containers waited for were never made, so each condition counts as met at once. */
  dryRun?: boolean;
}

/**
 * Wake-ups for whoever waits on a container's state (health, exit): the project's container
 * events, counted per container. A waiter notes the count, inspects, and sleeps until the count
 * moves, so an event between the inspect and the sleep is not lost; a slow poll stays as the
 * safety net should the stream end or the engine not send an event.
 */
export class ContainerChanges {
  private counts = new Map<string, number>();
  private waiters = new Map<string, Set<() => void>>();
  private readonly abort = new AbortController();
  /** Whether the event stream is open: only then may a waiter sleep long between inspects. */
  private live = false;
  /** Settles once the engine streams the events (or could not). */
  readonly ready: Promise<void>;

  constructor(client: DockerClient, project: string) {
    this.ready = client.system.events({ filters: { type: ['container'], label: [`${L.PROJECT}=${project}`] }, signal: this.abort.signal })
      .then((stream) => {
        this.live = true;
        void (async () => {
          try { for await (const e of stream) if (e.Actor?.ID) this.bump(e.Actor.ID); } catch { /* closed */ }
          this.live = false;
        })();
      }, () => undefined);
  }

  count(id: string): number { return this.counts.get(id) ?? 0; }

  /** Resolves when `id` saw an event after `seen`; at the latest after a poll interval. */
  async after(id: string, seen: number): Promise<void> {
    if (this.count(id) !== seen) return;
    const set = this.waiters.get(id) ?? this.waiters.set(id, new Set()).get(id)!;
    await new Promise<void>((resolve) => {
      const done = () => { clearTimeout(t); set.delete(done); resolve(); };
      const t = setTimeout(done, this.live ? 250 : 30);
      set.add(done);
    });
  }

  private bump(id: string): void {
    this.counts.set(id, this.count(id) + 1);
    for (const w of [...(this.waiters.get(id) ?? [])]) w();
  }

  close(): void { this.abort.abort(); }
}

export class Executor {
  readonly limit: Limiter;
  /** Container IDs of each service, as they are now (for network_mode service:x, volumes_from). */
  readonly ids = new Map<string, string[]>();
  /** The project's container events while a converge waits on health or exits (converge opens it). */
  private changes?: ContainerChanges;

  constructor(readonly client: DockerClient, readonly project: Project, readonly progress: Progress, readonly o: ExecutorOptions = {}) {
    this.limit = new Limiter(o.parallel && o.parallel > 0 ? o.parallel : 16);
  }

  // ---- images ---------------------------------------------------------------------------------

  /**
   * Starts the builds (one after another) and pulls (side by side) and returns, per service, the
   * promise of its image: the containers of other services need not wait for them.
   */
  imageTasks(plans: ImagePlan[]): Map<string, Promise<void>> {
    const out = new Map<string, Promise<void>>();
    // The first build begins on the next turn of the event loop: packing its context is work on
    // this thread, and the creates of the services that need no build go out before it.
    let builds: Promise<unknown> = new Promise((r) => setImmediate(r));
    for (const p of plans) {
      let t: Promise<void>;
      if (p.action === 'pull') t = this.limit.run(() => this.pull(p.ref, p.service));
      else {
        t = builds.then(() => this.build(this.project.services[p.service])).then(() => undefined);
        builds = t.catch(() => undefined);
      }
      t = t.then(() => this.noteImage(p.ref));
      t.catch(() => undefined);
      out.set(p.service, t);
    }
    // Services sharing an image reference (another's build or pull) wait for it too.
    for (const [name, s] of Object.entries(this.project.services)) {
      if (out.has(name)) continue;
      const ref = imageName(this.project, s);
      const i = plans.findIndex((p) => p.ref === ref);
      if (i >= 0) out.set(name, out.get(plans[i].service)!);
    }
    return out;
  }

  /** The image ID a reference names now (after a build or pull). */
  private async noteImage(ref: string): Promise<void> {
    const { normalizeRef } = require('./observe') as typeof import('./observe');
    const info = await this.client.images.inspect(ref).catch(() => undefined);
    if (info) this.imageIds.set(normalizeRef(ref), info.Id);
  }

  /** The current image index (Observed.images) with what this run built and pulled. */
  imagesNow(): Map<string, string> { return this.imageIds; }

  async ensureImages(plans: ImagePlan[]): Promise<boolean> {
    if (!plans.length) return false;
    // Pulls go side by side; builds one after another (each uses the whole machine).
    const pulls = plans.filter((p) => p.action === 'pull');
    const builds = plans.filter((p) => p.action === 'build');
    await Promise.all(pulls.map((p) => this.limit.run(() => this.pull(p.ref, p.service))));
    for (const b of builds) await this.build(this.project.services[b.service]);
    return true;
  }

  async pull(ref: string, service?: string): Promise<void> {
    const id = `Image ${ref}`;
    this.progress.event(id, 'Pulling');
    const at = ref.lastIndexOf('@') >= 0 ? -1 : ref.lastIndexOf(':');
    const hasTag = at > ref.lastIndexOf('/');
    try {
      const msgs = await this.client.images.pull(hasTag ? ref.slice(0, at) : ref, hasTag ? ref.slice(at + 1) : ref.includes('@') ? undefined : 'latest', { auth: this.o.registryAuth?.(ref) });
      for await (const _m of msgs) { /* layers: only the result is shown */ }
    } catch (e: any) {
      this.progress.fail(id, 'Error', e?.message ?? '');
      const s = service ? this.project.services[service] : undefined;
      if (s?.build) return; // a service that can be built is built instead
      throw new ComposeError(daemonMessage(e));
    }
    this.progress.done(id, 'Pulled');
  }

  async build(s: Service): Promise<string> {
    const b = s.build!;
    const ref = imageName(this.project, s);
    const id = `Service ${s.name}`;
    this.progress.event(id, 'Building');
    const ctxMod = require('../cli/build-context') as typeof import('../cli/build-context');
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(b.context) || b.context.startsWith('git@')) {
      this.progress.fail(id, 'Error');
      throw new ComposeError(`failed to solve: remote build contexts are not supported by dray compose: ${b.context}`);
    }
    let tar;
    let dockerfile: string;
    try {
      if (b.dockerfile_inline !== undefined) {
        const extra = { name: ctxMod.randomDockerfileName(), content: Buffer.from(b.dockerfile_inline) };
        const filter = ctxMod.contextFilter(await ctxMod.readDockerignore(b.context), extra.name);
        tar = ctxMod.tarContext(b.context, filter, extra);
        dockerfile = extra.name;
      } else {
        const df = b.dockerfile ? path.resolve(b.context, b.dockerfile) : undefined;
        const lc = await ctxMod.localContext(b.context, df);
        let extra;
        if (lc.outsideDockerfile) extra = { name: ctxMod.randomDockerfileName(), content: await fsp.readFile(lc.outsideDockerfile) };
        const filter = ctxMod.contextFilter(await ctxMod.readDockerignore(lc.contextDir), lc.relDockerfile);
        tar = ctxMod.tarContext(lc.contextDir, filter, extra);
        dockerfile = extra ? extra.name : lc.relDockerfile;
      }
    } catch (e: any) {
      this.progress.fail(id, 'Error');
      throw new ComposeError(`failed to solve: ${e.message}`);
    }
    const labels: Record<string, string> = { ...(b.labels ?? {}), [L.PROJECT]: this.project.name, [L.SERVICE]: s.name, [L.VERSION]: L.DRAY_COMPOSE_VERSION };
    const args: Record<string, string> = {};
    for (const [k, v] of Object.entries(b.args ?? {})) {
      const val = v ?? this.project.environment[k];
      if (val !== undefined) args[k] = val;
    }
    const query = {
      t: [ref, ...(b.tags ?? [])], dockerfile, buildargs: args, labels, target: b.target || undefined,
      networkmode: b.network || undefined, nocache: b.no_cache || undefined, pull: b.pull || undefined,
      extrahosts: b.extra_hosts?.length ? b.extra_hosts.join(',') : undefined, rm: true,
      q: this.o.quietBuild || undefined,
    };
    let imageId = '';
    try {
      // tar-stream's pack is a streamx stream: through a PassThrough it is one node's client sends.
      const { PassThrough } = require('node:stream') as typeof import('node:stream');
      const body = new PassThrough();
      (tar as any).pipe(body);
      (tar as any).on('error', (e: Error) => body.destroy(e));
      const res = await this.client.images.build(body, query);
      for await (const m of jsonLines<JsonMessage>(res)) {
        if (m.errorDetail || m.error) throw new StreamError(m.errorDetail?.message ?? m.error ?? 'unknown error');
        if (m.aux?.ID) imageId = m.aux.ID;
        else if (m.stream && !this.o.quietBuild) this.o.buildOut?.write(m.stream);
      }
    } catch (e: any) {
      this.progress.fail(id, 'Error');
      throw new ComposeError(`failed to solve: ${isApiError(e) ? e.message : e?.message ?? e}`);
    }
    this.progress.done(id, 'Built');
    return imageId;
  }

  // ---- networks and volumes -------------------------------------------------------------------

  async ensureNetworks(plans: NetworkPlan[], warn: (m: string) => void): Promise<void> {
    await Promise.all(plans.map((n) => this.limit.run(async () => {
      if (n.existing) {
        if (!n.config.external && n.existing.Labels?.[L.PROJECT] !== this.project.name) {
          warn(n.existing.Labels?.[L.PROJECT]
            ? `a network with name ${n.config.name} exists but was not created for project "${this.project.name}".\nSet \`external: true\` to use an existing network`
            : `a network with name ${n.config.name} exists but was not created by compose.\nSet \`external: true\` to use an existing network`);
        }
        return;
      }
      const id = `Network ${n.config.name}`;
      this.progress.event(id, 'Creating');
      const c = n.config;
      try {
        await this.client.networks.create({
          Name: c.name,
          Driver: c.driver,
          Internal: c.internal,
          Attachable: c.attachable,
          EnableIPv6: c.enable_ipv6,
          Options: c.driver_opts,
          IPAM: c.ipam ? {
            Driver: c.ipam.driver,
            Config: c.ipam.config?.map((x) => ({ Subnet: x.subnet, IPRange: x.ip_range, Gateway: x.gateway, AuxiliaryAddresses: x.aux_addresses })),
            Options: c.ipam.options,
          } : undefined,
          Labels: { ...(c.labels ?? {}), [L.PROJECT]: this.project.name, [L.NETWORK]: n.key, [L.VERSION]: L.DRAY_COMPOSE_VERSION },
        });
      } catch (e: any) {
        this.progress.fail(id, 'Error');
        throw new ComposeError(`failed to create network ${c.name}: ${daemonMessage(e)}`);
      }
      this.progress.done(id, 'Created');
    })));
  }

  async ensureVolumes(plans: VolumePlan[], warn: (m: string) => void): Promise<void> {
    await Promise.all(plans.map((v) => this.limit.run(async () => {
      if (v.existing) {
        if (!v.config.external && v.existing.Labels?.[L.PROJECT] !== this.project.name) {
          warn(v.existing.Labels?.[L.PROJECT]
            ? `volume ${JSON.stringify(v.config.name)} already exists but was created for project ${JSON.stringify(v.existing.Labels[L.PROJECT])} (expected ${JSON.stringify(this.project.name)}). Use \`external: true\` to use an existing volume`
            : `volume ${JSON.stringify(v.config.name)} already exists but was not created by Docker Compose. Use \`external: true\` to use an existing volume`);
        }
        return;
      }
      const id = `Volume ${v.config.name}`;
      this.progress.event(id, 'Creating');
      try {
        await this.client.volumes.create({
          Name: v.config.name, Driver: v.config.driver, DriverOpts: v.config.driver_opts,
          Labels: { ...(v.config.labels ?? {}), [L.PROJECT]: this.project.name, [L.VOLUME]: v.key, [L.VERSION]: L.DRAY_COMPOSE_VERSION },
        });
      } catch (e: any) {
        this.progress.fail(id, 'Error');
        throw new ComposeError(`failed to create volume ${v.config.name}: ${daemonMessage(e)}`);
      }
      this.progress.done(id, 'Created');
    })));
  }

  // ---- containers -----------------------------------------------------------------------------

  private imageIds = new Map<string, string>();

  async refreshImages(): Promise<void> {
    const idx = imageIndex(await this.client.images.list());
    this.imageIds = idx;
  }

  setImages(obs: Observed): void { if (obs.images) this.imageIds = obs.images; }

  private imageIdFor(s: Service): string | undefined {
    const { normalizeRef } = require('./observe') as typeof import('./observe');
    const ref = imageName(this.project, s);
    return this.imageIds.get(normalizeRef(ref)) ?? this.imageIds.get(ref);
  }

  containerOf = (service: string): string | undefined => this.ids.get(service)?.[0];

  /** Creates one container of a service (not started). */
  async createContainer(s: Service, number: number, name: string, o: { inherited?: ContainerInspect; oneoff?: boolean; extraLabels?: Record<string, string>; override?: (b: any) => void; noServiceAlias?: boolean } = {}): Promise<string> {
    const inheritedVolumes: Record<string, string> = {};
    for (const m of o.inherited?.Mounts ?? []) if (m.Type === 'volume' && m.Name) inheritedVolumes[m.Destination] = m.Name;
    const body = createBody({
      project: this.project, service: s, number, name, imageId: this.imageIdFor(s), oneoff: o.oneoff,
      inheritedVolumes, containerOf: this.containerOf, extraLabels: o.extraLabels, noServiceAlias: o.noServiceAlias,
    });
    o.override?.(body);
    const r = await this.client.containers.create(body, { name, platform: s.platform });
    for (const f of injectedFiles(this.project, s)) await this.inject(r.Id, f);
    return r.Id;
  }

  /** A secret or config given as content: a one-file tar put into the container. */
  private async inject(id: string, f: { target: string; content: string; mode: number; uid?: number; gid?: number }): Promise<void> {
    const ts = module.require('tar-stream') as typeof import('tar-stream');
    const pack = ts.pack();
    const dir = path.posix.dirname(f.target);
    const data = Buffer.from(f.content);
    pack.entry({ name: path.posix.basename(f.target), mode: f.mode, uid: f.uid ?? 0, gid: f.gid ?? 0, size: data.length, mtime: new Date() }, data);
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const c of pack) chunks.push(c as Buffer);
    // The directory may not exist yet in the image: a tar with it is put at /.
    try { await this.client.containers.putArchive(id, dir, Buffer.concat(chunks)); } catch (e) {
      if (!(isApiError(e, 404))) throw e;
      const p2 = ts.pack();
      p2.entry({ name: `${dir.replace(/^\//, '')}/`, type: 'directory', mode: 0o755, mtime: new Date() });
      p2.entry({ name: `${f.target.replace(/^\//, '')}`, mode: f.mode, uid: f.uid ?? 0, gid: f.gid ?? 0, size: data.length, mtime: new Date() }, data);
      p2.finalize();
      const c2: Buffer[] = [];
      for await (const c of p2) c2.push(c as Buffer);
      await this.client.containers.putArchive(id, '/', Buffer.concat(c2));
    }
  }

  async start(id: string, name: string, s?: Service): Promise<void> {
    const ev = `Container ${name}`;
    this.progress.event(ev, 'Starting');
    try { await this.client.containers.start(id); } catch (e: any) {
      if (isApiError(e, 304)) { this.progress.done(ev, 'Started'); return; }
      this.progress.fail(ev, 'Error', e?.message ?? '');
      throw new ComposeError(daemonMessage(e));
    }
    for (const h of (s?.post_start ?? []) as Hook[]) {
      const code = await this.runHook(id, h);
      if (code !== 0) { this.progress.fail(ev, 'Error', `post_start hook exited with status ${code}`); throw new ComposeError(`container ${name}: post_start hook exited with status ${code}`); }
    }
    this.progress.done(ev, 'Started');
  }

  runHook(id: string, h: Hook): Promise<number> { return runHook(this.client, id, h); }

  async stop(c: { Id: string; name: string; service?: Service }, t?: number, quiet = false): Promise<void> {
    const ev = `Container ${c.name}`;
    if (!quiet) this.progress.event(ev, 'Stopping');
    for (const h of (c.service?.pre_stop ?? []) as Hook[]) {
      const code = await this.runHook(c.Id, h).catch(() => -1);
      if (code !== 0) process.stderr.write(`WARN[0000] container ${c.name}: pre_stop hook exited with status ${code}\n`);
    }
    try { await this.client.containers.stop(c.Id, { t: stopTimeout(c.service, t) }); } catch (e: any) {
      if (!(isApiError(e, 304, 404))) { this.progress.fail(ev, 'Error'); throw new ComposeError(daemonMessage(e)); }
    }
    if (!quiet) this.progress.done(ev, 'Stopped');
  }

  async remove(c: { Id: string; name: string }, o: { volumes?: boolean; force?: boolean } = {}): Promise<void> {
    const ev = `Container ${c.name}`;
    this.progress.event(ev, 'Removing');
    try { await this.client.containers.remove(c.Id, { v: o.volumes, force: o.force ?? true }); } catch (e: any) {
      if (!(isApiError(e, 404))) { this.progress.fail(ev, 'Error'); throw new ComposeError(daemonMessage(e)); }
    }
    this.progress.done(ev, 'Removed');
  }

  /**
   * Recreates a container: the new one is made under a temporary name first (the old one keeps
   * running if that fails), then the old one is stopped and removed and the new one takes its name.
   */
  async recreate(s: Service, old: ContainerSummary, number: number): Promise<string> {
    const name = containerName(this.project, s, number);
    const ev = `Container ${name}`;
    this.progress.event(ev, 'Recreate');
    const inherited = await this.client.containers.inspect(old.Id).catch(() => undefined);
    const tmp = `${old.Id.slice(0, 12)}_${name}`;
    let id: string;
    try {
      id = await this.createContainer(s, number, tmp, { inherited, extraLabels: { [L.REPLACE]: nameOf(old) } });
      await this.client.containers.stop(old.Id, { t: stopTimeout(s) }).catch((e) => { if (!(isApiError(e, 304))) throw e; });
      await this.client.containers.remove(old.Id, { force: true });
      await this.client.containers.rename(id, name);
    } catch (e: any) {
      this.progress.fail(ev, 'Error', e?.message ?? '');
      throw new ComposeError(daemonMessage(e));
    }
    this.progress.done(ev, 'Recreated');
    return id;
  }

  // ---- waiting on conditions ------------------------------------------------------------------

  /** Resolves when the service's containers meet the condition; throws Docker Compose's message when they cannot. */
  async waitCondition(dep: string, condition: string, ids: string[], required: boolean, warn: (m: string) => void, signal?: AbortSignal): Promise<void> {
    if (condition === 'service_started') return;
    if (this.o.dryRun) {
      for (const id of ids) {
        const name = (await this.client.containers.inspect(id).then((c) => c.Name, () => id)).replace(/^\//, '');
        this.progress.event(`Container ${name}`, 'Waiting');
        this.progress.done(`Container ${name}`, condition === 'service_healthy' ? 'Healthy' : 'Exited');
      }
      return;
    }
    const fail = (msg: string) => {
      if (!required) { warn(`optional dependency ${JSON.stringify(dep)} failed: ${msg}`); return; }
      throw new ComposeError(msg);
    };
    const changes = this.changes;
    await changes?.ready;
    for (const id of ids) {
      let name = id.slice(0, 12);
      const ev = () => `Container ${name}`;
      let announced = false;
      for (;;) {
        if (signal?.aborted) return;
        const seen = changes?.count(id) ?? 0;
        let c: ContainerInspect;
        try { c = await this.client.containers.inspect(id); } catch (e: any) { return fail(daemonMessage(e)); }
        name = c.Name.replace(/^\//, '');
        if (!announced) { this.progress.event(ev(), 'Waiting'); announced = true; }
        if (condition === 'service_healthy') {
          const h = c.State.Health?.Status;
          if (!c.Config.Healthcheck || c.Config.Healthcheck.Test?.[0] === 'NONE' || (!h && c.State.Running)) {
            this.progress.fail(ev(), 'Error');
            return fail(`dependency failed to start: container ${name} has no healthcheck configured`);
          }
          if (h === 'healthy') { this.progress.done(ev(), 'Healthy'); break; }
          if (!c.State.Running && !c.State.Restarting) { this.progress.fail(ev(), 'Error'); return fail(`dependency failed to start: container ${name} exited (${c.State.ExitCode})`); }
          if (h === 'unhealthy') { this.progress.fail(ev(), 'Error'); return fail(`dependency failed to start: container ${name} is unhealthy`); }
        } else if (condition === 'service_completed_successfully') {
          if (!c.State.Running && !c.State.Restarting && c.State.Status !== 'created') {
            if (c.State.ExitCode === 0) { this.progress.done(ev(), 'Exited'); break; }
            this.progress.fail(ev(), 'Error');
            return fail(`service ${JSON.stringify(dep)} didn't complete successfully: exit ${c.State.ExitCode}`);
          }
        } else return;
        // The container's next event (a health status, its exit) wakes this at once; without the
        // event stream, an inspect every 30 ms (a millisecond of drayd's time each) does.
        if (changes) await changes.after(id, seen);
        else await sleep(30);
      }
    }
  }

  // ---- converging -------------------------------------------------------------------------------

  /**
   * Runs the containers plan in two passes, each service as soon as it can. First every service's
   * containers are made (created, recreated, scaled down), once its image is there (`images`: a
   * build or pull still going on for it, after which its plan is made again by `replan`, the
   * image having changed) and the services whose namespaces it joins have theirs; then each
   * service's containers are started once its dependencies met their conditions. Returns the IDs
   * of the containers started (for attaching logs) and the services that changed.
   */
  async converge(plan: ContainersPlan, o: {
    noStart?: boolean; warn: (m: string) => void; selection: Set<string>; signal?: AbortSignal;
    images?: Map<string, Promise<unknown>>; replan?: (name: string) => ServicePlan;
  }): Promise<{ started: Map<string, string[]>; changed: Set<string> }> {
    const made = new Map<string, Promise<void>>();
    const ready = new Map<string, Promise<void>>();
    const started = new Map<string, string[]>();
    const changed = new Set<string>();
    const toStart = new Map<string, Array<{ id: string; name: string }>>();
    const plans = new Map(plan.services.map((sp) => [sp.name, sp]));
    for (const sp of plan.services) this.ids.set(sp.name, sp.containers.filter((a) => a.kind === 'keep').map((a) => (a as any).container.Id));
    let firstError: unknown;
    const check = () => { if (firstError) throw firstError; };
    // The start of what others wait on goes first. On a small host concurrent starts share the
    // CPU, so a service nothing depends on, started alongside the root of a dependency chain,
    // only slows that chain (which bounds the whole up) down; once the roots have started, their
    // dependents wait anyway (for health, for an exit), and the others start in that wait.
    const waitedOn = new Set<string>();
    for (const sp of plan.services) for (const d of dependenciesOf(sp.service)) if (plans.has(d)) waitedOn.add(d);
    // A root waiting for a build or pull is not waited for: that may take long, and meanwhile the
    // CPU is the build's anyway.
    const roots = [...waitedOn].filter((n) => !o.images?.get(n) && !dependenciesOf(plans.get(n)!.service).some((d) => plans.has(d)));
    const rootStarted = new Map(roots.map((n) => [n, deferred()]));
    // Waits on health or exits are woken by events: opened before anything starts.
    const waits = !o.noStart && !this.o.dryRun && plan.services.some((sp) => Object.values(sp.service.depends_on).some((c) => c.condition !== 'service_started'));
    if (waits && !this.changes) this.changes = new ContainerChanges(this.client, this.project.name);

    const make = async (name: string): Promise<void> => {
      const image = o.images?.get(name);
      if (image) { await image; check(); if (o.replan) plans.set(name, o.replan(name)); }
      const sp = plans.get(name)!;
      const s = sp.service;
      // network_mode/ipc/pid service:x and volumes_from need x's container to exist.
      for (const d of namespaceOwners(s)) await made.get(d);
      check();
      await Promise.all(sp.remove.map((c) => this.limit.run(async () => {
        await this.stop({ Id: c.Id, name: nameOf(c), service: s }, undefined);
        await this.remove({ Id: c.Id, name: nameOf(c) });
      })));
      const ids: string[] = [];
      const mine: Array<{ id: string; name: string }> = [];
      await Promise.all(sp.containers.map((a) => this.limit.run(async () => {
        const cname = containerName(this.project, s, a.number);
        if (a.kind === 'keep') {
          ids[a.number] = a.container.Id;
          if (a.start) mine.push({ id: a.container.Id, name: cname });
          return;
        }
        check();
        if (a.kind === 'create') {
          const ev = `Container ${cname}`;
          this.progress.event(ev, 'Creating');
          let id: string;
          try { id = await this.createContainer(s, a.number, cname); } catch (e: any) {
            this.progress.fail(ev, 'Error', isApiError(e) ? e.message : '');
            throw e instanceof ComposeError ? e : new ComposeError(daemonMessage(e));
          }
          this.progress.done(ev, 'Created');
          ids[a.number] = id;
          mine.push({ id, name: cname });
        } else {
          const id = await this.recreate(s, a.container, a.number);
          ids[a.number] = id;
          mine.push({ id, name: cname });
        }
        changed.add(name);
      })));
      if (sp.remove.length) changed.add(name);
      this.ids.set(name, ids.filter(Boolean));
      toStart.set(name, mine);
    };

    const run = async (name: string): Promise<void> => {
      try { await runService(name); } finally { rootStarted.get(name)?.resolve(); }
    };
    const runService = async (name: string): Promise<void> => {
      await made.get(name);
      if (o.noStart) return;
      const sp = plans.get(name)!;
      const s = sp.service;
      const mine = toStart.get(name) ?? [];
      const restartFor = Object.entries(s.depends_on).some(([d, c]) => c.restart && changed.has(d));
      // A service with nothing to start or restart waits on none of its dependencies.
      const idle = !mine.length && !restartFor;
      const needs = Object.entries(s.depends_on) as Array<[string, { condition: string; required: boolean; restart: boolean }]>;
      for (const d of dependenciesOf(s)) if (!s.depends_on[d]) needs.push([d, { condition: 'service_started', required: true, restart: false }]);
      for (const [dep, cond] of needs) {
        const r = ready.get(dep);
        if (!r) continue;
        try { await r; } catch (e) {
          if (!cond.required) { o.warn(`optional dependency ${JSON.stringify(dep)} failed to start`); continue; }
          throw e;
        }
        if (!idle) await this.waitCondition(dep, cond.condition, this.ids.get(dep) ?? [], cond.required, o.warn, o.signal);
      }
      check();
      if (mine.length && !waitedOn.has(name)) await Promise.all([...rootStarted.values()].map((d) => d.promise));
      check();
      const startedIds: string[] = [];
      await Promise.all(sp.containers.map((a) => this.limit.run(async () => {
        const cname = containerName(this.project, s, a.number);
        const entry = mine.find((m) => m.name === cname);
        if (entry) { await this.start(entry.id, entry.name, s); startedIds.push(entry.id); return; }
        if (a.kind !== 'keep') return;
        if (restartFor) {
          const ev = `Container ${cname}`;
          this.progress.event(ev, 'Restarting');
          await this.client.containers.restart(a.container.Id, { t: stopTimeout(s) });
          this.progress.done(ev, 'Restarted');
          changed.add(name);
        } else this.progress.done(`Container ${cname}`, 'Running');
      })));
      if (mine.length) changed.add(name);
      started.set(name, startedIds);
    };

    const all: Promise<void>[] = [];
    for (const sp of plan.services) {
      const m = make(sp.name);
      m.catch((e) => { firstError ??= e; });
      made.set(sp.name, m);
    }
    for (const sp of plan.services) {
      const r = run(sp.name);
      r.catch((e) => { firstError ??= e; });
      ready.set(sp.name, r);
      all.push(r);
    }
    const results = await Promise.allSettled(all);
    this.changes?.close();
    this.changes = undefined;
    const bad = results.find((x) => x.status === 'rejected') as PromiseRejectedResult | undefined;
    if (bad) throw firstError ?? bad.reason;
    return { started, changed };
  }

  // ---- down -------------------------------------------------------------------------------------

  /**
   * Stops containers, dependents before what they depend on (as `down` and `stop` do). `after`
   * (down's removal) runs for each container once it stopped, beside the stops that follow: the
   * order that matters is that nothing stops before what depends on it has stopped, and a stopped
   * container's removal need not hold up the next stop.
   */
  async stopInOrder(containers: ContainerSummary[], t: number | undefined, after?: (c: ContainerSummary) => Promise<void>): Promise<void> {
    const afters: Promise<void>[] = [];
    // Each service stops once every service that depends on it has stopped; containers of
    // services the model does not know stop at once.
    const services = this.project.services;
    const byService = new Map<string, ContainerSummary[]>();
    for (const c of containers) (byService.get(serviceOf(c)) ?? byService.set(serviceOf(c), []).get(serviceOf(c))!).push(c);
    const dependents = new Map<string, string[]>();
    for (const [n, s] of Object.entries(services)) for (const d of dependenciesOf(s)) (dependents.get(d) ?? dependents.set(d, []).get(d)!).push(n);
    const done = new Map<string, Promise<void>>();
    const stopService = (n: string, seen: Set<string> = new Set()): Promise<void> => {
      let p = done.get(n);
      if (p) return p;
      if (seen.has(n)) return Promise.resolve();
      seen.add(n);
      const first = (dependents.get(n) ?? []).map((d) => stopService(d, seen));
      p = Promise.all(first).then(() => Promise.all((byService.get(n) ?? []).map((c) => this.limit.run(async () => {
        await this.stop({ Id: c.Id, name: nameOf(c), service: services[n] }, t);
        if (after) {
          const a = after(c);
          a.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
          afters.push(a);
        }
      })))).then(() => undefined);
      done.set(n, p);
      return p;
    };
    await Promise.all([...new Set([...byService.keys(), ...Object.keys(services)])].map((n) => stopService(n)));
    await Promise.all(afters);
  }

}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => { resolve = r; });
  return { promise, resolve };
}

export const sortByNumber = (a: ContainerSummary, b: ContainerSummary) => serviceOf(a).localeCompare(serviceOf(b)) || numberOf(a) - numberOf(b);
