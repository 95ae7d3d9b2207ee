// The one way drayd starts a process. node:child_process forks the whole daemon (libuv uses
// fork()), which costs drayd a page-table copy per spawn and then a copy-on-write fault on every
// page it writes afterwards: 8–10 ms per spawn from a 100 MiB process on this kind of VM, and a
// build or a container start right after one ran measurably slower. The native addon starts the
// process with vfork and watches its exit through a pidfd; without the addon, or on a kernel
// without pidfds, node:child_process does the job.
//
// The object returned has the part of ChildProcess that drayd uses: pid, stdio streams (a socket
// pair per 'pipe', as libuv gives them), 'error' / 'exit' / 'close' events, kill() and unref().
import { spawn as nodeSpawn, ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { closeSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';
import { Socket } from 'node:net';
import { constants, setPriority } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { nativeAddon, SysAddon } from './native';

/** A pipe (a socket pair), /dev/null, or an fd of drayd's passed as it is. */
export type StdioSlot = 'pipe' | 'ignore' | number;

export interface SpawnOpts {
  /** The child's fds 0..n-1; missing ones are 'ignore'. Default: three pipes. */
  stdio?: StdioSlot[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** A new session (setsid), as child_process' `detached`. */
  detached?: boolean;
  /** The child's nice value, set before it runs (and so inherited by every thread it starts). */
  nice?: number;
}

export interface Child extends EventEmitter {
  readonly pid: number | undefined;
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  /** Parent ends of the pipes, by child fd (null where 'ignore'). */
  readonly stdio: Array<(Readable & Writable) | null>;
  kill(signal?: NodeJS.Signals | number): boolean;
  unref(): void;
}

const signalNames = new Map(Object.entries(constants.signals).map(([k, v]) => [v as number, k]));

let usable: SysAddon | null | undefined;
function addon(): SysAddon | null {
  if (usable === undefined) {
    // Not on worker threads (store/unpack-worker.ts): their fds from the addon's socket pairs are
    // not ones Node's fs opened there, and closing them makes Node warn; they spawn rarely.
    const a = isMainThread ? nativeAddon() : null;
    usable = a && typeof a.spawn === 'function' && a.pidfdSupported() ? a : null;
  }
  return usable;
}

/** How processes are started here: vfork through the addon, or node:child_process (fork). */
export function spawnBackend(): 'vfork' | 'child_process' {
  return addon() ? 'vfork' : 'child_process';
}

export function spawnChild(cmd: string, args: string[], opts: SpawnOpts = {}): Child {
  const a = addon();
  const stdio = opts.stdio ?? ['pipe', 'pipe', 'pipe'];
  if (!a) {
    const child = nodeSpawn(cmd, args, { stdio, env: opts.env ?? process.env, cwd: opts.cwd, detached: opts.detached });
    if (opts.nice && child.pid) try { setPriority(child.pid, opts.nice); } catch { /* gone already */ }
    return child as ChildProcess as unknown as Child;
  }
  return new NativeChild(a, cmd, args, stdio, opts);
}

class NativeChild extends EventEmitter implements Child {
  pid: number | undefined;
  stdio: Array<(Readable & Writable) | null> = [];
  private watch?: object;
  private exit?: [number | null, NodeJS.Signals | null];
  private closesNeeded = 1;

  constructor(private a: SysAddon, cmd: string, args: string[], slots: StdioSlot[], opts: SpawnOpts) {
    super();
    const pairs = slots.map((s) => (s === 'pipe' ? a.socketpair() : null));
    const env = Object.entries(opts.env ?? process.env).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`);
    let spawned: [number, number] | undefined;
    let error: NodeJS.ErrnoException | undefined;
    try {
      const fds = slots.map((s, i) => (typeof s === 'number' ? s : pairs[i]?.[1] ?? -1));
      spawned = a.spawn(cmd, [cmd, ...args], env, opts.cwd ?? null, fds, !!opts.detached, opts.nice ?? 0);
    } catch (e) {
      error = spawnError(e as NodeJS.ErrnoException, cmd, args);
    } finally {
      for (const p of pairs) if (p) closeSync(p[1]);
    }
    this.stdio = pairs.map((p, i) => {
      if (!p) return null;
      // The child's stdin is only written to; the rest are read (and, like node's, writable too).
      const sock = new Socket({ fd: p[0], readable: i !== 0, writable: true });
      if (i !== 0) { this.closesNeeded++; sock.once('close', () => this.maybeClose()); }
      return sock as unknown as Readable & Writable;
    });
    if (error) {
      const err = error;
      process.nextTick(() => { this.emit('error', err); this.onExit(-1, 0); });
      return;
    }
    const [pid, pidfd] = spawned!;
    this.pid = pid;
    this.watch = a.watchExit(pidfd, (code, signal) => this.onExit(code, signal));
  }

  get stdin(): Writable | null { return this.stdio[0] ?? null; }
  get stdout(): Readable | null { return this.stdio[1] ?? null; }
  get stderr(): Readable | null { return this.stdio[2] ?? null; }

  kill(signal: NodeJS.Signals | number = 'SIGTERM'): boolean {
    // Until its exit is seen the child is not reaped, so the pid cannot belong to another process.
    if (this.pid === undefined || this.exit) return false;
    try { process.kill(this.pid, signal); return true; } catch { return false; }
  }

  /** As ChildProcess.unref(): the exit watch no longer keeps drayd's loop alive (open pipes still do). */
  unref(): void {
    if (this.watch) this.a.unrefWatch(this.watch);
  }

  private onExit(code: number, signal: number): void {
    this.watch = undefined;
    this.exit = signal ? [null, (signalNames.get(signal) ?? `SIG${signal}`) as NodeJS.Signals] : [code, null];
    if (this.pid !== undefined) this.emit('exit', ...this.exit);
    this.maybeClose();
  }

  private maybeClose(): void {
    if (--this.closesNeeded === 0) this.emit('close', ...(this.exit ?? [null, null]));
  }
}

/**
 * The error child_process would give for a program that could not start: code, syscall
 * "spawn <cmd>", path and spawnargs. A working directory that cannot be entered says so instead
 * (syscall "chdir"), where child_process would blame the program.
 */
function spawnError(e: NodeJS.ErrnoException, cmd: string, args: string[]): NodeJS.ErrnoException {
  const code = e.code;
  if (!code || e.syscall !== 'spawn') return e;
  const err = new Error(`spawn ${cmd} ${code}`) as NodeJS.ErrnoException & { spawnargs?: string[] };
  err.errno = -(e.errno as number);
  err.code = code;
  err.syscall = `spawn ${cmd}`;
  err.path = cmd;
  err.spawnargs = args;
  return err;
}
