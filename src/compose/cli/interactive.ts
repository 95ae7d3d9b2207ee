// exec, run and cp: commands that work on one container of a service, with the terminal attached.
import { randomBytes } from 'node:crypto';
import { boolFlag, intFlag, listFlag, strFlag } from '../../cli/flags';
import { normalizeEnv } from '../../cli/opts/misc';
import { pumpStreams, watchResize, parseDetachKeys, proxySignals, startFailureStatus, attachRunning } from '../../cli/commands/streams';
import { ComposeError, isApiError } from '../errors';
import { Executor, daemonMessage } from '../executor';
import { canonicalPorts, parseVolumeShort, shellSplit } from '../canonical';
import type { Service } from '../model';
import * as L from '../labels';
import { numberOf, observe } from '../observe';
import { planContainers, planImages, planNetworks, planVolumes, selectServices } from '../planner';
import { imageIndex } from '../observe';
import type { ComposeCommand } from './context';
import { containersOf } from './lifecycle';

/** The running container of a service with the given number (--index, default 1). */
async function runningContainer(cc: Parameters<ComposeCommand['run']>[0], service: string, index: number | undefined) {
  const { project, name } = cc.projectOrName([service]);
  if (project && !project.services[service] && !project.disabled[service]) throw new ComposeError(`no such service: ${service}`);
  const list = await containersOf(cc, name, [service]);
  const running = list.filter((c) => c.State === 'running');
  const c = index !== undefined ? running.find((x) => numberOf(x) === index) : running[0];
  if (!c) throw new ComposeError(index !== undefined ? `service "${service}" is not running container #${index}` : `service "${service}" is not running`);
  return c;
}

export const exec: ComposeCommand = {
  usage: '[OPTIONS] SERVICE COMMAND [ARGS...]',
  description: 'Execute a command in a running container',
  interspersed: false,
  args: { min: 2 },
  flags: [
    boolFlag('detach', 'd', 'Detached mode: Run command in the background'),
    { name: 'env', short: 'e', kind: 'list', type: 'stringArray', usage: 'Set environment variables', parse: (v: string) => normalizeEnv(v) },
    intFlag('index', undefined, 'Index of the container if service has multiple replicas'),
    boolFlag('interactive', 'i', 'Keep STDIN open even if not attached', true),
    boolFlag('no-TTY', 'T', 'Disable pseudo-TTY allocation. By default `docker compose exec` allocates a TTY.'),
    boolFlag('privileged', undefined, 'Give extended privileges to the process'),
    boolFlag('tty', 't', 'Allocate a pseudo-TTY', true),
    strFlag('user', 'u', 'Run the command as this user'),
    strFlag('workdir', 'w', 'Path to workdir directory for this command'),
  ],
  async run(cc, f, args) {
    const [service, ...cmd] = args;
    const c = await runningContainer(cc, service, f.index);
    const client = cc.client();
    const tty = !f['no-TTY'] && !!process.stdin.isTTY;
    const stdin = !!f.interactive && !f.detach;
    const consoleSize: [number, number] | undefined = tty && process.stdout.isTTY ? ((([w, h]) => [h, w])(process.stdout.getWindowSize()) as [number, number]) : undefined;
    const { Id } = await client.exec.create(c.Id, {
      User: f.user, Privileged: !!f.privileged, Tty: tty, AttachStdin: stdin, AttachStdout: !f.detach, AttachStderr: !f.detach,
      Env: f.env?.length ? f.env : undefined, WorkingDir: f.workdir, Cmd: cmd, ConsoleSize: consoleSize,
    });
    if (f.detach) { await client.exec.startDetached(Id, tty); return 0; }
    let socket;
    try { ({ socket } = await client.exec.start(Id, { tty, consoleSize })); } catch (e: any) {
      if (isApiError(e)) throw new ComposeError(daemonMessage(e), startFailureStatus(e.message) === 125 ? 1 : startFailureStatus(e.message));
      throw e;
    }
    const pump = pumpStreams(socket, { tty, stdin, detachKeys: parseDetachKeys(undefined) });
    const unresize = tty ? watchResize((h, w) => client.exec.resize(Id, h, w)) : () => {};
    try {
      if (await pump.done) return 0;
    } finally { unresize(); pump.cleanup(); socket.destroy(); }
    const r = await client.exec.inspect(Id);
    if (r.ExitCode === null || r.ExitCode === undefined) return r.Running ? 0 : 126;
    return r.ExitCode;
  },
};

export const run: ComposeCommand = {
  usage: '[OPTIONS] SERVICE [COMMAND] [ARGS...]',
  description: 'Run a one-off command on a service',
  interspersed: false,
  args: { min: 1 },
  flags: [
    boolFlag('build', undefined, 'Build image before starting container'),
    listFlag('cap-add', undefined, 'Add Linux capabilities'),
    listFlag('cap-drop', undefined, 'Remove Linux capabilities'),
    boolFlag('detach', 'd', 'Run container in background and print container ID'),
    strFlag('entrypoint', undefined, 'Override the entrypoint of the image'),
    { name: 'env', short: 'e', kind: 'list', type: 'stringArray', usage: 'Set environment variables', parse: (v: string) => normalizeEnv(v) },
    boolFlag('interactive', 'i', 'Keep STDIN open even if not attached', true),
    listFlag('label', 'l', 'Add or override a label', 'stringArray'),
    strFlag('name', undefined, 'Assign a name to the container'),
    boolFlag('no-TTY', 'T', 'Disable pseudo-TTY allocation (default: auto-detected)'),
    boolFlag('no-deps', undefined, "Don't start linked services"),
    listFlag('publish', 'p', "Publish a container's port(s) to the host", 'stringArray'),
    strFlag('pull', undefined, 'Pull image before running ("always"|"missing"|"never")'),
    boolFlag('quiet-pull', undefined, 'Pull without printing progress information'),
    boolFlag('remove-orphans', undefined, 'Remove containers for services not defined in the Compose file'),
    boolFlag('rm', undefined, 'Automatically remove the container when it exits'),
    boolFlag('service-ports', 'P', "Run command with all service's ports enabled and mapped to the host"),
    boolFlag('tty', 't', 'Allocate a pseudo-TTY', true),
    boolFlag('use-aliases', undefined, "Use the service's network useAliases in the network(s) the container connects to"),
    strFlag('user', 'u', 'Run as specified username or uid'),
    listFlag('volume', 'v', 'Bind mount a volume', 'stringArray'),
    strFlag('workdir', 'w', 'Working directory inside the container'),
  ],
  async run(cc, f, args) {
    const [service, ...cmd] = args;
    const p = cc.project([service]);
    const base = p.services[service];
    if (!base) throw new ComposeError(`no such service: ${service}`);
    const client = cc.client();
    const progress = cc.progress('Running');
    const exec = new Executor(client, p, progress, { parallel: cc.parallel, dryRun: cc.dryRun, registryAuth: cc.registryAuth, buildOut: process.stderr });
    const tty = !f['no-TTY'] && !!process.stdin.isTTY && !f.detach;
    const s: Service = {
      ...base,
      ports: f['service-ports'] ? base.ports : [],
      restart: undefined,
      container_name: undefined,
      environment: { ...base.environment },
      labels: { ...base.labels },
      volumes: [...base.volumes],
      tty,
      stdin_open: !!f.interactive && !f.detach,
    };
    if (f.publish?.length) s.ports = [...s.ports, ...canonicalPorts(f.publish)];
    for (const v of f.volume ?? []) {
      const m = parseVolumeShort(v, cc.cwd);
      s.volumes = [...s.volumes.filter((x) => x.target !== m.target), m];
    }
    for (const e of f.env ?? []) {
      const eq = e.indexOf('=');
      if (eq < 0) { if (cc.env[e] !== undefined) s.environment[e] = cc.env[e]!; } else s.environment[e.slice(0, eq)] = e.slice(eq + 1);
    }
    for (const l of f.label ?? []) { const eq = l.indexOf('='); s.labels[eq < 0 ? l : l.slice(0, eq)] = eq < 0 ? '' : l.slice(eq + 1); }
    if (cmd.length) s.command = cmd;
    if (f.entrypoint !== undefined) s.entrypoint = f.entrypoint === '' ? [''] : shellSplit(f.entrypoint);
    if (f.user) s.user = f.user;
    if (f.workdir) s.working_dir = f.workdir;
    if (f['cap-add']?.length) s.cap_add = [...(s.cap_add ?? []), ...f['cap-add']];
    if (f['cap-drop']?.length) s.cap_drop = [...(s.cap_drop ?? []), ...f['cap-drop']];
    p.services[service] = s;
    try {
      let obs = await observe(client, p.name);
      // Dependencies come up as with `up -d` (unless --no-deps), then the one-off container.
      const deps = f['no-deps'] ? [] : selectServices(p, [service]).filter((n) => n !== service);
      const all = [...deps, service];
      const images = planImages(p, obs, all, { build: f.build ? 'always' : 'auto', pull: f.pull });
      const nets = planNetworks(p, obs, all);
      const vols = planVolumes(p, obs, all);
      if (await exec.ensureImages(images)) obs = { ...obs, images: imageIndex(await client.images.list()) };
      exec.setImages(obs);
      await exec.ensureNetworks(nets, cc.warn);
      await exec.ensureVolumes(vols, cc.warn);
      if (deps.length) {
        const plan = planContainers(p, obs, deps, { services: deps, recreate: 'diverged' });
        await exec.converge(plan, { warn: cc.warn, selection: new Set(deps) });
      }
      for (const [dep, c] of Object.entries(s.depends_on)) {
        if (!deps.includes(dep)) continue;
        await exec.waitCondition(dep, c.condition, exec.ids.get(dep) ?? [], c.required, cc.warn);
      }
    } finally { progress.stop(); }
    const slug = randomBytes(16).toString('hex');
    const name = f.name || `${p.name}-${service}-run-${slug.slice(0, 12)}`;
    let id: string;
    try {
      id = await exec.createContainer(s, 0, name, {
        oneoff: true, noServiceAlias: !f['use-aliases'], extraLabels: { [L.SLUG]: slug },
        override: (b) => {
          b.AttachStdin = !f.detach && !!f.interactive;
          b.AttachStdout = !f.detach;
          b.AttachStderr = !f.detach;
          b.StdinOnce = b.AttachStdin;
          if (f.rm) b.HostConfig.AutoRemove = true;
        },
      });
    } catch (e: any) { throw e instanceof ComposeError ? e : new ComposeError(daemonMessage(e)); }
    if (f.detach) {
      try { await client.containers.start(id); } catch (e: any) { throw new ComposeError(daemonMessage(e), startFailureStatus(e?.message ?? '')); }
      process.stdout.write(`${name}\n`);
      return 0;
    }
    const { socket } = await client.containers.attach(id, { stream: true, stdin: !!f.interactive, stdout: true, stderr: true });
    const { result } = await client.containers.waitRegistered(id, f.rm ? 'removed' : 'next-exit');
    result.catch(() => {});
    const pump = pumpStreams(socket, { tty, stdin: !!f.interactive, detachKeys: parseDetachKeys(undefined) });
    try { await client.containers.start(id); } catch (e: any) {
      pump.cleanup(); socket.destroy();
      if (f.rm) await client.containers.remove(id, { force: true }).catch(() => undefined);
      throw new ComposeError(daemonMessage(e), startFailureStatus(e?.message ?? ''));
    }
    const unresize = tty ? watchResize((h, w) => client.containers.resize(id, h, w)) : () => {};
    const unsig = tty ? () => {} : proxySignals((sig) => client.containers.kill(id, sig));
    try {
      if (await pump.done) return 0;
      const r = await result;
      return r.StatusCode;
    } finally { unresize(); unsig(); pump.cleanup(); socket.destroy(); }
  },
};

export const cp: ComposeCommand = {
  usage: '[OPTIONS] SERVICE:SRC_PATH DEST_PATH|-\n\tdray compose cp [OPTIONS] SRC_PATH|- SERVICE:DEST_PATH',
  description: 'Copy files/folders between a service container and the local filesystem',
  args: { min: 2, max: 2 },
  flags: [
    boolFlag('all', undefined, 'Include containers created by the run command'),
    boolFlag('archive', 'a', 'Archive mode (copy all uid/gid information)'),
    boolFlag('follow-link', 'L', 'Always follow symbol link in SRC_PATH'),
    intFlag('index', undefined, 'Index of the container if service has multiple replicas'),
    boolFlag('quiet', 'q', 'Suppress progress output during copy'),
  ],
  async run(cc, f, args) {
    const dray = require('../../cli/commands/cp') as typeof import('../../cli/commands/cp');
    const mapped: string[] = [];
    for (const a of args) {
      const part = dray.splitCpArg(a);
      if (!part.container) { mapped.push(a); continue; }
      const { name } = cc.projectOrName([part.container]);
      const list = await containersOf(cc, name, [part.container], { oneoff: !!f.all });
      const c = f.index !== undefined ? list.find((x) => numberOf(x) === f.index) : list[0];
      if (!c) throw new ComposeError(`no container found for service "${part.container}"`);
      mapped.push(`${c.Id}:${part.path}`);
    }
    // dray cp tells daemon errors apart by class: it gets a client made by this bundle's code.
    const { DockerClient } = require('../../client') as typeof import('../../client');
    const { resolveHostAddress } = require('../../client/host') as typeof import('../../client/host');
    const client = new DockerClient({ host: resolveHostAddress(cc.ctx.hostFlag, process.env, { context: cc.ctx.globals.context, config: cc.ctx.globals.config }) });
    try {
      return (await dray.cp.run({ ...cc.ctx, client: () => client }, { archive: f.archive, 'follow-link': f['follow-link'], quiet: f.quiet }, mapped, new Set())) ?? 0;
    } finally { client.close(); }
  },
};


/** attach SERVICE: the service's running container's stdio, as `docker attach` (no past output). */
export const attach: ComposeCommand = {
  usage: '[OPTIONS] SERVICE',
  description: "Attach local standard input, output, and error streams to a service's running container",
  flags: [
    strFlag('detach-keys', undefined, 'Override the key sequence for detaching from a container.'),
    intFlag('index', undefined, 'index of the container if service has multiple replicas.'),
    boolFlag('no-stdin', undefined, 'Do not attach STDIN'),
    boolFlag('sig-proxy', undefined, 'Proxy all received signals to the process', true),
  ],
  async run(cc, f, args) {
    if (args.length !== 1) throw new ComposeError('attach: expected exactly one SERVICE');
    const client = cc.client();
    const found = await runningContainer(cc, args[0], f.index);
    const c = await client.containers.inspect(found.Id);
    return attachRunning(client, c, { noStdin: f['no-stdin'], sigProxy: f['sig-proxy'], detachKeys: f['detach-keys'] }, (m) => new ComposeError(m));
  },
};
