// Spawning external programs (never through a shell), with a hard timeout and an hrtime duration.
// Through drayd's own spawn (vfork, src/lib/spawn.ts): node's child_process forks this whole runner,
// whose page-table copy (10+ ms for a few hundred MiB) would otherwise be counted in every timed
// command, on both sides, where a shell's fork is a fraction of a millisecond.
import { spawnChild, StdioSlot } from '../../src/lib/spawn';

export interface Spawned {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** wall-clock from spawn() to the 'close' event, in milliseconds */
  ms: number;
}

export interface SpawnOpts {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
  /** 'capture' (default), 'ignore', or 'devnull' (stdout opened on /dev/null, as a shell's `> /dev/null`) */
  stdout?: 'capture' | 'ignore' | 'devnull';
  input?: string | Buffer;
  /** stop capturing after this many bytes (the rest is read and dropped) */
  maxCapture?: number;
}

export class SpawnError extends Error {
  constructor(readonly cmd: string, readonly result: Spawned) {
    super(`${cmd}: ${result.signal ? `killed by ${result.signal}` : `exit ${result.code}`}${result.stderr.trim() ? `: ${lastLines(result.stderr, 3)}` : ''}`);
  }
}

function lastLines(s: string, n: number): string {
  return s.trim().split('\n').slice(-n).join(' | ').slice(0, 400);
}

/** Runs cmd and resolves with its exit status, output and duration; rejects only on spawn failure or timeout. */
export function run(cmd: string, args: string[], opts: SpawnOpts = {}): Promise<Spawned> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const max = opts.maxCapture ?? 16 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    const stdin: StdioSlot = opts.input === undefined ? 'ignore' : 'pipe';
    // 'ignore' is /dev/null, as a shell's `> /dev/null`.
    const stdio: StdioSlot[] = [stdin, opts.stdout === 'devnull' || opts.stdout === 'ignore' ? 'ignore' : 'pipe', 'pipe'];
    const t0 = process.hrtime.bigint();
    const child = spawnChild(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio });
    let out = '';
    let err = '';
    child.stdout?.on('data', (b: Buffer) => { if (out.length < max) out += b.toString(); });
    child.stderr?.on('data', (b: Buffer) => { if (err.length < max) err += b.toString(); });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid) try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
    }, timeoutMs);
    child.on('error', (e: Error) => { clearTimeout(timer); reject(new Error(`${cmd}: ${e.message}`)); });
    child.on('close', (code: number | null, signal: NodeJS.Signals | null) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      clearTimeout(timer);
      if (timedOut) reject(new Error(`${cmd} ${args.slice(0, 6).join(' ')}: timed out after ${timeoutMs} ms`));
      else resolve({ code, signal, stdout: out, stderr: err, ms });
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

/** Like run(), but a non-zero exit is an error. */
export async function runOk(cmd: string, args: string[], opts: SpawnOpts = {}): Promise<Spawned> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new SpawnError(`${cmd} ${args.slice(0, 6).join(' ')}`, r);
  return r;
}

/** First line of a command's output, or undefined if it cannot run. */
export async function firstLine(cmd: string, args: string[]): Promise<string | undefined> {
  try {
    const r = await run(cmd, args, { timeoutMs: 10_000 });
    if (r.code !== 0) return undefined;
    return (r.stdout || r.stderr).trim().split('\n')[0];
  } catch { return undefined; }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs worker over items with at most `concurrency` in flight; results in item order. */
export async function pool<T, R>(items: T[], concurrency: number, worker: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await worker(items[i], i);
    }
  });
  await Promise.all(lanes);
  return results;
}
