// Exec sessions: a process started inside a running container through conmon --exec, attached the
// same way as the container itself. Sessions live in memory (as in Docker) and are forgotten a
// while after they end.
//
//   <execRoot>/exec/<execId>/   process.json, exits/, pidfile, conmon.pid, ctl, exec.log
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { conflict, notFound, invalid, errorMessage } from '../lib/errors';
import { newId } from '../lib/ids';
import { log } from '../lib/log';
import type { ContainerService } from './containers';
import { writeCtl } from './containers';
import { mergeEnv } from './container-config';
import type { DaemonConfig } from './config';
import type { EventBus } from './events';
import { startConmonExec } from '../runtime/conmon';
import { connectAttach, AttachConnection } from '../runtime/attach';
import { buildProcess, processToJson } from '../runtime/process';
import { parseSecurityOpts } from '../runtime/spec';
import { resolveUser } from '../runtime/user';

export interface ExecConfig {
  Cmd: string[];
  Env?: string[];
  WorkingDir?: string;
  User?: string;
  Tty?: boolean;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  Privileged?: boolean;
  DetachKeys?: string;
  ConsoleSize?: [number, number] | null;
}

export interface ExecSessionRecord {
  id: string;
  containerId: string;
  config: ExecConfig;
  running: boolean;
  exitCode: number | null;
  pid: number;
  started: boolean;
  dir: string;
  finished?: Promise<number>;
  /** Settles when the process runs (true) or the session ends without running (false). */
  whenRunning: Promise<boolean>;
  settleRunning: (running: boolean) => void;
}

/** How long a resize that came before the process runs waits for it (dockerd's). */
const RESIZE_WAIT_MS = 10_000;

const FORGET_AFTER_MS = 5 * 60_000;

export class ExecService {
  private sessions = new Map<string, ExecSessionRecord>();
  private execDir: string;

  constructor(private cfg: DaemonConfig, private containers: ContainerService, private events: EventBus) {
    this.execDir = path.join(cfg.execRoot, 'exec');
  }

  async init(): Promise<void> {
    // Exec sessions do not survive a daemon restart: their directories are leftovers.
    await fsp.rm(this.execDir, { recursive: true, force: true });
    await fsp.mkdir(this.execDir, { recursive: true });
  }

  create(containerRef: string, config: ExecConfig): string {
    const c = this.containers.get(containerRef);
    if (!Array.isArray(config.Cmd) || config.Cmd.length === 0) throw invalid('No exec command specified');
    if (!c.State.Running) throw conflict(`Container ${c.Id} is not running`);
    if (c.State.Paused) throw conflict(`Container ${c.Id} is paused, unpause the container before exec`);
    if (c.State.Restarting) throw conflict(`Container ${c.Id} is restarting, wait until the container is running`);
    const id = newId();
    let settleRunning!: (running: boolean) => void;
    const whenRunning = new Promise<boolean>((r) => { settleRunning = r; });
    this.sessions.set(id, { id, containerId: c.Id, config, running: false, exitCode: null, pid: 0, started: false, dir: path.join(this.execDir, id), whenRunning, settleRunning });
    c.ExecIDs = [...(c.ExecIDs ?? []), id];
    this.events.publish('container', `exec_create: ${config.Cmd.join(' ')}`, c.Id, { execID: id, name: c.Name.slice(1), image: c.Config.Image ?? '' });
    return id;
  }

  get(id: string): ExecSessionRecord {
    const s = this.sessions.get(id);
    if (!s) throw notFound(`No such exec instance: ${id}`);
    return s;
  }

  inspect(id: string): Record<string, unknown> {
    const s = this.get(id);
    return {
      ID: s.id,
      Running: s.running,
      ExitCode: s.exitCode,
      ProcessConfig: { tty: !!s.config.Tty, entrypoint: s.config.Cmd[0], arguments: s.config.Cmd.slice(1), privileged: !!s.config.Privileged, user: s.config.User ?? '' },
      OpenStdin: !!s.config.AttachStdin,
      OpenStderr: !!s.config.AttachStderr,
      OpenStdout: !!s.config.AttachStdout,
      CanRemove: false,
      ContainerID: s.containerId,
      DetachKeys: s.config.DetachKeys ?? '',
      Pid: s.pid,
    };
  }

  /**
   * Starts the session. With `attach`, the process waits until the caller has connected, so no
   * early output is lost. Resolves once the process runs; `finished` gives the exit code.
   */
  async start(id: string, opts: { detach: boolean; tty?: boolean; consoleSize?: [number, number] | null }): Promise<{ conn?: AttachConnection; finished: Promise<number> }> {
    const s = this.get(id);
    if (s.started) throw conflict(`Error: Exec command ${id} has already run`);
    const c = this.containers.get(s.containerId);
    if (!c.State.Running) throw conflict(`Container ${c.Id} is not running`);
    if (c.State.Paused) throw conflict(`Container ${c.Id} is paused, unpause the container before exec`);
    s.started = true;
    try {
      return await this.run(s, c, opts);
    } catch (e) {
      // Refused before it ran (user not found, no such command…): Docker reports 126 or 127.
      if (s.exitCode === null) this.finish(s, execFailureCode(errorMessage(e)));
      throw e;
    }
  }

  private async run(s: ExecSessionRecord, c: ReturnType<ContainerService['get']>, opts: { detach: boolean; tty?: boolean; consoleSize?: [number, number] | null }): Promise<{ conn?: AttachConnection; finished: Promise<number> }> {
    const id = s.id;
    const tty = opts.tty ?? !!s.config.Tty;
    const attach = !opts.detach && !!(s.config.AttachStdin || s.config.AttachStdout || s.config.AttachStderr);
    await fsp.mkdir(path.join(s.dir, 'exits'), { recursive: true });
    const rootfs = this.containers.rootfs(c);
    const user = await resolveUser(rootfs, s.config.User || c.Config.User || undefined);
    const proc = buildProcess({
      args: s.config.Cmd,
      env: mergeEnv(c.Config.Env, s.config.Env),
      cwd: s.config.WorkingDir || c.Config.WorkingDir || '/',
      user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
      tty,
      privileged: !!s.config.Privileged || !!c.HostConfig.Privileged,
      capAdd: c.HostConfig.CapAdd ?? undefined,
      capDrop: c.HostConfig.CapDrop ?? undefined,
      noNewPrivileges: parseSecurityOpts(c.HostConfig.SecurityOpt ?? undefined).noNewPrivileges ?? !!this.cfg.noNewPrivileges,
    });
    const cs = opts.consoleSize ?? s.config.ConsoleSize;
    if (tty && cs && cs[0] > 0 && cs[1] > 0) (proc as Record<string, unknown>).consoleSize = { height: cs[0], width: cs[1] };
    const specFile = path.join(s.dir, 'process.json');
    await fsp.writeFile(specFile, processToJson(proc));
    const rt = this.containers.runtimeFor(c);
    this.events.publish('container', `exec_start: ${s.config.Cmd.join(' ')}`, c.Id, { execID: id, name: c.Name.slice(1), image: c.Config.Image ?? '' });
    let session;
    try {
      session = await startConmonExec({
        conmon: this.cfg.conmon,
        runtimePath: rt.execPath,
        containerId: c.Id,
        sessionId: id,
        bundle: s.dir,
        logPath: path.join(s.dir, 'exec.log'),
        discardLog: true,
        exitDir: path.join(s.dir, 'exits'),
        socketDir: path.join(this.cfg.execRoot, 'socks'),
        pidFile: path.join(s.dir, 'pidfile'),
        conmonPidFile: path.join(s.dir, 'conmon.pid'),
        tty,
        stdin: !!s.config.AttachStdin && attach,
        execSpec: specFile,
        execAttach: attach,
      });
    } catch (e) {
      this.finish(s, execFailureCode(errorMessage(e)));
      throw e;
    }
    let conn: AttachConnection | undefined;
    if (attach) {
      try {
        conn = await connectAttach(path.join(this.cfg.execRoot, 'socks', id, 'attach'));
      } finally {
        session.release();
      }
    }
    s.running = true;
    s.settleRunning(true);
    const finished = session.started.then(async (pid) => {
      s.pid = pid;
      return session.exited;
    }).then(
      (code) => { this.finish(s, code); return code; },
      (e) => {
        const code = execFailureCode(errorMessage(e));
        this.finish(s, code);
        throw e;
      },
    );
    s.finished = finished;
    finished.catch(() => {});
    return { conn, finished };
  }

  async resize(id: string, h: number, w: number): Promise<void> {
    const s = this.get(id);
    // The docker CLI sends its first resize right after the start, often before the process
    // runs: as dockerd, that one waits for it (bounded) instead of failing.
    if (!s.running && s.exitCode === null) {
      let timer: NodeJS.Timeout | undefined;
      const ran = await Promise.race([s.whenRunning, new Promise<boolean>((r) => { timer = setTimeout(() => r(false), RESIZE_WAIT_MS); })]);
      clearTimeout(timer);
      if (!ran && s.exitCode === null) throw conflict(`timeout waiting for exec session ready: ${id}`);
    }
    if (!s.running) throw conflict(`Exec ${id} is not running`);
    await writeCtl(path.join(s.dir, 'ctl'), `1 ${h} ${w}\n`);
  }

  private finish(s: ExecSessionRecord, code: number): void {
    s.running = false;
    s.exitCode = code;
    s.settleRunning(false);
    const c = this.containers.find(s.containerId);
    this.events.publish('container', 'exec_die', s.containerId, { execID: s.id, exitCode: String(code), name: c?.Name.slice(1) ?? '', image: c?.Config.Image ?? '' });
    void fsp.rm(s.dir, { recursive: true, force: true }).catch(() => {});
    void fsp.rm(path.join(this.cfg.execRoot, 'socks', s.id), { force: true }).catch(() => {});
    setTimeout(() => {
      this.sessions.delete(s.id);
      if (c?.ExecIDs) c.ExecIDs = c.ExecIDs.filter((x) => x !== s.id);
    }, FORGET_AFTER_MS).unref();
    log.debug('exec finished', { id: s.id, code });
  }
}

/** What docker reports when an exec could not start: 127 not found, 126 not executable. */
export function execFailureCode(msg: string): number {
  if (/not found|no such file or directory/i.test(msg)) return 127;
  if (/permission denied/i.test(msg)) return 126;
  return 126;
}
