// `dray system dial-stdio` (hidden, as docker's): this process's stdin and stdout become a
// connection to the daemon that -H / DRAY_HOST / DOCKER_HOST names. It is what an ssh:// client
// runs on the daemon's host (client/ssh.ts; the docker CLI runs `docker system dial-stdio` the
// same way), so HTTP, keep-alive and hijacked attach/exec streams pass through it unchanged.
//
// Half-closes pass on: EOF on stdin half-closes the daemon connection (an attach's stdin ends,
// its output goes on), and the daemon's end of the connection ends the command at once, without
// waiting for stdin, which on a terminal or an idle ssh channel may never end.
import type { Socket } from 'node:net';
import type { Command } from '../command';
import { StatusError } from '../command';

export const dialStdio: Command = {
  usage: '',
  description: 'Proxy the stdio stream to the daemon connection. Should not be invoked manually.',
  flags: [],
  args: { exact: 0 },
  async run(ctx) {
    const { resolveHostAddress, tlsFrom, parseHost } = require('../../client/host') as typeof import('../../client/host');
    const { dialerFor } = require('../../client/dial') as typeof import('../../client/dial');
    const { ConnectionError } = require('../../client/errors') as typeof import('../../client/errors');
    let endpoint;
    try {
      endpoint = parseHost(resolveHostAddress(ctx.hostFlag, process.env, { context: ctx.globals.context, config: ctx.globals.config }), tlsFrom(ctx.globals));
    } catch (e) { throw new StatusError(1, (e as Error).message); }
    const dialer = dialerFor(endpoint);
    const conn: Socket = dialer.dial();
    const stdin = process.stdin;
    const stdout = process.stdout;
    try {
      await new Promise<void>((resolve, reject) => {
        conn.on('error', async (e: NodeJS.ErrnoException) => {
          const why = dialer.explain ? await dialer.explain(conn, e) : e;
          if (why !== e) reject(why);
          else if (['ENOENT', 'ECONNREFUSED', 'EACCES', 'ENOTFOUND', 'EHOSTUNREACH', 'EAI_AGAIN', 'ENOTSOCK'].includes(e.code ?? '')) reject(new ConnectionError(endpoint.display, e));
          else reject(e);
        });
        conn.on('data', (b: Buffer) => { if (!stdout.write(b)) { conn.pause(); stdout.once('drain', () => conn.resume()); } });
        conn.on('end', () => resolve());
        stdin.on('data', (b: Buffer) => { if (!conn.write(b)) { stdin.pause(); conn.once('drain', () => stdin.resume()); } });
        stdin.on('end', () => { if (!conn.destroyed) conn.end(); });
        stdin.on('error', () => { if (!conn.destroyed) conn.end(); });
        stdin.resume();
      });
    } finally {
      stdin.pause();
      conn.destroy();
      dialer.close?.();
    }
    return 0;
  },
};
