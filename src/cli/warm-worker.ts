// A CLI process started before its command. drayd keeps one waiting (src/daemon/cli-pool.ts): it
// has paid Node.js's start-up and loaded the CLI, and blocks until the `dray` launcher
// (native/launch.c) hands it a command with the caller's stdio, working directory, umask and
// environment. It then becomes that command's process, runs it once, reports the exit status to
// the launcher and exits; drayd starts the next one meanwhile. Nothing of one command carries to
// another: each process serves one.
import { closeSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { nativeAddon, WarmJob } from '../lib/native';
import { WARM_HOST_ENV, WARM_LISTEN_FD, WARM_STATUS_FD, WARM_STALE_STATUS, WARM_READY, WARM_CLAIMED } from '../lib/warm-cli';

/**
 * Waits for one command and runs it with `run`. `preload` initialises what most commands use,
 * while nobody waits.
 */
export async function serveOne(run: (argv: string[]) => void, preload: (host: string | undefined) => Promise<void>): Promise<void> {
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
  sys.warmReady();
  // drayd makes the socket visible to launchers while a process is ready to answer.
  writeSync(WARM_STATUS_FD, WARM_READY);
  let job: WarmJob | { refused: true } | { quit: true };
  for (;;) {
    job = sys.warmAccept(WARM_LISTEN_FD, WARM_STATUS_FD, identity);
    // drayd said so, or is gone.
    if ('quit' in job) process.exit(0);
    if (!('refused' in job)) break;
    // The launcher is of another build: this one, if the bundle changed since it was loaded.
    let now = '';
    try { now = sys.warmIdentity(bundle); } catch { /* removed */ }
    if (now !== identity) process.exit(WARM_STALE_STATUS);
  }
  try { writeSync(WARM_STATUS_FD, WARM_CLAIMED); } catch { /* drayd gone: it starts no successor anyway */ }
  // Neither may reach what the command starts (dray daemon start, a build's helpers).
  closeSync(WARM_STATUS_FD);
  closeSync(WARM_LISTEN_FD);
  sys.warmClaim(job.fds);
  // Node caches the working directory; chdir('.') makes it read the new one.
  process.chdir('.');
  process.umask(job.umask);
  for (const k of Object.keys(process.env)) delete process.env[k];
  for (const kv of job.env) {
    const i = kv.indexOf('=');
    if (i > 0) process.env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  process.argv = [process.execPath, path.join(__dirname, 'dray.js'), ...job.argv];
  const conn = job.conn;
  // First among the exit listeners: the launcher, and whoever waits on it, need not wait for the
  // loader's code cache to be written.
  process.prependListener('exit', (code) => sys.warmReport(conn, code));
  run(job.argv);
}
