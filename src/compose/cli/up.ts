// up and create: plan (planner.ts), check what must already exist, build and pull, make networks
// and volumes, converge the containers (executor.ts); then, for up in the foreground, stream the
// containers' logs until they all stop (Ctrl-C stops them, a second Ctrl-C kills them).
import { boolFlag, intFlag, listFlag, strFlag, FlagValues } from '../../cli/flags';
import { ComposeError } from '../errors';
import { ApiError } from '../../client/errors';
import { Executor, daemonMessage } from '../executor';
import { LogPrinter, streamLogs } from '../logs';
import type { Project } from '../model';
import { nameOf, numberOf, observe, serviceOf, Observed } from '../observe';
import { planContainers, planImages, planNetworks, planVolumes, selectServices, UpOptions, isNoop } from '../planner';
import type { ComposeCommand, ComposeContext } from './context';
import type { Progress } from '../progress';

export const createFlags = [
  boolFlag('build', undefined, 'Build images before starting containers'),
  boolFlag('no-build', undefined, "Don't build an image, even if it's policy"),
  boolFlag('force-recreate', undefined, "Recreate containers even if their configuration and image haven't changed"),
  boolFlag('no-recreate', undefined, "If containers already exist, don't recreate them. Incompatible with --force-recreate."),
  boolFlag('always-recreate-deps', undefined, 'Recreate dependent containers. Incompatible with --no-recreate.'),
  boolFlag('remove-orphans', undefined, 'Remove containers for services not defined in the Compose file'),
  listFlag('scale', undefined, 'Scale SERVICE to NUM instances. Overrides the `scale` setting in the Compose file if present.', 'scale'),
  strFlag('pull', undefined, 'Pull image before running ("always"|"missing"|"never"|"build")'),
  boolFlag('quiet-pull', undefined, 'Pull without printing progress information'),
  boolFlag('renew-anon-volumes', 'V', 'Recreate anonymous volumes instead of retrieving data from the previous containers'),
  boolFlag('yes', 'y', 'Assume "yes" as answer to all prompts and run non-interactively'),
];

export const upFlags = [
  ...createFlags,
  boolFlag('detach', 'd', 'Detached mode: Run containers in the background'),
  boolFlag('no-deps', undefined, "Don't start linked services"),
  boolFlag('no-start', undefined, "Don't start the services after creating them"),
  boolFlag('wait', undefined, 'Wait for services to be running|healthy. Implies detached mode.'),
  intFlag('wait-timeout', undefined, 'Maximum duration in seconds to wait for the project to be running|healthy'),
  boolFlag('abort-on-container-exit', undefined, 'Stops all containers if any container was stopped. Incompatible with -d'),
  boolFlag('abort-on-container-failure', undefined, 'Stops all containers if any container exited with failure. Incompatible with -d'),
  strFlag('exit-code-from', undefined, 'Return the exit code of the selected service container. Implies --abort-on-container-exit'),
  intFlag('timeout', 't', 'Use this timeout in seconds for container shutdown when attached or when containers are already running'),
  boolFlag('no-color', undefined, 'Produce monochrome output'),
  boolFlag('no-log-prefix', undefined, "Don't print prefix in logs"),
  boolFlag('timestamps', undefined, 'Show timestamps'),
  listFlag('attach', undefined, 'Restrict attaching to the specified services. Incompatible with --attach-dependencies.', 'stringArray'),
  listFlag('no-attach', undefined, 'Do not attach (stream logs) to the specified services', 'stringArray'),
  boolFlag('attach-dependencies', undefined, 'Automatically attach to log output of dependent services'),
  boolFlag('menu', undefined, 'Enable interactive shortcuts when running attached. Incompatible with --detach.'),
  boolFlag('watch', 'w', 'Watch source code and rebuild/refresh containers when files are updated.'),
];

function parseScale(list: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of list) {
    const m = /^([^=]+)=(\d+)$/.exec(s);
    if (!m) throw new ComposeError(`invalid --scale option ${JSON.stringify(s)}: expected SERVICE=NUM`);
    out[m[1]] = Number(m[2]);
  }
  return out;
}

function upOptions(f: FlagValues, services: string[]): UpOptions {
  if (f['force-recreate'] && f['no-recreate']) throw new ComposeError('--force-recreate and --no-recreate are incompatible');
  if (f.build && f['no-build']) throw new ComposeError('--build and --no-build are incompatible');
  const recreate = f['force-recreate'] ? 'force' : f['no-recreate'] ? 'never' : 'diverged';
  let pull: UpOptions['pull'];
  if (f.pull) {
    if (!['always', 'missing', 'never', 'build'].includes(f.pull)) throw new ComposeError(`invalid --pull option ${JSON.stringify(f.pull)}`);
    pull = f.pull === 'build' ? undefined : f.pull;
  }
  return {
    services, noDeps: !!f['no-deps'], recreate,
    recreateDeps: f['always-recreate-deps'] ? 'force' : recreate === 'never' ? 'never' : 'diverged',
    scale: parseScale(f.scale ?? []),
    build: f.build || f.pull === 'build' ? 'always' : f['no-build'] ? 'never' : 'auto',
    pull,
  };
}

export interface ConvergeResult { project: Project; selection: string[]; exec: Executor; started: Map<string, string[]>; progress: Progress; observed: Observed }

/** Everything up and create have in common. */
export async function converge(cc: ComposeContext, f: FlagValues, args: string[], o: { noStart?: boolean; title?: string } = {}): Promise<ConvergeResult> {
  const trace = cc.env.DRAY_COMPOSE_TRACE ? (what: string, t: number) => process.stderr.write(`[trace] ${what} ${(performance.now() - t).toFixed(1)} ms\n`) : undefined;
  let t = performance.now();
  const early = cc.earlyName();
  const earlyObserved = early ? observe(cc.client(), early) : undefined;
  earlyObserved?.catch(() => undefined); // awaited below, or not needed
  // Loading is work on this thread: a turn of the event loop first lets the requests go out.
  if (earlyObserved) await new Promise((r) => setImmediate(r));
  const project = cc.project(args);
  trace?.('project loaded', t);
  const opts = upOptions(f, args);
  for (const n of Object.keys(opts.scale ?? {})) if (!project.services[n]) throw new ComposeError(`no such service: ${n}`);
  const selection = selectServices(project, args, opts.noDeps);
  const client = cc.client();
  t = performance.now();
  let observed = project.name === early ? await earlyObserved! : await observe(client, project.name);
  trace?.('observed', t);
  t = performance.now();
  // Everything that must already exist is checked before anything is made.
  const images = planImages(project, observed, selection, opts);
  const nets = planNetworks(project, observed, selection);
  const vols = planVolumes(project, observed, selection);
  await checkSharedContainers(client, project, selection);
  const progress = cc.progress(o.title ?? 'Running');
  const exec = new Executor(client, project, progress, { parallel: cc.parallel, dryRun: cc.dryRun, registryAuth: cc.registryAuth, buildOut: process.stderr });
  try {
    exec.setImages(observed);
    const plan = planContainers(project, observed, selection, opts);
    // Networks and volumes before the builds start, so that nothing they make is waited for
    // behind a build (a network create once waited for the bridge a build's RUN step released).
    if (!isNoop(plan, nets, vols) || images.length) {
      await Promise.all([exec.ensureNetworks(nets, cc.warn), exec.ensureVolumes(vols, cc.warn)]);
    }
    // Builds and pulls go on while the services that do not need them come up.
    const imageTasks = exec.imageTasks(images);
    if (plan.orphans.length) {
      if (f['remove-orphans']) {
        await Promise.all(plan.orphans.map((c) => exec.limit.run(async () => {
          await exec.stop({ Id: c.Id, name: nameOf(c) }, f.timeout);
          await exec.remove({ Id: c.Id, name: nameOf(c) });
        })));
      } else if (!(cc.env.COMPOSE_IGNORE_ORPHANS && /^(1|true)$/i.test(cc.env.COMPOSE_IGNORE_ORPHANS))) {
        cc.warn(`Found orphan containers ([${plan.orphans.map(nameOf).join(' ')}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.`);
      }
    }
    trace?.('planned', t);
    t = performance.now();
    // A service whose image was built or pulled is planned again with the image it has now.
    const replan = (name: string) => planContainers(project, { ...observed, images: exec.imagesNow() }, [name], { ...opts, services: opts.services?.length ? opts.services : selection }).services[0];
    const { started } = await exec.converge(plan, { noStart: o.noStart, warn: cc.warn, selection: new Set(selection), images: imageTasks, replan });
    trace?.('converged', t);
    return { project, selection, exec, started, progress, observed };
  } finally {
    progress.stop();
  }
}

/**
 * network_mode/ipc/pid "container:<name>" names a container outside the project: it must exist
 * before anything is made, or `up` would leave the services before it half-created.
 */
async function checkSharedContainers(client: ReturnType<ComposeContext['client']>, project: Project, selection: string[]): Promise<void> {
  const refs = new Set<string>();
  for (const n of selection) {
    const s = project.services[n];
    for (const m of [s.network_mode, s.ipc, s.pid]) if (typeof m === 'string' && m.startsWith('container:')) refs.add(m.slice('container:'.length));
  }
  await Promise.all([...refs].map(async (ref) => {
    try { await client.containers.inspect(ref); } catch (e) {
      if (e instanceof ApiError && e.status === 404) throw new ComposeError(`No such container: ${ref}`);
      throw e;
    }
  }));
}

/** --wait: every container of the selection running, and healthy where it has a healthcheck. */
async function waitHealthy(r: ConvergeResult, timeoutS: number | undefined): Promise<void> {
  const client = r.exec.client;
  const deadline = timeoutS ? Date.now() + timeoutS * 1000 : Infinity;
  const progress = r.progress;
  progress.section('Running');
  // Services others wait on to complete may exit; they count as done when they exit 0.
  const completing = new Set<string>();
  for (const n of r.selection) for (const [d, c] of Object.entries(r.project.services[n].depends_on)) if (c.condition === 'service_completed_successfully') completing.add(d);
  try {
    for (const n of r.selection) {
      for (const id of r.exec.ids.get(n) ?? []) {
        for (;;) {
          const c = await client.containers.inspect(id);
          const name = c.Name.replace(/^\//, '');
          const ev = `Container ${name}`;
          const h = c.State.Health?.Status;
          if (!c.State.Running && !c.State.Restarting) {
            if (completing.has(n) && c.State.ExitCode === 0) { progress.done(ev, 'Exited'); break; }
            progress.fail(ev, 'Error');
            throw new ComposeError(`container ${name} exited (${c.State.ExitCode})`);
          }
          if (h === 'healthy' || (!h && c.State.Running)) { progress.done(ev, h ? 'Healthy' : 'Running'); break; }
          if (h === 'unhealthy') { progress.fail(ev, 'Error'); throw new ComposeError(`container ${name} is unhealthy`); }
          progress.event(ev, 'Waiting');
          if (Date.now() > deadline) throw new ComposeError(`application not healthy after ${timeoutS}s`);
          await new Promise((res) => setTimeout(res, 100));
        }
      }
    }
  } finally { progress.stop(); }
}

/** Stops (or kills) the selection's containers, as Ctrl-C in the foreground does. */
async function stopAll(r: ConvergeResult, kill: boolean, t?: number): Promise<void> {
  const client = r.exec.client;
  const obs = await observe(client, r.project.name, { networks: false, volumes: false, images: false });
  const mine = obs.containers.filter((c) => r.selection.includes(serviceOf(c)) && c.State === 'running');
  const progress = r.progress;
  progress.section(kill ? 'Killing' : 'Stopping');
  try {
    if (kill) {
      await Promise.all(mine.map(async (c) => {
        const ev = `Container ${nameOf(c)}`;
        progress.event(ev, 'Killing');
        await client.containers.kill(c.Id).catch(() => undefined);
        progress.done(ev, 'Killed');
      }));
    } else {
      await r.exec.stopInOrder(mine, t);
    }
  } finally { progress.stop(); }
}

/** The foreground part of up: logs of the selection's containers until they stop. */
async function attachAndWait(cc: ComposeContext, f: FlagValues, r: ConvergeResult): Promise<number> {
  const client = r.exec.client;
  const exitFrom: string | undefined = f['exit-code-from'] || undefined;
  if (exitFrom && !r.project.services[exitFrom]) throw new ComposeError(`no such service: ${exitFrom}`);
  const abortOnExit = !!f['abort-on-container-exit'] || !!exitFrom;
  const abortOnFailure = !!f['abort-on-container-failure'];
  const attachTo = new Set<string>(f.attach?.length ? f.attach : r.selection.filter((n) => r.project.services[n].attach !== false));
  for (const n of f['no-attach'] ?? []) attachTo.delete(n);
  const printer = new LogPrinter({ color: cc.color(f['no-color']), prefix: !f['no-log-prefix'], out: process.stdout });
  const obs = await observe(client, r.project.name, { networks: false, volumes: false, images: false });
  const targets = obs.containers.filter((c) => attachTo.has(serviceOf(c)) && c.Labels?.['com.docker.compose.oneoff'] !== 'True')
    .sort((a, b) => serviceOf(a).localeCompare(serviceOf(b)) || numberOf(a) - numberOf(b));
  const short = (c: { Names: string[] }) => nameOf(c as any).replace(`${r.project.name}-`, '');
  for (const c of targets) printer.register(short(c), serviceOf(c));
  process.stdout.write(`Attaching to ${targets.map(short).join(', ')}\n`);
  const abort = new AbortController();
  let code = 0;
  let stopping: Promise<void> | undefined;
  let interrupts = 0;
  const stop = (kill: boolean) => {
    if (kill) return stopAll(r, true);
    stopping ??= stopAll(r, false, f.timeout);
    return stopping;
  };
  const onSignal = () => {
    interrupts++;
    if (interrupts === 1) {
      process.stderr.write('Gracefully stopping... (press Ctrl+C again to force)\n');
      code = 130;
      stop(false).catch((e) => process.stderr.write(`${daemonMessage(e)}\n`));
    } else {
      stop(true).catch(() => undefined);
      abort.abort();
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const startedNow = new Set([...r.started.values()].flat());
  try {
    await Promise.all(targets.map(async (c) => {
      const name = short(c);
      const svc = serviceOf(c);
      const tty = !!r.project.services[svc]?.tty;
      if (c.State === 'running' || startedNow.has(c.Id)) {
        await streamLogs(client, c.Id, name, svc, printer, { follow: true, tty, tail: startedNow.has(c.Id) ? undefined : '0', signal: abort.signal }).catch(() => undefined);
      }
      if (abort.signal.aborted) return;
      const info = await client.containers.inspect(c.Id).catch(() => undefined);
      const exit = info?.State.ExitCode ?? 0;
      if (info && !info.State.Running) printer.status(name, svc, `exited with code ${exit}`);
      if (exitFrom ? svc === exitFrom : false) code = exit;
      if ((abortOnExit || (abortOnFailure && exit !== 0)) && !stopping) {
        if (!exitFrom && code === 0) code = exit;
        process.stdout.write('Aborting on container exit...\n');
        await stop(false);
      }
    }));
    if (stopping) await stopping;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return code;
}

export const up: ComposeCommand = {
  usage: '[OPTIONS] [SERVICE...]',
  description: 'Create and start containers',
  flags: upFlags,
  async run(cc, f, args) {
    const detached = !!f.detach || !!f.wait;
    if (f.watch && detached) throw new ComposeError('--watch can not be used with --detach or --wait');
    if (detached && (f['abort-on-container-exit'] || f['exit-code-from'])) throw new ComposeError('--abort-on-container-exit and --detach are incompatible');
    const r = await converge(cc, f, args, { noStart: !!f['no-start'] });
    if (f['no-start']) return 0;
    if (f.wait) { await waitHealthy(r, f['wait-timeout']); return 0; }
    if (detached) return 0;
    if (!f.watch) return attachAndWait(cc, f, r);
    // --watch: the project's logs in the foreground while its develop.watch rules are followed.
    const { Watcher, watchedServices } = await import('./watch');
    const w = new Watcher(cc, r.project, r.exec);
    await w.start(watchedServices(r.project, r.selection));
    try { return await attachAndWait(cc, f, r); } finally { w.stop(); await w.idle(); }
  },
};

export const create: ComposeCommand = {
  usage: '[OPTIONS] [SERVICE...]',
  description: 'Creates containers for a service',
  flags: createFlags,
  async run(cc, f, args) {
    await converge(cc, f, args, { noStart: true });
    return 0;
  },
};

/**
 * scale SERVICE=N...: as Docker Compose, `up -d` of the named services at those scales: more
 * replicas take the lowest free numbers, fewer remove the highest (planner.ts planContainers).
 */
export const scale: ComposeCommand = {
  usage: '[SERVICE=REPLICAS...]',
  description: 'Scale services ',
  flags: [boolFlag('no-deps', undefined, "Don't start linked services")],
  async run(cc, f, args) {
    if (!args.length) throw new ComposeError('scale: expected at least one SERVICE=REPLICAS');
    const services = args.map((a) => {
      const m = /^([^=]+)=(\d+)$/.exec(a);
      if (!m) throw new ComposeError(`invalid scale option ${JSON.stringify(a)}: expected SERVICE=REPLICAS`);
      return m[1];
    });
    await converge(cc, { ...f, scale: args, detach: true }, services);
    return 0;
  },
};
