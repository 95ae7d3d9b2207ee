// Container commands other than run/create/exec/ps/cp.
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Command, Ctx } from '../command';
import { StatusError } from '../command';
import { boolFlag, intFlag, strFlag, listFlag, FlagDef } from '../flags';
import { ramInBytes, memSwapBytes, humanSize, bytesSize, apiTimestamp } from '../../lib/units';
import { filterFlag, forEachArg, inspectFormatFlag, parseFilterArgs, confirm, stripSlash, shortId, formatFlag } from './common';
import { renderList, printInspect } from '../format';
import { tabwrite } from '../tabwriter';
import { ApiError, demuxTo } from '../../client';
import { statsRow, STATS_TABLE, STATS_HEADERS } from '../stats-row';
import { pumpStreams, proxySignals, watchResize, parseDetachKeys, attachRunning } from './streams';
import { parseCpus, parseRestartPolicy } from '../opts/misc';

const simple = (description: string, usage: string, flags: FlagDef[], fn: Command['run'], extra: Partial<Command> = {}): Command =>
  ({ description, usage, flags, run: fn, args: { min: 1 }, ...extra });

export const start = simple('Start one or more stopped containers', '[OPTIONS] CONTAINER [CONTAINER...]', [
  boolFlag('attach', 'a', 'Attach STDOUT/STDERR and forward signals'),
  strFlag('detach-keys', undefined, 'Override the key sequence for detaching a container'),
  boolFlag('interactive', 'i', "Attach container's STDIN"),
], async (ctx, f, args) => {
  const client = ctx.client();
  if (f.attach || f.interactive) {
    if (args.length > 1) throw new StatusError(1, 'you cannot start and attach multiple containers at once');
    const c = await client.containers.inspect(args[0]);
    const tty = !!c.Config.Tty;
    const { socket } = await client.containers.attach(c.Id, { stream: true, stdin: !!f.interactive && !!c.Config.OpenStdin, stdout: true, stderr: true, detachKeys: f['detach-keys'] });
    const { result } = await client.containers.waitRegistered(c.Id, 'next-exit');
    result.catch(() => {});
    const pump = pumpStreams(socket, { tty, stdin: !!f.interactive && !!c.Config.OpenStdin, detachKeys: parseDetachKeys(f['detach-keys']) });
    await client.containers.start(c.Id);
    const unresize = tty ? watchResize((h, w) => client.containers.resize(c.Id, h, w)) : () => {};
    const unsig = tty ? () => {} : proxySignals((s) => client.containers.kill(c.Id, s));
    try {
      if (await pump.done) return 0;
      return (await result).StatusCode;
    } finally { unresize(); unsig(); pump.cleanup(); socket.destroy(); }
  }
  let failed = false;
  for (const a of args) {
    try { await client.containers.start(a); process.stdout.write(`${a}\n`); } catch (e: any) {
      if (e?.name === 'ConnectionError') throw e;
      failed = true;
      process.stderr.write(`Error response from daemon: ${e.message}\n`);
    }
  }
  if (failed) { process.stderr.write('Error: failed to start containers: ' + args.join(', ') + '\n'); return 1; }
  return 0;
}, { aliases: ['dray container start', 'dray start'] });

const stopFlags = (verb: string): FlagDef[] => [
  strFlag('signal', 's', `Signal to send to the container`),
  { ...intFlag('timeout', 't', `Seconds to wait before killing the container`), hidden: false },
  { ...intFlag('time', undefined, `Seconds to wait before killing the container (deprecated: use --timeout)`), hidden: true },
].map((d) => ({ ...d, usage: d.usage.replace('container', verb === 'restart' ? 'container' : 'container') }));

export const stop = simple('Stop one or more running containers', '[OPTIONS] CONTAINER [CONTAINER...]', stopFlags('stop'),
  async (ctx, f, args) => forEachArg(args, async (a) => { await ctx.client().containers.stop(a, { t: f.timeout ?? f.time, signal: f.signal }); return a; }, { parallel: true }),
  { aliases: ['dray container stop', 'dray stop'] });

export const restart = simple('Restart one or more containers', '[OPTIONS] CONTAINER [CONTAINER...]', stopFlags('restart'),
  async (ctx, f, args) => forEachArg(args, async (a) => { await ctx.client().containers.restart(a, { t: f.timeout ?? f.time, signal: f.signal }); return a; }),
  { aliases: ['dray container restart', 'dray restart'] });

export const kill = simple('Kill one or more running containers', '[OPTIONS] CONTAINER [CONTAINER...]', [strFlag('signal', 's', 'Signal to send to the container')],
  async (ctx, f, args) => forEachArg(args, async (a) => { await ctx.client().containers.kill(a, f.signal || undefined); return a; }, { parallel: true }),
  { aliases: ['dray container kill', 'dray kill'] });

export const pause = simple('Pause all processes within one or more containers', 'CONTAINER [CONTAINER...]', [],
  async (ctx, _f, args) => forEachArg(args, async (a) => { await ctx.client().containers.pause(a); return a; }, { parallel: true }),
  { aliases: ['dray container pause', 'dray pause'] });

export const unpause = simple('Unpause all processes within one or more containers', 'CONTAINER [CONTAINER...]', [],
  async (ctx, _f, args) => forEachArg(args, async (a) => { await ctx.client().containers.unpause(a); return a; }, { parallel: true }),
  { aliases: ['dray container unpause', 'dray unpause'] });

export const rm = simple('Remove one or more containers', '[OPTIONS] CONTAINER [CONTAINER...]', [
  boolFlag('force', 'f', 'Force the removal of a running container (uses SIGKILL)'),
  boolFlag('link', 'l', 'Remove the specified link'),
  boolFlag('volumes', 'v', 'Remove anonymous volumes associated with the container'),
], async (ctx, f, args) => forEachArg(args, async (a) => {
  if (a.replace(/^\//, '') === '') throw new Error('Container name cannot be empty');
  try {
    await ctx.client().containers.remove(a, { force: f.force, v: f.volumes, link: f.link });
  } catch (e) {
    // rm -f of a container that does not exist is reported but does not fail, as docker's.
    if (f.force && e instanceof ApiError && e.status === 404) return { note: `Error response from daemon: ${e.message}` };
    throw e;
  }
  return a;
}, { parallel: true }), { aliases: ['dray container rm', 'dray container remove', 'dray rm'] });

export const rename = simple('Rename a container', 'CONTAINER NEW_NAME', [], async (ctx, _f, args) => {
  const [oldName, newName] = args.map((s) => s.trim());
  if (!oldName || !newName) throw new StatusError(1, 'Error: Neither old nor new names may be empty');
  try {
    await ctx.client().containers.rename(oldName, newName);
  } catch (e: any) {
    if (e instanceof ApiError) throw new StatusError(1, `Error response from daemon: ${e.message}\nError: failed to rename container named ${oldName}`);
    throw e;
  }
}, { args: { exact: 2 }, aliases: ['dray container rename', 'dray rename'] });

export const wait = simple('Block until one or more containers stop, then print their exit codes', 'CONTAINER [CONTAINER...]', [],
  async (ctx, _f, args) => forEachArg(args, async (a) => String((await ctx.client().containers.wait(a)).StatusCode)),
  { aliases: ['dray container wait', 'dray wait'] });

export const inspect = simple('Display detailed information on one or more containers', '[OPTIONS] CONTAINER [CONTAINER...]', [
  inspectFormatFlag(),
  boolFlag('size', 's', 'Display total file sizes'),
], async (ctx, f, args) => {
  const found: unknown[] = [];
  const errors: string[] = [];
  for (const a of args) {
    try { found.push(await ctx.client().containers.inspect(a, { size: f.size })); } catch (e: any) {
      if (e instanceof ApiError && e.status === 404) errors.push(`Error response from daemon: ${e.message}`);
      else throw e;
    }
  }
  printInspect(found, f.format);
  if (errors.length) { process.stderr.write(errors.map((e) => `${e}\n`).join('')); return 1; }
  return 0;
}, { aliases: ['dray container inspect'] });

export const logs: Command = {
  usage: '[OPTIONS] CONTAINER',
  description: 'Fetch the logs of a container',
  aliases: ['dray container logs', 'dray logs'],
  flags: [
    boolFlag('details', undefined, 'Show extra details provided to logs'),
    boolFlag('follow', 'f', 'Follow log output'),
    strFlag('since', undefined, 'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)'),
    { ...strFlag('tail', 'n', 'Number of lines to show from the end of the logs'), default: 'all' },
    boolFlag('timestamps', 't', 'Show timestamps'),
    strFlag('until', undefined, 'Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)'),
  ],
  args: { exact: 1 },
  async run(ctx, f, args) {
    const client = ctx.client();
    const c = await client.containers.inspect(args[0]);
    const res = await client.containers.logs(c.Id, {
      follow: f.follow, since: f.since ? apiTimestamp(f.since) : undefined, until: f.until ? apiTimestamp(f.until) : undefined,
      timestamps: f.timestamps, tail: f.tail, details: f.details,
    });
    await demuxTo(res, process.stdout, process.stderr, !!c.Config.Tty);
  },
};

export const top: Command = {
  usage: 'CONTAINER [ps OPTIONS]',
  description: 'Display the running processes of a container',
  aliases: ['dray container top', 'dray top'],
  flags: [],
  interspersed: false,
  args: { min: 1 },
  async run(ctx, _f, args) {
    const r = await ctx.client().containers.top(args[0], args.slice(1).join(' ') || undefined);
    const lines = [r.Titles.join('\t'), ...(r.Processes ?? []).map((p) => p.join('\t'))].join('\n') + '\n';
    process.stdout.write(tabwrite(lines, { minwidth: 20, padding: 3 }));
  },
};

export const port: Command = {
  usage: 'CONTAINER [PRIVATE_PORT[/PROTO]]',
  description: 'List port mappings or a specific mapping for the container',
  aliases: ['dray container port', 'dray port'],
  flags: [],
  args: { min: 1, max: 2 },
  async run(ctx, _f, args) {
    const c = await ctx.client().containers.inspect(args[0]);
    const ports = c.NetworkSettings?.Ports ?? {};
    const fmt = (b: { HostIp?: string; HostPort?: string }) => {
      const ip = b.HostIp || '0.0.0.0';
      return `${ip.includes(':') ? `[${ip}]` : ip}:${b.HostPort}`;
    };
    if (args[1]) {
      let [p, proto] = args[1].split('/');
      proto ||= 'tcp';
      const key = `${p}/${proto}`;
      const b = ports[key];
      if (!b || !b.length) throw new StatusError(1, `Error: No public port '${args[1]}' published for ${args[0]}`);
      for (const x of b) process.stdout.write(`${fmt(x)}\n`);
      return;
    }
    const keys = Object.keys(ports).sort((a, b) => parseInt(a) - parseInt(b) || a.localeCompare(b));
    for (const k of keys) for (const b of ports[k] ?? []) process.stdout.write(`${k} -> ${fmt(b)}\n`);
  },
};

export const diff = simple("Inspect changes to files or directories on a container's filesystem", 'CONTAINER', [], async (ctx, _f, args) => {
  const changes = await ctx.client().containers.changes(args[0]);
  for (const c of changes ?? []) process.stdout.write(`${'CAD'[c.Kind] ?? '?'} ${c.Path}\n`);
}, { args: { exact: 1 }, aliases: ['dray container diff', 'dray diff'] });

export const exportCmd = simple("Export a container's filesystem as a tar archive", '[OPTIONS] CONTAINER', [strFlag('output', 'o', 'Write to a file, instead of STDOUT')], async (ctx, f, args) => {
  if (!f.output && process.stdout.isTTY) throw new StatusError(1, 'cowardly refusing to save to a terminal. Use the -o flag or redirect');
  const res = await ctx.client().containers.export(args[0]);
  await pipeline(res, f.output ? createWriteStream(f.output) : process.stdout);
}, { args: { exact: 1 }, aliases: ['dray container export', 'dray export'] });

export const commit = simple("Create a new image from a container's changes", '[OPTIONS] CONTAINER [REPOSITORY[:TAG]]', [
  strFlag('author', 'a', 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")'),
  listFlag('change', 'c', 'Apply Dockerfile instruction to the created image'),
  strFlag('message', 'm', 'Commit message'),
  boolFlag('pause', 'p', 'Pause container during commit', true),
], async (ctx, f, args) => {
  let repo: string | undefined;
  let tag: string | undefined;
  if (args[1]) {
    const slash = args[1].lastIndexOf('/');
    const colon = args[1].lastIndexOf(':');
    if (colon > slash) { repo = args[1].slice(0, colon); tag = args[1].slice(colon + 1); } else repo = args[1];
  }
  const r = await ctx.client().containers.commit({ container: args[0], repo, tag, comment: f.message, author: f.author, pause: f.pause, changes: f.change.length ? f.change : undefined });
  process.stdout.write(`${r.Id}\n`);
}, { args: { min: 1, max: 2 }, aliases: ['dray container commit', 'dray commit'] });

export const prune: Command = {
  usage: '[OPTIONS]',
  description: 'Remove all stopped containers',
  flags: [{ ...filterFlag(), short: undefined, usage: "Provide filter values (e.g. \"until=<timestamp>\")" }, boolFlag('force', 'f', 'Do not prompt for confirmation')],
  args: { exact: 0 },
  async run(ctx, f) {
    if (!f.force && !(await confirm('WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] '))) return 0;
    const r = await ctx.client().containers.prune(parseFilterArgs(f.filter));
    let s = '';
    if (r.ContainersDeleted?.length) s += `Deleted Containers:\n${r.ContainersDeleted.join('\n')}\n\n`;
    s += `Total reclaimed space: ${humanSize(r.SpaceReclaimed ?? 0)}\n`;
    process.stdout.write(s);
  },
};

export const attach: Command = {
  usage: '[OPTIONS] CONTAINER',
  description: 'Attach local standard input, output, and error streams to a running container',
  aliases: ['dray container attach', 'dray attach'],
  flags: [
    strFlag('detach-keys', undefined, 'Override the key sequence for detaching a container'),
    boolFlag('no-stdin', undefined, 'Do not attach STDIN'),
    boolFlag('sig-proxy', undefined, 'Proxy all received signals to the process', true),
  ],
  args: { exact: 1 },
  async run(ctx, f, args) {
    const client = ctx.client();
    const c = await client.containers.inspect(args[0]);
    if (!c.State.Running) throw new StatusError(1, 'You cannot attach to a stopped container, start it first');
    if (c.State.Paused) throw new StatusError(1, 'You cannot attach to a paused container, unpause it first');
    return attachRunning(client, c, { noStdin: f['no-stdin'], sigProxy: f['sig-proxy'], detachKeys: f['detach-keys'] }, (m) => new StatusError(1, m));
  },
};

export const stats: Command = {
  usage: '[OPTIONS] [CONTAINER...]',
  description: 'Display a live stream of container(s) resource usage statistics',
  aliases: ['dray container stats', 'dray stats'],
  flags: [
    boolFlag('all', 'a', 'Show all containers (default shows just running)'),
    formatFlag(),
    boolFlag('no-stream', undefined, 'Disable streaming stats and only pull the first result'),
    boolFlag('no-trunc', undefined, "Don't truncate output"),
  ],
  async run(ctx, f, args) {
    const client = ctx.client();
    const render = async () => {
      const targets = args.length ? args : (await client.containers.list({ all: f.all })).map((c) => c.Id);
      const rows = [];
      for (const t of targets) {
        const c = await client.containers.inspect(t);
        const gen = await client.containers.stats(c.Id, false);
        for await (const s of gen) { rows.push(statsRow(s, c.Id, stripSlash(c.Name))); break; }
      }
      return renderList(f.format, rows, {
        defaultTable: STATS_TABLE,
        headers: STATS_HEADERS,
      });
    };
    if (f['no-stream'] || !process.stdout.isTTY) { process.stdout.write(await render()); if (f['no-stream']) return; }
    for (;;) {
      const text = await render();
      process.stdout.write(`\x1b[2J\x1b[H${text}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  },
};

export const update = simple('Update configuration of one or more containers', '[OPTIONS] CONTAINER [CONTAINER...]', [
  { name: 'cpus', kind: 'value', type: 'decimal', usage: 'Number of CPUs', parse: parseCpus },
  intFlag('cpu-shares', 'c', 'CPU shares (relative weight)'),
  { name: 'memory', short: 'm', kind: 'value', type: 'bytes', usage: 'Memory limit', parse: ramInBytes },
  { name: 'memory-swap', kind: 'value', type: 'bytes', usage: "Swap limit equal to memory plus swap: -1 to enable unlimited swap", parse: memSwapBytes },
  { name: 'memory-reservation', kind: 'value', type: 'bytes', usage: 'Memory soft limit', parse: ramInBytes },
  intFlag('pids-limit', undefined, 'Tune container pids limit (set -1 for unlimited)'),
  strFlag('restart', undefined, 'Restart policy to apply when a container exits'),
  strFlag('cpuset-cpus', undefined, 'CPUs in which to allow execution (0-3, 0,1)'),
  strFlag('cpuset-mems', undefined, 'MEMs in which to allow execution (0-3, 0,1)'),
], async (ctx, f, args, changed) => {
  const body: Record<string, unknown> = {};
  if (changed.has('cpus')) body.NanoCpus = f.cpus;
  if (changed.has('cpu-shares')) body.CpuShares = f['cpu-shares'];
  if (changed.has('memory')) body.Memory = f.memory;
  if (changed.has('memory-swap')) body.MemorySwap = f['memory-swap'];
  if (changed.has('memory-reservation')) body.MemoryReservation = f['memory-reservation'];
  if (changed.has('pids-limit')) body.PidsLimit = f['pids-limit'];
  if (changed.has('cpuset-cpus')) body.CpusetCpus = f['cpuset-cpus'];
  if (changed.has('cpuset-mems')) body.CpusetMems = f['cpuset-mems'];
  if (changed.has('restart')) body.RestartPolicy = parseRestartPolicy(f.restart);
  if (!Object.keys(body).length) throw new StatusError(1, 'you must provide one or more flags when using this command');
  return forEachArg(args, async (a) => {
    const r = await ctx.client().containers.update(a, body);
    for (const w of r?.Warnings ?? []) process.stderr.write(`${w}\n`);
    return a;
  });
}, { aliases: ['dray container update', 'dray update'] });

export type { Ctx };
