// run and create.
import { writeFileSync, existsSync } from 'node:fs';
import type { Command, Ctx } from '../command';
import { StatusError } from '../command';
import type { FlagValues } from '../flags';
import { containerFlags, runOnlyFlags, buildCreateRequest, OptsError, CreateRequest } from './container-opts';
import { ApiError, DockerClient, StreamError } from '../../client';
import { pumpStreams, watchResize, proxySignals, startFailureStatus, parseDetachKeys } from './streams';
import { pullImage, splitReference } from './pull-progress';

const runFlags = [...containerFlags, ...runOnlyFlags];

/** Daemon errors of run/create: "dray: Error response from daemon: …" + hint, exit 125 (or 126/127). */
function runError(ctx: Ctx, msg: string, status = 125): StatusError {
  return new StatusError(status, `dray: ${msg}\n\nRun '${ctx.path} --help' for more information`);
}

const daemonMsg = (e: any) => (e instanceof ApiError ? `Error response from daemon: ${e.message}` : e?.message ?? String(e));

function request(ctx: Ctx, f: FlagValues, args: string[], changed: Set<string>): CreateRequest {
  try {
    return buildCreateRequest(f, args, changed);
  } catch (e) {
    if (e instanceof OptsError) throw runError(ctx, e.message);
    throw e;
  }
}

/** How run and create report daemon errors: run as "dray: …" + hint with 125, create plainly with 1. */
type DaemonErr = (msg: string) => StatusError;

async function createContainer(ctx: Ctx, client: DockerClient, req: CreateRequest, pull: string, quiet: boolean, daemonErr: DaemonErr): Promise<string> {
  const image = req.body.Image!;
  if (!['always', 'missing', 'never'].includes(pull)) throw runError(ctx, `invalid pull option: '${pull}': must be one of "always", "missing" or "never"`);
  const doPull = async () => {
    try {
      await pullImage(client, image, { platform: req.platform, quiet, out: process.stderr, config: ctx.globals.config });
    } catch (e: any) {
      throw daemonErr(daemonMsg(e));
    }
  };
  if (pull === 'always') await doPull();
  let res;
  try {
    res = await client.containers.create(req.body, { name: req.name, platform: req.platform });
  } catch (e: any) {
    if (e instanceof ApiError && e.status === 404 && /No such image/i.test(e.message) && pull === 'missing') {
      const { repo, tag, digest } = splitReference(image);
      process.stderr.write(`Unable to find image '${repo}${digest ? `@${digest}` : `:${tag}`}' locally\n`);
      await doPull();
      try {
        res = await client.containers.create(req.body, { name: req.name, platform: req.platform });
      } catch (e2: any) { throw daemonErr(daemonMsg(e2)); }
    } else if (e instanceof ApiError || e?.name === 'ConnectionError') {
      throw daemonErr(daemonMsg(e));
    } else throw e;
  }
  for (const w of res.Warnings ?? []) process.stderr.write(`WARNING: ${w}\n`);
  if (req.body.HostConfig?.ContainerIDFile) writeFileSync(req.body.HostConfig.ContainerIDFile, res.Id);
  return res.Id;
}

function checkCidfile(ctx: Ctx, f: FlagValues): void {
  if (f.cidfile && existsSync(f.cidfile)) throw runError(ctx, `container ID file found, make sure the other container isn't running or delete ${f.cidfile}`);
}

export const create: Command = {
  usage: '[OPTIONS] IMAGE [COMMAND] [ARG...]',
  description: 'Create a new container',
  aliases: ['dray container create', 'dray create'],
  flags: containerFlags,
  interspersed: false,
  args: { min: 1 },
  errorStatus: 125,
  async run(ctx, f, args, changed) {
    const req = request(ctx, f, args, changed);
    checkCidfile(ctx, f);
    const id = await createContainer(ctx, ctx.client(), req, f.pull, f.quiet, (m) => new StatusError(1, m));
    process.stdout.write(`${id}\n`);
  },
};

export const run: Command = {
  usage: '[OPTIONS] IMAGE [COMMAND] [ARG...]',
  description: 'Create and run a new container from an image',
  aliases: ['dray container run', 'dray run'],
  flags: runFlags,
  interspersed: false,
  args: { min: 1 },
  errorStatus: 125,
  async run(ctx, f, args, changed) {
    const req = request(ctx, f, args, changed);
    const body = req.body;
    const detached = !!f.detach;
    let detachKeys: Buffer | undefined;
    try { detachKeys = parseDetachKeys(f['detach-keys']); } catch (e: any) { throw runError(ctx, e.message); }
    if (!detached && body.Tty && body.AttachStdin && !process.stdin.isTTY) {
      throw new StatusError(1, 'the input device is not a TTY');
    }
    checkCidfile(ctx, f);
    // docker 28 creates the TTY at the terminal's size (HostConfig.ConsoleSize: [rows, cols]).
    if (body.Tty && process.stdout.isTTY && body.HostConfig) {
      const [cols, rows] = process.stdout.getWindowSize();
      if (rows > 0 && cols > 0) body.HostConfig.ConsoleSize = [rows, cols];
    }
    const client = ctx.client();
    const id = await createContainer(ctx, client, req, f.pull, f.quiet, (m) => runError(ctx, m));

    if (detached) {
      try { await client.containers.start(id); } catch (e: any) { throw runError(ctx, daemonMsg(e), startFailureStatus(e.message ?? '')); }
      process.stdout.write(`${id}\n`);
      return 0;
    }

    const wantAttach = body.AttachStdin || body.AttachStdout || body.AttachStderr;
    // Attach and wait go out together (one round trip, not two); both must be in place before
    // start, and an attach error is still the one reported.
    const attachP = wantAttach ? client.containers.attach(id, { stream: true, stdin: !!body.AttachStdin, stdout: !!body.AttachStdout, stderr: !!body.AttachStderr, detachKeys: f['detach-keys'] }) : undefined;
    // Register the wait before starting, so a container that exits at once is still seen.
    const registered = client.containers.waitRegistered(id, body.HostConfig?.AutoRemove ? 'removed' : 'next-exit');
    registered.catch(() => {});
    let socket: import('node:net').Socket | undefined;
    if (attachP) {
      try {
        ({ socket } = await attachP);
      } catch (e: any) { throw runError(ctx, daemonMsg(e)); }
    }
    const { result: waitP } = await registered.catch((e) => { socket?.destroy(); throw runError(ctx, daemonMsg(e)); });
    waitP.catch(() => {});
    const pump = socket ? pumpStreams(socket, { tty: !!body.Tty, stdin: !!body.AttachStdin, detachKeys }) : undefined;
    try {
      await client.containers.start(id);
    } catch (e: any) {
      pump?.cleanup();
      socket?.destroy();
      throw runError(ctx, daemonMsg(e), startFailureStatus(e?.message ?? ''));
    }
    const stopResize = body.Tty && process.stdout.isTTY ? watchResize((h, w) => client.containers.resize(id, h, w)) : () => {};
    const stopSignals = !body.Tty && f['sig-proxy'] ? proxySignals((s) => client.containers.kill(id, s)) : () => {};
    try {
      if (pump) {
        const detachedByUser = await pump.done;
        if (detachedByUser) { process.stderr.write('\n'); return 0; }
      }
      let status;
      try { status = await waitP; } catch (e: any) { throw new StatusError(125, daemonMsg(e)); }
      if (status.Error?.Message) throw new StatusError(125, status.Error.Message);
      return status.StatusCode;
    } finally {
      stopResize();
      stopSignals();
      pump?.cleanup();
      socket?.destroy();
    }
  },
};

export { StreamError };
