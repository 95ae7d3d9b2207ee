// Healthchecks: each running container with a HEALTHCHECK (from its image or its create request) is
// probed on drayd's own schedule, one runtime exec per probe (runtime/probe.ts), and its
// State.Health kept as Docker keeps it: Status starting → healthy / unhealthy, FailingStreak, the
// last five results. Rules as in moby's daemon/health.go:
//   - the first probe comes one interval after the start (the start interval while a start period
//     runs); the next one interval after the previous one ended;
//   - exit 0 is healthy; anything else (a timeout, a probe that cannot run) is a failure, not
//     counted while the start period lasts and no probe has passed yet; `retries` failures in a row
//     make it unhealthy;
//   - a change of status is announced as a `health_status: <status>` event;
//   - when the container stops or is paused, probing stops and the status becomes unhealthy.
// The state is written to <container dir>/health.json after every change, so a drayd restart
// resumes the schedule where it was (a container that was unhealthy stays so until a probe passes).
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { writeDerivedFile, readJsonIfExists } from '../lib/atomic';
import { invalid } from '../lib/errors';
import { newId } from '../lib/ids';
import { log } from '../lib/log';
import { mergeEnv } from '../lib/env';
import { formatDuration } from '../lib/units';
import type { ContainerRecord } from './container-record';
import type { ContainerConfig } from './types';
import type { EventBus } from './events';
import { buildProcess, processToJson } from '../runtime/process';
import { resolveUser } from '../runtime/user';
import { runProbe, RunningProbe, ProbeOutcome } from '../runtime/probe';

export type HealthStatus = 'starting' | 'healthy' | 'unhealthy';
export interface HealthcheckResult { Start: string; End: string; ExitCode: number; Output: string }
export interface HealthState { Status: HealthStatus; FailingStreak: number; Log: HealthcheckResult[] }
export type HealthConfig = NonNullable<ContainerConfig['Healthcheck']>;

const SECOND_NS = 1e9;
export const DEFAULT_INTERVAL_NS = 30 * SECOND_NS;
export const DEFAULT_TIMEOUT_NS = 30 * SECOND_NS;
export const DEFAULT_START_INTERVAL_NS = 5 * SECOND_NS;
export const DEFAULT_RETRIES = 3;
/** Docker keeps this much of a probe's output, then "...". */
export const MAX_OUTPUT = 4096;
export const MAX_LOG_ENTRIES = 5;
/** The shortest duration Docker accepts for any of the healthcheck's times. */
const MINIMUM_NS = 1e6;
/** A result that changed neither the status nor the streak is written within this long. */
const LAZY_WRITE_MS = 10_000;

/** The values the `health` filter of ps accepts (Docker's list, in its order). */
export const HEALTH_FILTER_VALUES = ['none', 'starting', 'healthy', 'unhealthy'];

/** Docker's checks of a create request's Healthcheck, with its wording. */
export function validateHealthcheck(hc: HealthConfig | undefined | null): void {
  if (!hc) return;
  const min = formatDuration(MINIMUM_NS);
  const check = (v: number | undefined, name: string) => {
    if (v && v < MINIMUM_NS) throw invalid(`${name} in Healthcheck cannot be less than ${min}`);
  };
  check(hc.Interval, 'Interval');
  check(hc.Timeout, 'Timeout');
  if ((hc.Retries ?? 0) < 0) throw invalid('Retries in Healthcheck cannot be negative');
  check(hc.StartPeriod, 'StartPeriod');
  check(hc.StartInterval, 'StartInterval');
}

/** Docker's merge of the request's Healthcheck over the image's: what the request leaves zero comes from the image. */
export function mergeHealthcheck(user: HealthConfig | undefined | null, image: HealthConfig | undefined | null): HealthConfig | undefined {
  if (!user) return image ?? undefined;
  if (!image) return user;
  const out: HealthConfig = { ...user };
  if (!out.Test?.length) out.Test = image.Test;
  for (const k of ['Interval', 'Timeout', 'StartPeriod', 'StartInterval', 'Retries'] as const) {
    if (!out[k]) { if (image[k] !== undefined) out[k] = image[k]; }
  }
  return out;
}

/** The command a probe runs, or undefined when the container has no probe (none, NONE, an unknown type). */
export function probeCommand(cfg: ContainerConfig): string[] | undefined {
  const test = cfg.Healthcheck?.Test;
  if (!test?.length) return undefined;
  if (test[0] === 'CMD') return test.slice(1);
  if (test[0] === 'CMD-SHELL') return [...(cfg.Shell?.length ? cfg.Shell : ['/bin/sh', '-c']), ...test.slice(1)];
  return undefined;
}

export function hasProbe(c: ContainerRecord): boolean {
  return probeCommand(c.Config) !== undefined;
}

const orDefault = (v: number | undefined, d: number) => (v ? v : d);

/** Docker's status suffix of ps: "healthy", "unhealthy", "health: starting". */
export function healthText(h: HealthState): string {
  return h.Status === 'starting' ? 'health: starting' : h.Status;
}

/** RFC 3339 with nanoseconds, as Go prints the times of a result (the wall clock at start-up plus the monotonic clock since). */
const wallAtStartNs = BigInt(Date.now()) * 1_000_000n;
const hrAtStart = process.hrtime.bigint();
function nowText(): string {
  const ns = wallAtStartNs + (process.hrtime.bigint() - hrAtStart);
  const secs = Number(ns / 1_000_000_000n);
  return new Date(secs * 1000).toISOString().slice(0, 19) + '.' + String(ns % 1_000_000_000n).padStart(9, '0') + 'Z';
}

export interface HealthHost {
  events: EventBus;
  /** The directory for a container's probe files (process spec, pid file, runtime log). */
  probeDir(id: string): string;
  /** The file the health state is kept in across drayd restarts. */
  stateFile(id: string): string;
  runtimePath(c: ContainerRecord): string;
  rootfs(c: ContainerRecord): string;
}

interface Monitor {
  c: ContainerRecord;
  timer?: NodeJS.Timeout;
  probe?: RunningProbe;
  stopped: boolean;
  /** The process spec is written once per monitoring run. */
  prepared?: Promise<void>;
}

export class HealthMonitor {
  private monitors = new Map<string, Monitor>();
  /** Containers whose health state on disk is behind, the lazy writes due, and the writes under way. */
  private dirty = new Map<string, ContainerRecord>();
  private lazy = new Map<string, NodeJS.Timeout>();
  private chain = new Map<string, Promise<void>>();

  constructor(private host: HealthHost) {}

  /** Reads the state a previous drayd left, which is newer than the record's copy. */
  async load(c: ContainerRecord): Promise<void> {
    if (!c.Config.Healthcheck) return;
    const h = await readJsonIfExists<HealthState>(this.host.stateFile(c.Id)).catch(() => undefined);
    if (h && typeof h.Status === 'string') c.State.Health = h;
  }

  /** The container just started: Docker begins anew at "starting" and keeps the old results. */
  started(c: ContainerRecord): void {
    this.stop(c.Id, false);
    if (!hasProbe(c)) { if (c.State.Health) delete c.State.Health; return; }
    c.State.Health = { Status: 'starting', FailingStreak: 0, Log: c.State.Health?.Log ?? [] };
    this.persist(c, true);
    this.monitor(c, this.nextDelayMs(c, Date.now()));
  }

  /**
   * Probing picks up again (a drayd restart found the container running, or it was unpaused):
   * the state stays as it was, and the next probe comes when it would have.
   */
  resumed(c: ContainerRecord): void {
    if (!hasProbe(c) || !c.State.Running || c.State.Paused || this.monitors.has(c.Id)) return;
    if (!c.State.Health) c.State.Health = { Status: 'starting', FailingStreak: 0, Log: [] };
    const last = c.State.Health.Log.at(-1);
    const since = last ? Date.now() - Date.parse(last.End) : 0;
    this.monitor(c, Math.max(0, this.nextDelayMs(c, Date.now()) - since));
  }

  /**
   * The container stopped, or was paused: probing ends (a probe under way is killed) and, as in
   * Docker, the status becomes unhealthy.
   */
  stopped(c: ContainerRecord): void {
    const had = this.stop(c.Id, true);
    if (had && c.State.Health) {
      c.State.Health.Status = 'unhealthy';
      this.persist(c, true);
    }
  }

  /** The container is gone: nothing of its monitoring stays. */
  removed(id: string): void {
    this.stop(id, true);
    const t = this.lazy.get(id);
    if (t) clearTimeout(t);
    this.lazy.delete(id);
    this.dirty.delete(id);
  }

  /** drayd stops: probing ends and the state stays as it is, for the next drayd to resume. */
  async shutdown(): Promise<void> {
    for (const id of [...this.monitors.keys()]) this.stop(id, true);
    await this.flush();
  }

  /** Ends the monitor of a container; true if there was one. */
  private stop(id: string, killProbe: boolean): boolean {
    const m = this.monitors.get(id);
    if (!m) return false;
    m.stopped = true;
    if (m.timer) clearTimeout(m.timer);
    if (killProbe) m.probe?.cancel();
    this.monitors.delete(id);
    void fsp.rm(this.host.probeDir(id), { recursive: true, force: true }).catch(() => {});
    return true;
  }

  private monitor(c: ContainerRecord, delayMs: number): void {
    const m: Monitor = { c, stopped: false };
    this.monitors.set(c.Id, m);
    this.schedule(m, delayMs);
  }

  private schedule(m: Monitor, delayMs: number): void {
    if (m.stopped) return;
    m.timer = setTimeout(() => { m.timer = undefined; void this.probeOnce(m); }, delayMs);
    m.timer.unref();
  }

  /** Docker's getInterval: the start interval while the start period lasts and no probe passed. */
  private nextDelayMs(c: ContainerRecord, now: number): number {
    const hc = c.Config.Healthcheck ?? {};
    const interval = orDefault(hc.Interval, DEFAULT_INTERVAL_NS);
    const startPeriod = hc.StartPeriod ?? 0;
    const inStart = (now - Date.parse(c.State.StartedAt)) * 1e6 < startPeriod;
    const ns = inStart && c.State.Health?.Status === 'starting' ? orDefault(hc.StartInterval, DEFAULT_START_INTERVAL_NS) : interval;
    return ns / 1e6;
  }

  private async prepare(m: Monitor): Promise<void> {
    const c = m.c;
    const dir = this.host.probeDir(c.Id);
    await fsp.mkdir(dir, { recursive: true });
    const user = await resolveUser(this.host.rootfs(c), c.Config.User || undefined);
    const env = mergeEnv(c.Config.Env, []);
    if (!env.some((e) => e.startsWith('HOSTNAME='))) env.push(`HOSTNAME=${c.Config.Hostname || c.Id.slice(0, 12)}`);
    const proc = buildProcess({
      args: probeCommand(c.Config)!,
      env,
      cwd: c.Config.WorkingDir || '/',
      user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
      tty: false,
      privileged: !!c.HostConfig.Privileged,
      capAdd: c.HostConfig.CapAdd ?? undefined,
      capDrop: c.HostConfig.CapDrop ?? undefined,
    });
    await fsp.writeFile(path.join(dir, 'process.json'), processToJson(proc));
  }

  private async probeOnce(m: Monitor): Promise<void> {
    const c = m.c;
    const cmd = probeCommand(c.Config)!;
    const hc = c.Config.Healthcheck ?? {};
    const timeoutNs = orDefault(hc.Timeout, DEFAULT_TIMEOUT_NS);
    const execId = newId();
    const attrs = { execID: execId, ...this.attrs(c) };
    // Docker's wording: entrypoint, a space, the arguments.
    const what = `${cmd[0] ?? ''} ${cmd.slice(1).join(' ')}`;
    this.host.events.publish('container', `exec_create: ${what}`, c.Id, attrs);
    const start = nowText();
    let result: HealthcheckResult;
    try {
      if (!cmd.length) throw new Error(`healthcheck for container ${c.Id} has no command`);
      m.prepared ??= this.prepare(m);
      await m.prepared;
      if (m.stopped) return;
      const dir = this.host.probeDir(c.Id);
      this.host.events.publish('container', `exec_start: ${what}`, c.Id, attrs);
      m.probe = runProbe({
        runtimePath: this.host.runtimePath(c), containerId: c.Id,
        processFile: path.join(dir, 'process.json'), pidFile: path.join(dir, 'pid'), logFile: path.join(dir, 'runtime.log'),
        timeoutMs: timeoutNs / 1e6, maxOutput: MAX_OUTPUT,
      });
      const out = await m.probe.done;
      m.probe = undefined;
      this.host.events.publish('container', 'exec_die', c.Id, { ...attrs, exitCode: String(out.exitCode) });
      result = { Start: start, End: nowText(), ...resultOf(out, timeoutNs, cmd) };
    } catch (e) {
      m.prepared = undefined;
      result = { Start: start, End: nowText(), ExitCode: -1, Output: (e as Error).message };
      log.warn('health check error', { id: c.Id, error: result.Output });
    }
    if (m.stopped) return;
    this.record(c, result);
    this.schedule(m, this.nextDelayMs(c, Date.now()));
  }

  /** Docker's handleProbeResult. */
  private record(c: ContainerRecord, r: HealthcheckResult): void {
    const h = c.State.Health ?? (c.State.Health = { Status: 'starting', FailingStreak: 0, Log: [] });
    const before = h.Status;
    const streak = h.FailingStreak;
    h.Log = [...h.Log, r].slice(-MAX_LOG_ENTRIES);
    if (r.ExitCode === 0) {
      h.FailingStreak = 0;
      h.Status = 'healthy';
    } else {
      const hc = c.Config.Healthcheck ?? {};
      const inStartPeriod = h.Status === 'starting' && (Date.parse(r.Start) - Date.parse(c.State.StartedAt)) * 1e6 < (hc.StartPeriod ?? 0);
      if (!inStartPeriod) {
        h.FailingStreak++;
        if (h.FailingStreak >= (hc.Retries && hc.Retries > 0 ? hc.Retries : DEFAULT_RETRIES)) h.Status = 'unhealthy';
      }
    }
    this.persist(c, h.Status !== before || h.FailingStreak !== streak);
    if (h.Status !== before) this.host.events.publish('container', `health_status: ${h.Status}`, c.Id, this.attrs(c));
  }

  private attrs(c: ContainerRecord): Record<string, string> {
    return { ...(c.Config.Labels ?? {}), image: c.Config.Image ?? '', name: c.Name.slice(1) };
  }

  /**
   * Writes the health state (temp file and rename: never torn), at once when the status or the
   * streak changed, else (only the log moved on) within LAZY_WRITE_MS, one write per container at a
   * time. Not synced to disk: a killed drayd loses nothing by it (the page cache outlives it), and
   * the record written at every change of the container's state carries it too.
   */
  private persist(c: ContainerRecord, urgent: boolean): void {
    this.dirty.set(c.Id, c);
    const t = this.lazy.get(c.Id);
    if (t && !urgent) return;
    if (t) { clearTimeout(t); this.lazy.delete(c.Id); }
    if (urgent) { void this.write(c.Id); return; }
    const timer = setTimeout(() => { this.lazy.delete(c.Id); void this.write(c.Id); }, LAZY_WRITE_MS);
    timer.unref();
    this.lazy.set(c.Id, timer);
  }

  private write(id: string): Promise<void> {
    const run = async () => {
      const c = this.dirty.get(id);
      this.dirty.delete(id);
      if (!c?.State.Health) return;
      await writeDerivedFile(this.host.stateFile(id), JSON.stringify(c.State.Health)).catch((e: NodeJS.ErrnoException) => {
        // ENOENT: the container was removed meanwhile.
        if (e.code !== 'ENOENT') log.warn('writing health state failed', { id, error: e.message });
      });
    };
    const p = (this.chain.get(id) ?? Promise.resolve()).then(run);
    this.chain.set(id, p);
    void p.finally(() => { if (this.chain.get(id) === p) this.chain.delete(id); });
    return p;
  }

  /** Writes every state not yet written, and waits for the writes under way. */
  async flush(): Promise<void> {
    for (const t of this.lazy.values()) clearTimeout(t);
    this.lazy.clear();
    await Promise.all([...this.dirty.keys()].map((id) => this.write(id)));
    await Promise.all([...this.chain.values()]);
  }
}

/** What a probe's outcome becomes in the log: Docker's wording for timeouts and probes that did not run. */
function resultOf(out: ProbeOutcome, timeoutNs: number, cmd: string[]): { ExitCode: number; Output: string } {
  const output = out.output + (out.truncated ? '...' : '');
  if (out.timedOut) {
    const t = formatDuration(timeoutNs);
    return { ExitCode: -1, Output: output ? `Health check exceeded timeout (${t}): ${output}` : `Health check exceeded timeout (${t})` };
  }
  if (out.runtimeError) return { ExitCode: -1, Output: execFailure(out.runtimeError, cmd[0]) };
  return { ExitCode: out.exitCode, Output: output };
}

/** The error Docker's exec start reports for a process that could not be run. */
function execFailure(msg: string, program: string): string {
  if (/not found|No such file or directory/i.test(msg)) {
    return `OCI runtime exec failed: exec failed: unable to start container process: exec: "${program}": executable file not found in $PATH: unknown`;
  }
  if (/permission denied/i.test(msg)) {
    return `OCI runtime exec failed: exec failed: unable to start container process: exec: "${program}": permission denied: unknown`;
  }
  return `OCI runtime exec failed: exec failed: ${msg}: unknown`;
}
