// What every dray compose command gets: the global options (-f, -p, --profile, --env-file,
// --project-directory, --progress, --parallel, --ansi), the project loaded from them, the API
// client, warnings as Docker Compose prints them, and the progress display.
import type { DockerClient } from '../../client';
import type { Ctx } from '../../cli/command';
import type { FlagDef, FlagValues } from '../../cli/flags';
import { ComposeError } from '../errors';
import { loadProject, LoadOptions, resolveFiles, normalizeProjectName } from '../loader';
import type { Project } from '../model';
import { Progress, ProgressMode } from '../progress';
import * as path from 'node:path';
import { authFor } from '../../cli/commands/pull-progress';
import { dryRunClient, DRY_RUN_PREFIX } from '../dry-run';

export interface ComposeCommand {
  usage: string;
  description: string;
  flags: FlagDef[];
  /** false: the first positional ends the flags (run, exec). */
  interspersed?: boolean;
  args?: { min?: number; max?: number };
  run(cc: ComposeContext, f: FlagValues, args: string[], changed: Set<string>): Promise<number | void>;
}

export class ComposeContext {
  readonly cwd = process.cwd();
  private warned = new Set<string>();

  constructor(readonly ctx: Ctx, readonly globals: FlagValues, readonly env: Record<string, string | undefined> = process.env) {}

  private dryClient?: DockerClient;

  /** --dry-run: every change the command makes is only pretended (dry-run.ts); one client, so what it pretends is remembered. */
  get dryRun(): boolean { return !!this.globals['dry-run']; }

  client(): DockerClient {
    if (!this.dryRun) return this.ctx.client();
    return this.dryClient ??= dryRunClient(this.ctx.client());
  }

  /** What `dray pull`/`push` send for a reference: the credentials stored for its registry (dray --config honoured). */
  registryAuth = (ref: string): string => authFor(ref, this.ctx.globals.config);

  /** "WARN[0000] …" on stderr, as Docker Compose's logger writes it; once per message. */
  warn = (msg: string): void => {
    if (this.warned.has(msg)) return;
    this.warned.add(msg);
    process.stderr.write(`WARN[0000] ${msg}\n`);
  };

  loadOptions(selected?: string[]): LoadOptions {
    const g = this.globals;
    return {
      cwd: this.cwd, env: this.env,
      files: g.file?.length ? g.file : undefined,
      projectName: g['project-name'] || undefined,
      projectDirectory: g['project-directory'] || undefined,
      envFiles: g['env-file']?.length ? g['env-file'] : undefined,
      profiles: g.profile?.length ? g.profile : undefined,
      selected, warn: this.warn,
    };
  }

  /** The project of the files; `selected` services are enabled whatever their profiles. */
  project(selected?: string[]): Project {
    return loadProject(this.loadOptions(selected));
  }

  /**
   * The project name for commands that can work from labels alone (ps, down, logs, stop…): from
   * -p or the environment when there is no file, else the files' project.
   */
  projectOrName(selected?: string[]): { project?: Project; name: string } {
    try {
      const p = this.project(selected);
      return { project: p, name: p.name };
    } catch (e) {
      const name = this.globals['project-name'] || this.env.COMPOSE_PROJECT_NAME;
      if (name && e instanceof ComposeError && /no configuration file provided|no such file or directory/.test(e.message)) return { name: normalizeProjectName(name) };
      throw e;
    }
  }

  /**
   * The project name when it is known before any file is read (-p, COMPOSE_PROJECT_NAME of the
   * environment: both win over the files' `name:` and `.env`), so that reading the engine's
   * state can go on beside the loading. A caller checks it against the loaded project's name.
   */
  earlyName(): string | undefined {
    return this.globals['project-name'] || this.env.COMPOSE_PROJECT_NAME || undefined;
  }

  /** The project name without loading a model (for `ls`-like uses). */
  projectName(): string {
    const g = this.globals;
    if (g['project-name']) return g['project-name'];
    if (this.env.COMPOSE_PROJECT_NAME) return this.env.COMPOSE_PROJECT_NAME;
    const r = resolveFiles(this.loadOptions());
    return normalizeProjectName(path.basename(r.workingDir));
  }

  progress(title = 'Running'): Progress {
    const mode = (this.globals.progress || (this.env.COMPOSE_PROGRESS ?? 'auto')) as ProgressMode;
    if (!['auto', 'tty', 'plain', 'quiet', 'json'].includes(mode)) throw new ComposeError(`unsupported --progress value ${JSON.stringify(mode)}`);
    const ansi = this.globals.ansi ?? 'auto';
    const m: ProgressMode = mode === 'auto' && ansi === 'never' ? 'plain' : mode === 'auto' && ansi === 'always' ? 'tty' : mode;
    // Whether fd 2 is a terminal, asked of the fd: in the warm CLI process.stderr may have been
    // made as a pipe before the command's own stderr (a terminal) took its place.
    const isTTY = (require('node:tty') as typeof import('node:tty')).isatty(2);
    return new Progress({ write: (s: string) => process.stderr.write(s), isTTY, get columns() { return process.stdout.columns ?? 80; } }, m, title, this.dryRun ? DRY_RUN_PREFIX : '');
  }

  get parallel(): number {
    const flag = this.globals.parallel;
    const p = typeof flag === 'number' && flag > 0 ? flag : Number(this.env.COMPOSE_PARALLEL_LIMIT ?? -1);
    return Number.isFinite(p) && p > 0 ? p : 16;
  }

  /** Colours for log prefixes: --ansi, NO_COLOR, and whether stdout is a terminal. */
  color(noColor = false): boolean {
    if (noColor || this.env.NO_COLOR) return false;
    const ansi = this.globals.ansi ?? 'auto';
    if (ansi === 'never') return false;
    if (ansi === 'always') return true;
    return !!process.stdout.isTTY;
  }
}
