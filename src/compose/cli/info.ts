// ps, ls, top, images, port, version, events: what the project has, as Docker Compose prints it.
import { boolFlag, intFlag, listFlag, strFlag } from '../../cli/flags';
import { renderList } from '../../cli/format';
import { statsRow, STATS_TABLE, STATS_HEADERS } from '../../cli/stats-row';
import { tabwrite } from '../../cli/tabwriter';
import { displayPorts } from '../../cli/opts/ports';
import type { ContainerSummary } from '../../client/types';
import { humanSize, timeAgo } from '../../lib/units';
import { ComposeError } from '../errors';
import * as L from '../labels';
import { nameOf, numberOf, serviceOf } from '../observe';
import type { ComposeCommand } from './context';
import { containersOf, checkServices } from './lifecycle';

const formatFlag = strFlag('format', undefined, 'Format output using a custom template:\n\'table\':            Print output in table format with column headers (default)\n\'table TEMPLATE\':   Print output in table format using the given Go template\n\'json\':             Print in JSON format\n\'TEMPLATE\':         Print output using the given Go template.\nRefer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates', 'table');

const quoteCommand = (cmd: string) => {
  const r = [...cmd];
  return `"${r.length > 20 ? `${r.slice(0, 19).join('')}…` : cmd}"`;
};

/** A container as `compose ps --format` sees it (Docker Compose's ContainerSummary). */
function psRow(c: ContainerSummary, project: string) {
  const health = /\((healthy|unhealthy|health: starting)\)/.exec(c.Status)?.[1]?.replace('health: ', '') ?? '';
  const exit = /Exited \((\d+)\)/.exec(c.Status);
  const ports = displayPorts(c.Ports);
  return {
    ID: c.Id,
    Name: nameOf(c),
    Names: nameOf(c),
    Image: c.Image,
    Command: c.Command,
    Project: project,
    Service: serviceOf(c),
    Created: c.Created,
    CreatedAt: new Date(c.Created * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' +0000 UTC'),
    RunningFor: timeAgo(c.Created),
    State: c.State,
    Status: c.Status,
    Health: health,
    ExitCode: exit ? Number(exit[1]) : 0,
    Publishers: (c.Ports ?? []).map((p) => ({ URL: p.IP ?? '', TargetPort: p.PrivatePort, PublishedPort: p.PublicPort ?? 0, Protocol: p.Type })),
    Ports: ports,
    Labels: Object.entries(c.Labels ?? {}).map(([k, v]) => `${k}=${v}`).join(','),
    LocalVolumes: String((c.Mounts ?? []).filter((m) => m.Type === 'volume').length),
    Mounts: (c.Mounts ?? []).map((m) => m.Name ?? m.Source ?? '').join(','),
    Networks: Object.keys(c.NetworkSettings?.Networks ?? {}).join(','),
    Size: 0,
  };
}

export const ps: ComposeCommand = {
  usage: '[OPTIONS] [SERVICE...]',
  description: 'List containers',
  flags: [
    boolFlag('all', 'a', 'Show all stopped containers (including those created by the run command)'),
    listFlag('filter', undefined, 'Filter services by a property (supported filters: status)'),
    formatFlag,
    boolFlag('no-trunc', undefined, "Don't truncate output"),
    boolFlag('orphans', undefined, 'Include orphaned services (not declared by project)', true),
    boolFlag('quiet', 'q', 'Only display IDs'),
    boolFlag('services', undefined, 'Display services'),
    listFlag('status', undefined, 'Filter services by status. Values: [paused | restarting | removing | running | dead | created | exited]'),
  ],
  async run(cc, f, args) {
    const { project, name } = cc.projectOrName(args);
    if (project) for (const s of args) if (!project.services[s] && !project.disabled[s]) throw new ComposeError(`no such service: ${s}`);
    const status: string[] = [...(f.status ?? [])];
    for (const flt of f.filter ?? []) {
      const m = /^status=(.+)$/.exec(flt);
      if (!m) throw new ComposeError(`invalid filter ${JSON.stringify(flt)}`);
      status.push(m[1]);
    }
    let list = await containersOf(cc, name, args, { all: f.all || status.length > 0, oneoff: !!f.all });
    if (status.length) list = list.filter((c) => status.includes(c.State));
    if (project && !f.orphans) list = list.filter((c) => project.services[serviceOf(c)] || project.disabled[serviceOf(c)]);
    if (f.services) {
      const names = [...new Set(list.map(serviceOf))];
      if (project && !status.length) for (const n of Object.keys(project.services)) if (!args.length || args.includes(n)) names.push(n);
      process.stdout.write([...new Set(names)].sort().map((n) => `${n}\n`).join(''));
      return 0;
    }
    if (f.quiet) { process.stdout.write(list.map((c) => `${c.Id}\n`).join('')); return 0; }
    const rows = list.map((c) => {
      const r = psRow(c, name);
      return { ...r, Command: f['no-trunc'] ? `"${c.Command}"` : quoteCommand(c.Command), CreatedAt: r.CreatedAt, toJSON: () => ({ ...r }) };
    });
    if (f.format === 'json') { process.stdout.write(rows.map((r) => `${JSON.stringify(r.toJSON())}\n`).join('')); return 0; }
    process.stdout.write(renderList(f.format === 'table' ? undefined : f.format, rows, {
      defaultTable: '{{.Name}}\t{{.Image}}\t{{.Command}}\t{{.Service}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}',
      headers: { Name: 'NAME', Names: 'NAMES', Image: 'IMAGE', Command: 'COMMAND', Service: 'SERVICE', RunningFor: 'CREATED', CreatedAt: 'CREATED', Status: 'STATUS', Ports: 'PORTS', ID: 'CONTAINER ID', State: 'STATE', Project: 'PROJECT', Health: 'HEALTH', ExitCode: 'EXIT CODE', Labels: 'LABELS', Networks: 'NETWORKS', Mounts: 'MOUNTS', LocalVolumes: 'LOCAL VOLUMES', Size: 'SIZE' },
    }));
    return 0;
  },
};

export const ls: ComposeCommand = {
  usage: '[OPTIONS]',
  description: 'List running compose projects',
  flags: [
    boolFlag('all', 'a', 'Show all stopped Compose projects'),
    listFlag('filter', undefined, 'Filter output based on conditions provided'),
    formatFlag,
    boolFlag('quiet', 'q', 'Only display project names'),
  ],
  async run(cc, f) {
    const list = await cc.client().containers.list({ all: true, filters: { label: [L.PROJECT] } });
    const projects = new Map<string, { states: Map<string, number>; files: Set<string> }>();
    for (const c of list) {
      const p = c.Labels?.[L.PROJECT];
      if (!p) continue;
      const e = projects.get(p) ?? projects.set(p, { states: new Map(), files: new Set() }).get(p)!;
      e.states.set(c.State, (e.states.get(c.State) ?? 0) + 1);
      const files = c.Labels?.[L.CONFIG_FILES];
      if (files) e.files.add(files);
    }
    let rows = [...projects.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, e]) => ({
      Name: name,
      Status: [...e.states.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([s, n]) => `${s}(${n})`).join(', '),
      ConfigFiles: [...e.files].join(','),
      running: e.states.get('running') ?? 0,
    }));
    if (!f.all) rows = rows.filter((r) => r.running > 0);
    for (const flt of f.filter ?? []) {
      const m = /^name=(.+)$/.exec(flt);
      if (!m) throw new ComposeError(`invalid filter ${JSON.stringify(flt)}`);
      rows = rows.filter((r) => r.Name.includes(m[1]));
    }
    if (f.quiet) { process.stdout.write(rows.map((r) => `${r.Name}\n`).join('')); return 0; }
    const out = rows.map(({ running: _r, ...r }) => r);
    if (f.format === 'json') { process.stdout.write(`${JSON.stringify(out)}\n`); return 0; }
    process.stdout.write(renderList(f.format === 'table' ? undefined : f.format, out, {
      defaultTable: '{{.Name}}\t{{.Status}}\t{{.ConfigFiles}}', headers: { Name: 'NAME', Status: 'STATUS', ConfigFiles: 'CONFIG FILES' },
    }));
    return 0;
  },
};

export const top: ComposeCommand = {
  usage: '[SERVICES...]',
  description: 'Display the running processes',
  flags: [],
  async run(cc, _f, args) {
    const { name } = cc.projectOrName(args);
    const list = (await containersOf(cc, name, args)).filter((c) => c.State === 'running');
    const client = cc.client();
    const tops = await Promise.all(list.map((c) => client.containers.top(c.Id)));
    let out = '';
    list.forEach((c, i) => {
      const t = tops[i];
      out += `${nameOf(c)}\n${tabwrite([t.Titles.join('\t'), ...(t.Processes ?? []).map((p) => p.join('\t'))].join('\n') + '\n', { minwidth: 0, padding: 3 })}\n`;
    });
    process.stdout.write(out);
    return 0;
  },
};

export const images: ComposeCommand = {
  usage: '[OPTIONS] [SERVICE...]',
  description: 'List images used by the created containers',
  flags: [formatFlag, boolFlag('quiet', 'q', 'Only display IDs')],
  async run(cc, f, args) {
    const { name } = cc.projectOrName(args);
    const list = await containersOf(cc, name, args);
    const client = cc.client();
    const ids = [...new Set(list.map((c) => c.ImageID))];
    const infos = new Map(await Promise.all(ids.map(async (id) => [id, await client.images.inspect(id).catch(() => undefined)] as const)));
    if (f.quiet) { process.stdout.write(ids.map((i) => `${i.replace('sha256:', '')}\n`).join('')); return 0; }
    const rows = list.map((c) => {
      const info = infos.get(c.ImageID);
      const tag = info?.RepoTags?.find((t) => t === c.Image || t === `${c.Image}:latest`) ?? info?.RepoTags?.[0] ?? '<none>:<none>';
      const i = tag.lastIndexOf(':');
      return { ContainerName: nameOf(c), Repository: tag.slice(0, i), Tag: tag.slice(i + 1), ID: c.ImageID.replace('sha256:', '').slice(0, 12), Size: humanSize(info?.Size ?? 0) };
    });
    if (f.format === 'json') { process.stdout.write(`${JSON.stringify(rows)}\n`); return 0; }
    process.stdout.write(renderList(f.format === 'table' ? undefined : f.format, rows, {
      defaultTable: '{{.ContainerName}}\t{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Size}}',
      headers: { ContainerName: 'CONTAINER', Repository: 'REPOSITORY', Tag: 'TAG', ID: 'IMAGE ID', Size: 'SIZE' },
    }));
    return 0;
  },
};

export const port: ComposeCommand = {
  usage: '[OPTIONS] SERVICE PRIVATE_PORT',
  description: 'Print the public port for a port binding',
  flags: [intFlag('index', undefined, 'Index of the container if service has multiple replicas'), strFlag('protocol', undefined, 'tcp or udp', 'tcp')],
  args: { min: 2, max: 2 },
  async run(cc, f, args) {
    const [service, priv] = args;
    const { name } = cc.projectOrName([service]);
    const list = await containersOf(cc, name, [service]);
    const c = list.find((x) => numberOf(x) === (f.index ?? 1)) ?? (f.index === undefined ? list[0] : undefined);
    if (!c) throw new ComposeError(`service "${service}" is not running container #${f.index ?? 1}`);
    const p = (c.Ports ?? []).find((x) => String(x.PrivatePort) === priv && x.Type === f.protocol && x.PublicPort);
    if (!p) throw new ComposeError(`no port ${priv}/${f.protocol} for container ${nameOf(c)}: 0.0.0.0:0`);
    process.stdout.write(`${p.IP || '0.0.0.0'}:${p.PublicPort}\n`);
    return 0;
  },
};

export const version: ComposeCommand = {
  usage: '[OPTIONS]',
  description: 'Show the Docker Compose version information',
  flags: [strFlag('format', 'f', 'Format the output. Values: [pretty | json]', 'pretty'), boolFlag('short', undefined, "Shows only Compose's version number")],
  async run(_cc, f) {
    if (f.short) process.stdout.write(`${L.DRAY_COMPOSE_VERSION}\n`);
    else if (f.format === 'json') process.stdout.write(`${JSON.stringify({ version: L.DRAY_COMPOSE_VERSION })}\n`);
    else process.stdout.write(`Dray Compose version ${L.DRAY_COMPOSE_VERSION} (Compose Specification; Docker Compose v2 labels)\n`);
    return 0;
  },
};

export const events: ComposeCommand = {
  usage: '[OPTIONS] [SERVICE...]',
  description: 'Receive real time events from containers',
  flags: [boolFlag('json', undefined, 'Output events as a stream of json objects'), strFlag('since', undefined, 'Show all events created since timestamp'), strFlag('until', undefined, 'Stream events until this timestamp')],
  async run(cc, f, args) {
    const name = cc.projectOrName(args).name;
    const stream = await cc.client().system.events({ filters: { type: ['container'], label: [`${L.PROJECT}=${name}`] }, since: f.since, until: f.until });
    for await (const e of stream) {
      const attrs = e.Actor.Attributes ?? {};
      const service = attrs[L.SERVICE] ?? '';
      if (args.length && !args.includes(service)) continue;
      const shown = Object.fromEntries(Object.entries(attrs).filter(([k]) => !k.startsWith('com.docker.compose.') && !k.startsWith('io.dray.compose.')));
      const time = new Date(Math.floor(e.timeNano / 1e6));
      if (f.json) {
        process.stdout.write(`${JSON.stringify({ action: e.Action, attributes: shown, id: e.Actor.ID, service, time: time.toISOString(), type: 'container' })}\n`);
      } else {
        const micro = String(Math.floor((e.timeNano % 1e9) / 1e3)).padStart(6, '0');
        const ts = `${time.toISOString().slice(0, 19).replace('T', ' ')}.${micro}`;
        process.stdout.write(`${ts} container ${e.Action} ${e.Actor.ID} (${Object.entries(shown).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${v}`).join(', ')})\n`);
      }
    }
    return 0;
  },
};


/** stats: docker stats over the project's containers (running ones, or all with -a). */
export const stats: ComposeCommand = {
  usage: '[OPTIONS] [SERVICE]',
  description: 'Display a live stream of container(s) resource usage statistics',
  flags: [
    boolFlag('all', 'a', 'Show all containers (default shows just running)'),
    formatFlag,
    boolFlag('no-stream', undefined, 'Disable streaming stats and only pull the first result'),
    boolFlag('no-trunc', undefined, "Don't truncate output"),
  ],
  async run(cc, f, args) {
    const { name, project } = cc.projectOrName(args);
    checkServices(project, args);
    const client = cc.client();
    const render = async () => {
      const list = (await containersOf(cc, name, args)).filter((c) => f.all || c.State === 'running');
      const rows = await Promise.all(list.map(async (c) => {
        for await (const s of await client.containers.stats(c.Id, false)) return statsRow(s, c.Id, nameOf(c));
        throw new ComposeError(`no statistics for container ${nameOf(c)}`);
      }));
      return renderList(f.format, rows, { defaultTable: STATS_TABLE, headers: STATS_HEADERS });
    };
    if (f['no-stream'] || !process.stdout.isTTY) { process.stdout.write(await render()); if (f['no-stream']) return 0; }
    // Live: redrawn every second until interrupted (as docker compose stats).
    for (;;) {
      const text = await render();
      process.stdout.write(`\x1b[2J\x1b[H${text}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  },
};
