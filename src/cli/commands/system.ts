// version, info, events, system df, system prune, generic inspect.
import type { Command } from '../command';
import { StatusError } from '../command';
import { boolFlag, strFlag } from '../flags';
import { renderOne, renderList, inspectJson, printInspect } from '../format';
import { humanSize, humanSizeWithPrecision, apiTimestamp, timeAgo } from '../../lib/units';
import { filterFlag, formatFlag, parseFilterArgs, confirm, shortId, inspectFormatFlag } from './common';
import { ApiError, CLIENT_API_VERSION } from '../../client';

const CLIENT_VERSION = '0.1.0';

function clientInfo(ctx: Parameters<Command['run']>[0]) {
  return {
    Platform: { Name: 'Dray' },
    Version: CLIENT_VERSION,
    ApiVersion: CLIENT_API_VERSION,
    DefaultAPIVersion: CLIENT_API_VERSION,
    GitCommit: 'dev',
    GoVersion: `node${process.versions.node}`,
    Os: process.platform,
    Arch: process.arch === 'x64' ? 'amd64' : process.arch,
    BuildTime: '',
    Context: ctx.globals.context || 'default',
  };
}

export const version: Command = {
  usage: '[OPTIONS]',
  description: 'Show the Docker version information',
  flags: [strFlag('format', 'f', "Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template."), strFlag('kubeconfig', undefined, 'Kubernetes config file')],
  args: { exact: 0 },
  async run(ctx, f) {
    const client = clientInfo(ctx);
    let server: any;
    let serverErr: any;
    try {
      server = await ctx.client().system.version();
      (client as any).ApiVersion = await ctx.client().transport.version();
    } catch (e) { serverErr = e; }
    if (f.format) {
      process.stdout.write(renderOne(f.format, { Client: client, Server: server ?? null }, false));
      if (serverErr) throw serverErr;
      return;
    }
    let s = `Client:
 Version:           ${client.Version}
 API version:       ${client.ApiVersion}${(client as any).ApiVersion !== CLIENT_API_VERSION ? ` (downgraded from ${CLIENT_API_VERSION})` : ''}
 Go version:        ${client.GoVersion}
 Git commit:        ${client.GitCommit}
 Built:             ${client.BuildTime || 'n/a'}
 OS/Arch:           ${client.Os}/${client.Arch}
 Context:           ${client.Context}
`;
    if (server) {
      s += `\nServer: ${server.Platform?.Name ?? ''}\n`;
      const comps = server.Components ?? [{ Name: 'Engine', Version: server.Version, Details: { ApiVersion: server.ApiVersion, MinAPIVersion: server.MinAPIVersion, GitCommit: server.GitCommit, GoVersion: server.GoVersion, Os: server.Os, Arch: server.Arch, KernelVersion: server.KernelVersion, BuildTime: server.BuildTime, Experimental: String(server.Experimental ?? false) } }];
      for (const c of comps) {
        s += ` ${c.Name}:\n  Version:          ${c.Version}\n`;
        if (c.Name === 'Engine') {
          const d = c.Details ?? {};
          s += `  API version:      ${d.ApiVersion ?? server.ApiVersion} (minimum version ${d.MinAPIVersion ?? server.MinAPIVersion})\n`;
          s += `  Go version:       ${d.GoVersion ?? server.GoVersion}\n`;
          s += `  Git commit:       ${d.GitCommit ?? server.GitCommit}\n`;
          s += `  Built:            ${d.BuildTime ?? server.BuildTime ?? ''}\n`;
          s += `  OS/Arch:          ${d.Os ?? server.Os}/${d.Arch ?? server.Arch}\n`;
          s += `  Experimental:     ${d.Experimental ?? server.Experimental ?? false}\n`;
        } else {
          for (const [k, v] of Object.entries(c.Details ?? {})) s += `  ${`${k}:`.padEnd(18)}${v}\n`;
        }
      }
    }
    process.stdout.write(s);
    if (serverErr) throw serverErr;
  },
};

export const info: Command = {
  usage: '[OPTIONS]',
  description: 'Display system-wide information',
  aliases: ['dray system info', 'dray info'],
  flags: [strFlag('format', 'f', "Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.")],
  args: { exact: 0 },
  async run(ctx, f) {
    const yes = (b: unknown) => (b ? 'true' : 'false');
    const clientPart = `Client:
 Version:    ${CLIENT_VERSION}
 Context:    ${ctx.globals.context || 'default'}
 Debug Mode: ${yes(ctx.globals.debug)}

Server:
`;
    let i;
    try { i = await ctx.client().system.info(); } catch (e) {
      // docker shows its client half before the daemon error.
      if (!f.format) process.stdout.write(clientPart);
      throw e;
    }
    if (f.format) { process.stdout.write(renderOne(f.format, { ...i, ClientInfo: clientInfo(ctx) }, false)); return; }
    let s = `${clientPart} Containers: ${i.Containers ?? 0}
  Running: ${i.ContainersRunning ?? 0}
  Paused: ${i.ContainersPaused ?? 0}
  Stopped: ${i.ContainersStopped ?? 0}
 Images: ${i.Images ?? 0}
 Server Version: ${i.ServerVersion ?? ''}
 Storage Driver: ${i.Driver ?? ''}
`;
    for (const [k, v] of (i.DriverStatus ?? []) as Array<[string, string]>) s += `  ${k}: ${v}\n`;
    s += ` Logging Driver: ${i.LoggingDriver ?? ''}
 Cgroup Driver: ${i.CgroupDriver ?? ''}
 Cgroup Version: ${i.CgroupVersion ?? ''}
 Plugins:
  Volume: ${(i.Plugins?.Volume ?? []).join(' ')}
  Network: ${(i.Plugins?.Network ?? []).join(' ')}
  Log: ${(i.Plugins?.Log ?? []).join(' ')}
 Swarm: ${i.Swarm?.LocalNodeState ?? 'inactive'}
 Runtimes: ${Object.keys(i.Runtimes ?? {}).sort().join(' ')}
 Default Runtime: ${i.DefaultRuntime ?? ''}
 Init Binary: ${i.InitBinary ?? ''}
 containerd version: ${i.ContainerdCommit?.ID ?? ''}
 runc version: ${i.RuncCommit?.ID ?? ''}
 init version: ${i.InitCommit?.ID ?? ''}
`;
    if (i.SecurityOptions?.length) {
      s += ' Security Options:\n';
      for (const o of i.SecurityOptions as string[]) {
        const parts = o.split(',').map((p) => p.split('='));
        s += `  ${parts[0][1] ?? parts[0][0]}\n`;
        for (const p of parts.slice(1)) s += `   ${p[0][0].toUpperCase()}${p[0].slice(1)}: ${p[1]}\n`;
      }
    }
    s += ` Kernel Version: ${i.KernelVersion ?? ''}
 Operating System: ${i.OperatingSystem ?? ''}
 OSType: ${i.OSType ?? ''}
 Architecture: ${i.Architecture ?? ''}
 CPUs: ${i.NCPU ?? ''}
 Total Memory: ${i.MemTotal ? `${(i.MemTotal / 1024 ** 3).toFixed(2)}GiB` : ''}
 Name: ${i.Name ?? ''}
 ID: ${i.ID ?? ''}
 Docker Root Dir: ${i.DockerRootDir ?? ''}
 Debug Mode: ${yes(i.Debug)}
 Experimental: ${yes(i.ExperimentalBuild)}
 Insecure Registries:
${((i.RegistryConfig?.InsecureRegistryCIDRs ?? []) as string[]).map((r) => `  ${r}\n`).join('')} Live Restore Enabled: ${yes(i.LiveRestoreEnabled)}

`;
    process.stdout.write(s);
    for (const w of (i.Warnings ?? []) as string[]) process.stderr.write(`${w}\n`);
  },
};

export const events: Command = {
  usage: '[OPTIONS]',
  description: 'Get real time events from the server',
  aliases: ['dray system events', 'dray events'],
  flags: [filterFlag(), formatFlag("Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template."), strFlag('since', undefined, 'Show all events created since timestamp'), strFlag('until', undefined, 'Stream events until this timestamp')],
  args: { exact: 0 },
  async run(ctx, f) {
    const gen = await ctx.client().system.events({ since: f.since ? apiTimestamp(f.since) : undefined, until: f.until ? apiTimestamp(f.until) : undefined, filters: parseFilterArgs(f.filter) });
    for await (const e of gen) {
      if (f.format) { process.stdout.write(renderOne(f.format === 'json' ? '{{json .}}' : f.format, e, false)); continue; }
      // RFC3339 with 9 fixed fractional digits, from the exact nanosecond count.
      const nano = (e as any).timeNanoText ?? String(e.timeNano);
      const secs = Number(nano.slice(0, -9) || '0');
      const local = `${new Date(secs * 1000).toISOString().slice(0, 19)}.${nano.slice(-9).padStart(9, '0')}Z`;
      const attrs = Object.entries(e.Actor?.Attributes ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}=${v}`).join(', ');
      process.stdout.write(`${local} ${e.Type} ${e.Action} ${e.Actor?.ID ?? ''}${attrs ? ` (${attrs})` : ''}\n`);
    }
  },
};

export const df: Command = {
  usage: '[OPTIONS]',
  description: 'Show docker disk usage',
  flags: [formatFlag(), boolFlag('verbose', 'v', 'Show detailed information on space usage')],
  args: { exact: 0 },
  async run(ctx, f) {
    const d = await ctx.client().system.df();
    const images = d.Images ?? [];
    const containers = d.Containers ?? [];
    const volumes = d.Volumes ?? [];
    const cache = d.BuildCache ?? [];
    const reclaimPct = (r: number, t: number) => (t > 0 ? `${humanSize(r)} (${Math.trunc((r * 100) / t)}%)` : humanSize(r));
    if (f.verbose) {
      const p3 = (n: number) => humanSizeWithPrecision(n, 3);
      const na = (n: number, f: (x: number) => string) => (n < 0 ? 'N/A' : f(n));
      let s = 'Images space usage:\n\n';
      const imgRows = [...images].sort((a, b) => b.Created - a.Created).flatMap((i) => {
        const tags = (i.RepoTags ?? []).filter((t) => t !== '<none>:<none>');
        const base = { ID: shortId(i.Id), Created: timeAgo(i.Created), Size: p3(i.Size), SharedSize: na(i.SharedSize, p3), UniqueSize: i.SharedSize < 0 ? 'N/A' : p3(i.Size - i.SharedSize), Containers: String(Math.max(0, i.Containers)) };
        if (!tags.length) return [{ Repository: '<none>', Tag: '<none>', ...base }];
        return tags.map((t) => ({ Repository: t.slice(0, t.lastIndexOf(':')), Tag: t.slice(t.lastIndexOf(':') + 1), ...base }));
      });
      s += renderList(undefined, imgRows, { defaultTable: '{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Created}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}', headers: { Repository: 'REPOSITORY', Tag: 'TAG', ID: 'IMAGE ID', Created: 'CREATED', Size: 'SIZE', SharedSize: 'SHARED SIZE', UniqueSize: 'UNIQUE SIZE', Containers: 'CONTAINERS' } });
      s += '\nContainers space usage:\n\n';
      s += renderList(undefined, containers.map((c) => ({ ID: shortId(c.Id), Image: c.Image, Command: JSON.stringify([...c.Command].length > 20 ? `${[...c.Command].slice(0, 19).join('')}…` : c.Command), LocalVolumes: String((c.Mounts ?? []).filter((m) => m.Type === 'volume').length), Size: p3(c.SizeRw ?? 0), Created: timeAgo(c.Created), Status: c.Status, Names: (c.Names ?? []).map((n) => n.replace(/^\//, '')).join(',') })), { defaultTable: '{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.Created}}\t{{.Status}}\t{{.Names}}', headers: { ID: 'CONTAINER ID', Image: 'IMAGE', Command: 'COMMAND', LocalVolumes: 'LOCAL VOLUMES', Size: 'SIZE', Created: 'CREATED', Status: 'STATUS', Names: 'NAMES' } });
      s += '\nLocal Volumes space usage:\n\n';
      s += renderList(undefined, volumes.map((v) => ({ Name: v.Name, Links: String(v.UsageData?.RefCount ?? 0), Size: na(v.UsageData?.Size ?? -1, p3) })), { defaultTable: '{{.Name}}\t{{.Links}}\t{{.Size}}', headers: { Name: 'VOLUME NAME', Links: 'LINKS', Size: 'SIZE' } });
      s += `\nBuild cache usage: ${humanSize(cache.reduce((a, b) => a + b.Size, 0))}\n\n`;
      s += renderList(undefined, cache.map((b) => ({ ID: b.ID.slice(0, 12), CacheType: b.Type, Size: p3(b.Size), CreatedSince: b.CreatedAt ? timeAgo(b.CreatedAt) : '', LastUsedSince: b.LastUsedAt ? timeAgo(b.LastUsedAt) : '', UsageCount: String(b.UsageCount ?? 0), Shared: String(b.Shared) })), { defaultTable: '{{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}', headers: { ID: 'CACHE ID', CacheType: 'CACHE TYPE', Size: 'SIZE', CreatedSince: 'CREATED', LastUsedSince: 'LAST USED', UsageCount: 'USAGE', Shared: 'SHARED' } });
      process.stdout.write(s);
      return;
    }
    const imgSize = d.LayersSize ?? images.reduce((a, i) => a + i.Size, 0);
    const usedImages = images.filter((i) => i.Containers > 0);
    // As docker: what containers use is each used image's unique part (size minus shared size).
    const imgReclaim = imgSize - usedImages.filter((i) => i.Size >= 0 && i.SharedSize >= 0).reduce((a, i) => a + i.Size - i.SharedSize, 0);
    const ctrSize = containers.reduce((a, c) => a + (c.SizeRw ?? 0), 0);
    const ctrReclaim = containers.filter((c) => c.State !== 'running').reduce((a, c) => a + (c.SizeRw ?? 0), 0);
    const volSize = volumes.reduce((a, v) => a + Math.max(0, v.UsageData?.Size ?? 0), 0);
    const volReclaim = volumes.filter((v) => (v.UsageData?.RefCount ?? 0) === 0).reduce((a, v) => a + Math.max(0, v.UsageData?.Size ?? 0), 0);
    const cacheSize = cache.reduce((a, b) => a + b.Size, 0);
    const cacheReclaim = cache.filter((b) => !b.InUse && !b.Shared).reduce((a, b) => a + b.Size, 0);
    const rows = [
      { Type: 'Images', TotalCount: String(images.length), Active: String(usedImages.length), Size: humanSize(imgSize), Reclaimable: reclaimPct(Math.max(0, imgReclaim), imgSize) },
      { Type: 'Containers', TotalCount: String(containers.length), Active: String(containers.filter((c) => c.State === 'running').length), Size: humanSize(ctrSize), Reclaimable: reclaimPct(ctrReclaim, ctrSize) },
      { Type: 'Local Volumes', TotalCount: String(volumes.length), Active: String(volumes.filter((v) => (v.UsageData?.RefCount ?? 0) > 0).length), Size: humanSize(volSize), Reclaimable: reclaimPct(volReclaim, volSize) },
      { Type: 'Build Cache', TotalCount: String(cache.length), Active: String(cache.filter((b) => b.InUse).length), Size: humanSize(cacheSize), Reclaimable: humanSize(cacheReclaim) },
    ];
    process.stdout.write(renderList(f.format, rows, { defaultTable: '{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}', headers: { Type: 'TYPE', TotalCount: 'TOTAL', Active: 'ACTIVE', Size: 'SIZE', Reclaimable: 'RECLAIMABLE' } }));
  },
};

export const prune: Command = {
  usage: '[OPTIONS]',
  description: 'Remove unused data',
  flags: [
    boolFlag('all', 'a', 'Remove all unused images not just dangling ones'),
    { ...filterFlag(), short: undefined, usage: 'Provide filter values (e.g. "label=<key>=<value>")' },
    boolFlag('force', 'f', 'Do not prompt for confirmation'),
    boolFlag('volumes', undefined, 'Prune anonymous volumes'),
  ],
  args: { exact: 0 },
  async run(ctx, f) {
    const filters = parseFilterArgs(f.filter);
    if (!f.force) {
      let w = 'WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n';
      if (f.volumes) w += '  - all anonymous volumes not used by at least one container\n';
      w += f.all ? '  - all images without at least one container associated to them\n' : '  - all dangling images\n';
      w += f.all ? '  - all build cache\n' : '  - unused build cache\n';
      w += '\nAre you sure you want to continue? [y/N] ';
      if (!(await confirm(w))) return 0;
    }
    const c = ctx.client();
    let total = 0;
    let s = '';
    const r1 = await c.containers.prune(filters);
    total += r1.SpaceReclaimed ?? 0;
    if (r1.ContainersDeleted?.length) s += `Deleted Containers:\n${r1.ContainersDeleted.join('\n')}\n\n`;
    process.stdout.write(s); s = '';
    const r2 = await c.networks.prune(filters).catch(nonFatal);
    if (r2?.NetworksDeleted?.length) s += `Deleted Networks:\n${r2.NetworksDeleted.join('\n')}\n\n`;
    if (f.volumes) {
      const r3 = await c.volumes.prune(filters).catch(nonFatal);
      total += r3?.SpaceReclaimed ?? 0;
      if (r3?.VolumesDeleted?.length) s += `Deleted Volumes:\n${r3.VolumesDeleted.join('\n')}\n\n`;
    }
    const r4 = await c.images.prune({ ...filters, dangling: [f.all ? 'false' : 'true'] }).catch(nonFatal);
    total += r4?.SpaceReclaimed ?? 0;
    if (r4?.ImagesDeleted?.length) {
      s += 'Deleted Images:\n' + r4.ImagesDeleted.map((d) => (d.Untagged ? `untagged: ${d.Untagged}\n` : `deleted: ${d.Deleted}\n`)).join('') + '\n';
    }
    // As docker: the build cache goes too (with -a all of it), under the same until= filter.
    const r5 = await c.images.pruneBuildCache({ all: !!f.all, filters: filters.until ? { until: filters.until } : undefined }).catch(nonFatal);
    total += r5?.SpaceReclaimed ?? 0;
    if (r5?.CachesDeleted?.length) s += `Deleted build cache objects:\n${r5.CachesDeleted.join('\n')}\n\n`;
    s += `Total reclaimed space: ${humanSize(total)}\n`;
    process.stdout.write(s);
  },
};

const nonFatal = (e: any) => {
  if (e instanceof ApiError && e.status === 501) return undefined;
  throw e;
};

export const inspect: Command = {
  usage: '[OPTIONS] NAME|ID [NAME|ID...]',
  description: 'Return low-level information on Docker objects',
  flags: [inspectFormatFlag(), boolFlag('size', 's', 'Display total file sizes if the type is container'), strFlag('type', undefined, 'Only inspect objects of the given type')],
  args: { min: 1 },
  async run(ctx, f, args) {
    const c = ctx.client();
    const type: string | undefined = f.type;
    const kinds = ['container', 'image', 'volume', 'network'];
    if (type && !kinds.includes(type)) throw new StatusError(1, `"${type}" is not a valid value for --type`);
    const found: unknown[] = [];
    const errors: string[] = [];
    for (const a of args) {
      let got: unknown;
      let lastErr: ApiError | undefined;
      for (const k of type ? [type] : kinds) {
        try {
          if (k === 'container') got = await c.containers.inspect(a, { size: f.size });
          else if (k === 'image') got = await c.images.inspect(a);
          else if (k === 'volume') got = await c.volumes.inspect(a);
          else got = await c.networks.inspect(a);
          break;
        } catch (e: any) {
          if (!(e instanceof ApiError) || (e.status !== 404 && e.status !== 501 && e.status !== 400)) throw e;
          lastErr = e;
        }
      }
      if (got === undefined && lastErr && type) errors.push(`Error response from daemon: ${lastErr.message}`);
      else if (got === undefined) errors.push(`Error: No such object: ${a}`);
      else found.push(got);
    }
    printInspect(found, f.format);
    if (errors.length) { process.stderr.write(errors.map((e) => `${e}\n`).join('')); return 1; }
    return 0;
  },
};

export { inspectJson };
