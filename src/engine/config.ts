// Daemon settings: flags override the JSON config file, which overrides these defaults.
import { RegistryConfig, defaultRegistryConfig } from '../registry/remote/client';
import type { UsernsRemap } from '../runtime/userns';

export interface DaemonConfig {
  hosts: string[];
  dataRoot: string;
  execRoot: string;
  defaultRuntime: string;
  runtimes: Record<string, string>;
  debug: boolean;
  /** Name of the bridge device and subnet for the default network (networking issue). */
  bridge: string;
  bridgeSubnet: string;
  /** The json-file rotation when a container's log options give no max-size (Dray's own default). */
  logMaxSize: number;
  logMaxFiles: number;
  /** daemon.json `log-driver` and `log-opts`: the driver of containers that name none, and its options. */
  logDriver: string;
  logOpts: Record<string, string>;
  conmon: string;
  /** Keep a CLI process waiting for the `dray` launcher, forking per command (src/daemon/cli-pool.ts): 0 for none. */
  cliWorkers: number;
  /** TCP hosts: TLS as dockerd's --tls/--tlsverify (cert files), plain TCP only with insecureTcp. */
  tls: { enabled: boolean; verify: boolean; ca?: string; cert?: string; key?: string };
  insecureTcp: boolean;
  /** The group owning the Unix sockets (dockerd's --group); root's when unset. */
  socketGroup?: string;
  /** host:port for GET /metrics (daemon.json metrics-addr, as dockerd's); none when unset. */
  metricsAddr?: string;
  /** daemon.json `dashboard` / --dashboard-addr (src/dashboard/config.ts); the default: 127.0.0.1, a random port, started on demand. */
  dashboard?: { enabled: boolean; addr: string; eager: boolean; tlsCert?: string; tlsKey?: string };
  /** daemon.json `max-attached-streams` / --max-attached-streams: hijacked streams (attach, exec) open at once; unset: 2000. */
  maxAttachedStreams?: number;
  /** daemon.json `no-new-privileges` / --no-new-privileges: every container's default (--security-opt no-new-privileges=false opts out). */
  noNewPrivileges?: boolean;
  /** daemon.json `userns-remap` / --userns-remap: "default" or user[:group]; unset: no remapping. */
  usernsRemap?: string;
  /** The resolved remapping (daemon/main.ts, runtime/userns.ts): every container not --userns=host runs with it. */
  userns?: UsernsRemap;
  /** The registry client: daemon.json registry-mirrors, insecure-registries, registry-certs-dir, max-concurrent-downloads/uploads, … */
  registry: RegistryConfig;
}

export const defaultConfig = (): DaemonConfig => ({
  hosts: ['unix:///run/dray.sock'],
  dataRoot: '/var/lib/dray',
  execRoot: '/run/dray',
  defaultRuntime: 'crun',
  runtimes: { crun: '/usr/bin/crun', runc: '/usr/sbin/runc' },
  debug: false,
  bridge: 'dray0',
  bridgeSubnet: '10.88.0.0/16',
  logMaxSize: 20 * 1024 * 1024,
  logMaxFiles: 3,
  logDriver: 'json-file',
  logOpts: {},
  conmon: '/usr/bin/conmon',
  cliWorkers: 1,
  tls: { enabled: false, verify: false },
  insecureTcp: false,
  registry: defaultRegistryConfig(),
});
