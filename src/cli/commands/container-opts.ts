// The flags of run/create and their translation into the API's create body (Config, HostConfig,
// NetworkingConfig), as the docker CLI's container/opts.go does it.
import { FlagDef, boolFlag, strFlag, listFlag, intFlag, parseIntFlag, parseUintFlag, FlagValues } from '../flags';
import { ramInBytes, memSwapBytes, parseDuration } from '../../lib/units';
import { parsePortSpecs, parseExpose } from '../opts/ports';
import { splitVolumes, parseMount, parseTmpfs } from '../opts/mounts';
import {
  parseUlimit, parseRestartPolicy, readEnvFile, normalizeEnv, labelsToMap, parseDevice, parseExtraHost,
  parseKeyValue, parseCpus, parseSecurityOpts, logOptsToMap, parseKeyValueFile,
} from '../opts/misc';
import type { ContainerCreateBody, HostConfig, EndpointSettings } from '../../client/types';
import { readFileSync } from 'node:fs';
import { StatusError } from '../command';

const bytesFlag = (name: string, short: string | undefined, usage: string, parse = ramInBytes): FlagDef =>
  ({ name, short, kind: 'value', type: 'bytes', usage, parse });
const durFlag = (name: string, usage: string): FlagDef =>
  ({ name, kind: 'value', type: 'duration', usage, parse: parseDuration, defaultText: '0s' });

export const containerFlags: FlagDef[] = [
  { name: 'add-host', kind: 'list', type: 'list', usage: 'Add a custom host-to-IP mapping (host:ip)', parse: parseExtraHost },
  listFlag('annotation', undefined, 'Add an annotation to the container (passed through to the OCI runtime)', 'map'),
  listFlag('attach', 'a', 'Attach to STDIN, STDOUT or STDERR'),
  { name: 'blkio-weight', kind: 'value', type: 'uint16', usage: 'Block IO (relative weight), between 10 and 1000, or 0 to disable', parse: (v) => parseUintFlag(v, 16), defaultText: '0' },
  listFlag('cap-add', undefined, 'Add Linux capabilities'),
  listFlag('cap-drop', undefined, 'Drop Linux capabilities'),
  strFlag('cgroup-parent', undefined, 'Optional parent cgroup for the container'),
  strFlag('cgroupns', undefined, 'Cgroup namespace to use (host|private)'),
  strFlag('cidfile', undefined, 'Write the container ID to the file'),
  intFlag('cpu-period', undefined, 'Limit CPU CFS (Completely Fair Scheduler) period'),
  intFlag('cpu-quota', undefined, 'Limit CPU CFS (Completely Fair Scheduler) quota'),
  intFlag('cpu-rt-period', undefined, 'Limit CPU real-time period in microseconds'),
  intFlag('cpu-rt-runtime', undefined, 'Limit CPU real-time runtime in microseconds'),
  intFlag('cpu-shares', 'c', 'CPU shares (relative weight)'),
  { name: 'cpus', kind: 'value', type: 'decimal', usage: 'Number of CPUs', parse: parseCpus },
  strFlag('cpuset-cpus', undefined, 'CPUs in which to allow execution (0-3, 0,1)'),
  strFlag('cpuset-mems', undefined, 'MEMs in which to allow execution (0-3, 0,1)'),
  listFlag('device', undefined, 'Add a host device to the container'),
  listFlag('device-cgroup-rule', undefined, 'Add a rule to the cgroup allowed devices list'),
  strFlag('detach-keys', undefined, 'Override the key sequence for detaching a container'),
  boolFlag('disable-content-trust', undefined, 'Skip image verification', true),
  listFlag('dns', undefined, 'Set custom DNS servers'),
  listFlag('dns-option', undefined, 'Set DNS options'),
  listFlag('dns-search', undefined, 'Set custom DNS search domains'),
  strFlag('domainname', undefined, 'Container NIS domain name'),
  strFlag('entrypoint', undefined, 'Overwrite the default ENTRYPOINT of the image'),
  { name: 'env', short: 'e', kind: 'list', type: 'list', usage: 'Set environment variables', parse: (v) => normalizeEnv(v) },
  listFlag('env-file', undefined, 'Read in a file of environment variables'),
  listFlag('expose', undefined, 'Expose a port or a range of ports'),
  strFlag('gpus', undefined, "GPU devices to add to the container ('all' to pass all GPUs)"),
  listFlag('group-add', undefined, 'Add additional groups to join'),
  strFlag('health-cmd', undefined, 'Command to run to check health'),
  durFlag('health-interval', 'Time between running the check (ms|s|m|h)'),
  intFlag('health-retries', undefined, 'Consecutive failures needed to report unhealthy'),
  durFlag('health-start-interval', 'Time between running the check during the start period (ms|s|m|h)'),
  durFlag('health-start-period', 'Start period for the container to initialize before starting health-retries countdown (ms|s|m|h)'),
  durFlag('health-timeout', 'Maximum time to allow one check to run (ms|s|m|h)'),
  strFlag('hostname', 'h', 'Container host name'),
  boolFlag('init', undefined, 'Run an init inside the container that forwards signals and reaps processes'),
  boolFlag('interactive', 'i', 'Keep STDIN open even if not attached'),
  strFlag('ip', undefined, 'IPv4 address (e.g., 172.30.100.104)'),
  strFlag('ip6', undefined, 'IPv6 address (e.g., 2001:db8::33)'),
  strFlag('ipc', undefined, 'IPC mode to use'),
  strFlag('isolation', undefined, 'Container isolation technology'),
  bytesFlag('kernel-memory', undefined, 'Kernel memory limit'),
  listFlag('label', 'l', 'Set meta data on a container'),
  listFlag('label-file', undefined, 'Read in a line delimited file of labels'),
  listFlag('link', undefined, 'Add link to another container'),
  listFlag('link-local-ip', undefined, 'Container IPv4/IPv6 link-local addresses'),
  strFlag('log-driver', undefined, 'Logging driver for the container'),
  listFlag('log-opt', undefined, 'Log driver options'),
  strFlag('mac-address', undefined, 'Container MAC address (e.g., 92:d0:c6:0a:29:33)'),
  bytesFlag('memory', 'm', 'Memory limit'),
  bytesFlag('memory-reservation', undefined, 'Memory soft limit'),
  bytesFlag('memory-swap', undefined, "Swap limit equal to memory plus swap: '-1' to enable unlimited swap", memSwapBytes),
  intFlag('memory-swappiness', undefined, 'Tune container memory swappiness (0 to 100)', -1),
  { name: 'mount', kind: 'list', type: 'mount', usage: 'Attach a filesystem mount to the container', parse: parseMount },
  strFlag('name', undefined, 'Assign a name to the container'),
  listFlag('network', undefined, 'Connect a container to a network', 'network'),
  listFlag('network-alias', undefined, 'Add network-scoped alias for the container'),
  boolFlag('no-healthcheck', undefined, 'Disable any container-specified HEALTHCHECK'),
  boolFlag('oom-kill-disable', undefined, 'Disable OOM Killer'),
  intFlag('oom-score-adj', undefined, "Tune host's OOM preferences (-1000 to 1000)"),
  strFlag('pid', undefined, 'PID namespace to use'),
  intFlag('pids-limit', undefined, 'Tune container pids limit (set -1 for unlimited)'),
  strFlag('platform', undefined, 'Set platform if server is multi-platform capable'),
  boolFlag('privileged', undefined, 'Give extended privileges to this container'),
  listFlag('publish', 'p', "Publish a container's port(s) to the host"),
  boolFlag('publish-all', 'P', 'Publish all exposed ports to random ports'),
  { name: 'pull', kind: 'value', type: 'string', usage: 'Pull image before running ("always", "missing", "never")', default: 'missing' },
  boolFlag('quiet', 'q', 'Suppress the pull output'),
  boolFlag('read-only', undefined, "Mount the container's root filesystem as read only"),
  strFlag('restart', undefined, 'Restart policy to apply when a container exits', 'no'),
  strFlag('runtime', undefined, 'Runtime to use for this container'),
  listFlag('security-opt', undefined, 'Security Options'),
  bytesFlag('shm-size', undefined, 'Size of /dev/shm'),
  strFlag('stop-signal', undefined, 'Signal to stop the container'),
  intFlag('stop-timeout', undefined, 'Timeout (in seconds) to stop a container'),
  listFlag('storage-opt', undefined, 'Storage driver options for the container'),
  { name: 'sysctl', kind: 'list', type: 'map', usage: 'Sysctl options', parse: (v) => parseKeyValue(v, 'sysctl') },
  listFlag('tmpfs', undefined, 'Mount a tmpfs directory'),
  boolFlag('tty', 't', 'Allocate a pseudo-TTY'),
  { name: 'ulimit', kind: 'list', type: 'ulimit', usage: 'Ulimit options', parse: parseUlimit },
  boolFlag('use-api-socket', undefined, 'Bind mount Docker API socket and required auth'),
  strFlag('user', 'u', 'Username or UID (format: <name|uid>[:<group|gid>])'),
  strFlag('userns', undefined, 'User namespace to use'),
  strFlag('uts', undefined, 'UTS namespace to use'),
  listFlag('volume', 'v', 'Bind mount a volume'),
  strFlag('volume-driver', undefined, 'Optional volume driver for the container'),
  listFlag('volumes-from', undefined, 'Mount volumes from the specified container(s)'),
  strFlag('workdir', 'w', 'Working directory inside the container'),
];

export const runOnlyFlags: FlagDef[] = [
  boolFlag('detach', 'd', 'Run container in background and print container ID'),
  boolFlag('rm', undefined, 'Automatically remove the container and its associated anonymous volumes when it exits'),
  boolFlag('sig-proxy', undefined, 'Proxy received signals to the process', true),
];

/** A validation error after flag parsing: docker prints "docker: <msg>" and exits 125. */
export class OptsError extends Error {}

function must<T>(fn: () => T): T {
  try { return fn(); } catch (e: any) { throw new OptsError(e.message); }
}

export interface CreateRequest { body: ContainerCreateBody; name?: string; platform?: string }

/** Builds the create body from parsed flags and the positionals (IMAGE [COMMAND] [ARG...]). */
export function buildCreateRequest(f: FlagValues, args: string[], changed: Set<string>): CreateRequest {
  const [image, ...cmd] = args;
  const attach: string[] = (f.attach as string[]).map((a) => a.toLowerCase());
  for (const a of attach) if (!['stdin', 'stdout', 'stderr'].includes(a)) throw new OptsError(`invalid argument ${JSON.stringify(a)} for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR`);
  const detached = !!f.detach;
  let attachStdin = attach.includes('stdin');
  let attachStdout = attach.includes('stdout');
  let attachStderr = attach.includes('stderr');
  if (!detached && attach.length === 0) { attachStdout = true; attachStderr = true; if (f.interactive) attachStdin = true; }
  if (detached && attach.length) throw new StatusError(1, 'conflicting options: cannot specify both --attach and --detach');

  const env: string[] = [];
  for (const file of f['env-file'] as string[]) env.push(...must(() => readEnvFile(file)));
  env.push(...(f.env as string[]));
  const labelList: string[] = [];
  for (const file of f['label-file'] as string[]) {
    labelList.push(...must(() => parseKeyValueFile(readFileSync(file, 'utf8'), file, () => undefined)));
  }
  labelList.push(...(f.label as string[]));
  const labels = must(() => labelsToMap(labelList));

  const ports = must(() => parsePortSpecs(f.publish as string[]));
  const exposed = { ...must(() => parseExpose(f.expose as string[])), ...ports.exposed };
  const vols = must(() => splitVolumes(f.volume as string[]));
  const tmpfs: Record<string, string> = {};
  for (const t of f.tmpfs as string[]) { const [k, v] = must(() => parseTmpfs(t)); tmpfs[k] = v; }
  const sysctls: Record<string, string> = Object.fromEntries(f.sysctl as Array<[string, string]>);
  const annotations = Object.fromEntries((f.annotation as string[]).map((a) => must(() => parseKeyValue(a, 'annotation'))));
  const storageOpt = Object.fromEntries((f['storage-opt'] as string[]).map((a) => must(() => parseKeyValue(a, 'storage-opt'))));
  const restart = must(() => parseRestartPolicy(f.restart));
  if (f.rm && restart.Name && restart.Name !== 'no') throw new OptsError('conflicting options: cannot specify both --restart and --rm');
  const extraHosts = f['add-host'] as string[];
  const securityOpt = must(() => parseSecurityOpts(f['security-opt']));

  let healthcheck: ContainerCreateBody['Healthcheck'];
  const hc = ['health-cmd', 'health-interval', 'health-timeout', 'health-start-period', 'health-start-interval', 'health-retries'].some((k) => changed.has(k));
  if (f['no-healthcheck']) {
    if (hc) throw new OptsError('--no-healthcheck conflicts with --health-* options');
    healthcheck = { Test: ['NONE'] };
  } else if (hc) {
    for (const k of ['health-interval', 'health-timeout', 'health-start-period', 'health-start-interval']) {
      if ((f[k] ?? 0) < 0) throw new OptsError(`--${k} cannot be negative`);
    }
    if ((f['health-retries'] ?? 0) < 0) throw new OptsError('--health-retries cannot be negative');
    healthcheck = {
      Test: f['health-cmd'] ? ['CMD-SHELL', f['health-cmd']] : undefined,
      Interval: f['health-interval'] ?? 0,
      Timeout: f['health-timeout'] ?? 0,
      StartPeriod: f['health-start-period'] ?? 0,
      StartInterval: f['health-start-interval'] ?? 0,
      Retries: f['health-retries'] ?? 0,
    };
  }

  let entrypoint: string[] | undefined;
  if (changed.has('entrypoint')) entrypoint = f.entrypoint === '' ? [''] : [f.entrypoint];

  // Networks: the first --network is the mode; further ones are attached after create by the daemon
  // (Docker sends all in EndpointsConfig for API >= 1.44).
  const nets: string[] = f.network as string[];
  const networkMode = nets[0] ?? 'default';
  const endpoints: Record<string, EndpointSettings> = {};
  const epFor = (n: string) => (endpoints[n] ??= {});
  for (const n of nets) epFor(n);
  const userNet = nets.length > 0 && !['default', 'bridge', 'host', 'none'].includes(networkMode) && !networkMode.startsWith('container:');
  if (f.ip || f.ip6 || (f['link-local-ip'] as string[]).length) {
    const ep = epFor(networkMode);
    ep.IPAMConfig = { ...(f.ip ? { IPv4Address: f.ip } : {}), ...(f.ip6 ? { IPv6Address: f.ip6 } : {}), ...((f['link-local-ip'] as string[]).length ? { LinkLocalIPs: f['link-local-ip'] } : {}) };
  }
  if ((f['network-alias'] as string[]).length) {
    if (!userNet) throw new OptsError('network-scoped aliases are only supported for user-defined networks');
    epFor(networkMode).Aliases = f['network-alias'];
  }
  if ((f.link as string[]).length && userNet) epFor(networkMode).Links = f.link;
  if (f['mac-address']) epFor(networkMode).MacAddress = f['mac-address'];

  const memory: number | undefined = f.memory;
  const hostConfig: HostConfig = {
    Binds: vols.binds.length ? vols.binds : undefined,
    ContainerIDFile: f.cidfile || undefined,
    LogConfig: { Type: f['log-driver'] ?? '', Config: must(() => logOptsToMap(f['log-opt'])) },
    NetworkMode: networkMode,
    PortBindings: ports.bindings,
    RestartPolicy: restart.Name ? restart : { Name: 'no', MaximumRetryCount: 0 },
    AutoRemove: !!f.rm,
    VolumeDriver: f['volume-driver'] || undefined,
    VolumesFrom: (f['volumes-from'] as string[]).length ? f['volumes-from'] : undefined,
    ConsoleSize: [0, 0],
    Annotations: Object.keys(annotations).length ? annotations : undefined,
    CapAdd: (f['cap-add'] as string[]).length ? f['cap-add'] : undefined,
    CapDrop: (f['cap-drop'] as string[]).length ? f['cap-drop'] : undefined,
    CgroupnsMode: f.cgroupns || undefined,
    Dns: f.dns,
    DnsOptions: f['dns-option'],
    DnsSearch: f['dns-search'],
    ExtraHosts: extraHosts.length ? extraHosts : undefined,
    GroupAdd: (f['group-add'] as string[]).length ? f['group-add'] : undefined,
    IpcMode: f.ipc ?? '',
    Cgroup: '',
    Links: (f.link as string[]).length && !userNet ? f.link : undefined,
    OomScoreAdj: f['oom-score-adj'] ?? 0,
    PidMode: f.pid ?? '',
    Privileged: !!f.privileged,
    PublishAllPorts: !!f['publish-all'],
    ReadonlyRootfs: !!f['read-only'],
    SecurityOpt: securityOpt.length ? securityOpt : undefined,
    StorageOpt: Object.keys(storageOpt).length ? storageOpt : undefined,
    Tmpfs: Object.keys(tmpfs).length ? tmpfs : undefined,
    UTSMode: f.uts ?? '',
    UsernsMode: f.userns ?? '',
    ShmSize: f['shm-size'],
    Sysctls: Object.keys(sysctls).length ? sysctls : undefined,
    Runtime: f.runtime || undefined,
    Isolation: f.isolation ?? '',
    CpuShares: f['cpu-shares'] ?? 0,
    Memory: memory ?? 0,
    NanoCpus: f.cpus ?? 0,
    CgroupParent: f['cgroup-parent'] ?? '',
    BlkioWeight: f['blkio-weight'] ?? 0,
    CpuPeriod: f['cpu-period'] ?? 0,
    CpuQuota: f['cpu-quota'] ?? 0,
    CpuRealtimePeriod: f['cpu-rt-period'] ?? 0,
    CpuRealtimeRuntime: f['cpu-rt-runtime'] ?? 0,
    CpusetCpus: f['cpuset-cpus'] ?? '',
    CpusetMems: f['cpuset-mems'] ?? '',
    Devices: (f.device as string[]).length ? (f.device as string[]).map((d) => must(() => parseDevice(d))) : undefined,
    DeviceCgroupRules: (f['device-cgroup-rule'] as string[]).length ? f['device-cgroup-rule'] : undefined,
    KernelMemory: f['kernel-memory'] ?? 0,
    MemoryReservation: f['memory-reservation'] ?? 0,
    MemorySwap: f['memory-swap'] ?? 0,
    MemorySwappiness: changed.has('memory-swappiness') ? f['memory-swappiness'] : undefined,
    OomKillDisable: changed.has('oom-kill-disable') ? !!f['oom-kill-disable'] : undefined,
    PidsLimit: changed.has('pids-limit') ? f['pids-limit'] : undefined,
    Ulimits: (f.ulimit as unknown[]).length ? f.ulimit : undefined,
    Mounts: (f.mount as unknown[]).length ? f.mount : undefined,
    Init: changed.has('init') ? !!f.init : undefined,
  };
  // Limits (memory vs swap, oom-score-adj range) are the daemon's to validate, as with Docker.

  const body: ContainerCreateBody = {
    Hostname: f.hostname ?? '',
    Domainname: f.domainname ?? '',
    User: f.user ?? '',
    AttachStdin: attachStdin,
    AttachStdout: attachStdout,
    AttachStderr: attachStderr,
    ExposedPorts: Object.keys(exposed).length ? exposed : undefined,
    Tty: !!f.tty,
    OpenStdin: !!f.interactive,
    StdinOnce: attachStdin && !!f.interactive,
    Env: env,
    Cmd: cmd.length ? cmd : null,
    Healthcheck: healthcheck,
    Image: image,
    Volumes: Object.keys(vols.volumes).length ? vols.volumes : undefined,
    WorkingDir: f.workdir ?? '',
    Entrypoint: entrypoint,
    MacAddress: f['mac-address'] || undefined,
    Labels: labels,
    StopSignal: f['stop-signal'] || undefined,
    StopTimeout: changed.has('stop-timeout') ? f['stop-timeout'] : undefined,
    HostConfig: hostConfig,
    NetworkingConfig: { EndpointsConfig: endpoints },
  };
  // Drop undefined keys so the body reads like Docker's.
  const clean = (o: any) => { for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k]; };
  clean(body); clean(hostConfig);
  return { body, name: f.name || undefined, platform: f.platform || undefined };
}

export { parseIntFlag };
