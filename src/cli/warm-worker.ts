// A CLI process started before its commands. drayd keeps one waiting (src/daemon/cli-pool.ts): it
// has paid Node.js's start-up and loaded the CLI, and from then on only forks (native/warm.c): its
// spare child waits until the `dray` launcher (native/launch.c) hands it a command with the
// caller's stdio, working directory, umask and environment, becomes that command's process, runs
// it once, reports the exit status to the launcher and exits, while the next spare is forked.
// Nothing of one command carries to another: each starts from the same loaded, never-used state.
import { writeSync } from 'node:fs';
import * as path from 'node:path';
import { getHeapCodeStatistics } from 'node:v8';
import { isatty, WriteStream } from 'node:tty';
import { nativeAddon, WarmJob } from '../lib/native';
import { WARM_HOST_ENV, WARM_LISTEN_FD, WARM_STATUS_FD, WARM_STALE_STATUS, WARM_READY } from '../lib/warm-cli';

/**
 * Serves commands, each in a process of its own that runs it with `run`. `preload` initialises
 * what most commands use, while nobody waits.
 */
export async function serve(run: (argv: string[]) => void, preload: (host: string | undefined) => Promise<void>): Promise<void> {
  const sys = nativeAddon();
  if (!sys) process.exit(1);
  // The bundle the loader ran (dist/dray-main.js): a launcher of another build is turned away.
  const bundle = path.join(__dirname, 'dray-main.js');
  const identity = sys.warmIdentity(bundle);
  await preload(process.env[WARM_HOST_ENV]);
  // drayd starts this process with --expose-gc. Loading and the warm-up leave garbage that the
  // command would otherwise pay to collect (a warm `dray ps` of 50 spent 1.3–5 ms in the collector);
  // collected now, while nobody waits, the command starts with an empty young generation.
  (globalThis as { gc?: () => void }).gc?.();
  // Single-threaded, V8 leaves the collection's sweeping to be done later, on this thread: in every
  // command, at its first collection (17% of a `dray ps`'s CPU). Heap code statistics make V8
  // finish it (it must walk a swept heap), here, once.
  getHeapCodeStatistics();
  // drayd makes the socket visible to launchers now: one that comes while no spare is ready yet
  // waits in the socket's backlog (for ~40 ms at most here) rather than start Node.js itself.
  writeSync(WARM_STATUS_FD, WARM_READY);
  const forked = sys.warmServe(WARM_STATUS_FD);
  // The zygote's own end: drayd said so, or is gone; a rebuild made it out of date; its spares die.
  if ('quit' in forked) process.exit(0);
  if ('stale' in forked) process.exit(WARM_STALE_STATUS);
  if ('failed' in forked) {
    writeSync(2, 'spare CLI processes keep dying before they take a command\n');
    process.exit(1);
  }
  // A spare. Before it waits it runs the warm-up request again, through its own event loop, at the
  // zygote's nice 19: what a fork's first command otherwise paid once, first allocations and first
  // request included (a `dray --version` took 6.5 ms from go to status without it, 2.2 with it).
  await preload(process.env[WARM_HOST_ENV]);
  const job = sys.warmTake(WARM_LISTEN_FD, forked.spare, identity, bundle);
  // From here on, a spare that took a command (the zygote's sockets are closed in it). Node set
  // process.pid at start-up: it would name the zygote.
  Object.defineProperty(process, 'pid', { value: job.pid, enumerable: true, configurable: true, writable: false });
  const conn = job.conn;
  // Node's own exit would hang in a forked process (warm.c, warmExit). First among the exit listeners,
  // this one reports the status (the launcher, and whoever waits on it, need not wait for the
  // rest), runs the others, then ends the process. 'exit' comes on process.exit(), at the loop's
  // natural end and after an uncaught exception alike.
  const last = (code: number): never => sys.warmExit(typeof process.exitCode === 'number' ? process.exitCode : code);
  const first = (code: number) => {
    sys.warmReport(conn, code);
    for (const l of process.listeners('exit')) {
      if (l === first) continue;
      try { l.call(process, code); } catch (e) { try { writeSync(2, `${(e as Error)?.stack ?? e}\n`); } catch { /* stderr gone */ } }
    }
    last(code);
  };
  process.prependListener('exit', first);
  // process.exit() ends in this (undocumented, and what Node's own exit path calls after 'exit').
  (process as unknown as { reallyExit: (code: number) => never }).reallyExit = last;
  sys.warmClaim(job.fds);
  // process.stderr was made before the fork, on the zygote's stderr (a pipe to drayd): it writes to
  // fd 2, which is now the caller's, but it would tell a terminal for a pipe. A stderr that is a
  // terminal gets a stream that says so (progress bars and TTY-only messages look at it).
  if (isatty(2) && !process.stderr.isTTY) {
    Object.defineProperty(process, 'stderr', { configurable: true, enumerable: true, writable: false, value: new WriteStream(2) });
  }
  // Node caches the working directory; chdir('.') makes it read the new one.
  process.chdir('.');
  process.umask(job.umask);
  for (const k of Object.keys(process.env)) delete process.env[k];
  for (const kv of job.env) {
    const i = kv.indexOf('=');
    if (i > 0) process.env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  process.argv = [process.execPath, path.join(__dirname, 'dray.js'), ...job.argv];
  run(job.argv);
}

