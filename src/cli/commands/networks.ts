// network commands.
import type { Command } from '../command';
import { boolFlag, strFlag, listFlag } from '../flags';
import { renderList, printInspect } from '../format';
import { filterFlag, formatFlag, parseFilterArgs, forEachArg, confirm, shortId, goTimeString, inspectFormatFlag } from './common';
import { labelsToMap } from '../opts/misc';
import { ApiError } from '../../client';

export const ls: Command = {
  usage: '[OPTIONS]', description: 'List networks', aliases: ['dray network ls', 'dray network list'],
  flags: [filterFlag(), formatFlag(), boolFlag('no-trunc', undefined, 'Do not truncate the output'), boolFlag('quiet', 'q', 'Only display network IDs')],
  args: { exact: 0 },
  async run(ctx, f) {
    const list = await ctx.client().networks.list(parseFilterArgs(f.filter));
    const rows = list.sort((a, b) => a.Name.localeCompare(b.Name)).map((n) => ({
      ID: f['no-trunc'] ? n.Id : shortId(n.Id), Name: n.Name, Driver: n.Driver, Scope: n.Scope, IPv6: String(n.EnableIPv6), Internal: String(n.Internal),
      CreatedAt: n.Created ? goTimeString(Date.parse(n.Created) / 1000) : '', Labels: Object.entries(n.Labels ?? {}).map(([k, v]) => `${k}=${v}`).join(','),
    }));
    const format = f.quiet && !f.format ? '{{.ID}}' : f.format;
    process.stdout.write(renderList(format, rows, { defaultTable: '{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}', headers: { ID: 'NETWORK ID', Name: 'NAME', Driver: 'DRIVER', Scope: 'SCOPE', IPv6: 'IPV6', Internal: 'INTERNAL', CreatedAt: 'CREATED', Labels: 'LABELS' } }));
  },
};

export const create: Command = {
  usage: '[OPTIONS] NETWORK', description: 'Create a network',
  flags: [
    boolFlag('attachable', undefined, 'Enable manual container attachment'),
    listFlag('aux-address', undefined, 'Auxiliary IPv4 or IPv6 addresses used by Network driver', 'map'),
    strFlag('driver', 'd', 'Driver to manage the Network', 'bridge'),
    listFlag('gateway', undefined, 'IPv4 or IPv6 Gateway for the master subnet', 'strings'),
    boolFlag('internal', undefined, 'Restrict external access to the network'),
    listFlag('ip-range', undefined, 'Allocate container ip from a sub-range', 'strings'),
    strFlag('ipam-driver', undefined, 'IP Address Management Driver', 'default'),
    listFlag('ipam-opt', undefined, 'Set IPAM driver specific options', 'map'),
    boolFlag('ipv4', undefined, 'Enable or disable IPv4 address assignment', true),
    boolFlag('ipv6', undefined, 'Enable or disable IPv6 address assignment'),
    listFlag('label', undefined, 'Set metadata on a network'),
    listFlag('opt', 'o', 'Set driver specific options', 'map'),
    listFlag('subnet', undefined, 'Subnet in CIDR format that represents a network segment', 'strings'),
  ],
  args: { exact: 1 },
  async run(ctx, f, args) {
    const subnets: string[] = f.subnet;
    const config = subnets.map((s, i) => ({ Subnet: s, Gateway: f.gateway[i], IPRange: f['ip-range'][i] })).map((c) => Object.fromEntries(Object.entries(c).filter(([, v]) => v !== undefined)));
    const r = await ctx.client().networks.create({
      Name: args[0], Driver: f.driver, Internal: f.internal, Attachable: f.attachable, EnableIPv6: f.ipv6,
      IPAM: { Driver: f['ipam-driver'], Config: config, Options: labelsToMap(f['ipam-opt']) },
      Options: labelsToMap(f.opt), Labels: labelsToMap(f.label),
    });
    if (r.Warning) process.stderr.write(`${r.Warning}\n`);
    process.stdout.write(`${r.Id}\n`);
  },
};

export const inspect: Command = {
  usage: '[OPTIONS] NETWORK [NETWORK...]', description: 'Display detailed information on one or more networks',
  flags: [inspectFormatFlag(), boolFlag('verbose', 'v', 'Verbose output for diagnostics')], args: { min: 1 },
  async run(ctx, f, args) {
    const found: unknown[] = [];
    const errors: string[] = [];
    for (const a of args) {
      try { found.push(await ctx.client().networks.inspect(a, { verbose: f.verbose })); } catch (e: any) {
        if (e instanceof ApiError && e.status === 404) errors.push(`Error response from daemon: ${e.message}`); else throw e;
      }
    }
    printInspect(found, f.format);
    if (errors.length) { process.stderr.write(errors.map((e) => `${e}\n`).join('')); return 1; }
    return 0;
  },
};

export const rm: Command = {
  usage: 'NETWORK [NETWORK...]', description: 'Remove one or more networks', aliases: ['dray network rm', 'dray network remove'],
  flags: [boolFlag('force', 'f', 'Do not error if the network does not exist')], args: { min: 1 },
  async run(ctx, f, args) {
    const rc = await forEachArg(args, async (a) => {
      try { await ctx.client().networks.remove(a); } catch (e) { if (f.force && e instanceof ApiError && e.status === 404) return; throw e; }
      return a;
    });
    // docker network rm ends a failure with this line (its StatusError carries no message).
    if (rc) process.stderr.write('exit status 1\n');
    return rc;
  },
};

export const prune: Command = {
  usage: '[OPTIONS]', description: 'Remove all unused networks',
  flags: [{ ...filterFlag(), short: undefined, usage: 'Provide filter values (e.g. "until=<timestamp>")' }, boolFlag('force', 'f', 'Do not prompt for confirmation')],
  args: { exact: 0 },
  async run(ctx, f) {
    if (!f.force && !(await confirm('WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] '))) return 0;
    const r = await ctx.client().networks.prune(parseFilterArgs(f.filter));
    if (r.NetworksDeleted?.length) process.stdout.write(`Deleted Networks:\n${r.NetworksDeleted.join('\n')}\n`);
  },
};

export const connect: Command = {
  usage: '[OPTIONS] NETWORK CONTAINER', description: 'Connect a container to a network',
  flags: [listFlag('alias', undefined, 'Add network-scoped alias for the container', 'strings'), listFlag('driver-opt', undefined, 'driver options for the network', 'strings'), strFlag('ip', undefined, 'IPv4 address (e.g., "172.30.100.104")'), strFlag('ip6', undefined, 'IPv6 address (e.g., "2001:db8::33")'), listFlag('link', undefined, 'Add link to another container'), listFlag('link-local-ip', undefined, 'Add a link-local address for the container', 'strings')],
  args: { exact: 2 },
  async run(ctx, f, args) {
    const ipam = f.ip || f.ip6 || f['link-local-ip'].length ? { IPv4Address: f.ip, IPv6Address: f.ip6, LinkLocalIPs: f['link-local-ip'].length ? f['link-local-ip'] : undefined } : undefined;
    await ctx.client().networks.connect(args[0], args[1], { IPAMConfig: ipam, Aliases: f.alias.length ? f.alias : undefined, Links: f.link.length ? f.link : undefined });
  },
};

export const disconnect: Command = {
  usage: '[OPTIONS] NETWORK CONTAINER', description: 'Disconnect a container from a network',
  flags: [boolFlag('force', 'f', 'Force the container to disconnect from a network')], args: { exact: 2 },
  async run(ctx, f, args) { await ctx.client().networks.disconnect(args[0], args[1], f.force); },
};
