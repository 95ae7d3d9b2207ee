// Command table. Entries hold a loader, so a command's module is only initialised when it runs.
/* eslint-disable @typescript-eslint/no-var-requires */
import type { Command } from './command';

type Loader = () => Command;
/** `hidden`: runs, but no help lists it (docker's `system dial-stdio`). */
interface Entry { desc: string; load: Loader; hidden?: boolean }

const c = (mod: () => any, name: string): Loader => () => mod()[name] as Command;
const containers = () => require('./commands/containers');
const run = () => require('./commands/run');
const ps = () => require('./commands/ps');
const exec = () => require('./commands/exec');
const images = () => require('./commands/images');
const system = () => require('./commands/system');
const volumes = () => require('./commands/volumes');
const networks = () => require('./commands/networks');
const daemon = () => require('./commands/daemon');
const cp = () => require('./commands/cp');
const build = () => require('./commands/build');
const composeCmd = () => require('./commands/compose');
const registryServer = () => require('./commands/registry');
const builderCmds = () => require('./commands/builder');
const dashboardCmd = () => require('./commands/dashboard');

/** `docker container <sub>` and the top-level shortcuts that share the same command. */
const containerSubs: Record<string, Entry> = {
  attach: { desc: 'Attach local standard input, output, and error streams to a running container', load: c(containers, 'attach') },
  commit: { desc: "Create a new image from a container's changes", load: c(containers, 'commit') },
  cp: { desc: 'Copy files/folders between a container and the local filesystem', load: c(cp, 'cp') },
  create: { desc: 'Create a new container', load: c(run, 'create') },
  diff: { desc: "Inspect changes to files or directories on a container's filesystem", load: c(containers, 'diff') },
  exec: { desc: 'Execute a command in a running container', load: c(exec, 'exec') },
  export: { desc: "Export a container's filesystem as a tar archive", load: c(containers, 'exportCmd') },
  inspect: { desc: 'Display detailed information on one or more containers', load: c(containers, 'inspect') },
  kill: { desc: 'Kill one or more running containers', load: c(containers, 'kill') },
  logs: { desc: 'Fetch the logs of a container', load: c(containers, 'logs') },
  ls: { desc: 'List containers', load: c(ps, 'ps') },
  pause: { desc: 'Pause all processes within one or more containers', load: c(containers, 'pause') },
  port: { desc: 'List port mappings or a specific mapping for the container', load: c(containers, 'port') },
  prune: { desc: 'Remove all stopped containers', load: c(containers, 'prune') },
  rename: { desc: 'Rename a container', load: c(containers, 'rename') },
  restart: { desc: 'Restart one or more containers', load: c(containers, 'restart') },
  rm: { desc: 'Remove one or more containers', load: c(containers, 'rm') },
  run: { desc: 'Create and run a new container from an image', load: c(run, 'run') },
  start: { desc: 'Start one or more stopped containers', load: c(containers, 'start') },
  stats: { desc: 'Display a live stream of container(s) resource usage statistics', load: c(containers, 'stats') },
  stop: { desc: 'Stop one or more running containers', load: c(containers, 'stop') },
  top: { desc: 'Display the running processes of a container', load: c(containers, 'top') },
  unpause: { desc: 'Unpause all processes within one or more containers', load: c(containers, 'unpause') },
  update: { desc: 'Update configuration of one or more containers', load: c(containers, 'update') },
  wait: { desc: 'Block until one or more containers stop, then print their exit codes', load: c(containers, 'wait') },
};

const imageSubs: Record<string, Entry> = {
  build: { desc: 'Build an image from a Dockerfile', load: c(build, 'build') },
  bootstrap: { desc: 'Make a base image locally (Dray extension: busybox)', load: c(images, 'bootstrap') },
  history: { desc: 'Show the history of an image', load: c(images, 'history') },
  import: { desc: 'Import the contents from a tarball to create a filesystem image', load: c(images, 'importCmd') },
  inspect: { desc: 'Display detailed information on one or more images', load: c(images, 'inspect') },
  load: { desc: 'Load an image from a tar archive or STDIN', load: c(images, 'load') },
  ls: { desc: 'List images', load: c(images, 'images') },
  prune: { desc: 'Remove unused images', load: c(images, 'prune') },
  pull: { desc: 'Download an image from a registry', load: c(images, 'pull') },
  push: { desc: 'Upload an image to a registry', load: c(images, 'push') },
  rm: { desc: 'Remove one or more images', load: c(images, 'rmi') },
  save: { desc: 'Save one or more images to a tar archive (streamed to STDOUT by default)', load: c(images, 'save') },
  tag: { desc: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE', load: c(images, 'tag') },
};

const volumeSubs: Record<string, Entry> = {
  create: { desc: 'Create a volume', load: c(volumes, 'create') },
  inspect: { desc: 'Display detailed information on one or more volumes', load: c(volumes, 'inspect') },
  ls: { desc: 'List volumes', load: c(volumes, 'ls') },
  prune: { desc: 'Remove unused local volumes', load: c(volumes, 'prune') },
  rm: { desc: 'Remove one or more volumes', load: c(volumes, 'rm') },
};

const networkSubs: Record<string, Entry> = {
  connect: { desc: 'Connect a container to a network', load: c(networks, 'connect') },
  create: { desc: 'Create a network', load: c(networks, 'create') },
  disconnect: { desc: 'Disconnect a container from a network', load: c(networks, 'disconnect') },
  inspect: { desc: 'Display detailed information on one or more networks', load: c(networks, 'inspect') },
  ls: { desc: 'List networks', load: c(networks, 'ls') },
  prune: { desc: 'Remove all unused networks', load: c(networks, 'prune') },
  rm: { desc: 'Remove one or more networks', load: c(networks, 'rm') },
};

const systemSubs: Record<string, Entry> = {
  df: { desc: 'Show docker disk usage', load: c(system, 'df') },
  events: { desc: 'Get real time events from the server', load: c(system, 'events') },
  info: { desc: 'Display system-wide information', load: c(system, 'info') },
  prune: { desc: 'Remove unused data', load: c(system, 'prune') },
  'dial-stdio': { desc: 'Proxy the stdio stream to the daemon connection. Should not be invoked manually.', load: c(() => require('./commands/dial-stdio'), 'dialStdio'), hidden: true },
};

const builderSubs: Record<string, Entry> = {
  build: { desc: 'Build an image from a Dockerfile', load: c(build, 'build') },
  prune: { desc: 'Remove build cache', load: c(builderCmds, 'prune') },
};

const daemonSubs: Record<string, Entry> = {
  start: { desc: 'Start drayd in the background', load: c(daemon, 'start') },
  stop: { desc: 'Stop the background drayd', load: c(daemon, 'stop') },
  status: { desc: 'Show whether drayd runs', load: c(daemon, 'status') },
};

/** `dray registry …`: the OCI registry server (its code is a bundle of its own, loaded by the command). */
const registrySubs: Record<string, Entry> = {
  gc: { desc: 'Delete blobs no manifest references (safe while serving)', load: c(registryServer, 'gc') },
  scrub: { desc: 'Check every stored blob against its digest', load: c(registryServer, 'scrub') },
  serve: { desc: 'Run an OCI Distribution registry in the foreground', load: c(registryServer, 'serve') },
};

export const GROUPS: Record<string, { desc: string; subs: Record<string, Entry>; aliases?: Record<string, string> }> = {
  container: { desc: 'Manage containers', subs: containerSubs, aliases: { list: 'ls', ps: 'ls', remove: 'rm' } },
  image: { desc: 'Manage images', subs: imageSubs, aliases: { list: 'ls', remove: 'rm', rmi: 'rm' } },
  volume: { desc: 'Manage volumes', subs: volumeSubs, aliases: { list: 'ls', remove: 'rm' } },
  network: { desc: 'Manage networks', subs: networkSubs, aliases: { list: 'ls', remove: 'rm' } },
  builder: { desc: 'Manage builds', subs: builderSubs },
  system: { desc: 'Manage Docker', subs: systemSubs },
  daemon: { desc: 'Manage the Dray daemon (Dray extension)', subs: daemonSubs },
  registry: { desc: 'Run an OCI registry server (Dray extension)', subs: registrySubs },
};

const TOP: Record<string, Entry> = {
  ...Object.fromEntries(Object.entries(containerSubs).filter(([k]) => !['ls', 'prune', 'inspect'].includes(k))),
  ps: containerSubs.ls,
  images: imageSubs.ls,
  rmi: imageSubs.rm,
  history: imageSubs.history,
  import: imageSubs.import,
  load: imageSubs.load,
  save: imageSubs.save,
  pull: imageSubs.pull,
  push: imageSubs.push,
  tag: imageSubs.tag,
  login: { desc: 'Authenticate to a registry', load: c(images, 'login') },
  logout: { desc: 'Log out from a registry', load: c(images, 'logout') },
  build: { desc: 'Build an image from a Dockerfile', load: c(build, 'build') },
  search: { desc: 'Search Docker Hub for images', load: c(images, 'search') },
  version: { desc: 'Show the Docker version information', load: c(system, 'version') },
  info: systemSubs.info,
  events: systemSubs.events,
  inspect: { desc: 'Return low-level information on Docker objects', load: c(system, 'inspect') },
  compose: { desc: 'Docker Compose', load: c(composeCmd, 'compose') },
  dashboard: { desc: "Open drayd's web dashboard (Dray extension)", load: c(dashboardCmd, 'dashboard') },
};

export interface Found { cmd: Command; path: string[]; consumed: number }

export function lookupCommand(words: string[]): Found | undefined {
  const [w0, w1] = words;
  const g = GROUPS[w0];
  if (g) {
    if (w1 === undefined) return undefined;
    const sub = g.aliases?.[w1] ?? w1;
    // "container inspect" etc. are container-specific; "image inspect" too.
    let e = g.subs[sub];
    if (!e && w0 === 'container' && sub === 'inspect') e = containerSubs.inspect;
    if (!e) return undefined;
    return { cmd: e.load(), path: [w0, w1], consumed: 2 };
  }
  const e = TOP[w0];
  if (!e) return undefined;
  return { cmd: e.load(), path: [w0], consumed: 1 };
}

const pad = (s: string, n: number) => s.padEnd(n);

export function topLevelHelp(): string {
  const common = ['run', 'exec', 'ps', 'build', 'pull', 'push', 'images', 'login', 'logout', 'search', 'version', 'info'];
  const others = Object.keys(TOP).filter((k) => !common.includes(k) && !GROUPS[k] && k !== 'compose').sort();
  let s = 'Usage:  dray [OPTIONS] COMMAND\n\nA self-sufficient runtime for containers (Docker-compatible)\n\nCommon Commands:\n';
  for (const k of common) s += `  ${pad(k, 11)} ${TOP[k].desc}\n`;
  s += '\nManagement Commands:\n';
  s += `  ${pad('compose', 11)} Docker Compose\n`;
  for (const k of Object.keys(GROUPS)) s += `  ${pad(k, 11)} ${GROUPS[k].desc}\n`;
  s += '\nCommands:\n';
  for (const k of others) s += `  ${pad(k, 11)} ${TOP[k].desc}\n`;
  s += `\nGlobal Options:
      --config string      Location of client config files (default "~/.docker")
  -c, --context string     Name of the context to use to connect to the daemon
  -D, --debug              Enable debug mode
  -H, --host string        Daemon socket to connect to (env DRAY_HOST, DOCKER_HOST; default unix:///run/dray.sock)
  -l, --log-level string   Set the logging level ("debug", "info", "warn", "error", "fatal") (default "info")
  -v, --version            Print version information and quit

Run 'dray COMMAND --help' for more information on a command.
`;
  return s;
}

export function groupHelp(group: string): string {
  const g = GROUPS[group];
  let s = `Usage:  dray ${group} COMMAND\n\n${g.desc}\n\nCommands:\n`;
  for (const k of Object.keys(g.subs).sort()) if (!g.subs[k].hidden) s += `  ${pad(k, 11)} ${g.subs[k].desc}\n`;
  s += `\nRun 'dray ${group} COMMAND --help' for more information on a command.\n`;
  return s;
}
