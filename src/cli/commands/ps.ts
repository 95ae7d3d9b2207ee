// ps / container ls, with docker's ContainerContext fields.
import type { Command } from '../command';
import { boolFlag, intFlag } from '../flags';
import { filterFlag, formatFlag, parseFilterArgs, stripSlash, shortId, ellipsis, goTimeString } from './common';
import { renderList } from '../format';
import { timeAgo, humanSizeWithPrecision } from '../../lib/units';
import { displayPorts } from '../opts/ports';
import type { ContainerSummary } from '../../client/types';

export class ContainerContext {
  constructor(private readonly c: ContainerSummary, private readonly trunc: boolean) {}
  get ID() { return this.trunc ? shortId(this.c.Id) : this.c.Id; }
  get Names() {
    const names = (this.c.Names ?? []).map(stripSlash);
    // Link aliases look like "other/alias"; docker hides them unless --no-trunc.
    return (this.trunc ? names.filter((n) => !n.includes('/')) : names).join(',');
  }
  get Image() {
    const img = this.c.Image ?? '';
    if (!this.trunc) return img;
    if (img.startsWith('sha256:')) return shortId(img);
    return img;
  }
  get Command() {
    const cmd = this.c.Command ?? '';
    return JSON.stringify(this.trunc ? ellipsis(cmd, 20) : cmd);
  }
  get CreatedAt() { return goTimeString(this.c.Created); }
  get RunningFor() { return timeAgo(this.c.Created); }
  get Ports() { return displayPorts(this.c.Ports); }
  get State() { return this.c.State; }
  get Status() { return this.c.Status; }
  get Size() {
    if (this.c.SizeRw === undefined && this.c.SizeRootFs === undefined) return '0B';
    const rw = humanSizeWithPrecision(this.c.SizeRw ?? 0, 3);
    return `${rw} (virtual ${humanSizeWithPrecision(this.c.SizeRootFs ?? 0, 3)})`;
  }
  get Labels() { return Object.entries(this.c.Labels ?? {}).map(([k, v]) => `${k}=${v}`).join(','); }
  Label(name: string) { return (this.c.Labels ?? {})[name] ?? ''; }
  get Mounts() {
    return (this.c.Mounts ?? []).map((m) => { const n = m.Name || m.Source || ''; return this.trunc ? ellipsis(n, 15) : n; }).join(',');
  }
  get Networks() { return Object.keys(this.c.NetworkSettings?.Networks ?? {}).sort().join(','); }
  /** Docker 28 fills this from the image manifest's platform; the list API gives us none. */
  get Platform() { return (this.c as any).ImageManifestDescriptor?.platform ?? null; }
  get LocalVolumes() { return String((this.c.Mounts ?? []).filter((m) => m.Type === 'volume').length); }
  toJSON() {
    const o: Record<string, unknown> = {};
    for (const k of ['Command', 'CreatedAt', 'ID', 'Image', 'Labels', 'LocalVolumes', 'Mounts', 'Names', 'Networks', 'Platform', 'Ports', 'RunningFor', 'Size', 'State', 'Status']) o[k] = (this as any)[k];
    return o;
  }
}

export const containerHeaders = {
  ID: 'CONTAINER ID', Image: 'IMAGE', Command: 'COMMAND', CreatedAt: 'CREATED AT', RunningFor: 'CREATED', Ports: 'PORTS',
  State: 'STATE', Status: 'STATUS', Size: 'SIZE', Names: 'NAMES', Labels: 'LABELS', Label: (name: string) => name, Mounts: 'MOUNTS',
  Platform: 'PLATFORM',
  Networks: 'NETWORKS', LocalVolumes: 'LOCAL VOLUMES',
};

export const ps: Command = {
  usage: '[OPTIONS]',
  description: 'List containers',
  aliases: ['dray container ls', 'dray container list', 'dray container ps', 'dray ps'],
  flags: [
    boolFlag('all', 'a', 'Show all containers (default shows just running)'),
    filterFlag(),
    formatFlag(),
    intFlag('last', 'n', 'Show n last created containers (includes all states)', -1),
    boolFlag('latest', 'l', 'Show the latest created container (includes all states)'),
    boolFlag('no-trunc', undefined, "Don't truncate output"),
    boolFlag('quiet', 'q', 'Only display container IDs'),
    boolFlag('size', 's', 'Display total file sizes'),
  ],
  args: { exact: 0 },
  async run(ctx, f) {
    const filters = parseFilterArgs(f.filter);
    const limit = f.latest ? 1 : f.last;
    let format: string | undefined = f.format;
    if (f.quiet && !format) format = '{{.ID}}';
    const wantSize = f.size || (format !== undefined && /\.Size\b/.test(format));
    const list = await ctx.client().containers.list({ all: f.all || limit > 0, limit: limit > 0 ? limit : undefined, size: wantSize, filters });
    const rows = list.map((c) => new ContainerContext(c, !f['no-trunc']));
    const def = `{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}${f.size ? '\t{{.Size}}' : ''}`;
    process.stdout.write(renderList(format, rows, { defaultTable: def, headers: containerHeaders }));
  },
};
