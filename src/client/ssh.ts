// A daemon on another host, reached as the docker CLI reaches one: the OpenSSH client runs
// `<dray|docker> system dial-stdio` there, and HTTP flows over that process's stdin and stdout.
// The user's own ssh setup applies (~/.ssh/config, agent, keys, known_hosts); dray adds a connect
// timeout and batch mode, so a host that is down or a key that is refused ends in an error that
// carries ssh's own words rather than in a hang or a password prompt.
//
// Each connection is one ssh process. Its stdin and stdout are the two ends of one socket pair's
// far side, so this side holds a real net.Socket: keep-alive reuse, end() as a half-close (ssh
// passes the EOF on, the remote dial-stdio half-closes its connection to the daemon) and the
// hijacked attach/exec streams work as they do over a Unix socket.
import { closeSync } from 'node:fs';
import * as net from 'node:net';
import type { Dialer } from './dial';
import type { SshSpec } from './host';
import { ConnectionError } from './errors';
import { splitShellWords } from '../lib/shell-words';
import { within } from '../lib/within';

/** Extra ssh options (shell words, e.g. `-F ./ssh_config -i key`), put before dray's own. */
export const SSH_OPTS_ENV = 'DRAY_SSH_OPTS';
/** The command run on the remote host in place of dray's default (remoteCommand). */
export const SSH_REMOTE_COMMAND_ENV = 'DRAY_SSH_REMOTE_COMMAND';

/** How much of ssh's stderr is kept for the error message: its last bytes, where the reason is. */
const STDERR_KEPT = 4096;
/** How long a failed connection's ssh may take to exit before the error is reported without it. */
const EXIT_WAIT_MS = 10_000;
/** A connection closed by its user: its ssh has this long to exit on the EOF before SIGTERM. */
const CLOSE_GRACE_MS = 2000;

/**
 * What the remote host runs. A Dray host has `dray`, a Docker host `docker`: the default asks
 * the remote shell for dray and falls back to docker, so one URL form serves both. A socket path
 * in the URL is passed as --host, as the docker CLI passes it. DRAY_SSH_REMOTE_COMMAND replaces
 * the whole command (for a program elsewhere than on PATH, sudo, or a Docker host that has dray too).
 */
export function remoteCommand(spec: SshSpec, env: NodeJS.ProcessEnv = process.env): string {
  const given = env[SSH_REMOTE_COMMAND_ENV];
  if (given && given.trim()) return given;
  const host = spec.socketPath ? ` --host=unix://${spec.socketPath}` : '';
  return `command -v dray >/dev/null 2>&1 && exec dray${host} system dial-stdio || exec docker${host} system dial-stdio`;
}

/** The ssh command line (without `ssh` itself) for one connection. */
export function sshArgs(spec: SshSpec, env: NodeJS.ProcessEnv = process.env): string[] {
  const extra = env[SSH_OPTS_ENV] ? splitShellWords(env[SSH_OPTS_ENV]!, (m) => new Error(`${SSH_OPTS_ENV}: ${m}`)) : [];
  const joined = extra.join(' ');
  const args = [...extra];
  // As the docker CLI: a connect timeout unless the user set one, and no pseudo-terminal (a TTY
  // would turn the byte stream into a terminal session). Batch mode, since nobody can answer a
  // prompt from a process whose stdin carries HTTP: a password or passphrase fails at once.
  if (!/ConnectTimeout/i.test(joined)) args.push('-o', 'ConnectTimeout=30');
  if (!/BatchMode/i.test(joined)) args.push('-o', 'BatchMode=yes');
  if (!extra.includes('-T')) args.push('-T');
  if (spec.user) args.push('-l', spec.user);
  if (spec.port) args.push('-p', String(spec.port));
  args.push('--', spec.host, remoteCommand(spec, env));
  return args;
}

interface SshConn {
  child: import('../lib/spawn').Child;
  stderr: Buffer[];
  stderrBytes: number;
  exit?: { code: number | null; signal: NodeJS.Signals | null };
  exited: Promise<void>;
  spawnError?: Error;
  /** dray sent it SIGTERM: its status says nothing about the daemon. */
  killed: boolean;
}

/** Connections to one ssh:// host; `display` is the host as the user gave it. */
export class SshDialer implements Dialer {
  /** Each connection's ssh, for explain() however late it asks; `live` for close(). */
  private readonly conns = new WeakMap<net.Socket, SshConn>();
  private readonly live = new Set<SshConn>();
  private readonly args: string[];

  constructor(readonly spec: SshSpec, readonly display: string, env: NodeJS.ProcessEnv = process.env) {
    this.args = sshArgs(spec, env);
  }

  dial(): net.Socket {
    const { nativeAddon } = require('../lib/native') as typeof import('../lib/native');
    const { spawnChild } = require('../lib/spawn') as typeof import('../lib/spawn');
    const sys = nativeAddon();
    if (!sys) throw new Error(`ssh:// hosts need dray's native addon (dist/dray_sys.node), which could not be loaded`);
    const [mine, theirs] = sys.socketpair();
    let child;
    try {
      // A session of its own (setsid): a Ctrl-C at the terminal is for dray (sig-proxy sends it to
      // the container through this very connection), not for ssh, and ssh has no terminal to prompt on.
      child = spawnChild('ssh', this.args, { stdio: [theirs, theirs, 'pipe'], detached: true });
    } finally {
      closeSync(theirs);
    }
    const sock = new net.Socket({ fd: mine, readable: true, writable: true });
    let resolveExit!: () => void;
    const c: SshConn = { child, stderr: [], stderrBytes: 0, exited: new Promise((r) => { resolveExit = r; }), killed: false };
    child.on('exit', (code: number | null, signal: NodeJS.Signals | null) => { c.exit = { code, signal }; this.live.delete(c); resolveExit(); });
    child.on('error', (e: Error) => { c.spawnError = e; c.exit ??= { code: -1, signal: null }; this.live.delete(c); resolveExit(); });
    const err = child.stderr as net.Socket | null;
    err?.on('data', (b: Buffer) => {
      c.stderr.push(b);
      c.stderrBytes += b.length;
      while (c.stderrBytes - c.stderr[0].length >= STDERR_KEPT) c.stderrBytes -= c.stderr.shift()!.length;
    });
    // Neither the exit watch nor stderr keeps a command alive: the connection itself does, while in use.
    err?.unref();
    child.unref();
    this.conns.set(sock, c);
    this.live.add(c);
    sock.once('close', () => {
      if (c.exit) return;
      // The usual end: ssh read the EOF and leaves once the remote side has. One that does not is ended.
      const t = setTimeout(() => this.kill(c), CLOSE_GRACE_MS);
      t.unref();
      void c.exited.then(() => clearTimeout(t));
    });
    return sock;
  }

  private kill(c: SshConn): void {
    if (c.exit) return;
    c.killed = true;
    c.child.kill('SIGTERM');
  }

  /**
   * A connection that failed before the daemon answered (or while it streamed) because its ssh
   * ended: ssh's exit status and stderr say why (refused key, unknown host, host down, no dray or
   * docker there, no daemon behind the remote dial-stdio).
   */
  async explain(conn: net.Socket, e: Error): Promise<Error> {
    const c = this.conns.get(conn);
    if (!c) return e;
    if (!c.exit) {
      // A referenced timer: the wait must keep the process alive, the exit watch does not.
      await within(c.exited, EXIT_WAIT_MS, undefined);
    }
    const x = c.exit;
    if (!x || c.killed) return e;
    const stderr = Buffer.concat(c.stderr).toString('utf8').trim();
    if (x.code === 0 && !stderr) return e;
    const err = new ConnectionError(this.display, e);
    if (c.spawnError) {
      err.message = `error during connect: cannot run ssh for ${this.display}: ${c.spawnError.message} (is the OpenSSH client installed?)`;
      return err;
    }
    const status = x.signal ? `was killed by ${x.signal}` : `has exited with exit status ${x.code}`;
    err.message = `error during connect: command [ssh ${this.args.join(' ')}] ${status}, make sure the URL is valid, and dray or Docker 18.09 or later is installed on the remote host: stderr=${stderr}`;
    return err;
  }

  /** Ends every ssh still running: the client is done with this host. */
  close(): void {
    for (const c of this.live) this.kill(c);
  }
}
