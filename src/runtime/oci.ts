// Thin driver of an OCI runtime's CLI (crun by default, runc selectable). Both take the same verbs.
import { promises as fsp, constants } from 'node:fs';
import { join, basename } from 'node:path';
import { run, ExecError } from '../lib/exec';
import { systemError, errorMessage } from '../lib/errors';
import { SeccompCache } from './seccomp-cache';
import { nativeAddon } from '../lib/native';
import { log } from '../lib/log';

const CGROUP_ROOT = '/sys/fs/cgroup';

function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code !== 'ESRCH'; }
}

export interface RuntimeState { id: string; pid: number; status: 'created' | 'running' | 'paused' | 'stopped'; bundle?: string }

export class OciRuntime {
  /** Compiled seccomp programs, for runtimes that take them precompiled. */
  readonly seccomp?: SeccompCache;

  /** crun's state directory (its default for root; Dray passes no --root). */
  private readonly crunStateRoot?: string;

  /** What drayd and conmon run: `path`, or a sealed copy of it once useSealedCopy made one. */
  execPath: string;

  constructor(readonly name: string, readonly path: string) {
    this.execPath = path;
    if (SeccompCache.supports(path)) this.seccomp = new SeccompCache(path);
    if (basename(path) === 'crun') this.crunStateRoot = '/run/crun';
  }

  /**
   * For crun: runs it from a sealed in-memory copy of its binary, made once (the addon's
   * sealedCopy), through a symlink `<dir>/<name>` to that copy so processes keep the name "crun".
   * crun re-executes itself from such a copy on every run otherwise (its CVE-2019-5736 defence:
   * 4–5 ms of a ~10 ms `crun` run here); a copy sealed against writes is what it checks for, and
   * as safe. The copy lives as long as this daemon: conmon uses the path only to start crun, and a
   * new daemon makes a new one. Any failure leaves `path` in use.
   */
  async useSealedCopy(dir: string): Promise<void> {
    const sys = nativeAddon();
    if (!this.crunStateRoot || !sys) return;
    const link = join(dir, this.name);
    const tmp = `${link}.${process.pid}.tmp`;
    try {
      const fd = sys.sealedCopy(this.path, this.name);
      await fsp.mkdir(dir, { recursive: true });
      await fsp.rm(tmp, { force: true });
      await fsp.symlink(`/proc/${process.pid}/fd/${fd}`, tmp);
      await fsp.rename(tmp, link);
      this.execPath = link;
    } catch (e) {
      await fsp.rm(tmp, { force: true }).catch(() => {});
      log.warn('running the OCI runtime from its own binary: no sealed copy', { runtime: this.name, error: errorMessage(e) });
    }
  }

  async start(id: string): Promise<void> {
    if (this.crunStateRoot && await this.releaseCrunInit(id)) return;
    await this.call(['start', id]);
  }

  /**
   * What `crun start` does, without starting a process for it (10–15 ms on a slow VM): the created
   * container's init waits on exec.fifo in crun's state directory; opening it for writing,
   * unlinking it and writing one byte lets init exec the process, and the fifo's absence is what
   * makes crun report the container as running. Returns false, having changed nothing, when there
   * is no fifo with a waiting reader (another state root, a container already started or gone):
   * `crun start` then runs and reports properly.
   */
  private async releaseCrunInit(id: string): Promise<boolean> {
    const fifo = join(this.crunStateRoot!, id, 'exec.fifo');
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
    } catch {
      return false;
    }
    try {
      await fsp.unlink(fifo);
      await fh.write(Buffer.alloc(1));
    } catch (e) {
      throw systemError(`${this.name} start: releasing the container: ${(e as Error).message}`);
    } finally {
      await fh.close();
    }
    return true;
  }
  async kill(id: string, signal: string, all = false): Promise<void> { await this.call(['kill', ...(all ? ['--all'] : []), id, signal]); }
  async update(id: string, args: string[]): Promise<void> { await this.call(['update', ...args, id]); }
  async pause(id: string): Promise<void> { await this.call(['pause', id]); }
  async resume(id: string): Promise<void> { await this.call(['resume', id]); }

  /** Deletes the runtime's state; a container it no longer knows is not an error. */
  async delete(id: string, force = false): Promise<void> {
    if (this.crunStateRoot && await this.deleteStoppedCrun(id)) return;
    const r = await run(this.execPath, ['delete', ...(force ? ['--force'] : []), id], { allowFailure: true, timeoutMs: 30_000 });
    if (r.code !== 0 && !/does not exist|not found|No such file/i.test(r.stderr)) throw systemError(`${this.name} delete: ${r.stderr.trim()}`);
  }

  /**
   * What `crun delete` does for a container whose processes are all gone, without starting a
   * process for it: remove its (empty) cgroup in every hierarchy, then its state directory.
   * Returns false, having left the state directory alone, whenever the container might still have
   * a process (its init's pid is alive, or a cgroup is busy): `crun delete` then kills and cleans.
   */
  private async deleteStoppedCrun(id: string): Promise<boolean> {
    const dir = join(this.crunStateRoot!, id);
    let status: { pid?: number; 'cgroup-path'?: string };
    try { status = JSON.parse(await fsp.readFile(join(dir, 'status'), 'utf8')); } catch { return false; }
    if (!status.pid || pidAlive(status.pid)) return false;
    const cg = status['cgroup-path'];
    if (cg) {
      if (!cg.startsWith('/') || cg.split('/').includes('..')) return false;
      const hierarchies = await fsp.readdir(CGROUP_ROOT).catch(() => [] as string[]);
      const leaves = [CGROUP_ROOT + cg, ...hierarchies.map((h) => join(CGROUP_ROOT, h) + cg)];
      const results = await Promise.all(leaves.map((d) => fsp.rmdir(d).then(() => true, (e: NodeJS.ErrnoException) => e.code === 'ENOENT' || e.code === 'ENOTDIR')));
      if (results.includes(false)) return false;
    }
    await fsp.rm(dir, { recursive: true, force: true });
    return true;
  }

  async state(id: string): Promise<RuntimeState | undefined> {
    const r = await run(this.execPath, ['state', id], { allowFailure: true, timeoutMs: 10_000 });
    if (r.code !== 0) return undefined;
    try { return JSON.parse(r.stdout) as RuntimeState; } catch { return undefined; }
  }

  private async call(args: string[]): Promise<void> {
    try {
      await run(this.execPath, args, { timeoutMs: 30_000 });
    } catch (e) {
      if (e instanceof ExecError) throw systemError(`${this.name} ${args[0]}: ${e.result.stderr.trim() || e.message}`);
      throw e;
    }
  }
}
