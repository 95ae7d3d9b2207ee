// The one way to run an external tool: argv only (never a shell), stderr captured into the thrown
// error so the caller can show what the tool said.
import { spawnChild } from './spawn';
import { systemError } from './errors';

export interface RunResult { stdout: string; stderr: string; code: number }

export interface RunOptions {
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
  /** Resolve with the result instead of throwing on a non-zero exit. */
  allowFailure?: boolean;
}

export class ExecError extends Error {
  constructor(readonly cmd: string, readonly result: RunResult) {
    super(`${cmd}: ${(result.stderr || result.stdout).trim() || `exit status ${result.code}`}`);
  }
}

export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    let child;
    try { child = spawnChild(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd }); } catch (e) { reject(e); return; }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs) timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: any) => {
      if (timer) clearTimeout(timer);
      reject(e?.code === 'ENOENT' && e.syscall !== 'chdir' ? systemError(`${cmd}: executable file not found in $PATH`) : e);
    });
    child.on('close', (code: number | null, signal: string | null) => {
      if (timer) clearTimeout(timer);
      const r = { stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), code: code ?? (signal ? 128 : 1) };
      if (r.code !== 0 && !opts.allowFailure) reject(new ExecError(`${cmd} ${args[0] ?? ''}`.trim(), r));
      else resolve(r);
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    else child.stdin!.end();
  });
}
