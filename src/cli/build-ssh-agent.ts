// dray build --ssh ID=KEYFILE[,KEYFILE…]: an ssh-agent of the CLI's own for the build's lifetime,
// as buildx makes one for key files. OpenSSH's agent runs in the foreground (-D) on a socket in
// the build's private mode-0700 directory (build-ssh.ts), the keys go in with ssh-add (which
// asks on the terminal for a passphrase, as it does for a user), and the socket is then served
// as a user's agent socket is. stop() ends the agent by its PID (SIGTERM, then SIGKILL) and waits
// for it; the agent removes its socket as it goes.
import { statSync } from 'node:fs';
import * as net from 'node:net';
import { spawnChild, Child } from '../lib/spawn';
import { run, ExecError } from '../lib/exec';
import { within } from '../lib/within';

export interface PrivateAgent { pid: number; socket: string; stop(): Promise<void> }

const START_POLLS = 200; // × 10 ms: the agent's socket appears within a few ms here
const STOP_WAIT_MS = 2000;

const isSocket = (p: string) => { try { return statSync(p).isSocket(); } catch { return false; } };
/** The socket file is there from the agent's bind(), before its listen(): only a connect tells it serves. */
const serves = (p: string) => new Promise<boolean>((resolve) => {
  if (!isSocket(p)) { resolve(false); return; }
  const s = net.connect(p, () => { s.destroy(); resolve(true); });
  s.once('error', () => resolve(false));
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts an agent on `socket` holding `keys`; nothing is left running when it fails. */
export async function startAgent(socket: string, keys: string[]): Promise<PrivateAgent> {
  let child: Child;
  try { child = spawnChild('ssh-agent', ['-D', '-a', socket], { stdio: ['ignore', 'ignore', 'pipe'] }); } catch (e) { throw agentMissing(e); }
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => { stderr += c; });
  let exited = false;
  let spawnError: unknown;
  const gone = new Promise<void>((resolve) => {
    child.once('exit', () => { exited = true; resolve(); });
    child.once('error', (e) => { spawnError = e; exited = true; resolve(); });
  });
  const stop = async () => {
    if (exited) return;
    child.kill('SIGTERM');
    if (await within(gone.then(() => true), STOP_WAIT_MS, false)) return;
    child.kill('SIGKILL');
    await gone;
  };
  let up = false;
  for (let i = 0; i < START_POLLS && !exited && !(up = await serves(socket)); i++) await sleep(10);
  if (!up) {
    await stop();
    if (spawnError) throw agentMissing(spawnError);
    throw new Error(`ssh-agent did not start: ${stderr.trim() || (exited ? 'it exited' : `no socket at ${socket}`)}`);
  }
  try {
    // stdin is not the build's: a passphrase is asked for on the terminal (/dev/tty), or fails.
    await run('ssh-add', ['-q', ...keys], { env: { ...process.env, SSH_AUTH_SOCK: socket } });
  } catch (e) {
    await stop();
    const why = e instanceof ExecError ? (e.result.stderr || e.result.stdout).trim() || `exit status ${e.result.code}` : (e as Error).message;
    throw new Error(`loading ${keys.join(', ')} into an ssh-agent: ${why}`);
  }
  return { pid: child.pid!, socket, stop };
}

function agentMissing(e: unknown): Error {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT') return new Error('ssh-agent: executable file not found in $PATH (key files need OpenSSH\'s ssh-agent and ssh-add)');
  return e as Error;
}
