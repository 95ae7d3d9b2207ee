// Turning a create request plus its image into the container's effective config, with Docker's
// merge rules and Docker's wording for what it refuses.
import type { ContainerConfig, Image } from './types';
import type { HostConfig } from './container-record';
import { invalid } from '../lib/errors';
import { mergeEnv } from '../lib/env';
import { validateHealthcheck, mergeHealthcheck } from './health';
import * as path from 'node:path';
import { parseSecurityOpts } from '../runtime/spec';
import { parseDeviceCgroupRule } from '../runtime/devices';

export interface CreateRequest extends ContainerConfig {
  HostConfig?: HostConfig;
  NetworkingConfig?: { EndpointsConfig?: Record<string, unknown> };
}

export { mergeEnv };

export function mergeConfig(req: CreateRequest, image: Image, imageRef: string): ContainerConfig {
  const ic = image.config.config ?? {};
  validateHealthcheck(req.Healthcheck);
  if (req.WorkingDir && !req.WorkingDir.startsWith('/')) throw invalid(`the working directory '${req.WorkingDir}' is invalid, it needs to be an absolute path`);
  const cfg: ContainerConfig = {
    Hostname: req.Hostname ?? '',
    Domainname: req.Domainname ?? '',
    User: req.User || ic.User || '',
    AttachStdin: !!req.AttachStdin,
    AttachStdout: !!req.AttachStdout,
    AttachStderr: !!req.AttachStderr,
    ExposedPorts: { ...(ic.ExposedPorts ?? {}), ...(req.ExposedPorts ?? {}) },
    Tty: !!req.Tty,
    OpenStdin: !!req.OpenStdin,
    StdinOnce: !!req.StdinOnce,
    Env: createEnv(ic.Env, req.Env),
    Cmd: null,
    Image: imageRef,
    Volumes: { ...(ic.Volumes ?? {}), ...(req.Volumes ?? {}) },
    WorkingDir: req.WorkingDir || ic.WorkingDir || '',
    Entrypoint: null,
    OnBuild: null,
    Labels: { ...(ic.Labels ?? {}), ...(req.Labels ?? {}) },
    StopSignal: req.StopSignal || ic.StopSignal || undefined,
    StopTimeout: req.StopTimeout ?? undefined,
    Healthcheck: mergeHealthcheck(req.Healthcheck, ic.Healthcheck),
    Shell: req.Shell?.length ? req.Shell : ic.Shell,
  };
  // An explicit entrypoint discards the image's CMD (Docker's rule); [""] resets the entrypoint.
  const epGiven = req.Entrypoint !== undefined && req.Entrypoint !== null;
  if (epGiven) {
    const ep = (req.Entrypoint as string[]).filter((x, i) => !(i === 0 && x === '' && (req.Entrypoint as string[]).length === 1));
    cfg.Entrypoint = ep.length ? ep : null;
    cfg.Cmd = req.Cmd && req.Cmd.length ? req.Cmd : null;
  } else {
    cfg.Entrypoint = ic.Entrypoint && ic.Entrypoint.length ? ic.Entrypoint : null;
    cfg.Cmd = req.Cmd && req.Cmd.length ? req.Cmd : (ic.Cmd && ic.Cmd.length ? ic.Cmd : null);
  }
  if (!cfg.StopSignal) delete cfg.StopSignal;
  if (cfg.StopTimeout === undefined) delete cfg.StopTimeout;
  if (!cfg.Healthcheck) delete cfg.Healthcheck;
  if (!cfg.Shell?.length) delete cfg.Shell;
  return cfg;
}

/**
 * Docker's merge of a create request's Env over the image's: the request's entries as given (a
 * bare "KEY" included: it unsets KEY in the process, engine/runtime spec), then the image's for
 * every key the request does not name.
 */
export function createEnv(image: readonly string[] | null | undefined, user: readonly string[] | null | undefined): string[] {
  if (!user?.length) return [...(image ?? [])];
  const key = (e: string) => (e.includes('=') ? e.slice(0, e.indexOf('=')) : e);
  const named = new Set(user.map(key));
  return [...user, ...(image ?? []).filter((e) => !named.has(key(e)))];
}

export function commandOf(cfg: ContainerConfig): { path: string; args: string[] } {
  const argv = [...(cfg.Entrypoint ?? []), ...(cfg.Cmd ?? [])];
  if (argv.length === 0) throw invalid('no command specified');
  return { path: argv[0], args: argv.slice(1) };
}

const restartNames = new Set(['', 'no', 'always', 'unless-stopped', 'on-failure']);

/** Validates and normalises the HostConfig of a create request. */
export function normalizeHostConfig(hc: HostConfig | undefined, defaultRuntime: string, runtimes: string[]): HostConfig {
  const h: HostConfig = { ...(hc ?? {}) };
  const rp = h.RestartPolicy ?? { Name: '' };
  if (!restartNames.has(rp.Name ?? '')) throw invalid(`invalid restart policy '${rp.Name}'`);
  if (rp.Name !== 'on-failure' && rp.MaximumRetryCount) throw invalid(`invalid restart policy: maximum retry count can only be used with 'on-failure'`);
  if ((rp.MaximumRetryCount ?? 0) < 0) throw invalid('invalid restart policy: maximum retry count cannot be negative');
  if (h.AutoRemove && rp.Name && rp.Name !== 'no') throw invalid("can't create 'AutoRemove' container with restart policy");
  h.RestartPolicy = { Name: rp.Name || 'no', MaximumRetryCount: rp.MaximumRetryCount ?? 0 };
  // Kept as the client sent it: Docker reports "default", not "bridge", when no network was named.
  const nm = h.NetworkMode || 'default';
  h.NetworkMode = nm;
  if (nm.startsWith('container:') && nm.length === 'container:'.length) throw invalid('Invalid network mode: invalid container format container:<name|id>');
  // Docker discards published ports with the host's or no network (with a warning).
  if (h.NetworkMode === 'host' || h.NetworkMode === 'none') h.PortBindings = {};
  h.Runtime = h.Runtime || defaultRuntime;
  if (!runtimes.includes(h.Runtime)) throw invalid(`unknown or invalid runtime name: ${h.Runtime}`);
  if (h.Memory !== undefined && h.Memory !== 0 && h.Memory < 6 * 1024 * 1024) throw invalid('Minimum memory limit allowed is 6MB');
  if (h.Memory && h.MemorySwap && h.MemorySwap > 0 && h.MemorySwap < h.Memory) throw invalid('Minimum memoryswap limit should be larger than memory limit, see usage');
  if (h.NanoCpus && (h.CpuQuota || h.CpuPeriod)) throw invalid('Conflicting options: Nano CPUs and CPU Period cannot both be set');
  if (h.NanoCpus && h.NanoCpus > require('node:os').cpus().length * 1e9) {
    throw invalid(`range of CPUs is from 0.01 to ${require('node:os').cpus().length}.00, as there are only ${require('node:os').cpus().length} CPUs available`);
  }
  checkResourceRanges(h);
  // Refused at create, not when the runtime's spec is made at start.
  parseSecurityOpts(h.SecurityOpt ?? undefined);
  for (const r of h.DeviceCgroupRules ?? []) parseDeviceCgroupRule(r);
  if (h.CgroupnsMode && h.CgroupnsMode !== 'host' && h.CgroupnsMode !== 'private') throw invalid(`invalid cgroup namespace mode: ${h.CgroupnsMode}`);
  // create resolves it against the daemon's default (engine/log-drivers.ts); this is for records without one.
  h.LogConfig = h.LogConfig?.Type ? h.LogConfig : { Type: 'json-file', Config: {} };
  if (h.Devices) h.Devices = h.Devices.map(checkDevice);
  return h;
}


/**
 * What a container joining another's network namespace (NetworkMode "container:<ref>") may not
 * set, refused at create in moby's words (runconfig validateNetContainerMode): the network, its
 * names and its ports are the other container's.
 */
export function checkContainerNetworkMode(
  cfg: { Hostname?: string; MacAddress?: string; ExposedPorts?: Record<string, unknown> | null } | undefined,
  hc: HostConfig,
  endpoints: Record<string, { MacAddress?: string; Links?: string[] | null } | undefined>,
): void {
  if (!hc.NetworkMode?.startsWith('container:')) return;
  const eps = Object.values(endpoints);
  if (cfg?.Hostname) throw invalid('conflicting options: hostname and the network mode');
  if (((hc.Links ?? []) as string[]).length || eps.some((e) => e?.Links?.length)) throw invalid("conflicting options: container type network can't be used with links. This would result in undefined behavior");
  if ((hc.Dns ?? []).length) throw invalid('conflicting options: dns and the network mode');
  if ((hc.ExtraHosts ?? []).length) throw invalid('conflicting options: custom host-to-IP mapping and the network mode');
  if (cfg?.MacAddress || eps.some((e) => e?.MacAddress)) throw invalid('conflicting options: mac-address and the network mode');
  if (Object.keys(hc.PortBindings ?? {}).length || hc.PublishAllPorts) throw invalid('conflicting options: port publishing and the container type network mode');
  if (Object.keys(cfg?.ExposedPorts ?? {}).length) throw invalid('conflicting options: port exposing and the container type network mode');
}

/**
 * A device's place in the container must be absolute: the runtime makes the node by that path
 * from outside the container, and a relative one ("../../tmp/x") lands on the host. Cleaned so
 * `..` stops at the container's "/".
 */
function checkDevice(d: NonNullable<HostConfig['Devices']>[number]): NonNullable<HostConfig['Devices']>[number] {
  const inCtr = d.PathInContainer || d.PathOnHost;
  if (!inCtr || !inCtr.startsWith('/')) throw invalid(`invalid device mapping "${d.PathOnHost}:${d.PathInContainer}": ${inCtr || '""'} is not an absolute path`);
  return { ...d, PathInContainer: path.posix.normalize(inCtr) };
}

/**
 * Values the kernel would refuse only at start (a 500 from the runtime, after the container was
 * made): refused at the door instead, in Docker's words (moby's verifyPlatformContainerResources).
 */
export function checkResourceRanges(h: Partial<HostConfig>): void {
  const r = h as Record<string, number | undefined>;
  if (r.CpuPeriod && (r.CpuPeriod < 1000 || r.CpuPeriod > 1_000_000)) throw invalid('CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)');
  // -1 is the kernel's "no limit"; any other negative value, like 1..999, it refuses.
  if (r.CpuQuota && r.CpuQuota !== -1 && r.CpuQuota < 1000) throw invalid('CPU cfs quota can not be less than 1ms (i.e. 1000)');
  if (r.CpuShares !== undefined && r.CpuShares < 0) throw invalid(`invalid CPU shares (${r.CpuShares}): the value must not be negative`);
  if (r.BlkioWeight && (r.BlkioWeight < 10 || r.BlkioWeight > 1000)) throw invalid('Range of blkio weight is from 10 to 1000');
  if (r.OomScoreAdj !== undefined && (r.OomScoreAdj < -1000 || r.OomScoreAdj > 1000)) throw invalid(`Invalid value ${r.OomScoreAdj}, range for oom score adj is [-1000, 1000]`);
  if (r.MemorySwappiness !== undefined && r.MemorySwappiness !== null && r.MemorySwappiness !== -1 && (r.MemorySwappiness < 0 || r.MemorySwappiness > 100)) {
    throw invalid(`Invalid value: ${r.MemorySwappiness}, valid memory swappiness range is 0-100`);
  }
  if (r.MemoryReservation !== undefined && r.MemoryReservation < 0) throw invalid('Minimum memory reservation allowed is 6MB');
  if (r.ShmSize !== undefined && r.ShmSize < 0) throw invalid('SHM size can not be less than 0');
  if (r.NanoCpus !== undefined && r.NanoCpus < 0) throw invalid(`range of CPUs is from 0.01 to ${require('node:os').cpus().length}.00, as there are only ${require('node:os').cpus().length} CPUs available`);
}
