// The warm CLI, drayd's side. Node.js takes ~55 ms here to start before the CLI runs a line, more
// than drayd needs to run a container; so while the `dray` command is in use, drayd keeps CLI
// processes started, loaded and waiting on <exec-root>/cli.sock, and the `dray` launcher
// (native/launch.c) hands its command to one of them. Each serves one command and exits; taking
// one starts its successor at once, at the lowest priority, so that start-up runs on time nobody
// else wants. They wait only as long as drayd lives (they watch their socket to drayd, and leave
// when it says so or closes) and hold nothing of drayd's but the listening socket. No signal ends
// one: a process that has just taken a command runs it whatever drayd decided meanwhile.
//
// "In use": the pool wakes when a request from the dray CLI arrives (the command that woke it ran
// cold) and sleeps again after IDLE_MS without a command, so an unused drayd keeps no CLI process
// in memory. It keeps one process waiting, and up to `max` while commands come back to back:
// when a command is taken within BURST_GAP_MS of the one before, or a dray request did not come
// from a waiting process (its User-Agent says so: that `dray` found none ready and started Node.js
// itself), one more is kept, until BURST_MS pass without a command. One successor takes ~75 ms to
// start here on an idle host (~90 ms of CPU; 110-250 ms while commands run back to back), and a
// second `dray ps` can follow the first within 15: a stream of quick commands outruns the pool,
// and about every other one starts Node.js itself.
//
// The launchers' socket path exists only while a process is ready to answer (a hard link to the
// listening socket): otherwise `dray` finds nothing and starts the CLI itself at once,
// rather than wait for a successor that a busy host runs last. A waiting process that exits
// unasked is started again, unless that keeps happening: then the pool stays off for good.
import { existsSync, rmSync, closeSync, linkSync, renameSync } from 'node:fs';
import * as path from 'node:path';
import { spawnChild, Child, StdioSlot } from '../lib/spawn';
import { nativeAddon } from '../lib/native';
import { log } from '../lib/log';
import { IDLE_GC_QUIET_MS } from '../lib/idle-gc';
import { WARM_PARENT_ENV, WARM_STALE_STATUS, WARM_SOCKET_NAME, WARM_BOUND_NAME, WARM_WORKER_ENV, WARM_LISTEN_FD, WARM_STATUS_FD, WARM_READY, WARM_CLAIMED, WARM_QUIT, WARM_HOST_ENV } from '../lib/warm-cli';

/** Consecutive waiting processes that may end unasked before the pool gives up. */
const MAX_FAILURES = 3;
/** A waiting process told to go and still there after this is killed (it never reached its wait). */
const QUIT_GRACE_MS = 5000;
/**
 * The nice value they start at (ready, every thread and the group go back to 0). Each starts in a
 * session of its own: with the kernel's autogroup scheduling, sessions share the CPUs equally and
 * a nice value ranks threads only within one, so the session's group starts at 19 as well.
 */
const START_NICE = 19;
/** The pool sleeps after this long without a command (DRAY_CLI_IDLE_MS: tests). */
const IDLE_MS = Number(process.env.DRAY_CLI_IDLE_MS) || 5 * 60_000;
/** Two commands taken within this time of each other start a burst. */
const BURST_GAP_MS = 1000;
/** Extra waiting processes go after this long without a command: drayd's own idle time. */
const BURST_MS = Number(process.env.DRAY_CLI_BURST_MS) || IDLE_GC_QUIET_MS;

export class CliPool {
  private listenFd = -1;
  /** Started and not yet claimed; `ready` ones wait in accept(). */
  private readonly waiting = new Set<Child>();
  /** Took a command: never to be ended by the pool. */
  private readonly claimed = new WeakSet<Child>();
  private readonly ready = new Set<Child>();
  private published = false;
  private failures = 0;
  /** Shut down, or given up on: never wakes again. */
  private off = false;
  private idleTimer?: NodeJS.Timeout;
  private burstTimer?: NodeJS.Timeout;
  /** How many to keep waiting now: 1, or more during a burst (up to max). */
  private target = 1;
  /** Commands the waiting processes took since the pool woke, and when the last one was taken. */
  private served = 0;
  private lastClaim = 0;
  readonly socket: string;
  private readonly bound: string;

  /**
   * max: the most processes kept waiting (--cli-workers), 0 for none; host: drayd's own API
   * address, for the waiting processes' warm-up request.
   */
  constructor(execRoot: string, private readonly max: number, private readonly host?: string, private readonly cliScript = path.join(__dirname, 'dray.js')) {
    this.socket = path.join(execRoot, WARM_SOCKET_NAME);
    this.bound = path.join(execRoot, WARM_BOUND_NAME);
    // Socket files left by a drayd that was killed answer nothing; `dray` runs cold until a wake.
    rmSync(this.socket, { force: true });
    rmSync(this.bound, { force: true });
    if (max <= 0 || !nativeAddon() || !existsSync(cliScript)) this.off = true;
  }

  get awake(): boolean { return this.listenFd >= 0; }

  /** A request from the dray CLI: `warm` when a waiting process sent it. */
  onDrayRequest(warm: boolean): void {
    if (!this.awake) { this.wake(); return; }
    // Before the pool served anything, a cold request is the command that woke it.
    if (!warm && this.served > 0) this.grow();
  }

  /** One more waiting process (up to max) until BURST_MS pass without a command. */
  private grow(): void {
    if (this.target >= this.max) return;
    this.target++;
    this.fill();
    clearTimeout(this.burstTimer);
    this.burstTimer = setTimeout(() => this.endBurst(), BURST_MS);
    this.burstTimer.unref();
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
    this.target = 1;
    this.served = 0;
    this.fill();
    this.idleTimer = setTimeout(() => this.sleep(), IDLE_MS);
    this.idleTimer.unref();
  }

  private spawnOne(): void {
    if (!this.awake) return;
    const env: NodeJS.ProcessEnv = { ...process.env, [WARM_WORKER_ENV]: '1', [WARM_PARENT_ENV]: String(process.pid) };
    if (this.host) env[WARM_HOST_ENV] = this.host;
    // Read at node's start-up: a CA bundle the CLI never uses, and options meant for drayd.
    delete env.NODE_EXTRA_CA_CERTS;
    delete env.NODE_OPTIONS;
    const stdio: StdioSlot[] = ['ignore', 'ignore', 'pipe'];
    stdio[WARM_LISTEN_FD] = this.listenFd;
    stdio[WARM_STATUS_FD] = 'pipe';
    // --expose-gc: the waiting process collects its start-up's garbage before it waits (warm-worker.ts).
    const child = spawnChild(process.execPath, ['--expose-gc', '--', this.cliScript], { stdio, env, nice: START_NICE, detached: true });
    this.waiting.add(child);
    let stderr = '';
    // A process that leaves with our quit word unread resets the socket: not drayd's error.
    child.stdio[WARM_STATUS_FD]?.on('error', () => {});
    child.stderr?.on('error', () => {});
    child.stdio[WARM_STATUS_FD]?.on('data', (d: Buffer) => {
      if (d.includes(WARM_READY) && this.waiting.has(child)) { this.ready.add(child); this.publish(); }
      if (!d.includes(WARM_CLAIMED) || this.claimed.has(child)) return;
      this.claimed.add(child);
      this.served++;
      this.failures = 0;
      this.forget(child);
      this.idleTimer?.refresh();
      this.burstTimer?.refresh();
      const now = Date.now();
      if (now - this.lastClaim < BURST_GAP_MS) this.grow();
      this.lastClaim = now;
      this.fill();
    });
    // Until it is claimed, its stderr is drayd's to report; then it is the command's own.
    child.stderr?.on('data', (d: Buffer) => { if (stderr.length < 4096) stderr += d.toString(); });
    child.on('error', (e) => log.warn('warm CLI process did not start', { error: e.message }));
    child.on('exit', (code, signal) => {
      if (this.claimed.has(child) || !this.waiting.has(child) || !this.awake) return;
      this.forget(child);
      if (code === WARM_STALE_STATUS) { this.fill(); return; }
      log.warn('warm CLI process ended while waiting', { code, signal, stderr: stderr.trim().slice(-1000) });
      if (++this.failures >= MAX_FAILURES) {
        log.warn('warm CLI disabled: `dray` starts the CLI itself', { socket: this.socket });
        this.stop();
        return;
      }
      this.fill();
    });
  }

  private fill(): void {
    while (this.awake && this.waiting.size < this.target) this.spawnOne();
  }

  /** Back to one waiting process: the newest extra ones go (the oldest is likeliest ready). */
  private endBurst(): void {
    this.burstTimer = undefined;
    this.target = 1;
    for (const c of [...this.waiting].slice(1)) this.retire(c);
  }

  /** Tells a waiting process to go; it may have just taken a command, and then runs it. */
  private retire(child: Child): void {
    this.forget(child);
    child.stdio[WARM_STATUS_FD]?.write(WARM_QUIT, () => { /* gone already */ });
    setTimeout(() => { if (!this.claimed.has(child)) child.kill('SIGKILL'); }, QUIT_GRACE_MS).unref();
  }

  private forget(child: Child): void {
    this.waiting.delete(child);
    this.ready.delete(child);
    if (!this.ready.size) this.unpublish();
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
    } catch (e) {
      log.warn('warm CLI socket not published', { error: (e as Error).message });
    }
  }

  private unpublish(): void {
    if (!this.published) return;
    rmSync(this.socket, { force: true });
    this.published = false;
  }

  /** Removes the sockets and ends the waiting processes; commands already taken run on. */
  private sleep(): void {
    clearTimeout(this.idleTimer);
    clearTimeout(this.burstTimer);
    this.idleTimer = undefined;
    this.burstTimer = undefined;
    this.unpublish();
    if (this.listenFd >= 0) {
      rmSync(this.bound, { force: true });
      closeSync(this.listenFd);
      this.listenFd = -1;
    }
    for (const c of [...this.waiting]) this.retire(c);
  }

  /** For good: drayd is shutting down (or the pool gave up). */
  stop(): void {
    this.off = true;
    this.sleep();
  }
}
