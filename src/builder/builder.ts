// The legacy builder: runs a parsed Dockerfile stage by stage. Each step starts from the previous
// step's image and commits a new one: RUN in a real container, COPY/ADD/WORKDIR by writing into a
// mounted rootfs, everything else as a metadata-only image (history `empty_layer`). Steps are
// looked up in the build cache first. Output is the legacy builder's text; api/build.ts frames it.
// Tags are set only after the last step succeeded, so a failed build never moves a tag.
import type { BuildStep } from './history';
import type { SshAgents } from './ssh-agents';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import { AsyncLocalStorage } from 'node:async_hooks';
import type { ContainerConfig, Image } from '../engine/types';
import { hostArch } from '../engine/images';
import { lexWords, parseKeyValues, parsePortSpecs } from '../engine/changes';
import { invalid, isKind, notImplemented, systemError, errorMessage } from '../lib/errors';
import { PlainCounter, PlainStage, plainVertex } from './progress-plain';
import { shortId } from '../lib/ids';
import { renameSameFs } from '../lib/atomic';
import { resolveUser } from '../runtime/user';
import { resolveInRoot } from '../lib/root-path';
import { Dockerfile, Instruction, Stage, parseDockerfile, parseArgDecls, flagValue, parseDuration } from './dockerfile';
import { BuildContext } from './context';
import { BuildCache, CacheProbe } from './cache';
import { resolveSources, hashSources, copyInto, SourceItem, SourceTree, DiskTree, parseChmod, ChmodSpec } from './copy';
import { download, parseChecksum, urlFileName } from './remote';
import { isGitUrl, parseGitUrl, resolveCommit, fetchCommit } from './git-source';
import { IgnoreMatcher } from './dockerignore';
import { BuilderBackend, createStepContainer, removeContainer, runToExit, withImageRootfs, pruneMountTargets } from './workers';
import { cleanPath } from './dockerignore';
import { RunMount, parseRunMount, parseRunNetwork } from './run-options';
import { MountPlan, MountDeps, planMounts, acquireMounts, lineError } from './run-mounts';
import type { CacheMounts } from './cache-mounts';
import type { BuildSecrets } from './secrets';
import type { NamedContext } from './named-contexts';
import { DistributionService } from '../engine/distribution';
import { resolveReference } from '../registry/remote/resolve';
import type { AuthConfig } from '../registry/remote/credentials';
import { monotonicMs } from '../lib/clock';
import { log } from '../lib/log';

export interface BuildOptions {
  tags: string[];
  buildArgs: Record<string, string | null>;
  labels: Record<string, string>;
  networkMode: string;
  noCache: boolean;
  pull: boolean;
  rm: boolean;
  forceRm: boolean;
  target?: string;
  platform?: string;
  explainCache: boolean;
  /** X-Registry-Config: credentials per registry for FROM images to pull. */
  registryAuth?: Record<string, AuthConfig>;
  /** 'plain': BuildKit's plain progress lines instead of the legacy builder's text (progress-plain.ts). */
  progress?: 'plain';
  /** --add-host entries ("name:ip") for every RUN step's /etc/hosts. */
  extraHosts?: string[];
  /** --build-context: names that are no stage of the Dockerfile resolve to these (named-contexts.ts). */
  namedContexts?: Map<string, NamedContext>;
}

/** What builds share beyond the step cache: cache mounts, and this build's secrets. */
export interface BuilderServices {
  cacheMounts: CacheMounts;
  secrets?: BuildSecrets;
  /** dray build --ssh: the forwarded agents (run-mounts.ts). */
  ssh?: SshAgents;
}

export interface BuildOutput {
  /** Text for `{"stream": …}` lines. */
  stream(text: string): void;
  /** Docker's progress objects of a pull (FROM an image not here), as /images/create sends them. */
  progress?(m: object): void;
  signal: AbortSignal;
}

/** Args every build knows without an ARG line; kept out of history and cache keys (as Docker). */
const PROXY_ARGS = ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy'];
const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const DEFAULT_SHELL = ['/bin/sh', '-c'];

interface StageState {
  stage: Stage;
  image?: Image;
  config: ContainerConfig;
  author?: string;
  /** ARGs declared in this stage, with their values (undefined: declared without a value). */
  args: Map<string, string | undefined>;
  /** CMD was set in this stage: a later ENTRYPOINT keeps it. */
  cmdSet: boolean;
  /** The step now running: found in the cache; or why it was not (--explain-cache). */
  hit?: boolean;
  missReason?: string;
}

/** Go's %q of a []string, as the legacy builder writes CMD/ENTRYPOINT into history. */
const goList = (l: string[]) => `[${l.map((s) => JSON.stringify(s)).join(' ')}]`;

export class Builder {
  private step = 0;
  private total = 0;
  /** Each step as it ended, in that order (stages side by side interleave): the build's record. */
  readonly stepLog: BuildStep[] = [];
  private stageImages = new Map<number, Image | undefined>();
  private globalArgs = new Map<string, string | undefined>();
  private usedArgs = new Set<string>();
  private df?: Dockerfile;

  constructor(private be: BuilderBackend, private cache: BuildCache, private ctx: BuildContext, private o: BuildOptions, private out: BuildOutput, private services: BuilderServices) {}

  /** Text of the stage running in this async context (its own sink), else straight to the client. */
  private say(s: string) { const c = stageRun.getStore(); if (c) c.sink.write({ text: s }); else this.out.stream(s); }
  /**
   * say() bound to the stage running now, for callbacks that other async contexts call (a
   * container's output arrives on a socket made elsewhere).
   */
  private sayer(): (s: string) => void {
    const c = stageRun.getStore();
    return c ? (t) => c.sink.write({ text: t }) : (t) => this.out.stream(t);
  }
  private progresser(): (m: object) => void {
    const c = stageRun.getStore();
    return c ? (m) => c.sink.write({ progress: m }) : (m) => this.out.progress?.(m);
  }
  /** Ends the running stage's work: the client went away, or an earlier-listed stage failed. */
  private get signal(): AbortSignal { return stageRun.getStore()?.signal ?? this.out.signal; }
  private stageTasks = new Map<number, StageTask>();
  private running = 0;
  private limit = 1;
  private needed: Stage[] = [];
  private firstStep = new Map<number, number>();
  private plain?: PlainCounter;

  /**
   * Builds, and ends with nothing of the build's still in flight: the step containers being
   * removed are waited for, and the cache entries it stored are written (once, not per step).
   */
  async build(): Promise<Image> {
    let built = false;
    try {
      const img = await this.buildStages();
      built = true;
      return img;
    } finally {
      await Promise.all(this.removals);
      // A cache that cannot be written fails a build that worked, as a step's store did; after a
      // failure the build's own error is the one to report.
      if (built) await this.cache.flush();
      else await this.cache.flush().catch((e) => log.warn('build cache not written', { error: errorMessage(e) }));
    }
  }

  /** Step containers being removed: a step's next step need not wait for it (build() does). */
  private removals: Promise<void>[] = [];
  private removeLater(id: string): void { this.removals.push(removeContainer(this.be, id)); }

  private async buildStages(): Promise<Image> {
    if (this.o.progress === 'plain') {
      this.plain = new PlainCounter();
      this.out.stream(plainVertex(this.plain, `[internal] load build definition from ${this.ctx.dockerfileName}`, [`transferring dockerfile: ${Buffer.byteLength(this.ctx.dockerfile)}B done`]));
      this.out.stream(plainVertex(this.plain, '[internal] load build context', ['transferring context: done']));
    }
    const df = parseDockerfile(this.ctx.dockerfile, this.ctx.dockerfileName);
    this.df = df;
    checkPlatform(this.o.platform);
    for (const ins of df.globalArgs) {
      for (const [k, def] of parseArgDecls(ins)) {
        this.usedArgs.add(k);
        const env = this.argEnv(this.globalArgs);
        this.globalArgs.set(k, this.o.buildArgs[k] ?? (def === undefined ? undefined : expand(def, env)));
      }
    }
    const target = this.targetStage(df);
    if (Object.keys(this.o.labels).length) {
      const text = 'LABEL ' + Object.entries(this.o.labels).sort().map(([k, v]) => `${JSON.stringify(k)}=${JSON.stringify(v)}`).join(' ');
      target.instructions = [...target.instructions, { cmd: 'label', original: text, line: 0, flags: [], args: text.slice(6), heredocs: [] }];
    }
    const needed = neededStages(df, target, this.argEnv(this.globalArgs));
    this.needed = needed;
    let n = 0;
    for (const s of needed) { this.firstStep.set(s.index, n); n += 1 + s.instructions.length; }
    this.total = n;
    const last = await this.runStages(needed);
    if (!last) throw invalid('No image was generated. Is your Dockerfile empty?');
    const unused = Object.keys(this.o.buildArgs).filter((k) => !this.usedArgs.has(k) && !PROXY_ARGS.includes(k)).sort();
    if (unused.length) this.say(`[Warning] One or more build-args [${unused.join(' ')}] were not consumed\n`);
    return last;
  }

  /**
   * Runs the stages, independent ones side by side (as many as the host has cores): a stage
   * starts once the stage it is FROM (if any) is built; one it copies or mounts from is waited
   * for at that step (waitForStage), so its steps before that run beside it. The output
   * is what a one-at-a-time build prints: each stage's text is held until the stages listed
   * before it are done, then the stage at the head streams live. A failure is reported as a
   * one-at-a-time build would report it: the stages listed before the failed one finish, the
   * ones after it are stopped, and the first failure in file order is the build's error.
   */
  private async runStages(needed: Stage[]): Promise<Image | undefined> {
    this.limit = Math.max(1, os.availableParallelism());
    let last: Image | undefined;
    try {
      this.pump();
      for (const s of needed) {
        const t = this.startStage(s);
        if (!this.plain) t.sink.goLive((e) => ('text' in e ? this.out.stream(e.text) : this.out.progress?.(e.progress)));
        last = await t.done;
      }
      return last;
    } finally {
      // After a failure: stop what still runs and wait for it, so nothing is left behind.
      for (const t of this.stageTasks.values()) t.abort.abort();
      await Promise.allSettled([...this.stageTasks.values()].map((t) => t.done));
    }
  }

  /** The stage's task, started now if it was not (a stage the build waits for is never queued). */
  private startStage(s: Stage): StageTask {
    const have = this.stageTasks.get(s.index);
    if (have) return have;
    const abort = new AbortController();
    const onClient = () => abort.abort();
    this.out.signal.addEventListener('abort', onClient, { once: true });
    const sink = new StageSink();
    // Plain progress numbers every line by its step: each stage's lines go out as they come.
    const plain = this.plain ? new PlainStage((t) => this.out.stream(t), this.plain, this.needed.length > 1 ? (s.name ?? `stage-${s.index}`) : '', 1 + s.instructions.length) : undefined;
    if (plain) sink.goLive((e) => ('text' in e ? plain.write(e.text) : this.out.progress?.(e.progress)));
    this.running++;
    const task: StageTask = { stage: s, sink, abort, finished: false, done: undefined as unknown as Promise<Image | undefined> };
    task.done = stageRun.run({ sink, signal: abort.signal, stage: s.index, step: this.firstStep.get(s.index) ?? 0 }, () => this.runStage(s))
      .then((img) => { this.stageImages.set(s.index, img); plain?.close(); return img; })
      .catch((e) => {
        plain?.close(errorMessage(e), abort.signal.aborted && !this.out.signal.aborted);
        // Stages listed after a failed one would never be shown: stop them.
        const pos = this.needed.indexOf(s);
        for (const t of this.stageTasks.values()) if (this.needed.indexOf(t.stage) > pos) t.abort.abort();
        throw e;
      })
      .finally(() => {
        task.finished = true;
        this.running--;
        this.out.signal.removeEventListener('abort', onClient);
        this.pump();
      });
    // A rejection is awaited by the main loop (or settled at the end): never unhandled.
    task.done.catch(() => {});
    this.stageTasks.set(s.index, task);
    return task;
  }

  /** Starts, in file order, the stages whose dependencies are built, while cores are free. */
  private pump(): void {
    for (const s of this.needed) {
      if (this.running >= this.limit) return;
      if (this.stageTasks.has(s.index)) continue;
      const base = baseStage(this.df!, s, this.argEnv(this.globalArgs));
      const t = base === undefined ? undefined : this.stageTasks.get(base);
      const ready = base === undefined || (!!t?.finished && this.stageImages.has(base));
      if (ready && !this.out.signal.aborted && ![...this.stageTasks.values()].some((t) => t.abort.signal.aborted)) this.startStage(s);
    }
  }

  /** The image of every stage built (dray build --cache-to mode=max). */
  builtStages(): string[] {
    return [...this.stageImages.values()].filter((i): i is Image => !!i).map((i) => i.id);
  }

  /** Plain progress: the closing step, as BuildKit's exporter prints it. */
  plainExport(imageId: string, tags: string[]): string {
    if (!this.plain) return '';
    const full = (t: string) => (t.split('/').length === 1 ? `docker.io/library/${t}` : /^[^/]*[.:]|^localhost\//.test(t) ? t : `docker.io/${t}`);
    return plainVertex(this.plain, 'exporting to image', ['exporting layers done', `writing image ${imageId} done`, ...tags.map((t) => `naming to ${full(t)} done`)]);
  }

  private targetStage(df: Dockerfile): Stage {
    if (!this.o.target) return df.stages[df.stages.length - 1];
    const t = this.o.target.toLowerCase();
    const s = df.stages.find((x) => x.name === t);
    if (!s) throw invalid(`failed to reach build target ${this.o.target} in Dockerfile`);
    return s;
  }

  private argEnv(args: Map<string, string | undefined>): string[] {
    return [...args].filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`);
  }

  /** Variables for substitution: ARG values, then ENV (ENV wins). */
  private subEnv(st: StageState): string[] {
    return [...this.argEnv(st.args), ...(st.config.Env ?? [])];
  }

  // ---- stages ------------------------------------------------------------------------------

  private async runStage(stage: Stage): Promise<Image | undefined> {
    this.say(`Step ${this.nextStep()}/${this.total} : ${stage.from.original}\n`);
    const genv = this.argEnv(this.globalArgs);
    const baseName = expand(stage.base, genv);
    if (!baseName) throw invalid(`base name (${stage.base}) should not be blank`);
    checkPlatform(stage.platform ? expand(stage.platform, genv) : undefined);
    let image: Image | undefined;
    const byStage = this.stageRef(baseName, stage.index);
    const named = byStage === undefined ? this.namedContext(baseName) : undefined;
    if (named?.kind === 'dir') throw notImplemented(`FROM ${baseName}: a local directory build context as a base is not implemented in Dray (COPY --from=${baseName} and RUN --mount=from=${baseName} take it)`);
    if (byStage !== undefined) image = this.stageImages.get(byStage);
    else if (baseName.toLowerCase() !== 'scratch') image = await this.baseImage(baseName);
    if (image) this.say(` ---> ${shortId(image.id)}\n`);
    const config: ContainerConfig = image?.config.config ? JSON.parse(JSON.stringify(image.config.config)) : {};
    if (!(config.Env ?? []).some((e) => e.startsWith('PATH='))) config.Env = [...(config.Env ?? []), DEFAULT_PATH];
    delete config.Image;
    config.OpenStdin = false;
    config.StdinOnce = false;
    const st: StageState = { stage, image, config, args: new Map(), cmdSet: false };
    const triggers = config.OnBuild ?? [];
    if (triggers.length) {
      this.say(`# Executing ${triggers.length} build trigger${triggers.length > 1 ? 's' : ''}\n`);
      config.OnBuild = null;
      for (const t of triggers) {
        const parsed = parseDockerfile(`FROM scratch\n${t}\n`).stages[0].instructions[0];
        await this.dispatch(st, parsed);
      }
    }
    for (const ins of stage.instructions) {
      this.say(`Step ${this.nextStep()}/${this.total} : ${ins.original}\n`);
      st.hit = false;
      st.missReason = undefined;
      const t0 = monotonicMs();
      let failed = true;
      try {
        await this.dispatch(st, ins);
        failed = false;
      } finally {
        this.stepLog.push({
          stage: stage.name ?? String(stage.index), instruction: ins.original, cached: st.hit, ms: Math.round(monotonicMs() - t0),
          ...(failed ? { failed } : {}), ...(st.missReason ? { missReason: st.missReason } : {}),
        });
      }
    }
    // A stage with no step of its own is its base image (or nothing, for an empty scratch stage).
    return st.image;
  }

  private nextStep(): number {
    const c = stageRun.getStore();
    if (c) return ++c.step;
    return ++this.step;
  }

  /** The --build-context named `name`, when no stage has that name. */
  private namedContext(name: string): NamedContext | undefined {
    return this.o.namedContexts?.get(name);
  }

  private async baseImage(name: string): Promise<Image> {
    // A named context of an image stands for that image wherever the name is used.
    const named = this.namedContext(name);
    if (named?.kind === 'image') name = named.ref;
    try {
      return await this.be.images.resolve(name);
    } catch (e) {
      if (!isKind(e, 'NotFound')) throw e;
      // The legacy builder pulls a missing base image, its progress in the build's stream.
      const creds = DistributionService.credsFromConfigMap(this.o.registryAuth ?? {}, resolveReference(name).registry);
      return this.be.distribution.pull(name, { platform: this.o.platform, creds, progress: this.progresser() });
    }
  }

  // ---- steps -------------------------------------------------------------------------------

  private async dispatch(st: StageState, ins: Instruction): Promise<void> {
    if (this.signal.aborted) throw systemError('build cancelled: the client went away');
    switch (ins.cmd) {
      case 'run': return this.run(st, ins);
      case 'copy': case 'add': return this.copy(st, ins);
      case 'workdir': return this.workdir(st, ins);
      case 'arg': return this.arg(st, ins);
      default: return this.metadata(st, ins);
    }
  }

  private shell(st: StageState): string[] {
    return st.config.Shell && st.config.Shell.length ? st.config.Shell : DEFAULT_SHELL;
  }

  private nop(st: StageState, comment: string, twoSpaces = true): string {
    return `${this.shell(st).join(' ')} #(nop) ${twoSpaces ? ' ' : ''}${comment}`;
  }

  /** Cache lookup; on a hit the step is done. */
  private async fromCache(st: StageState, probe: CacheProbe, what: string): Promise<boolean> {
    if (this.o.noCache) return false;
    const hit = await this.cache.lookup(probe);
    if (hit) {
      st.image = await this.be.images.resolve(hit);
      st.config = JSON.parse(JSON.stringify(st.image.config.config ?? {}));
      st.hit = true;
      this.say(' ---> Using cache\n');
      this.say(` ---> ${shortId(hit)}\n`);
      return true;
    }
    if (this.o.explainCache) this.say(` ---> Cache miss: ${st.missReason = await this.cache.explain(probe, what)}\n`);
    return false;
  }

  private async committed(st: StageState, probe: CacheProbe, image: Image): Promise<void> {
    st.image = image;
    await this.cache.store(probe, image.id);
    this.say(` ---> ${shortId(image.id)}\n`);
  }

  private probe(st: StageState, text: string, extra: Partial<CacheProbe> = {}): CacheProbe {
    return { parent: st.image?.id ?? '', text, ...extra };
  }

  private commitConfig(st: StageState): ContainerConfig {
    return JSON.parse(JSON.stringify(st.config));
  }

  /** Metadata-only steps: the config changes, the image gets an empty-layer history entry. */
  private async metadata(st: StageState, ins: Instruction): Promise<void> {
    const env = this.subEnv(st);
    const c = st.config;
    let comment: string;
    switch (ins.cmd) {
      case 'cmd':
        c.Cmd = ins.json ?? [...this.shell(st), ins.args];
        st.cmdSet = true;
        comment = `CMD ${goList(c.Cmd)}`;
        break;
      case 'entrypoint':
        c.Entrypoint = ins.json ?? (ins.args === '' ? null : [...this.shell(st), ins.args]);
        if (!st.cmdSet) c.Cmd = null;
        comment = `ENTRYPOINT ${goList(c.Entrypoint ?? [])}`;
        break;
      case 'env': {
        const list = [...(c.Env ?? [])];
        const pairs = parseKeyValues('env', ins.args, env);
        for (const [k, v] of pairs) {
          const i = list.findIndex((e) => e === k || e.startsWith(k + '='));
          if (i >= 0) list[i] = `${k}=${v}`; else list.push(`${k}=${v}`);
        }
        c.Env = list;
        comment = 'ENV ' + pairs.map(([k, v]) => `${k}=${v}`).join(' ');
        break;
      }
      case 'label': {
        const pairs = parseKeyValues('label', ins.args, env);
        c.Labels = { ...(c.Labels ?? {}) };
        for (const [k, v] of pairs) c.Labels[k] = v;
        comment = 'LABEL ' + pairs.map(([k, v]) => `${k}=${v}`).join(' ');
        break;
      }
      case 'expose': {
        const words = lexWords(ins.args, env);
        c.ExposedPorts = { ...(c.ExposedPorts ?? {}) };
        for (const p of parsePortSpecs(words)) c.ExposedPorts[p] = {};
        comment = `EXPOSE ${words.join(' ')}`;
        break;
      }
      case 'volume': {
        const list = (ins.json ?? lexWords(ins.args, env)).map((v) => (ins.json ? expand(v, env) : v));
        c.Volumes = { ...(c.Volumes ?? {}) };
        for (const v of list) {
          if (!v.trim()) throw invalid('VOLUME specified can not be an empty string');
          c.Volumes[v] = {};
        }
        comment = `VOLUME [${list.join(' ')}]`;
        break;
      }
      case 'user':
        c.User = expand(ins.args, env);
        comment = `USER ${c.User}`;
        break;
      case 'stopsignal':
        c.StopSignal = expand(ins.args, env);
        comment = `STOPSIGNAL ${c.StopSignal}`;
        break;
      case 'maintainer':
        st.author = ins.args;
        comment = `MAINTAINER ${ins.args}`;
        break;
      case 'shell':
        c.Shell = ins.json!;
        comment = `SHELL [${ins.json!.join(' ')}]`;
        break;
      case 'onbuild':
        c.OnBuild = [...(c.OnBuild ?? []), ins.args];
        comment = `ONBUILD ${ins.args}`;
        break;
      case 'healthcheck': {
        c.Healthcheck = healthcheck(ins);
        comment = `HEALTHCHECK &{${goList(c.Healthcheck.Test ?? [])} "${dur(c.Healthcheck.Interval)}" "${dur(c.Healthcheck.Timeout)}" "${dur(c.Healthcheck.StartPeriod)}" "0s" '\\x0${c.Healthcheck.Retries ?? 0}'}`;
        break;
      }
      default:
        throw invalid(`dockerfile parse error on line ${ins.line}: unknown instruction: ${ins.cmd.toUpperCase()}`);
    }
    await this.commitMeta(st, this.nop(st, comment));
  }

  private async commitMeta(st: StageState, createdBy: string): Promise<void> {
    const probe = this.probe(st, `${createdBy}\n${JSON.stringify(st.config)}`);
    const config = this.commitConfig(st);
    if (await this.fromCache(st, probe, 'metadata')) return;
    const img = await this.be.images.commit({ upperDir: '', emptyLayer: true, parent: st.image, config, createdBy, author: st.author });
    await this.committed(st, probe, img);
  }

  private async arg(st: StageState, ins: Instruction): Promise<void> {
    const env = this.subEnv(st);
    const parts: string[] = [];
    for (const [k, def] of parseArgDecls(ins)) {
      this.usedArgs.add(k);
      let v: string | undefined = this.o.buildArgs[k] ?? undefined;
      if (v === undefined) v = def !== undefined ? expand(def, env) : this.globalArgs.get(k);
      st.args.set(k, v);
      parts.push(def !== undefined ? `${k}=${def}` : k);
    }
    // The value a build arg gets is part of the key: `ARG v` with another --build-arg misses.
    await this.commitMetaArgs(st, this.nop(st, `ARG ${parts.join(' ')}`));
  }

  private async commitMetaArgs(st: StageState, createdBy: string): Promise<void> {
    const probe = this.probe(st, `${createdBy}\n${JSON.stringify(st.config)}\n${JSON.stringify(this.argEnv(st.args))}`);
    if (await this.fromCache(st, probe, 'ARG')) return;
    const img = await this.be.images.commit({ upperDir: '', emptyLayer: true, parent: st.image, config: this.commitConfig(st), createdBy, author: st.author });
    await this.committed(st, probe, img);
  }

  /** Build args a RUN sees: declared ARGs with values not overridden by ENV, plus proxy args. */
  private runArgs(st: StageState): { history: string[]; env: string[] } {
    const envKeys = new Set((st.config.Env ?? []).map((e) => e.split('=')[0]));
    const history = [...st.args].filter(([k, v]) => v !== undefined && !envKeys.has(k)).map(([k, v]) => `${k}=${v}`).sort();
    const proxies = PROXY_ARGS.filter((k) => typeof this.o.buildArgs[k] === 'string' && !envKeys.has(k)).map((k) => `${k}=${this.o.buildArgs[k]}`);
    return { history, env: [...history, ...proxies] };
  }

  private async run(st: StageState, ins: Instruction): Promise<void> {
    let argv: string[];
    /** `RUN <<EOF` whose script starts with #!: run as a file, by its interpreter (BuildKit's way). */
    let shebang: { name: string; content: string } | undefined;
    if (ins.json) argv = ins.json;
    else {
      let script = ins.args;
      const only = /^<<-?(["']?)([A-Za-z_][A-Za-z0-9_.-]*)\1$/.exec(script.trim());
      if (only && ins.heredocs.length === 1) {
        script = ins.heredocs[0].content;
        if (script.startsWith('#!')) shebang = { name: ins.heredocs[0].name, content: script };
      } else for (const h of ins.heredocs) script += `\n${h.content}${h.name}`;
      argv = [...this.shell(st), script];
    }
    const { history, env } = this.runArgs(st);
    // History and key keep the shell form; a shebang script runs from /dev/pipes/<name>.
    const createdBy = (history.length ? `|${history.length} ${history.join(' ')} ` : '') + argv.join(' ');
    if (shebang) argv = [`/dev/pipes/${shebang.name}`];
    // BuildKit's flags: their values expand with the step's ARGs and ENV.
    const subEnv = this.subEnv(st);
    let network = this.o.networkMode;
    let networkText = '';
    const mounts: RunMount[] = [];
    let plan: MountPlan | undefined;
    const deps = this.mountDeps();
    try {
      for (const f of ins.flags) {
        const v = expand(f.value ?? '', subEnv);
        if (f.name === 'mount') mounts.push(parseRunMount(f.value ?? '', (x) => expand(x, subEnv)));
        else if (f.name === 'network') {
          const n = parseRunNetwork(v);
          network = n === 'default' ? this.o.networkMode : n;
          networkText = `\nnetwork=${n}`;
        } else if (f.name === 'security' && v.toLowerCase() !== 'sandbox') {
          throw notImplemented(`RUN --security=${v} is not implemented in Dray (steps run unprivileged)`);
        }
      }
      if (mounts.length) plan = await planMounts(mounts, st.config.WorkingDir || '/', deps);
    } catch (e) {
      throw lineError(ins, e);
    }
    const probe = this.probe(st, `RUN ${createdBy}\n${JSON.stringify(st.config)}${networkText}${plan?.keyText ?? ''}`);
    if (await this.fromCache(st, probe, 'RUN')) return;
    if (!st.image) st.image = await this.emptyBase(st);
    this.ctx.beforeMount();
    const acquired = plan ? await acquireMounts(plan, deps, argv.join(' ')).catch((e) => { throw lineError(ins, e); }) : undefined;
    let id: string | undefined;
    let ok = false;
    let scriptDir: string | undefined;
    try {
      const stepMounts = [...(acquired?.mounts ?? [])];
      if (shebang) {
        scriptDir = await fsp.mkdtemp(path.join(this.ctx.scratch, 'script-'));
        const file = path.join(scriptDir, shebang.name);
        await fsp.writeFile(file, shebang.content, { mode: 0o755 });
        stepMounts.push({ Type: 'bind', Source: file, Target: `/dev/pipes/${shebang.name}`, ReadOnly: true, BindOptions: { Propagation: 'rprivate' } });
      }
      const runConfig = { ...st.config, Env: [...(st.config.Env ?? []), ...env] };
      id = await createStepContainer(this.be, st.image, runConfig, argv, network, { mounts: stepMounts, tmpfs: acquired?.tmpfs, ephemeralEnv: acquired?.env, extraHosts: this.o.extraHosts });
      this.say(` ---> Running in ${shortId(id)}\n`);
      const code = await runToExit(this.be, id, this.sayer(), this.signal);
      if (this.signal.aborted) throw systemError('build cancelled: the client went away');
      if (code !== 0) throw new StepFailed(`The command '${argv.join(' ')}' returned a non-zero code: ${code}`);
      await pruneMountTargets(this.be, id, st.image, acquired?.targets);
      const img = await this.be.images.commit({ upperDir: this.be.containers.fs.upper(id), parent: st.image, config: this.commitConfig(st), containerId: id, createdBy, author: st.author,
        // A container kept (rm=0) keeps its changes: the layer is then a copy.
        adoptUpper: this.o.rm || acquired?.secret ? this.adoptStepUpper(id) : undefined });
      ok = true;
      // A step that saw a secret never stays behind: its in-memory environment would be lost anyway.
      if (this.o.rm || acquired?.secret) { this.removeLater(id); this.say(`Removing intermediate container ${shortId(id)}\n`); }
      await this.committed(st, probe, img);
    } finally {
      // Dray removes a failed step's container unless rm=0 (Docker keeps it without --force-rm):
      // a failed build leaves nothing behind.
      if (id && !ok && (this.o.rm || this.o.forceRm || acquired?.secret)) await removeContainer(this.be, id);
      await acquired?.release();
      if (scriptDir) await fsp.rm(scriptDir, { recursive: true, force: true });
    }
  }

  private mountDeps(): MountDeps {
    return {
      be: this.be, ctx: this.ctx, cacheMounts: this.services.cacheMounts, secrets: this.services.secrets, ssh: this.services.ssh, signal: this.signal,
      resolveFrom: (name) => this.copySourceImage(name),
      namedDir: (name) => { const n = this.stageRef(name, Number.MAX_SAFE_INTEGER) === undefined ? this.namedContext(name) : undefined; return n?.kind === 'dir' ? n.ctx : undefined; },
    };
  }

  /** FROM scratch has no image to run or mount: an empty one stands in. */
  private async emptyBase(st: StageState): Promise<Image> {
    return this.be.images.commit({ upperDir: '', emptyLayer: true, config: this.commitConfig(st), createdBy: this.nop(st, 'FROM scratch', false) });
  }

  private async workdir(st: StageState, ins: Instruction): Promise<void> {
    const w = expand(ins.args, this.subEnv(st));
    st.config.WorkingDir = cleanPath(w.startsWith('/') ? w : `${st.config.WorkingDir || '/'}/${w}`);
    const dir = st.config.WorkingDir;
    const createdBy = this.nop(st, `WORKDIR ${dir}`, false);
    const probe = this.probe(st, `${createdBy}\n${JSON.stringify(st.config)}`);
    if (await this.fromCache(st, probe, 'WORKDIR')) return;
    const config = this.commitConfig(st);
    const img = await this.inLayer(st, createdBy, async (rootfs) => {
      const host = await resolveInRoot(rootfs, dir);
      if (await fsp.stat(host).then((s) => s.isDirectory(), () => false)) return false;
      // resolveInRoot followed every existing link in scope; what is missing is created plainly.
      await fsp.mkdir(host, { recursive: true, mode: 0o755 });
      return true;
    }, config);
    await this.committed(st, probe, img);
  }

  /**
   * Runs `fn` on a writable rootfs of the current image and commits what it wrote as a layer
   * (or, when `fn` returns false, an empty-layer image).
   */
  private async inLayer(st: StageState, createdBy: string, fn: (rootfs: string) => Promise<boolean>, config: ContainerConfig): Promise<Image> {
    if (!st.image) {
      const upper = await fsp.mkdtemp(path.join(this.ctx.scratch, 'layer-'));
      try {
        const wrote = await fn(upper);
        return await this.be.images.commit({ upperDir: upper, emptyLayer: !wrote, config, createdBy, author: st.author, adoptUpper: (dest) => renameSameFs(upper, dest) });
      } finally {
        await fsp.rm(upper, { recursive: true, force: true });
      }
    }
    const image = st.image;
    this.ctx.beforeMount();
    // Nothing runs: a writable view of the image, no container. Its owners are the layer's own
    // (no userns-remap shift), so its upper is the layer as it is.
    const view = await this.be.images.openScratch(image);
    try {
      let wrote: boolean;
      try { wrote = await fn(view.rootfs); } finally { await view.unmount(); }
      return await this.be.images.commit({ upperDir: view.upper, emptyLayer: !wrote, parent: image, config, createdBy, author: st.author, adoptUpper: (dest) => renameSameFs(view.upper, dest) });
    } finally {
      await view.close();
    }
  }

  /**
   * A step container's changes become its layer as they are (no copy): only for a container
   * removed right after the commit, never mounted or started again.
   */
  private adoptStepUpper(id: string): (dest: string) => Promise<boolean> {
    return (dest) => this.be.containers.fs.takeUpper(id, dest);
  }

  private async copy(st: StageState, ins: Instruction): Promise<void> {
    const what = ins.cmd.toUpperCase();
    const env = this.subEnv(st);
    const words = ins.json ? ins.json.map((w) => expand(w, env)) : lexWords(ins.args, env);
    const dest0 = words[words.length - 1];
    const srcs = words.slice(0, -1);
    const slash = dest0.endsWith('/');
    let dest = dest0.startsWith('/') ? dest0 : `${st.config.WorkingDir || '/'}/${dest0}`;
    dest = cleanPath(dest) + (slash && cleanPath(dest) !== '/' ? '/' : '');
    const from = flagValue(ins, 'from');
    const chown = flagValue(ins, 'chown');
    const chmodFlag = flagValue(ins, 'chmod');
    const boolFlag = (name: string) => { const v = flagValue(ins, name); return v !== undefined && v !== 'false'; };
    const link = boolFlag('link');
    const parents = boolFlag('parents');
    const excludes = ins.flags.filter((f) => f.name === 'exclude').map((f) => expand(f.value ?? '', env)).filter(Boolean);
    const exclude = excludes.length ? new IgnoreMatcher(excludes) : undefined;
    const checksumFlag = flagValue(ins, 'checksum');
    let mode: ChmodSpec | undefined;
    let checksum: { algorithm: string; hex: string } | undefined;
    try {
      if (chmodFlag !== undefined) mode = parseChmod(expand(chmodFlag, env));
      if (checksumFlag !== undefined) {
        checksum = parseChecksum(expand(checksumFlag, env));
        if (srcs.length !== 1) throw invalid("checksum can't be specified for multiple sources");
        if (isGitUrl(srcs[0])) throw notImplemented('ADD --checksum of a git repository is not implemented in Dray');
        if (!isHttpUrl(srcs[0])) throw invalid("checksum can't be specified for non-HTTP(S) sources");
      }
    } catch (e) { throw lineError(ins, e); }
    if (parents && !dest.endsWith('/')) dest += '/';
    // --parents keeps each source's path under the destination: from the context root, or from a
    // "/./" pivot in the source.
    const destRelFor = (src: string, rel: string): string | undefined => {
      if (!parents) return undefined;
      const pivot = src.lastIndexOf('/./');
      const prefix = pivot < 0 ? '' : cleanPath('/' + src.slice(0, pivot)).slice(1);
      const r = rel === '.' ? '' : rel;
      return prefix && (r === prefix || r.startsWith(prefix + '/')) ? r.slice(prefix.length + 1) : r;
    };
    // Heredoc sources and downloads become files in the scratch area.
    const gitSrc = what === 'ADD' && from === undefined && srcs.some(isGitUrl);
    const tmpDir = ins.heredocs.length || srcs.some(isHttpUrl) || gitSrc ? await fsp.mkdtemp(path.join(this.ctx.scratch, 'sources-')) : undefined;
    try {
      for (const h of ins.heredocs) await fsp.writeFile(path.join(tmpDir!, h.name), h.content, { mode: 0o644 });
      const heredocSrcs = new Set(ins.heredocs.map((h) => h.name));
      const tmpTree = tmpDir ? new DiskTree(tmpDir) : undefined;
      const gather = async (tree: SourceTree, fromContext: boolean): Promise<SourceItem[]> => {
        const items: SourceItem[] = [];
        for (const s of srcs) {
          const hd = /^<<-?["']?([A-Za-z_][A-Za-z0-9_.-]*)["']?$/.exec(s);
          let got: SourceItem[];
          if (hd && heredocSrcs.has(hd[1])) got = await resolveSources(tmpTree!, [hd[1]], { what, fromContext: true });
          else if (what === 'ADD' && isHttpUrl(s)) {
            const dl = await download(s, tmpDir!, { checksum, signal: this.signal }).catch((e) => { throw lineError(ins, e); });
            got = await resolveSources(tmpTree!, [dl.name], { what, fromContext: true });
            // As Docker: a URL's file goes into a directory destination under its own name.
          } else got = await resolveSources(tree, [s], { what, fromContext });
          for (const it of got) { it.exclude = exclude; it.destRel = destRelFor(s, it.rel); }
          items.push(...got.filter((it) => !exclude || it.st.isDirectory() || !exclude.matches(it.rel)));
        }
        if (!items.length) throw invalid(`${what} failed: no source files were specified`);
        return items;
      };
      const flagsText = [chown ?? '', mode?.text ?? '', excludes.join('\0'), parents ? 'parents' : ''].join('\n');
      const owner = async (rootfs: string | undefined) => {
        if (!chown) return { uid: 0, gid: 0 };
        if (rootfs) return chownIds(rootfs, chown);
        // --link copies into an empty directory: names are looked up in the image below.
        if (/^\d+(:\d+)?$/.test(chown) || !st.image) return chownIds(this.ctx.scratch, chown);
        return withImageRootfs(this.be, st.image, (r) => chownIds(r, chown));
      };
      /**
       * `load` gathers the sources (downloads included); `pre` is a key known without them (ADD
       * of a URL with --checksum), so a cached step downloads nothing.
       */
      const doCopy = async (load: () => Promise<SourceItem[]>, fromDesc: string, pre?: { digest: string; files: Record<string, string>; names: string }) => {
        let items: SourceItem[] | undefined;
        let key = pre;
        if (!key) {
          items = await load();
          key = { ...(await hashSources(items)), names: items.map((it) => it.rel).join('\0') };
        }
        const { digest, files } = key;
        const createdBy = this.nop(st, `${what} ${digest} in ${dest} `, false);
        // A repository's files are copied as they are: an archive in it stays an archive.
        const copyOpts = (o: { uid: number; gid: number }) => ({ uid: o.uid, gid: o.gid, mode, extractArchives: what === 'ADD' && !gitSrc, keepOwners: chown ? false : undefined, scratch: this.ctx.scratch, what });
        const config = this.commitConfig(st);
        // The names the sources have are part of the key (a file's name is its name in the image).
        const base = `${fromDesc}in ${dest}\n${flagsText}\nsources: ${key.names}`;
        if (link) {
          await this.linkedCopy(st, `${what} --link ${base}`, digest, files, createdBy, async (dir) => copyInto(dir, items ?? (items = await load()), dest, copyOpts(await owner(undefined))));
          return;
        }
        // The text leaves the hash out so that a miss can tell "sources changed" from "instruction changed".
        const text = `${what} ${base}\n${JSON.stringify(st.config)}`;
        const probe = this.probe(st, text, { sourceHash: digest, sources: files });
        if (await this.fromCache(st, probe, what)) return;
        const img = await this.inLayer(st, createdBy, async (rootfs) => {
          await copyInto(rootfs, items ?? (items = await load()), dest, copyOpts(await owner(rootfs)));
          return true;
        }, config);
        await this.committed(st, probe, img);
      };
      if (gitSrc) {
        if (srcs.length !== 1) throw lineError(ins, invalid('ADD of a git repository takes that one source'));
        const keep = boolFlag('keep-git-dir');
        const g = await (async () => { const p = parseGitUrl(srcs[0]); return { p, commit: await resolveCommit(p) }; })().catch((e) => { throw lineError(ins, e); });
        const load = async () => {
          const dir = await fetchCommit(g.p, g.commit, path.join(tmpDir!, 'git'), keep).catch((e) => { throw lineError(ins, e); });
          const items = await resolveSources(new DiskTree(dir), ['.'], { what, fromContext: true });
          for (const it of items) { it.exclude = exclude; it.destRel = destRelFor('.', it.rel); }
          return items;
        };
        // The commit is the content: a cached step clones nothing.
        await doCopy(load, '', { digest: `git:${g.commit}:${g.p.subdir}:${keep ? 'keep-git-dir' : ''}`, files: { [g.p.url]: g.commit }, names: `${g.p.url}#${g.p.subdir}` });
        return;
      }
      if (from === undefined && checksum) {
        const name = urlFileName(srcs[0]);
        const d = `${checksum.algorithm}:${checksum.hex}`;
        await doCopy(() => gather(this.ctx.tree, true), '', { digest: `url:${d}`, files: { [name]: d }, names: name });
        return;
      }
      if (from === undefined) {
        await doCopy(() => gather(this.ctx.tree, true), '');
        return;
      }
      if (what === 'ADD') throw invalid('ADD does not support --from');
      const fromName = expand(from, env);
      const namedDir = this.stageRef(fromName, Number.MAX_SAFE_INTEGER) === undefined ? this.namedContext(fromName) : undefined;
      if (namedDir?.kind === 'dir') {
        await doCopy(() => gather(namedDir.ctx.tree, true), `from context ${fromName} `);
        return;
      }
      const src = await this.copySourceImage(fromName);
      if (!src) throw invalid(`${what} --from=${fromName}: the stage is empty (FROM scratch with no steps)`);
      // A read-only view (no upper to sync at its unmount): the spool's writeback can wait for inLayer.
      await withImageRootfs(this.be, src, async (rootfs) => doCopy(() => gather(new DiskTree(rootfs), false), `from ${shortId(src.id)} `));
    } finally {
      if (tmpDir) await fsp.rm(tmpDir, { recursive: true, force: true });
    }
  }

  /**
   * COPY --link: the files are copied into an empty directory, not over the image, so the layer
   * is the same whatever lies below; its cache key leaves the parent out. A hit made on another
   * base reuses that layer as it is: a new image of this parent plus that layer, nothing copied.
   */
  private async linkedCopy(st: StageState, text: string, digest: string, files: Record<string, string>, createdBy: string, fill: (dir: string) => Promise<void>): Promise<void> {
    const probe: CacheProbe = { parent: '', text, sourceHash: digest, sources: files };
    const config = this.commitConfig(st);
    const hit = this.o.noCache ? undefined : await this.cache.lookup(probe);
    if (hit) {
      const prev = await this.be.images.resolve(hit);
      const layer = prev.config.rootfs.diff_ids[prev.config.rootfs.diff_ids.length - 1];
      let img: Image;
      if (prev.parent === (st.image?.id ?? '') && JSON.stringify(prev.config.config) === JSON.stringify(config)) img = prev;
      else img = await this.be.images.commit({ upperDir: '', layer, parent: st.image, config, createdBy, author: st.author });
      st.image = img;
      st.config = JSON.parse(JSON.stringify(img.config.config ?? {}));
      st.hit = true;
      this.say(' ---> Using cache\n');
      this.say(` ---> ${shortId(img.id)}\n`);
      return;
    }
    if (this.o.explainCache) this.say(` ---> Cache miss: ${st.missReason = await this.cache.explain(probe, 'COPY --link')}\n`);
    const dir = await fsp.mkdtemp(path.join(this.ctx.scratch, 'link-'));
    try {
      await fill(dir);
      const img = await this.be.images.commit({ upperDir: dir, parent: st.image, config, createdBy, author: st.author, adoptUpper: (dest) => renameSameFs(dir, dest) });
      await this.committed(st, probe, img);
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  }

  private async copySourceImage(name: string): Promise<Image | undefined> {
    const ref = this.stageRef(name, Number.MAX_SAFE_INTEGER);
    if (ref === undefined) return this.baseImage(name);
    // An earlier stage still being built (or, named through an ARG, not started yet) is waited for.
    const cur = stageRun.getStore()?.stage;
    if (!this.stageImages.has(ref) && cur !== undefined && ref < cur) {
      const s = this.needed.find((x) => x.index === ref);
      if (s) await this.waitForStage(s);
    }
    if (!this.stageImages.has(ref)) throw invalid(`${name}: --from names a stage that was not built (stage references through ARGs are not followed)`);
    return this.stageImages.get(ref);
  }

  /**
   * Waits for stage `s` (started now if it was not): the waiting stage gives its core up
   * meanwhile, so a stage that copies from one still running does not keep a third from starting.
   */
  private async waitForStage(s: Stage): Promise<void> {
    const t = this.startStage(s);
    if (t.finished) { await t.done; return; }
    this.running--;
    this.pump();
    try { await t.done; } finally { this.running++; }
  }

  /** The index of an earlier stage named (or numbered) `name`. */
  private stageRef(name: string, before: number): number | undefined {
    const l = name.toLowerCase();
    return this.df?.stages.find((s) => s.index < before && (s.name === l || String(s.index) === name))?.index;
  }
}

/** What a stage's work sees of its own: its output sink, its signal, its step counter. */
interface StageRun { sink: StageSink; signal: AbortSignal; stage: number; step: number }
const stageRun = new AsyncLocalStorage<StageRun>();

interface StageTask { stage: Stage; sink: StageSink; abort: AbortController; finished: boolean; done: Promise<Image | undefined> }

type SinkEntry = { text: string } | { progress: object };

/** A stage's output: held until the stage is the first unfinished one, then passed on as it comes. */
class StageSink {
  private held: SinkEntry[] = [];
  private emit?: (e: SinkEntry) => void;
  write(e: SinkEntry): void { if (this.emit) this.emit(e); else this.held.push(e); }
  goLive(emit: (e: SinkEntry) => void): void {
    for (const e of this.held) emit(e);
    this.held = [];
    this.emit = emit;
  }
}

/**
 * The stages `s` names directly: its base, COPY --from and RUN --mount from. A name with a
 * variable is looked up as the global ARGs (`globalEnv`) make it: `FROM ${BASE}` may name a stage.
 */
export function stageDeps(df: Dockerfile, s: Stage, globalEnv: string[] = []): number[] {
  const byName = (ref: string) => earlierStage(df, s, ref.includes('$') ? expand(ref, globalEnv) : ref);
  const out = new Set<number>();
  const b = byName(s.base);
  if (b !== undefined) out.add(b);
  for (const ins of s.instructions) {
    const refs: string[] = [];
    if (ins.cmd === 'copy') { const f = flagValue(ins, 'from'); if (f !== undefined) refs.push(f); }
    if (ins.cmd === 'run') {
      for (const fl of ins.flags) {
        if (fl.name !== 'mount' || !fl.value) continue;
        try { const m = parseRunMount(fl.value); if (m.from) refs.push(m.from); } catch { /* reported when the step runs */ }
      }
    }
    for (const r of refs) { const d = byName(r); if (d !== undefined) out.add(d); }
  }
  return [...out];
}

/** The earlier stage `ref` names (or numbers), as `s` sees it (before substitution). */
function earlierStage(df: Dockerfile, s: Stage, ref: string): number | undefined {
  const l = ref.toLowerCase();
  return df.stages.find((x) => x.index < s.index && (x.name === l || String(x.index) === ref))?.index;
}

/** The stage `s` is FROM, if it is FROM a stage (its name as the global ARGs make it). */
export function baseStage(df: Dockerfile, s: Stage, globalEnv: string[] = []): number | undefined {
  return earlierStage(df, s, s.base.includes('$') ? expand(s.base, globalEnv) : s.base);
}

/** A RUN that exited non-zero: the message is the whole error, as Docker prints it. */
export class StepFailed extends Error {}

/**
 * --chown=user[:group] against the image's own passwd/group. Without a group, BuildKit's rule:
 * the user's primary group (a numeric uid unknown to passwd gets gid = uid).
 */
async function chownIds(rootfs: string, spec: string): Promise<{ uid: number; gid: number }> {
  if (spec.split(':').length > 2) throw invalid(`invalid chown string format: ${spec}`);
  const r = await resolveUser(rootfs, spec);
  if (!spec.includes(':') && /^\d+$/.test(spec) && r.gid === 0) return { uid: r.uid, gid: r.uid };
  return { uid: r.uid, gid: r.gid };
}

const isHttpUrl = (s: string) => /^https?:\/\//i.test(s);

function expand(s: string, env: string[]): string {
  return lexWords(s, env, true)[0] ?? '';
}

function dur(ns?: number): string {
  if (!ns) return '0s';
  return `${ns / 1e9}s`;
}

function healthcheck(ins: Instruction): NonNullable<ContainerConfig['Healthcheck']> {
  const words = ins.args.split(/\s+/);
  if (words[0].toUpperCase() === 'NONE') return { Test: ['NONE'] };
  const rest = ins.args.replace(/^\S+\s*/, '');
  let json: string[] | undefined;
  if (rest.startsWith('[')) { try { const v = JSON.parse(rest); if (Array.isArray(v)) json = v; } catch { /* shell form */ } }
  const hc: NonNullable<ContainerConfig['Healthcheck']> = { Test: json ? ['CMD', ...json] : ['CMD-SHELL', rest] };
  const d = (n: string) => { const v = flagValue(ins, n); return v === undefined ? undefined : parseDuration(v); };
  const interval = d('interval'); if (interval !== undefined) hc.Interval = interval;
  const timeout = d('timeout'); if (timeout !== undefined) hc.Timeout = timeout;
  const start = d('start-period'); if (start !== undefined) hc.StartPeriod = start;
  const retries = flagValue(ins, 'retries');
  if (retries !== undefined) {
    if (!/^\d+$/.test(retries)) throw invalid(`invalid retries value: ${retries}`);
    hc.Retries = Number(retries);
  }
  return hc;
}

function checkPlatform(p: string | undefined): void {
  if (!p) return;
  const [os, arch] = p.toLowerCase().split('/');
  if (os !== 'linux' || (arch && arch !== hostArch())) throw notImplemented(`building for platform ${p} is not implemented: Dray builds for linux/${hostArch()} only`);
}

/** The stages `target` depends on (FROM <stage>, COPY --from, RUN --mount from), in file order, and itself. */
export function neededStages(df: Dockerfile, target: Stage, globalEnv: string[] = []): Stage[] {
  const need = new Set<number>();
  const visit = (s: Stage, depth: number) => {
    if (need.has(s.index) || depth > df.stages.length) return;
    need.add(s.index);
    for (const d of stageDeps(df, s, globalEnv)) visit(df.stages[d], depth + 1);
  };
  visit(target, 0);
  return df.stages.filter((s) => need.has(s.index));
}
