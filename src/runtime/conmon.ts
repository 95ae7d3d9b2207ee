// conmon is the per-container monitor (HOST-STACK.md): it runs `<runtime> create` (or exec), holds
// stdio and the TTY, writes the k8s-file log and the exit code, and outlives the daemon.
// It reports through pipes named by env vars: _OCI_SYNCPIPE (pid, then for exec the exit code),
// _OCI_ATTACHPIPE (exec: attach socket ready), _OCI_STARTPIPE (waits for a byte before going on;
// twice with --exec-attach: before creating the attach socket and before running the process).
import { spawnChild, StdioSlot } from '../lib/spawn';
import type { Readable, Writable } from 'node:stream';
import { systemError } from '../lib/errors';

export interface ConmonOptions {
  conmon: string;
  runtimePath: string;
  containerId: string;
  /** Unique id of this session: the container id, or the exec id. */
  sessionId: string;
  name?: string;
  bundle: string;
  logPath: string;
  /** No log at all (the `none` log driver): conmon's own none driver. */
  noLog?: boolean;
  exitDir: string;
  socketDir: string;
  pidFile: string;
  conmonPidFile: string;
  tty: boolean;
  stdin: boolean;
  /** An attach client going away leaves the container's stdin open (Docker's OpenStdin without StdinOnce). */
  leaveStdinOpen?: boolean;
  /**
   * The log dies with the session (--rm, build steps, exec): conmon then skips its fsync of the log
   * at exit, which comes before the exit file and so delays everyone waiting for the exit.
   */
  discardLog?: boolean;
  /** exec only: path of the OCI process spec to run. */
  execSpec?: string;
  /** exec only: hold the process until an attach client connected (no early output lost). */
  execAttach?: boolean;
  timeoutMs?: number;
}

export interface ExecSession {
  /** Resolves with the exec process's pid once the runtime started it. */
  started: Promise<number>;
  /** Resolves with the exit code. */
  exited: Promise<number>;
  /** With execAttach: call after connecting to the attach socket to let the process run. */
  release(): void;
}

/** Reads newline-delimited JSON messages of the {"data": n, "message"?: s} form. */
function messageReader(stream: Readable) {
  let buf = '';
  const queue: { data: number; message?: string }[] = [];
  const waiters: { resolve: (m: { data: number; message?: string }) => void; reject: (e: Error) => void }[] = [];
  let ended = false;
  const flush = () => {
    while (queue.length && waiters.length) waiters.shift()!.resolve(queue.shift()!);
    if (ended) while (waiters.length) waiters.shift()!.reject(systemError('conmon exited without reporting (see the daemon log)'));
  };
  stream.on('data', (b: Buffer) => {
    buf += b.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (!line) continue;
      try { queue.push(JSON.parse(line)); } catch { queue.push({ data: -1, message: `bad message from conmon: ${line}` }); }
    }
    flush();
  });
  const end = () => { ended = true; flush(); };
  stream.on('end', end);
  stream.on('close', end);
  stream.on('error', end);
  return () => new Promise<{ data: number; message?: string }>((resolve, reject) => { waiters.push({ resolve, reject }); flush(); });
}

function spawnConmon(o: ConmonOptions, held = false) {
  const args = [
    '--api-version', '1',
    '-c', o.containerId, '-u', o.sessionId,
    '-r', o.runtimePath, '-b', o.bundle,
    '-p', o.pidFile, '--conmon-pidfile', o.conmonPidFile,
    '-l', o.noLog ? 'none:' : `k8s-file:${o.logPath}`,
    '--exit-dir', o.exitDir, '--socket-dir-path', o.socketDir,
    '--log-level', 'error',
  ];
  if (o.name) args.push('-n', o.name);
  if (o.tty) args.push('-t');
  if (o.stdin) args.push('-i');
  if (o.stdin && o.leaveStdinOpen) args.push('--leave-stdin-open');
  if (o.discardLog) args.push('--no-sync-log');
  if (o.execSpec) {
    args.push('--exec', '--exec-process-spec', o.execSpec);
    if (o.execAttach) args.push('--exec-attach');
  }
  // fd 3 sync; held or with exec-attach also fd 4 start; with exec-attach fd 5 attach-ready
  const stdio: StdioSlot[] = ['ignore', 'ignore', 'pipe', 'pipe'];
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', _OCI_SYNCPIPE: '3' };
  if (held || o.execAttach) {
    stdio.push('pipe');
    env._OCI_STARTPIPE = '4';
  }
  if (o.execAttach) {
    stdio.push('pipe');
    env._OCI_ATTACHPIPE = '5';
  }
  const child = spawnChild(o.conmon, args, { stdio, env, detached: true });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => { if (stderr.length < 8192) stderr += b.toString(); });
  child.on('error', () => {});
  child.unref();
  const sync = child.stdio[3] as Readable;
  const timeout = o.timeoutMs ?? 60_000;
  const withTimeout = <T>(p: Promise<T>, what: string): Promise<T> => new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(systemError(`timed out waiting for conmon (${what})`)), timeout);
    p.then((v) => { clearTimeout(t); resolve(v); }, (e) => { clearTimeout(t); reject(e); });
  });
  const withStderr = (e: unknown): Error => {
    const msg = (e as Error).message;
    return stderr.trim() ? systemError(`${msg}: ${stderr.trim()}`) : (e as Error);
  };
  return { child, sync, next: messageReader(sync), withTimeout, withStderr };
}

export interface HeldConmon {
  /** Lets conmon run `<runtime> create`; resolves with the container's pid once it is created. */
  go(): Promise<number>;
  /** Ends a conmon that was not let go: it is still waiting, before forking anything. */
  abort(): void;
}

/**
 * Starts conmon for a container, held at its start pipe before it forks or runs the runtime, so
 * that its own start-up (exec and libraries: ~8 ms of a ~35 ms start here) overlaps the engine's
 * preparation of the bundle. conmon reads the bundle only after go(). A held conmon must be let
 * go or aborted: a start pipe closed without a byte lets it go too.
 */
export function holdConmon(o: ConmonOptions): HeldConmon {
  const { child, sync, next, withTimeout, withStderr } = spawnConmon(o, true);
  const startPipe = (child.stdio as unknown as Writable[])[4];
  startPipe.on('error', () => {});
  let state: 'held' | 'released' | 'aborted' = 'held';
  return {
    async go() {
      if (state !== 'held') throw systemError('conmon was already let go or ended');
      state = 'released';
      startPipe.end('0');
      try {
        const first = await withTimeout(next(), 'create');
        if (first.data < 0) throw systemError((first.message ?? 'container create failed').trim());
        return first.data;
      } catch (e) {
        throw withStderr(e);
      } finally {
        // The pipe stays open until the container exits; only the first message matters here.
        sync.destroy();
      }
    },
    abort() {
      if (state !== 'held') return;
      state = 'aborted';
      // Killed first: closing the pipe alone would read as "go" (conmon takes EOF for its byte).
      child.kill('SIGKILL');
      startPipe.destroy();
      sync.destroy();
    },
  };
}

/** Starts conmon for an exec session. With execAttach, resolves once the attach socket exists. */
export async function startConmonExec(o: ConmonOptions): Promise<ExecSession> {
  const { child, sync, next, withTimeout, withStderr } = spawnConmon(o);
  let release = () => {};
  if (o.execAttach) {
    const startPipe = (child.stdio as unknown as Writable[])[4];
    const ready = (child.stdio as unknown as Readable[])[5];
    // conmon reads the start pipe twice with --exec-attach: once to begin (it then creates the
    // attach socket and reports on the attach pipe), and once more to run the process.
    startPipe.write('0');
    try {
      await withTimeout(messageReader(ready)(), 'attach socket');
    } catch (e) {
      sync.destroy(); startPipe.destroy(); ready.destroy();
      throw withStderr(e);
    }
    ready.destroy();
    release = () => { startPipe.end('0'); };
  }
  const started = withTimeout(next(), 'exec').then((m) => {
    if (m.data < 0) throw systemError((m.message ?? 'exec failed').trim());
    return m.data;
  }).catch((e) => { sync.destroy(); throw withStderr(e); });
  const exited = started.then(() => next()).then((m) => m.data, () => -1).finally(() => sync.destroy());
  started.catch(() => {});
  return { started, exited, release };
}
