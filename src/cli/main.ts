// dray: the Docker-compatible client. Startup stays cheap: command modules are required only
// when their command runs (esbuild keeps them as lazily initialised modules in the bundle).
import { writeSync } from 'node:fs';
import { parseFlags, FlagError, FlagDef, formatFlagHelp, boolFlag, strFlag, listFlag } from './flags';
import type { Command, Ctx } from './command';
import { StatusError, UsageError } from './command';
import { lookupCommand, topLevelHelp, groupHelp, GROUPS } from './registry';
import { WARM_WORKER_ENV, WARM_AGENT_MARK } from '../lib/warm-cli';

declare const DRAY_BUILD: string | undefined;
/** process.stdout and process.stderr once made: Node makes each on first use (~1 ms for both on pipes here). */
const madeStdio: NodeJS.WriteStream[] = [];

/**
 * Calls `setup` on process.stdout and process.stderr when each is first used, not before: a
 * command that prints nothing (`run --rm` of a silent container) makes neither stream.
 */
function onStdioMade(setup: (s: NodeJS.WriteStream) => void): void {
  for (const name of ['stdout', 'stderr'] as const) {
    const d = Object.getOwnPropertyDescriptor(process, name);
    const made = (s: NodeJS.WriteStream) => { madeStdio.push(s); setup(s); return s; };
    if (!d?.get || !d.configurable) { made(process[name]); continue; }
    Object.defineProperty(process, name, {
      configurable: true,
      enumerable: d.enumerable,
      get() {
        const s = d.get!.call(process) as NodeJS.WriteStream;
        Object.defineProperty(process, name, { configurable: true, enumerable: d.enumerable, writable: false, value: s });
        return made(s);
      },
    });
  }
}

const VERSION = '0.1.0';

const globalFlags: FlagDef[] = [
  strFlag('config', undefined, 'Location of client config files'),
  strFlag('context', 'c', 'Name of the context to use to connect to the daemon'),
  boolFlag('debug', 'D', 'Enable debug mode'),
  listFlag('host', 'H', 'Daemon socket to connect to'),
  strFlag('log-level', 'l', 'Set the logging level ("debug", "info", "warn", "error", "fatal")', 'info'),
  boolFlag('tls', undefined, 'Use TLS; implied by --tlsverify'),
  strFlag('tlscacert', undefined, 'Trust certs signed only by this CA'),
  strFlag('tlscert', undefined, 'Path to TLS certificate file'),
  strFlag('tlskey', undefined, 'Path to TLS key file'),
  boolFlag('tlsverify', undefined, 'Use TLS and verify the remote'),
  boolFlag('version', 'v', 'Print version information and quit'),
];

function buildId(): string {
  try { return typeof DRAY_BUILD === 'string' ? DRAY_BUILD : 'dev'; } catch { return 'dev'; }
}

function printFlagError(path: string, cmd: Command | undefined, msg: string): void {
  const usage = cmd ? `${path} ${cmd.usage}` : `${path} [OPTIONS] COMMAND [ARG...]`;
  process.stderr.write(`${msg}\n\nUsage:  ${usage}\n\nRun '${path} --help' for more information\n`);
}

export function commandHelp(path: string, cmd: Command): string {
  let s = `Usage:  ${path} ${cmd.usage}\n\n${cmd.description}\n`;
  if (cmd.aliases?.length) s += `\nAliases:\n  ${cmd.aliases.join(', ')}\n`;
  s += `\nOptions:\n${formatFlagHelp(cmd.flags)}\n`;
  return s;
}

function checkArgs(path: string, cmd: Command, args: string[]): void {
  const r = cmd.args;
  if (!r) return;
  const plural = (n: number) => `${n} argument${n === 1 ? '' : 's'}`;
  if (r.exact !== undefined && args.length !== r.exact) {
    throw new UsageError(r.exact === 0 ? `'${path}' accepts no arguments` : `'${path}' requires ${r.exact === 1 ? '1 argument' : plural(r.exact)}`);
  }
  if (r.min !== undefined && args.length < r.min) throw new UsageError(`'${path}' requires at least ${plural(r.min)}`);
  if (r.max !== undefined && args.length > r.max) throw new UsageError(`'${path}' requires at most ${plural(r.max)}`);
}

async function main(argv: string[]): Promise<number> {
  // Global flags come before the command name.
  let i = 0;
  const gargv: string[] = [];
  while (i < argv.length && argv[i].startsWith('-') && argv[i] !== '-' && argv[i] !== '--') {
    const a = argv[i];
    gargv.push(a);
    const def = globalFlags.find((f) => a === `--${f.name}` || (f.short && a === `-${f.short}`));
    if (def && def.kind !== 'bool' && !a.includes('=')) { i++; if (i < argv.length) gargv.push(argv[i]); }
    i++;
  }
  if (argv[i] === '--') i++;
  let g;
  try { g = parseFlags(gargv, globalFlags); } catch (e) {
    if (e instanceof FlagError) { printFlagError('dray', undefined, e.message); return 125; }
    throw e;
  }
  // writeSync: touching process.stdout would load the stream machinery (a few ms) just to print a line.
  if (g.values.version) { writeSync(1, `Dray version ${VERSION}, build ${buildId()}\n`); return 0; }
  // A closed pipe (dray events | head) ends us quietly, as SIGPIPE ends the Go docker CLI.
  onStdioMade((s) => s.on('error', (e: any) => { if (e?.code === 'EPIPE') process.exit(141); throw e; }));
  const rest = argv.slice(i);
  if (g.help || rest.length === 0 || rest[0] === 'help' && rest.length === 1) { process.stdout.write(topLevelHelp()); return 0; }
  const hosts: string[] = g.values.host;
  if (hosts.length > 1) { process.stderr.write('Specify only one -H\n'); return 1; }
  const hostFlag = hosts[0];

  const found = lookupCommand(rest);
  if (!found) {
    const group = GROUPS[rest[0]] ? rest[0] : undefined;
    if (group && (rest.length === 1 || rest[1] === '--help' || rest[1] === '-h')) { process.stdout.write(groupHelp(group)); return 0; }
    if (group) {
      process.stderr.write(`dray: unknown command: dray ${group} ${rest[1]}\n\nUsage:  dray ${group}\n\nRun 'dray ${group} --help' for more information\n`);
      return 1;
    }
    if (rest[0] === 'help' && rest.length > 1) return main([...rest.slice(1), '--help']);
    process.stderr.write(`dray: unknown command: dray ${rest[0]}\n\nRun 'dray --help' for more information\n`);
    return 1;
  }
  const { cmd, path: words, consumed } = found;
  const path = `dray ${words.join(' ')}`;
  let parsed;
  try {
    parsed = parseFlags(rest.slice(consumed), cmd.flags, { interspersed: cmd.interspersed });
  } catch (e) {
    if (e instanceof FlagError) { printFlagError(path, cmd, e.message); return 125; }
    throw e;
  }
  if (parsed.help) { process.stdout.write(commandHelp(path, cmd)); return 0; }

  let client: import('../client').DockerClient | undefined;
  const ctx: Ctx = {
    client: () => {
      if (!client) {
        const { resolveHostAddress, tlsFrom } = require('../client/host') as typeof import('../client/host');
        let tls: import('../client/host').ClientTls | false;
        let host: string;
        try {
          tls = tlsFrom(g.values as import('../client/host').TlsSettings);
          host = resolveHostAddress(hostFlag, process.env, { context: g.values.context, config: g.values.config });
        } catch (e) { throw new StatusError(1, errorText(e)); }
        client = newClient(host, false, tls);
      }
      return client;
    },
    path,
    hostFlag,
    globals: g.values,
    get out() { return process.stdout; },
    get err() { return process.stderr; },
  };
  try {
    checkArgs(path, cmd, parsed.args);
    const code = await cmd.run(ctx, parsed.values, parsed.args, parsed.changed);
    return typeof code === 'number' ? code : 0;
  } catch (e: any) {
    return reportError(e, path, cmd);
  } finally {
    client?.close();
  }
}

/** Prints an error the way the docker CLI does and returns the exit status. */
function reportError(e: any, path: string, cmd: Command): number {
  if (e instanceof UsageError) {
    process.stderr.write(`dray: ${e.message}\n\nUsage:  ${path} ${cmd.usage}\n\n${e.message.includes('at least') ? 'See' : 'Run'} '${path} --help' for more information\n`);
    return 1;
  }
  if (e instanceof StatusError) {
    if (e.message) process.stderr.write(e.message.endsWith('\n') ? e.message : `${e.message}\n`);
    return e.status;
  }
  if (e instanceof FlagError) { printFlagError(path, cmd, e.message); return 125; }
  const name = e?.name;
  let msg: string;
  if (name === 'ApiError') msg = `Error response from daemon: ${e.message}`;
  else if (name === 'ConnectionError') msg = e.message;
  else if (name === 'StreamError') msg = e.message;
  else if (name === 'TemplateError') msg = e.message;
  else if (e instanceof Error) msg = process.env.DRAY_DEBUG ? (e.stack ?? e.message) : e.message;
  else msg = String(e);
  const status = cmd.errorStatus ?? 1;
  if (status === 125) {
    process.stderr.write(`dray: ${msg}\n\nRun '${path} --help' for more information\n`);
  } else process.stderr.write(`${msg}\n`);
  return status;
}

/**
 * Exits once stdout and stderr have flushed: writes to a non-blocking pipe (a parent that spawned us
 * with pipes, a slow reader) are queued, and process.exit() would drop what is still queued. A
 * write('') callback runs after everything written before it. Streams never touched are skipped
 * (creating process.stdout costs a few ms).
 */
export function exitWhenFlushed(code: number): void {
  process.exitCode = code;
  if (process.env.DRAY_NO_EXIT) return;
  const pending = madeStdio.filter((s) => !s.destroyed && s.writableLength > 0);
  if (!pending.length) { process.exit(code); return; }
  let left = pending.length;
  const done = () => { if (--left === 0) process.exit(code); };
  for (const s of pending) {
    s.once('error', done);
    s.write('', done);
  }
}

/**
 * The API client. `warmUp`: the waiting process's warm-up request, which drayd tells from the
 * User-Agent and does not count as the dray CLI in use (src/daemon/cli-pool.ts).
 */
function newClient(host: string, warmUp: boolean, tls: import('../client/host').ClientTls | false = false): import('../client').DockerClient {
  const { DockerClient } = require('../client') as typeof import('../client');
  const { DRAY_USER_AGENT } = require('../client/transport') as typeof import('../client/transport');
  return new DockerClient({ host, tls, userAgent: warmUp ? DRAY_USER_AGENT + WARM_AGENT_MARK : undefined });
}

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

function runCli(argv: string[]): void {
  main(argv).then(
    (code) => exitWhenFlushed(code),
    (e) => { process.stderr.write(`${e?.stack ?? e}\n`); exitWhenFlushed(1); },
  );
}

/**
 * What most commands initialise and run first, done by a waiting CLI process before its command:
 * their modules, and one request through the API client to drayd (`host`), since code that has
 * run once runs its next time several times faster (a warm `dray ps` spent 7.5 ms in its first
 * request, and drayd answers in under 2).
 */
async function preload(host: string | undefined): Promise<void> {
  for (const words of [['run'], ['ps'], ['exec'], ['logs'], ['images'], ['build'], ['rm'], ['stop'], ['inspect'], ['volume', 'ls'], ['network', 'ls']]) lookupCommand(words);
  require('../client');
  require('../client/host');
  // Loaded from node_modules when a build first needs it (build-context.ts): the spares have it
  // ready. Only a warm-up: a bundle without node_modules beside it (a copy of dist/) still serves
  // every other command, and a build says what is missing when it runs.
  try { (require('./build-context') as typeof import('./build-context')).tarStream(); } catch { /* loaded by the build, or its error */ }
  if (!host) return;
  // Marked as the waiting process's own: it must not wake a pool that has just gone to sleep.
  const client = newClient(host, true);
  try { await client.containers.list({ limit: 1 }); } catch { /* only a warm-up */ } finally { client.close(); }
}

if (process.env[WARM_WORKER_ENV]) {
  (require('./warm-worker') as typeof import('./warm-worker')).serve(runCli, preload)
    .catch((e) => { process.stderr.write(`${e?.stack ?? e}\n`); process.exit(1); });
}
else runCli(process.argv.slice(2));
