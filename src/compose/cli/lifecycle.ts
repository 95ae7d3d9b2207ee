// down, start, stop, restart, rm, kill, pause, unpause, wait: commands over the project's existing
// containers (found by label, so they work from -p alone when the files are gone).
import { boolFlag, intFlag, strFlag, FlagValues } from '../../cli/flags';
import type { ContainerSummary } from '../../client/types';
import { ComposeError, isApiError } from '../errors';
import { Executor, daemonMessage, sortByNumber, runHook, Hook } from '../executor';
import * as L from '../labels';
import { dependencyLevels, dependencyOrder, Project } from '../model';
import { imageName } from '../convert';
import { isOneoff, nameOf, observe, serviceOf } from '../observe';
import type { ComposeCommand, ComposeContext } from './context';

/** The project's containers of the named services (all when none), one-off ones only if asked. */
export async function containersOf(cc: ComposeContext, name: string, services: string[], o: { all?: boolean; oneoff?: boolean } = {}): Promise<ContainerSummary[]> {
  const list = await cc.client().containers.list({ all: o.all ?? true, filters: { label: [`${L.PROJECT}=${name}`] } });
  return list.filter((c) => (o.oneoff || !isOneoff(c)) && (!services.length || services.includes(serviceOf(c)))).sort(sortByNumber);
}

export function checkServices(p: Project | undefined, services: string[]): void {
  if (!p) return;
  for (const s of services) if (!p.services[s] && !p.disabled[s]) throw new ComposeError(`no such service: ${s}`);
}

const emptyProject = (name: string): Project => ({ name, workingDir: '', configFiles: [], environment: {}, envFiles: [], services: {}, disabled: {}, networks: {}, volumes: {}, secrets: {}, configs: {}, extensions: {} });

/** Service order for stopping: dependents first. Without a model, by name. */
const orderOf = (p: Project | undefined) => (p ? dependencyOrder(p.services) : []);

export const down: ComposeCommand = {
  usage: '[OPTIONS] [SERVICES]',
  description: 'Stop and remove containers, networks',
  flags: [
    boolFlag('remove-orphans', undefined, 'Remove containers for services not defined in the Compose file'),
    strFlag('rmi', undefined, 'Remove images used by services. "local" remove only images that don\'t have a custom tag ("local"|"all")'),
    intFlag('timeout', 't', 'Specify a shutdown timeout in seconds'),
    boolFlag('volumes', 'v', 'Remove named volumes declared in the "volumes" section of the Compose file and anonymous volumes attached to containers'),
  ],
  async run(cc, f, args) {
    if (f.rmi && !['local', 'all'].includes(f.rmi)) throw new ComposeError(`invalid --rmi option ${JSON.stringify(f.rmi)}`);
    const client = cc.client();
    const early = cc.earlyName();
    const earlyObs = early ? observe(client, early, { images: false }) : undefined;
    earlyObs?.catch(() => undefined); // awaited below, or not needed
    // Loading is work on this thread: a turn of the event loop first lets the requests go out.
    if (earlyObs) await new Promise((r) => setImmediate(r));
    const { project, name } = cc.projectOrName();
    checkServices(project, args);
    const p = project ?? emptyProject(name);
    const obs = name === early ? await earlyObs! : await observe(client, name, { images: false });
    const known = new Set([...Object.keys(p.services), ...Object.keys(p.disabled)]);
    const byService = (c: ContainerSummary) => !args.length || args.includes(serviceOf(c));
    // Without a model every container of the project goes; with one, orphans only with --remove-orphans.
    const orphans = project ? obs.containers.filter((c) => !known.has(serviceOf(c)) && !isOneoff(c)) : [];
    const targets = obs.containers.filter((c) => byService(c) && (!project || known.has(serviceOf(c)) || f['remove-orphans'] || (isOneoff(c) && known.has(serviceOf(c)))));
    if (orphans.length && !f['remove-orphans'] && !args.length) {
      cc.warn(`Found orphan containers ([${orphans.map(nameOf).join(' ')}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.`);
    }
    const progress = cc.progress('Running');
    const exec = new Executor(client, p, progress, { parallel: cc.parallel, dryRun: cc.dryRun, registryAuth: cc.registryAuth });
    try {
      // Each container is removed as soon as it stopped; the stopped ones at once.
      const rm = (c: ContainerSummary) => exec.remove({ Id: c.Id, name: nameOf(c) }, { volumes: !!f.volumes });
      await Promise.all([
        exec.stopInOrder(targets.filter(live), f.timeout, rm),
        ...targets.filter((c) => !live(c)).sort(sortByNumber).map((c) => exec.limit.run(() => rm(c))),
      ]);
      if (args.length) return 0;
      // Networks: the project's (by label) and the model's (by name), not external ones.
      const netNames = new Set<string>();
      for (const n of obs.networks) if (n.Labels?.[L.PROJECT] === name) netNames.add(n.Name);
      for (const n of Object.values(p.networks)) if (!n.external && obs.networks.some((x) => x.Name === n.name)) netNames.add(n.name);
      await Promise.all([...netNames].sort().map((n) => exec.limit.run(async () => {
        const ev = `Network ${n}`;
        progress.event(ev, 'Removing');
        try { await client.networks.remove(n); } catch (e: any) {
          if (isApiError(e, 404)) { progress.done(ev, 'Removed'); return; }
          progress.fail(ev, 'Error', e.message);
          cc.warn(`error while removing network ${n}: ${daemonMessage(e)}`);
          return;
        }
        progress.done(ev, 'Removed');
      })));
      if (f.volumes) {
        const volNames = new Set<string>();
        for (const v of obs.volumes) if (v.Labels?.[L.PROJECT] === name) volNames.add(v.Name);
        for (const v of Object.values(p.volumes)) if (!v.external && obs.volumes.some((x) => x.Name === v.name)) volNames.add(v.name);
        await Promise.all([...volNames].sort().map((v) => exec.limit.run(async () => {
          const ev = `Volume ${v}`;
          progress.event(ev, 'Removing');
          try { await client.volumes.remove(v); } catch (e: any) {
            if (isApiError(e, 404)) { progress.done(ev, 'Removed'); return; }
            progress.fail(ev, 'Error', e.message);
            cc.warn(`error while removing volume ${v}: ${daemonMessage(e)}`);
            return;
          }
          progress.done(ev, 'Removed');
        })));
      }
      if (f.rmi) {
        const refs = new Set<string>();
        for (const s of Object.values(p.services)) if (f.rmi === 'all' || !s.image) refs.add(imageName(p, s));
        if (!project) for (const c of targets) if (f.rmi === 'all' || c.Image === `${name}-${serviceOf(c)}`) refs.add(c.Image);
        for (const ref of [...refs].sort()) {
          const ev = `Image ${ref}`;
          progress.event(ev, 'Removing');
          try { await client.images.remove(ref); } catch (e: any) {
            if (isApiError(e, 404)) { progress.done(ev, 'Removed'); continue; }
            progress.fail(ev, 'Error', e.message);
            continue;
          }
          progress.done(ev, 'Removed');
        }
      }
    } finally { progress.stop(); }
    return 0;
  },
};

/** A command that does one thing to each container of the named services, with a progress line. */
function perContainer(o: {
  usage?: string; description: string; flags: ComposeCommand['flags'];
  filter: (c: ContainerSummary) => boolean; verb: [string, string]; title: string;
  act: (cc: ComposeContext, c: ContainerSummary, f: FlagValues, p: Project | undefined) => Promise<void>;
  reverse?: boolean; empty?: (cc: ComposeContext) => void;
}): ComposeCommand {
  return {
    usage: o.usage ?? '[SERVICE...]',
    description: o.description,
    flags: o.flags,
    async run(cc, f, args) {
      const { project, name } = cc.projectOrName(args);
      checkServices(project, args);
      const list = (await containersOf(cc, name, args)).filter(o.filter);
      if (!list.length) { o.empty?.(cc); return 0; }
      const progress = cc.progress(o.title);
      try {
        const rank = project ? dependencyLevels(project.services) : new Map<string, number>();
        const groups = new Map<number, ContainerSummary[]>();
        for (const c of list) {
          const r = rank.get(serviceOf(c)) ?? 0;
          (groups.get(r) ?? groups.set(r, []).get(r)!).push(c);
        }
        const ranks = [...groups.keys()].sort((a, b) => (o.reverse ? b - a : a - b));
        for (const r of ranks) {
          await Promise.all(groups.get(r)!.map(async (c) => {
            const ev = `Container ${nameOf(c)}`;
            progress.event(ev, o.verb[0]);
            try { await o.act(cc, c, f, project); } catch (e: any) {
              progress.fail(ev, 'Error', e?.message ?? '');
              throw new ComposeError(daemonMessage(e));
            }
            progress.done(ev, o.verb[1]);
          }));
        }
      } finally { progress.stop(); }
      return 0;
    },
  };
}

const timeoutFlag = intFlag('timeout', 't', 'Specify a shutdown timeout in seconds');
const live = (c: ContainerSummary) => c.State === 'running' || c.State === 'restarting' || c.State === 'paused';

export const stop = perContainer({
  description: 'Stop services', flags: [timeoutFlag], filter: live, verb: ['Stopping', 'Stopped'], title: 'Stopping', reverse: true,
  act: async (cc, c, f, p) => {
    const { stopTimeout } = require('../convert') as typeof import('../convert');
    for (const h of (p?.services[serviceOf(c)]?.pre_stop ?? []) as Hook[]) {
      const code = await runHook(cc.client(), c.Id, h).catch(() => -1);
      if (code !== 0) cc.warn(`container ${nameOf(c)}: pre_stop hook exited with status ${code}`);
    }
    await cc.client().containers.stop(c.Id, { t: stopTimeout(p?.services[serviceOf(c)], f.timeout) }).catch((e) => { if (!(isApiError(e, 304))) throw e; });
  },
});

export const restart = perContainer({
  description: 'Restart service containers', flags: [timeoutFlag, boolFlag('no-deps', undefined, "Don't restart dependent services")],
  filter: () => true, verb: ['Restarting', 'Started'], title: 'Restarting',
  act: async (cc, c, f, p) => {
    const { stopTimeout } = require('../convert') as typeof import('../convert');
    await cc.client().containers.restart(c.Id, { t: stopTimeout(p?.services[serviceOf(c)], f.timeout) });
  },
});

export const kill = perContainer({
  description: 'Force stop service containers',
  flags: [strFlag('signal', 's', 'SIGNAL to send to the container', 'SIGKILL'), boolFlag('remove-orphans', undefined, 'Remove containers for services not defined in the Compose file')],
  filter: (c) => c.State === 'running' || c.State === 'restarting', verb: ['Killing', 'Killed'], title: 'Killing',
  empty: () => { throw new ComposeError('no container to kill'); },
  act: async (cc, c, f) => { await cc.client().containers.kill(c.Id, f.signal); },
});

export const pause = perContainer({
  description: 'Pause services', flags: [], filter: (c) => c.State === 'running', verb: ['Pausing', 'Paused'], title: 'Pausing',
  act: async (cc, c) => { await cc.client().containers.pause(c.Id); },
});

export const unpause = perContainer({
  description: 'Unpause services', flags: [], filter: (c) => c.State === 'paused', verb: ['Unpausing', 'Unpaused'], title: 'Unpausing',
  act: async (cc, c) => { await cc.client().containers.unpause(c.Id); },
});

export const start: ComposeCommand = {
  usage: '[SERVICE...]',
  description: 'Start services',
  flags: [],
  async run(cc, _f, args) {
    const { project, name } = cc.projectOrName(args);
    checkServices(project, args);
    const list = await containersOf(cc, name, args);
    if (!list.length) throw new ComposeError(args.length ? `service ${JSON.stringify(args[0])} has no container to start` : 'no containers to start');
    const progress = cc.progress('Running');
    const exec = new Executor(cc.client(), project ?? emptyProject(name), progress, { parallel: cc.parallel, dryRun: cc.dryRun, registryAuth: cc.registryAuth });
    try {
      const order = orderOf(project);
      const byService = new Map<string, ContainerSummary[]>();
      for (const c of list) (byService.get(serviceOf(c)) ?? byService.set(serviceOf(c), []).get(serviceOf(c))!).push(c);
      const names = [...order.filter((n) => byService.has(n)), ...[...byService.keys()].filter((n) => !order.includes(n)).sort()];
      const done = new Map<string, Promise<void>>();
      for (const n of names) {
        const deps = project ? Object.entries(project.services[n]?.depends_on ?? {}) : [];
        done.set(n, (async () => {
          for (const [d, c] of deps) {
            const r = done.get(d);
            if (!r) continue;
            await r;
            await exec.waitCondition(d, c.condition, (byService.get(d) ?? []).map((x) => x.Id), c.required, cc.warn);
          }
          await Promise.all(byService.get(n)!.filter((c) => c.State !== 'running').map((c) => exec.start(c.Id, nameOf(c), project?.services[n])));
        })());
      }
      await Promise.all(done.values());
    } finally { progress.stop(); }
    return 0;
  },
};

export const rm: ComposeCommand = {
  usage: '[OPTIONS] [SERVICE...]',
  description: 'Removes stopped service containers',
  flags: [
    boolFlag('force', 'f', "Don't ask to confirm removal"),
    boolFlag('stop', 's', 'Stop the containers, if required, before removing'),
    boolFlag('volumes', 'v', 'Remove any anonymous volumes attached to containers'),
  ],
  async run(cc, f, args) {
    const { project, name } = cc.projectOrName(args);
    checkServices(project, args);
    let list = await containersOf(cc, name, args);
    const progress = cc.progress('Running');
    const exec = new Executor(cc.client(), project ?? emptyProject(name), progress, { parallel: cc.parallel, dryRun: cc.dryRun, registryAuth: cc.registryAuth });
    try {
      if (f.stop) await exec.stopInOrder(list.filter(live), undefined);
      else list = list.filter((c) => !live(c));
      if (!list.length) { process.stderr.write('No stopped containers\n'); return 0; }
      if (!f.force) {
        process.stderr.write(`Going to remove ${list.map(nameOf).join(', ')}\n`);
        if (process.stdin.isTTY) {
          const { confirm } = require('../../cli/commands/common') as typeof import('../../cli/commands/common');
          if (!(await confirm('? Are you sure you want to remove them? (y/N) '))) return 0;
        }
      }
      await Promise.all(list.map((c) => exec.limit.run(() => exec.remove({ Id: c.Id, name: nameOf(c) }, { volumes: !!f.volumes, force: !!f.stop }))));
    } finally { progress.stop(); }
    return 0;
  },
};

export const wait: ComposeCommand = {
  usage: 'SERVICE [SERVICE...] [OPTIONS]',
  description: 'Block until containers of all (or specified) services stop.',
  flags: [boolFlag('down-project', undefined, 'Drops project when the first container stops')],
  args: { min: 1 },
  async run(cc, f, args) {
    const { project, name } = cc.projectOrName(args);
    checkServices(project, args);
    const list = await containersOf(cc, name, args);
    const client = cc.client();
    let code = 0;
    const first = await Promise.race(list.map(async (c) => ({ c, r: await client.containers.wait(c.Id) })));
    if (f['down-project']) {
      process.stdout.write(`${nameOf(first.c)} exited with code ${first.r.StatusCode}\n`);
      await down.run(cc, { volumes: false }, [], new Set());
      return first.r.StatusCode;
    }
    for (const c of list) {
      const r = await client.containers.wait(c.Id, 'not-running');
      process.stdout.write(`${nameOf(c)} exited with code ${r.StatusCode}\n`);
      code = r.StatusCode;
    }
    return code;
  },
};
