// dray builder prune: the build cache (cache mounts and step-cache entries), as `docker builder prune`.
import type { Command } from '../command';
import { boolFlag, strFlag } from '../flags';
import { humanSize, ramInBytes } from '../../lib/units';
import { filterFlag, parseFilterArgs, confirm } from './common';

export const prune: Command = {
  usage: '[OPTIONS]',
  description: 'Remove build cache',
  flags: [
    boolFlag('all', 'a', 'Remove all unused build cache, not just dangling ones'),
    { ...filterFlag(), short: undefined, usage: 'Provide filter values (e.g. "until=24h")' },
    boolFlag('force', 'f', 'Do not prompt for confirmation'),
    { ...strFlag('keep-storage', undefined, 'Amount of disk space to keep for cache'), type: 'bytes', parse: (v: string) => ramInBytes(v) },
  ],
  args: { exact: 0 },
  async run(ctx, f) {
    const warning = f.all ? 'WARNING! This will remove all build cache.' : 'WARNING! This will remove all dangling build cache.';
    if (!f.force && !(await confirm(`${warning} Are you sure you want to continue? [y/N] `))) return 0;
    const r = await ctx.client().images.pruneBuildCache({ all: !!f.all, keepStorage: f['keep-storage'] || undefined, filters: parseFilterArgs(f.filter) });
    let s = '';
    if (r.CachesDeleted?.length) s += `Deleted build cache objects:\n${r.CachesDeleted.join('\n')}\n\n`;
    s += `Total reclaimed space: ${humanSize(r.SpaceReclaimed ?? 0)}\n`;
    process.stdout.write(s);
  },
};
