// volume commands.
import type { Command } from '../command';
import { boolFlag, strFlag, listFlag } from '../flags';
import { renderList, printInspect } from '../format';
import { humanSize } from '../../lib/units';
import { filterFlag, formatFlag, parseFilterArgs, forEachArg, confirm, inspectFormatFlag } from './common';
import { labelsToMap } from '../opts/misc';
import { ApiError } from '../../client';

export const ls: Command = {
  usage: '[OPTIONS]', description: 'List volumes', aliases: ['dray volume ls', 'dray volume list'],
  flags: [boolFlag('cluster', undefined, 'Display only cluster volumes, and use cluster volume list formatting'), filterFlag(), formatFlag(), boolFlag('quiet', 'q', 'Only display volume names')],
  args: { exact: 0 },
  async run(ctx, f) {
    const r = await ctx.client().volumes.list(parseFilterArgs(f.filter));
    for (const w of r.Warnings ?? []) process.stderr.write(`${w}\n`);
    const rows = (r.Volumes ?? []).sort((a, b) => a.Name.localeCompare(b.Name)).map((v) => ({
      Name: v.Name, Driver: v.Driver, Scope: v.Scope, Mountpoint: v.Mountpoint, CreatedAt: v.CreatedAt ?? '',
      Labels: Object.entries(v.Labels ?? {}).map(([k, x]) => `${k}=${x}`).join(','), Links: v.UsageData ? String(v.UsageData.RefCount) : 'N/A',
      Size: v.UsageData ? humanSize(v.UsageData.Size) : 'N/A',
    }));
    const format = f.quiet && !f.format ? '{{.Name}}' : f.format;
    process.stdout.write(renderList(format, rows, { defaultTable: '{{.Driver}}\t{{.Name}}', headers: { Name: 'VOLUME NAME', Driver: 'DRIVER', Scope: 'SCOPE', Mountpoint: 'MOUNTPOINT', CreatedAt: 'CREATED', Labels: 'LABELS', Links: 'LINKS', Size: 'SIZE' } }));
  },
};

export const create: Command = {
  usage: '[OPTIONS] [VOLUME]', description: 'Create a volume',
  flags: [strFlag('driver', 'd', 'Specify volume driver name', 'local'), listFlag('label', undefined, 'Set metadata for a volume'), strFlag('name', undefined, 'Specify volume name'), listFlag('opt', 'o', 'Set driver specific options', 'map')],
  args: { max: 1 },
  async run(ctx, f, args) {
    const opts: Record<string, string> = labelsToMap(f.opt);
    const v = await ctx.client().volumes.create({ Name: args[0] ?? f.name ?? '', Driver: f.driver, DriverOpts: opts, Labels: labelsToMap(f.label) });
    process.stdout.write(`${v.Name}\n`);
  },
};

export const inspect: Command = {
  usage: '[OPTIONS] VOLUME [VOLUME...]', description: 'Display detailed information on one or more volumes',
  flags: [inspectFormatFlag()], args: { min: 1 },
  async run(ctx, f, args) {
    const found: unknown[] = [];
    const errors: string[] = [];
    for (const a of args) {
      try { found.push(await ctx.client().volumes.inspect(a)); } catch (e: any) {
        if (e instanceof ApiError && e.status === 404) errors.push(`Error response from daemon: ${e.message}`); else throw e;
      }
    }
    printInspect(found, f.format);
    if (errors.length) { process.stderr.write(errors.map((e) => `${e}\n`).join('')); return 1; }
    return 0;
  },
};

export const rm: Command = {
  usage: '[OPTIONS] VOLUME [VOLUME...]', description: 'Remove one or more volumes', aliases: ['dray volume rm', 'dray volume remove'],
  flags: [boolFlag('force', 'f', 'Force the removal of one or more volumes')], args: { min: 1 },
  async run(ctx, f, args) { return forEachArg(args, async (a) => { await ctx.client().volumes.remove(a, f.force); return a; }); },
};

export const prune: Command = {
  usage: '[OPTIONS]', description: 'Remove unused local volumes',
  flags: [boolFlag('all', 'a', 'Remove all unused volumes, not just anonymous ones'), { ...filterFlag(), short: undefined, usage: 'Provide filter values (e.g. "label=<label>")' }, boolFlag('force', 'f', 'Do not prompt for confirmation')],
  args: { exact: 0 },
  async run(ctx, f) {
    if (!f.force && !(await confirm('WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] '))) return 0;
    const filters = parseFilterArgs(f.filter);
    if (f.all) filters.all = ['true'];
    const r = await ctx.client().volumes.prune(filters);
    let s = '';
    if (r.VolumesDeleted?.length) s += `Deleted Volumes:\n${r.VolumesDeleted.join('\n')}\n\n`;
    s += `Total reclaimed space: ${humanSize(r.SpaceReclaimed ?? 0)}\n`;
    process.stdout.write(s);
  },
};
