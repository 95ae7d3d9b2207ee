// build, pull, push and logs.
import { boolFlag, intFlag, listFlag, strFlag } from '../../cli/flags';
import { ComposeError } from '../errors';
import { Executor, daemonMessage } from '../executor';
import { imageName } from '../convert';
import { LogPrinter, streamLogs } from '../logs';
import { numberOf, nameOf, serviceOf } from '../observe';
import { selectServices } from '../planner';
import type { ComposeCommand } from './context';
import { containersOf } from './lifecycle';

export const build: ComposeCommand = {
  usage: '[OPTIONS] [SERVICE...]',
  description: 'Build or rebuild services',
  flags: [
    listFlag('build-arg', undefined, 'Set build-time variables for services', 'stringArray'),
    boolFlag('no-cache', undefined, 'Do not use cache when building the image'),
    boolFlag('pull', undefined, 'Always attempt to pull a newer version of the image'),
    boolFlag('quiet', 'q', "Don't print anything to STDOUT"),
    boolFlag('with-dependencies', undefined, 'Also build dependencies (transitively)'),
    boolFlag('push', undefined, 'Push service images'),
  ],
  async run(cc, f, args) {
    const p = cc.project(args);
    const names = selectServices(p, args, !f['with-dependencies'] && args.length > 0).filter((n) => p.services[n].build);
    const progress = cc.progress('Building');
    const exec = new Executor(cc.client(), p, progress, { parallel: cc.parallel, dryRun: cc.dryRun, registryAuth: cc.registryAuth, buildOut: process.stderr, quietBuild: !!f.quiet });
    try {
      for (const n of names) {
        const s = p.services[n];
        const args2: Record<string, string | null> = { ...(s.build!.args ?? {}) };
        for (const a of f['build-arg'] ?? []) {
          const eq = a.indexOf('=');
          if (eq < 0) args2[a] = cc.env[a] ?? null; else args2[a.slice(0, eq)] = a.slice(eq + 1);
        }
        await exec.build({ ...s, build: { ...s.build!, args: args2, no_cache: f['no-cache'] || s.build!.no_cache, pull: f.pull || s.build!.pull } });
        if (f.push && s.image) await pushOne(cc, exec, imageName(p, s));
      }
    } finally { progress.stop(); }
    return 0;
  },
};

export const pull: ComposeCommand = {
  usage: '[OPTIONS] [SERVICE...]',
  description: 'Pull service images',
  flags: [
    boolFlag('ignore-buildable', undefined, 'Ignore images that can be built'),
    boolFlag('ignore-pull-failures', undefined, 'Pull what it can and ignores images with pull failures'),
    boolFlag('include-deps', undefined, 'Also pull services declared as dependencies'),
    strFlag('policy', undefined, 'Apply pull policy ("missing"|"always")'),
    boolFlag('quiet', 'q', 'Pull without printing progress information'),
  ],
  async run(cc, f, args) {
    const p = cc.project(args);
    const names = selectServices(p, args, !f['include-deps']);
    const progress = cc.progress('Pulling');
    const exec = new Executor(cc.client(), p, progress, { parallel: cc.parallel, dryRun: cc.dryRun, registryAuth: cc.registryAuth });
    let have = new Set<string>();
    if (f.policy === 'missing') {
      const { imageIndex, normalizeRef } = require('../observe') as typeof import('../observe');
      const idx = imageIndex(await cc.client().images.list());
      have = new Set([...idx.keys()].map(normalizeRef));
    }
    try {
      const refs = new Map<string, string>();
      for (const n of names) {
        const s = p.services[n];
        if (!s.image) continue;
        if (s.build && f['ignore-buildable']) continue;
        if (have.size && have.has(require('../observe').normalizeRef(s.image))) continue;
        refs.set(s.image, n);
      }
      await Promise.all([...refs].map(([ref, n]) => exec.limit.run(async () => {
        try { await exec.pull(ref); } catch (e) {
          if (p.services[n].build) return;
          if (!f['ignore-pull-failures']) throw e;
          cc.warn(daemonMessage(e));
        }
      })));
    } finally { progress.stop(); }
    return 0;
  },
};

async function pushOne(_cc: unknown, exec: Executor, ref: string): Promise<void> {
  const id = `Image ${ref}`;
  exec.progress.event(id, 'Pushing');
  const at = ref.lastIndexOf(':');
  const hasTag = at > ref.lastIndexOf('/');
  try {
    const msgs = await exec.client.images.push(hasTag ? ref.slice(0, at) : ref, hasTag ? ref.slice(at + 1) : 'latest', exec.o.registryAuth?.(ref));
    for await (const _m of msgs) { /* only the result is shown */ }
  } catch (e: any) {
    exec.progress.fail(id, 'Error', e?.message ?? '');
    throw new ComposeError(daemonMessage(e));
  }
  exec.progress.done(id, 'Pushed');
}

export const push: ComposeCommand = {
  usage: '[OPTIONS] [SERVICE...]',
  description: 'Push service images',
  flags: [boolFlag('ignore-push-failures', undefined, 'Push what it can and ignores images with push failures'), boolFlag('include-deps', undefined, 'Also push images of services declared as dependencies'), boolFlag('quiet', 'q', 'Push without printing progress information')],
  async run(cc, f, args) {
    const p = cc.project(args);
    const names = selectServices(p, args, !f['include-deps']);
    const progress = cc.progress('Pushing');
    const exec = new Executor(cc.client(), p, progress, { parallel: cc.parallel, dryRun: cc.dryRun, registryAuth: cc.registryAuth });
    try {
      for (const n of names) {
        const s = p.services[n];
        if (!s.image) continue;
        try { await pushOne(cc, exec, s.image); } catch (e) {
          if (!f['ignore-push-failures']) throw e;
          cc.warn((e as Error).message);
        }
      }
    } finally { progress.stop(); }
    return 0;
  },
};

export const logs: ComposeCommand = {
  usage: '[OPTIONS] [SERVICE...]',
  description: 'View output from containers',
  flags: [
    boolFlag('follow', 'f', 'Follow log output'),
    intFlag('index', undefined, 'index of the container if service has multiple replicas'),
    boolFlag('no-color', undefined, 'Produce monochrome output'),
    boolFlag('no-log-prefix', undefined, "Don't print prefix in logs"),
    strFlag('since', undefined, 'Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)'),
    { ...strFlag('tail', 'n', 'Number of lines to show from the end of the logs for each container'), default: 'all' },
    boolFlag('timestamps', 't', 'Show timestamps'),
    strFlag('until', undefined, 'Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)'),
  ],
  async run(cc, f, args) {
    const { project, name } = cc.projectOrName(args);
    if (project) for (const s of args) if (!project.services[s] && !project.disabled[s]) throw new ComposeError(`no such service: ${s}`);
    let list = await containersOf(cc, name, args, { oneoff: false });
    if (f.index !== undefined) list = list.filter((c) => numberOf(c) === f.index);
    const printer = new LogPrinter({ color: cc.color(f['no-color']), prefix: !f['no-log-prefix'], out: process.stdout });
    const short = (c: Parameters<typeof nameOf>[0]) => nameOf(c).replace(`${name}-`, '');
    for (const c of list) printer.register(short(c as any), serviceOf(c));
    const client = cc.client();
    await Promise.all(list.map(async (c) => {
      const tty = project?.services[serviceOf(c)]?.tty ?? false;
      try {
        await streamLogs(client, c.Id, short(c as any), serviceOf(c), printer, { follow: !!f.follow, tail: f.tail, since: f.since, until: f.until, timestamps: f.timestamps, tty });
      } catch (e) { cc.warn(daemonMessage(e)); }
    }));
    return 0;
  },
};
