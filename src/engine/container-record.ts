// A container as stored: one JSON file per container in Docker's inspect shape (so `inspect` serves
// it as it is) plus the daemon's private bookkeeping under `Dray`, which is never served.
import type { ContainerConfig } from './types';
import { humanDuration } from '../lib/units';
import { healthText, type HealthState } from './health';
import type { IdMap } from '../lib/idmap';

export interface ContainerState {
  Status: 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';
  Running: boolean;
  Paused: boolean;
  Restarting: boolean;
  OOMKilled: boolean;
  Dead: boolean;
  Pid: number;
  ExitCode: number;
  Error: string;
  StartedAt: string;
  FinishedAt: string;
  /** Only for a container with a healthcheck that has been started (engine/health.ts). */
  Health?: HealthState;
}

export interface MountPoint {
  Type: 'bind' | 'volume' | 'tmpfs';
  Name?: string;
  Source: string;
  Destination: string;
  Driver?: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
}

export interface ContainerRecord {
  Id: string;
  Created: string;
  Path: string;
  Args: string[];
  State: ContainerState;
  Image: string;
  ResolvConfPath: string;
  HostnamePath: string;
  HostsPath: string;
  LogPath: string;
  Name: string;
  RestartCount: number;
  Driver: string;
  Platform: string;
  MountLabel: string;
  ProcessLabel: string;
  AppArmorProfile: string;
  ExecIDs: string[] | null;
  HostConfig: HostConfig;
  GraphDriver: { Name: string; Data: Record<string, string> | null };
  Mounts: MountPoint[];
  Config: ContainerConfig;
  NetworkSettings: Record<string, any>;
  Dray: {
    runtime: string;
    /** Set by an explicit stop/kill so restart policies leave the container down. */
    manuallyStopped?: boolean;
    hasBeenStarted?: boolean;
    /** The lowerdirs of its image, top first, fixed at create. */
    lowerDirs: string[];
    /** A build step's container: its root file system is mounted volatile (ContainerFs.mount). */
    scratch?: boolean;
    /** Legacy links (--link): the linked containers by id, and their aliases (engine/links.ts). */
    links?: { id: string; alias: string }[];
    /** Networks to attach at start besides the primary one, and their endpoint settings. */
    endpoints?: Record<string, { Aliases?: string[] | null; IPAMConfig?: { IPv4Address?: string; IPv6Address?: string; LinkLocalIPs?: string[] | null } | null; MacAddress?: string }>;
    /** userns-remap: the user-namespace mapping it runs with, fixed at create (engine/containers.ts usernsOf). */
    idmap?: IdMap;
  };
}

/** One entry of HostConfig.Mounts (`--mount`), as the API carries it. */
export interface HostMount {
  Type: string;
  Source?: string;
  Target: string;
  ReadOnly?: boolean;
  Consistency?: string;
  BindOptions?: { Propagation?: string; NonRecursive?: boolean; CreateMountpoint?: boolean; ReadOnlyNonRecursive?: boolean; ReadOnlyForceRecursive?: boolean } | null;
  VolumeOptions?: { NoCopy?: boolean; Labels?: Record<string, string> | null; DriverConfig?: { Name?: string; Options?: Record<string, string> | null } | null; Subpath?: string } | null;
  TmpfsOptions?: { SizeBytes?: number; Mode?: number; Options?: string[][] | null } | null;
}

export interface HostConfig {
  Binds?: string[] | null;
  NetworkMode?: string;
  PortBindings?: Record<string, { HostIp?: string; HostPort?: string }[]> | null;
  RestartPolicy?: { Name: string; MaximumRetryCount?: number };
  AutoRemove?: boolean;
  VolumeDriver?: string;
  VolumesFrom?: string[] | null;
  Mounts?: HostMount[] | null;
  CapAdd?: string[] | null;
  CapDrop?: string[] | null;
  Dns?: string[] | null;
  DnsOptions?: string[] | null;
  DnsSearch?: string[] | null;
  ExtraHosts?: string[] | null;
  GroupAdd?: string[] | null;
  IpcMode?: string;
  PidMode?: string;
  UTSMode?: string;
  Privileged?: boolean;
  PublishAllPorts?: boolean;
  ReadonlyRootfs?: boolean;
  SecurityOpt?: string[] | null;
  Tmpfs?: Record<string, string> | null;
  ShmSize?: number;
  Sysctls?: Record<string, string> | null;
  Runtime?: string;
  Init?: boolean | null;
  Memory?: number;
  MemorySwap?: number;
  MemoryReservation?: number;
  NanoCpus?: number;
  CpuShares?: number;
  CpuPeriod?: number;
  CpuQuota?: number;
  CpusetCpus?: string;
  PidsLimit?: number | null;
  BlkioWeight?: number;
  Ulimits?: { Name: string; Soft: number; Hard: number }[] | null;
  Devices?: { PathOnHost: string; PathInContainer: string; CgroupPermissions: string }[] | null;
  /** --device-cgroup-rule: Docker's "c 1:3 rwm" (runtime/devices.ts parseDeviceCgroupRule). */
  DeviceCgroupRules?: string[] | null;
  /** --cgroup-parent: the container's cgroup is <parent>/<id> (runtime/cgroups.ts containerCgroupPath). */
  CgroupParent?: string;
  /** --cgroupns: "host", "private" or "" (private: a cgroup namespace of its own). */
  CgroupnsMode?: string;
  OomKillDisable?: boolean;
  OomScoreAdj?: number;
  LogConfig?: { Type: string; Config: Record<string, string> };
  ConsoleSize?: [number, number] | null;
  [k: string]: unknown;
}

const emptyState = (): ContainerState => ({
  Status: 'created', Running: false, Paused: false, Restarting: false, OOMKilled: false, Dead: false,
  Pid: 0, ExitCode: 0, Error: '', StartedAt: '0001-01-01T00:00:00Z', FinishedAt: '0001-01-01T00:00:00Z',
});
export { emptyState };

export function publicView(c: ContainerRecord): Omit<ContainerRecord, 'Dray'> {
  const { Dray: _private, ...rest } = c;
  return rest;
}

/** Docker's human status column: "Up 3 seconds", "Exited (0) 2 minutes ago", "Created". */
export function statusText(c: ContainerRecord, now = Date.now()): string {
  const s = c.State;
  if (s.Status === 'removing') return 'Removal In Progress';
  if (s.Running) {
    const up = humanDuration(now - Date.parse(s.StartedAt));
    if (s.Paused) return `Up ${up} (Paused)`;
    if (s.Restarting) return `Restarting (${s.ExitCode}) ${humanDuration(now - Date.parse(s.FinishedAt))} ago`;
    return s.Health ? `Up ${up} (${healthText(s.Health)})` : `Up ${up}`;
  }
  if (s.Status === 'restarting') return `Restarting (${s.ExitCode}) ${humanDuration(now - Date.parse(s.FinishedAt))} ago`;
  if (s.Dead) return 'Dead';
  if (s.Status === 'created' || !c.Dray.hasBeenStarted) return 'Created';
  return `Exited (${s.ExitCode}) ${humanDuration(now - Date.parse(s.FinishedAt))} ago`;
}
