// exec: create, start (hijacked, or detached), then the exit code from exec inspect.
import type { Command } from '../command';
import { StatusError } from '../command';
import { boolFlag, strFlag, listFlag } from '../flags';
import { normalizeEnv, readEnvFile } from '../opts/misc';
import { ApiError } from '../../client';
import { pumpStreams, watchResize, parseDetachKeys, startFailureStatus } from './streams';

export const exec: Command = {
  usage: '[OPTIONS] CONTAINER COMMAND [ARG...]',
  description: 'Execute a command in a running container',
  aliases: ['dray container exec', 'dray exec'],
  flags: [
    boolFlag('detach', 'd', 'Detached mode: run command in the background'),
    strFlag('detach-keys', undefined, 'Override the key sequence for detaching a container'),
    { name: 'env', short: 'e', kind: 'list', type: 'list', usage: 'Set environment variables', parse: (v) => normalizeEnv(v) },
    listFlag('env-file', undefined, 'Read in a file of environment variables'),
    boolFlag('interactive', 'i', 'Keep STDIN open even if not attached'),
    boolFlag('privileged', undefined, 'Give extended privileges to the command'),
    boolFlag('tty', 't', 'Allocate a pseudo-TTY'),
    strFlag('user', 'u', 'Username or UID (format: "<name|uid>[:<group|gid>]")'),
    strFlag('workdir', 'w', 'Working directory inside the container'),
  ],
  interspersed: false,
  args: { min: 2 },
  async run(ctx, f, args) {
    const [container, ...cmd] = args;
    const client = ctx.client();
    const env: string[] = [];
    try { for (const file of f['env-file']) env.push(...readEnvFile(file)); } catch (e: any) { throw new StatusError(1, e.message); }
    env.push(...f.env);
    const tty = !!f.tty;
    const stdin = !!f.interactive && !f.detach;
    if (tty && stdin && !process.stdin.isTTY) throw new StatusError(1, 'the input device is not a TTY');
    const consoleSize: [number, number] | undefined = tty && process.stdout.isTTY ? ((([c, r]) => [r, c])(process.stdout.getWindowSize()) as [number, number]) : undefined;
    const { Id } = await client.exec.create(container, {
      User: f.user, Privileged: !!f.privileged, Tty: tty, AttachStdin: stdin, AttachStdout: !f.detach, AttachStderr: !f.detach,
      DetachKeys: f['detach-keys'], Env: env.length ? env : undefined, WorkingDir: f.workdir, Cmd: cmd, ConsoleSize: consoleSize,
    });
    if (f.detach) { await client.exec.startDetached(Id, tty); return 0; }
    let socket;
    try {
      ({ socket } = await client.exec.start(Id, { tty, consoleSize }));
    } catch (e: any) {
      if (e instanceof ApiError) throw new StatusError(startFailureStatus(e.message) === 125 ? 1 : startFailureStatus(e.message), `Error response from daemon: ${e.message}`);
      throw e;
    }
    const pump = pumpStreams(socket, { tty, stdin, detachKeys: parseDetachKeys(f['detach-keys']) });
    const unresize = tty ? watchResize((h, w) => client.exec.resize(Id, h, w)) : () => {};
    try {
      if (await pump.done) return 0;
    } finally { unresize(); pump.cleanup(); socket.destroy(); }
    const r = await client.exec.inspect(Id);
    if (r.ExitCode === null || r.ExitCode === undefined) return r.Running ? 0 : 126;
    return r.ExitCode;
  },
};
