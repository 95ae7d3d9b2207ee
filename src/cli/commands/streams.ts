// Local end of attach/exec: stdin to the hijacked socket (half-closed at EOF), socket to
// stdout/stderr (demultiplexed unless TTY), raw terminal mode and resize propagation.
import type { Socket } from 'node:net';
import { Demuxer } from '../../client/stream';
import type { DockerClient, ContainerInspect } from '../../client';

export interface PumpOptions {
  tty: boolean;
  stdin: boolean;
  /** Detach key sequence (bytes); default ctrl-p,ctrl-q when a TTY is attached. */
  detachKeys?: Buffer;
}

/** Parses docker's detach-keys ("ctrl-p,ctrl-q", "a,ctrl-@"). */
export function parseDetachKeys(s: string | undefined): Buffer | undefined {
  if (s === undefined) return Buffer.from([16, 17]);
  if (s === '') return undefined;
  const out: number[] = [];
  for (const k of s.split(',')) {
    const m = /^ctrl-(.)$/i.exec(k);
    if (m) {
      const c = m[1].toLowerCase();
      const code = c === '@' ? 0 : c === '[' ? 27 : c === '\\' ? 28 : c === ']' ? 29 : c === '^' ? 30 : c === '_' ? 31 : c.charCodeAt(0) - 96;
      if (code < 0 || code > 31) throw new Error(`invalid detach keys: ${s}`);
      out.push(code);
    } else if (k.length === 1) out.push(k.charCodeAt(0));
    else throw new Error(`Unknown character: '${k}'`);
  }
  return Buffer.from(out);
}

export interface PumpResult {
  /** Resolves when the output side ended (or the user detached: value true). */
  done: Promise<boolean>;
  /** Stops reading stdin and restores the terminal. */
  cleanup(): void;
}

/** Joins the local stdio and a hijacked socket. */
export function pumpStreams(socket: Socket, o: PumpOptions): PumpResult {
  // process.stdin is made on first use, and on a file (/dev/null) it loads fs streams, fs/promises
  // and readline: ~5 ms of a `run --rm` that never reads its input.
  const stdin = o.stdin ? process.stdin : undefined;
  const raw = o.tty && stdin?.isTTY;
  let restored = false;
  const restore = () => {
    if (restored || !stdin) return;
    restored = true;
    if (raw) { try { stdin.setRawMode(false); } catch { /* not a TTY any more */ } }
    stdin.pause();
    stdin.removeAllListeners('data');
    stdin.removeAllListeners('end');
    (stdin as any).unref?.();
  };
  let detached = false;
  const done = new Promise<boolean>((resolve) => {
    const demux = new Demuxer((s, p) => { (s === 2 ? process.stderr : process.stdout).write(p); });
    socket.on('data', (c: Buffer) => (o.tty ? process.stdout.write(c) : demux.push(c)));
    const finish = () => resolve(detached);
    socket.on('end', finish);
    socket.on('close', finish);
    socket.on('error', finish);
    if (stdin) {
      if (raw) {
        stdin.setRawMode(true);
        // libuv's raw mode keeps ONLCR, so the container's "\r\n" would reach the screen as
        // "\r\r\n"; docker's raw mode (cfmakeraw) turns output processing off too. setRawMode(false)
        // puts back the saved termios, OPOST included.
        try { require('node:child_process').spawnSync('stty', ['-opost'], { stdio: [0, 'ignore', 'ignore'] }); } catch { /* no stty */ }
      }
      const keys = o.tty ? o.detachKeys : undefined;
      let matched = 0;
      stdin.on('data', (c: Buffer) => {
        if (keys && keys.length) {
          // Hold back bytes that may be the start of the detach sequence.
          for (const b of c) {
            if (b === keys[matched]) {
              matched++;
              if (matched === keys.length) { detached = true; socket.destroy(); resolve(true); return; }
              continue;
            }
            if (matched) { socket.write(keys.subarray(0, matched)); matched = 0; }
            socket.write(Buffer.from([b]));
          }
          return;
        }
        socket.write(c);
      });
      stdin.on('end', () => { if (!socket.destroyed) socket.end(); });
      stdin.resume();
    }
  });
  return { done, cleanup: restore };
}

/** Calls `resize(h, w)` now and on every SIGWINCH; returns the unsubscribe function. */
export function watchResize(resize: (h: number, w: number) => Promise<void>): () => void {
  const out = process.stdout;
  if (!out.isTTY) return () => {};
  const send = () => { const [w, h] = out.getWindowSize(); resize(h, w).catch(() => {}); };
  send();
  process.on('SIGWINCH', send);
  return () => { process.off('SIGWINCH', send); };
}

/** Forwards SIGINT/SIGTERM/… to the container (docker's sig-proxy). */
export function proxySignals(kill: (sig: string) => Promise<void>): () => void {
  const sigs: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
  const handlers = sigs.map((s) => {
    const h = () => { kill(s).catch(() => {}); };
    process.on(s, h);
    return [s, h] as const;
  });
  return () => { for (const [s, h] of handlers) process.off(s, h); };
}

/** Exit code of a start failure, as the docker CLI derives it from the daemon's message. */
export function startFailureStatus(msg: string): number {
  if (/executable file not found|no such file or directory|system cannot find the file specified/.test(msg)) return 127;
  if (/permission denied|is a directory/.test(msg)) return 126;
  return 125;
}

export interface AttachOptions { noStdin: boolean; sigProxy: boolean; detachKeys?: string }

/**
 * `docker attach` to a running container (`c`, as inspected): its stdio until it exits or the
 * detach keys are typed. Resolves with the exit code: the container's, or 0 after a detach.
 * Shared by `dray attach` and `dray compose attach`; `notTty` makes their error for a TTY
 * container attached without a terminal.
 */
export async function attachRunning(client: DockerClient, c: ContainerInspect, o: AttachOptions, notTty: (message: string) => Error): Promise<number> {
  const tty = !!c.Config.Tty;
  const stdin = !o.noStdin && !!c.Config.OpenStdin;
  if (tty && stdin && !process.stdin.isTTY) throw notTty('the input device is not a TTY');
  // As docker: the wait is registered first, so the exit code is known when the stream ends.
  const { result } = await client.containers.waitRegistered(c.Id, 'not-running');
  result.catch(() => {});
  const { socket } = await client.containers.attach(c.Id, { stream: true, stdin, stdout: true, stderr: true, detachKeys: o.detachKeys });
  const pump = pumpStreams(socket, { tty, stdin, detachKeys: parseDetachKeys(o.detachKeys) });
  const unresize = tty ? watchResize((h, w) => client.containers.resize(c.Id, h, w)) : () => {};
  const unsig = !tty && o.sigProxy ? proxySignals((s) => client.containers.kill(c.Id, s)) : () => {};
  try {
    if (await pump.done) return 0;
    return (await result).StatusCode;
  } finally { unresize(); unsig(); pump.cleanup(); socket.destroy(); }
}
