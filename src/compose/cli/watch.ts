// watch: brings the project up (as `up -d`), then follows each service's develop.watch rules:
//   sync          changed files are copied into the service's running containers (through the
//                 archive API), removed ones removed (an exec of rm)
//   restart       the containers are restarted
//   sync+restart  both; sync+exec: a sync, then the rule's exec hook in each container
//   rebuild       the image is built again and the service's containers recreated
// `ignore` patterns (.dockerignore syntax, relative to the rule's path) leave files out, as do .git
// and editors' swap files; changes are gathered for 200 ms before an action. Ctrl-C ends it.
import { promises as fsp, watch as fsWatch, FSWatcher, statSync } from 'node:fs';
import * as path from 'node:path';
import { boolFlag } from '../../cli/flags';
import { ComposeError } from '../errors';
import { Executor, daemonMessage, runHook, Hook } from '../executor';
import { observe, serviceOf } from '../observe';
import { planContainers } from '../planner';
import type { Project } from '../model';
import type { ComposeCommand, ComposeContext } from './context';
import { converge } from './up';

interface Rule { action: string; path: string; target?: string; ignore?: string | string[]; include?: string | string[]; initial_sync?: boolean; exec?: Hook }

const DEFAULT_IGNORES = ['.git', '**/.git', '**/*.swp', '**/*~', '**/.#*', '**/4913'];

/** Makes a tar of `files` (paths relative to `root`), each under `prefix` in the archive. */
async function tarOf(root: string, files: string[]): Promise<Buffer> {
  const ts = module.require('tar-stream') as typeof import('tar-stream');
  const pack = ts.pack();
  const chunks: Buffer[] = [];
  const done = (async () => { for await (const c of pack) chunks.push(c as Buffer); })();
  for (const rel of files) {
    const abs = path.join(root, rel);
    let st;
    try { st = await fsp.lstat(abs); } catch { continue; }
    const name = rel.split(path.sep).join('/');
    if (st.isDirectory()) pack.entry({ name: `${name}/`, type: 'directory', mode: st.mode & 0o7777, mtime: st.mtime });
    else if (st.isFile()) pack.entry({ name, mode: st.mode & 0o7777, mtime: st.mtime, size: st.size }, await fsp.readFile(abs));
    else if (st.isSymbolicLink()) pack.entry({ name, type: 'symlink', linkname: await fsp.readlink(abs), mtime: st.mtime });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Every file and directory under `dir`, relative, that the matcher keeps. */
async function walk(dir: string, keep: (rel: string) => boolean): Promise<string[]> {
  const out: string[] = [];
  const go = async (rel: string) => {
    for (const e of await fsp.readdir(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? path.join(rel, e.name) : e.name;
      if (!keep(r)) continue;
      out.push(r);
      if (e.isDirectory()) await go(r);
    }
  };
  await go('');
  return out;
}

export class Watcher {
  private watchers: FSWatcher[] = [];
  private timers = new Map<string, NodeJS.Timeout>();
  private pending = new Map<string, Set<string>>();
  private busy = Promise.resolve();

  constructor(private readonly cc: ComposeContext, private project: Project, private readonly exec: Executor) {}

  private matcher(rule: Rule): (rel: string) => boolean {
    const { IgnoreMatcher } = require('../../builder/dockerignore') as typeof import('../../builder/dockerignore');
    const list = (v: string | string[] | undefined) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
    const ignore = new IgnoreMatcher([...DEFAULT_IGNORES, ...list(rule.ignore)]);
    const include = list(rule.include).length ? new IgnoreMatcher(list(rule.include)) : undefined;
    return (rel: string) => {
      const r = rel.split(path.sep).join('/');
      if (ignore.matches(r)) return false;
      return !include || include.matches(r) || statSafe(rel) === 'dir';
    };
    function statSafe(rel: string) { try { return statSync(path.join(rule.path, rel)).isDirectory() ? 'dir' : 'file'; } catch { return 'none'; } }
  }

  private containers(service: string) {
    return observe(this.exec.client, this.project.name, { networks: false, volumes: false, images: false })
      .then((o) => o.containers.filter((c) => serviceOf(c) === service && c.State === 'running' && c.Labels?.['com.docker.compose.oneoff'] !== 'True'));
  }

  async start(services: string[]): Promise<void> {
    let count = 0;
    for (const name of services) {
      const rules = ((this.project.services[name].develop as { watch?: Rule[] } | undefined)?.watch ?? []);
      for (const [i, rule] of rules.entries()) {
        if (rule.action !== 'rebuild' && !rule.target) throw new ComposeError(`services.${name}.develop.watch: target is required for non-rebuild actions`);
        if (rule.action === 'rebuild' && !this.project.services[name].build) throw new ComposeError(`service "${name}" has a rebuild watch rule but no build section`);
        const keep = this.matcher(rule);
        const key = `${name}#${i}`;
        if (rule.initial_sync && rule.action.startsWith('sync')) await this.sync(name, rule, await walk(rule.path, keep));
        let isDir = true;
        try { isDir = statSync(rule.path).isDirectory(); } catch { throw new ComposeError(`services.${name}.develop.watch: ${rule.path}: no such file or directory`); }
        const w = fsWatch(rule.path, { recursive: isDir }, (_ev, file) => {
          const rel = isDir ? String(file ?? '') : path.basename(rule.path);
          if (isDir && (!rel || !keep(rel))) return;
          (this.pending.get(key) ?? this.pending.set(key, new Set()).get(key)!).add(rel);
          clearTimeout(this.timers.get(key));
          this.timers.set(key, setTimeout(() => this.fire(name, rule, key), 200));
        });
        this.watchers.push(w);
        count++;
      }
    }
    if (!count) throw new ComposeError('none of the selected services is configured for watch, consider setting a \'develop\' section');
    process.stdout.write('Watch enabled\n');
  }

  private fire(name: string, rule: Rule, key: string): void {
    const files = [...(this.pending.get(key) ?? [])];
    this.pending.delete(key);
    this.busy = this.busy.then(() => this.act(name, rule, files)).catch((e) => { process.stderr.write(`${daemonMessage(e)}\n`); });
  }

  private async act(name: string, rule: Rule, files: string[]): Promise<void> {
    if (rule.action === 'rebuild') {
      process.stdout.write(`Rebuilding service(s) ["${name}"] after changes were detected...\n`);
      await this.exec.build(this.project.services[name]);
      await this.exec.refreshImages();
      const obs = await observe(this.exec.client, this.project.name);
      obs.images = this.exec.imagesNow();
      const plan = planContainers(this.project, obs, [name], { services: [name] });
      await this.exec.converge(plan, { warn: this.cc.warn, selection: new Set([name]) });
      this.exec.progress.stop();
      process.stdout.write(`service(s) ["${name}"] successfully built\n`);
      return;
    }
    if (rule.action.startsWith('sync')) {
      process.stdout.write(`Syncing service "${name}" after ${files.length} changes were detected\n`);
      await this.sync(name, rule, files);
    }
    if (rule.action === 'restart' || rule.action === 'sync+restart') {
      process.stdout.write(`Restarting service "${name}" after changes were detected\n`);
      for (const c of await this.containers(name)) await this.exec.client.containers.restart(c.Id);
    }
    if (rule.action === 'sync+exec' && rule.exec) for (const c of await this.containers(name)) await runHook(this.exec.client, c.Id, rule.exec);
  }

  private async sync(name: string, rule: Rule, files: string[]): Promise<void> {
    const isDir = statSync(rule.path, { throwIfNoEntry: false })?.isDirectory() ?? true;
    const root = isDir ? rule.path : path.dirname(rule.path);
    const present: string[] = [];
    const gone: string[] = [];
    for (const f of files) (statSync(path.join(root, f), { throwIfNoEntry: false }) ? present : gone).push(f);
    const targetDir = isDir ? rule.target! : path.posix.dirname(rule.target!);
    const tar = present.length ? await tarOf(root, present) : undefined;
    for (const c of await this.containers(name)) {
      if (tar) {
        // The target directory may not exist yet: made first, by an exec (as docker compose does).
        const mk = await this.exec.client.exec.create(c.Id, { Cmd: ['mkdir', '-p', targetDir] });
        await this.exec.client.exec.startDetached(mk.Id);
        for (let i = 0; i < 100 && (await this.exec.client.exec.inspect(mk.Id)).Running; i++) await new Promise((r) => setTimeout(r, 10));
        await this.exec.client.containers.putArchive(c.Id, targetDir, tar);
      }
      if (gone.length) {
        const rm = await this.exec.client.exec.create(c.Id, { Cmd: ['rm', '-rf', ...gone.map((g) => path.posix.join(targetDir, g.split(path.sep).join('/')))] });
        await this.exec.client.exec.startDetached(rm.Id);
      }
    }
  }

  stop(): void {
    for (const w of this.watchers) w.close();
    for (const t of this.timers.values()) clearTimeout(t);
  }

  idle(): Promise<void> { return this.busy; }
}

/** The services named, or every service with develop.watch rules. */
export const watchedServices = (project: Project, args: string[]): string[] =>
  (args.length ? args : Object.keys(project.services)).filter((n) => (project.services[n].develop as { watch?: unknown[] } | undefined)?.watch?.length);

export const watch: ComposeCommand = {
  usage: '[SERVICE...]',
  description: 'Watch build context for service and rebuild/refresh containers when files are updated',
  flags: [boolFlag('no-up', undefined, 'Do not build & start services before watching'), boolFlag('prune', undefined, 'Prune dangling images on rebuild', true), boolFlag('quiet', undefined, 'hide build output')],
  async run(cc, f, args) {
    let project: Project;
    let exec: Executor;
    if (f['no-up']) {
      project = cc.project(args);
      exec = new Executor(cc.client(), project, cc.progress(), { parallel: cc.parallel, dryRun: cc.dryRun, registryAuth: cc.registryAuth, buildOut: process.stderr });
    } else {
      const r = await converge(cc, {}, args);
      project = r.project;
      exec = r.exec;
    }
    const names = watchedServices(project, args);
    const w = new Watcher(cc, project, exec);
    await w.start(names);
    await new Promise<void>((resolve) => {
      const end = () => { process.off('SIGINT', end); process.off('SIGTERM', end); resolve(); };
      process.on('SIGINT', end);
      process.on('SIGTERM', end);
    });
    w.stop();
    await w.idle();
    return 0;
  },
};
