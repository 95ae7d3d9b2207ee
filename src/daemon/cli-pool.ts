// The warm CLI, drayd's side. Node.js takes ~55 ms here to start before the CLI runs a line, more
// than drayd needs to run a container; so while the `dray` command is in use, drayd keeps one CLI
// process started, loaded and waiting on <exec-root>/cli.sock, and the `dray` launcher
// (native/launch.c) hands its command to it. That process is a zygote (native/warm.c,
// src/cli/warm-worker.ts): it never runs a command, it keeps three forked spares waiting, and each
// spare runs one command while the zygote forks another in its place. A spare is ready ~40 ms
// after its fork, where a fresh Node.js took 110-250 ms (~90 ms of CPU) while commands ran back
// to back, so commands in a row, or many at once, find one ready. It waits only as long as drayd
// lives (it watches its socket to drayd, and leaves when drayd says so or closes; its spares leave
// with it) and holds nothing of drayd's but the listening socket.
//
// "In use": the pool wakes when a request from the dray CLI arrives (the command that woke it ran
// cold) and sleeps again after IDLE_MS without a command, so an unused drayd keeps no CLI process
// in memory.
//
// The launchers' socket path exists only while the zygote is ready (a hard link to the listening
// socket): otherwise `dray` finds nothing and starts the CLI itself at once, rather than wait for
// Node.js to load. A zygote that exits unasked is started again, unless that keeps happening:
// then the pool stays off for good.
import { existsSync, rmSync, closeSync, linkSync, renameSync } from 'node:fs';
import * as path from 'node:path';
import { spawnChild, Child, StdioSlot } from '../lib/spawn';
import { nativeAddon } from '../lib/native';
import { log } from '../lib/log';
import { WARM_PARENT_ENV, WARM_STALE_STATUS, WARM_SOCKET_NAME, WARM_BOUND_NAME, WARM_WORKER_ENV, WARM_LISTEN_FD, WARM_STATUS_FD, WARM_READY, WARM_CLAIMED, WARM_QUIT, WARM_HOST_ENV } from '../lib/warm-cli';

/** Consecutive waiting processes that may end unasked before the pool gives up. */
const MAX_FAILURES = 3;
/** A waiting process told to go and still there after this is killed (it never reached its wait). */
const QUIT_GRACE_MS = 5000;
/**
 * The waiting process's nice value: its start-up and its forks take only time nobody else wants
 * (each spare it forks goes back to 0 once ready, native/warm.c). It starts in a session of its
 * own: with the kernel's autogroup scheduling, sessions share the CPUs equally and a nice value
 * ranks threads only within one, so the session's group is at 19 as well.
 */
const START_NICE = 19;
/** The pool sleeps after this long without a command (DRAY_CLI_IDLE_MS: tests). */
const IDLE_MS = Number(process.env.DRAY_CLI_IDLE_MS) || 5 * 60_000;
/**
 * Node.js options of the waiting process. --single-threaded: V8 runs no background work (GC,
 * compilation), so none is half done when it forks (the child has no other thread to finish it).
 * --expose-gc: it collects its start-up's garbage before it waits (warm-worker.ts).
 * --no-memory-reducer: the reducer's timer, armed by that collection, fired in every command
 * and started a marking of the whole heap there (~14% of a `dray ps`'s CPU).
 */
const NODE_ARGS = ['--single-threaded', '--expose-gc', '--no-memory-reducer'];

export class CliPool {
  private listenFd = -1;
  /** The waiting process, from its start until it exits. */
  private process?: Child;
  private published = false;
  private failures = 0;
  /** Shut down, or given up on: never wakes again. */
  private off = false;
  private idleTimer?: NodeJS.Timeout;
  readonly socket: string;
  private readonly bound: string;

  /**
   * enabled: keep the waiting process at all (--cli-workers 0: no); host: drayd's own API
   * address, for its warm-up request.
   */
  constructor(execRoot: string, enabled: boolean, private readonly host?: string, private readonly cliScript = path.join(__dirname, 'dray.js')) {
    this.socket = path.join(execRoot, WARM_SOCKET_NAME);
    this.bound = path.join(execRoot, WARM_BOUND_NAME);
    // Socket files left by a drayd that was killed answer nothing; `dray` runs cold until a wake.
    rmSync(this.socket, { force: true });
    rmSync(this.bound, { force: true });
    if (!enabled || !nativeAddon() || !existsSync(cliScript)) this.off = true;
  }

  get awake(): boolean { return this.listenFd >= 0; }

  /** A request from the dray CLI (not the waiting process's warm-up). */
  onDrayRequest(): void {
    if (!this.awake) this.wake();
  }

  /** Listens and starts the waiting process, unless it is already there. */
  private wake(): void {
    if (this.off || this.awake) return;
    try {
      this.listenFd = nativeAddon()!.warmListen(this.bound);
    } catch (e) {
      this.off = true;
      log.warn('warm CLI not started: `dray` starts the CLI itself', { error: (e as Error).message });
      return;
    }
    this.start();
    this.idleTimer = setTimeout(() => this.sleep(), IDLE_MS);
    this.idleTimer.unref();
  }

  private start(): void {
    if (!this.awake || this.process) return;
    const env: NodeJS.ProcessEnv = { ...process.env, [WARM_WORKER_ENV]: '1', [WARM_PARENT_ENV]: String(process.pid) };
    if (this.host) env[WARM_HOST_ENV] = this.host;
    // Read at node's start-up: a CA bundle the CLI never uses, and options meant for drayd.
    delete env.NODE_EXTRA_CA_CERTS;
    delete env.NODE_OPTIONS;
    const stdio: StdioSlot[] = ['ignore', 'ignore', 'pipe'];
    stdio[WARM_LISTEN_FD] = this.listenFd;
    stdio[WARM_STATUS_FD] = 'pipe';
    const child = spawnChild(process.execPath, [...NODE_ARGS, '--', this.cliScript], { stdio, env, nice: START_NICE, detached: true });
    this.process = child;
    let stderr = '';
    // A process that leaves with our quit word unread resets the socket: not drayd's error.
    child.stdio[WARM_STATUS_FD]?.on('error', () => {});
    child.stderr?.on('error', () => {});
    child.stdio[WARM_STATUS_FD]?.on('data', (d: Buffer) => {
      if (this.process !== child) return;
      if (d.includes(WARM_READY)) this.publish();
      if (!d.includes(WARM_CLAIMED)) return;
      this.failures = 0;
      this.idleTimer?.refresh();
    });
    // Its stderr is drayd's to report; a child takes the command's own.
    child.stderr?.on('data', (d: Buffer) => { if (stderr.length < 4096) stderr += d.toString(); });
    child.on('error', (e) => log.warn('warm CLI process did not start', { error: e.message }));
    child.on('exit', (code, signal) => {
      if (this.process !== child) return;
      this.process = undefined;
      this.unpublish();
      if (!this.awake) return;
      if (code === WARM_STALE_STATUS) { this.start(); return; }
      log.warn('warm CLI process ended while waiting', { code, signal, stderr: stderr.trim().slice(-1000) });
      if (++this.failures >= MAX_FAILURES) {
        log.warn('warm CLI disabled: `dray` starts the CLI itself', { socket: this.socket });
        this.stop();
        return;
      }
      this.start();
    });
  }

  /** Tells the waiting process to go; commands its children took run on. */
  private retire(child: Child): void {
    let gone = false;
    child.once('exit', () => { gone = true; });
    child.stdio[WARM_STATUS_FD]?.write(WARM_QUIT, () => { /* gone already */ });
    setTimeout(() => { if (!gone) child.kill('SIGKILL'); }, QUIT_GRACE_MS).unref();
  }

  /** Launchers find the socket: a link made beside it and renamed over, in one step. */
  private publish(): void {
    if (this.published || !this.awake) return;
    const tmp = `${this.socket}.${process.pid}.tmp`;
    try {
      rmSync(tmp, { force: true });
      linkSync(this.bound, tmp);
      renameSync(tmp, this.socket);
      this.published = true;
      // The time without a command counts from here: a zygote slow to get ready (a busy host, a
      // first start without its code cache) took most of the tests' 4 s, and the pool slept
      // before any command could find it.
      this.idleTimer?.refresh();
    } catch (e) {
      log.warn('warm CLI socket not published', { error: (e as Error).message });
    }
  }

  private unpublish(): void {
    if (!this.published) return;
    rmSync(this.socket, { force: true });
    this.published = false;
  }

  /** Removes the sockets and ends the waiting process; commands already taken run on. */
  private sleep(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.unpublish();
    if (this.listenFd >= 0) {
      rmSync(this.bound, { force: true });
      closeSync(this.listenFd);
      this.listenFd = -1;
    }
    const child = this.process;
    this.process = undefined;
    if (child) this.retire(child);
  }

  /** For good: drayd is shutting down (or the pool gave up). */
  stop(): void {
    this.off = true;
    this.sleep();
  }
}
