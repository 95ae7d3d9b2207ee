// `docker stats`: the runtime's cgroup readings and the container's network interfaces in the
// Engine API's stats shape (the fields Docker fills on Linux with cgroup v1, zeros where it has none).
import { promises as fsp } from 'node:fs';
import type { ContainerRecord } from './container-record';
import { cgroupStats, containerCgroupPath } from '../runtime/cgroups';

export interface NetworkStats {
  rx_bytes: number; rx_packets: number; rx_errors: number; rx_dropped: number;
  tx_bytes: number; tx_packets: number; tx_errors: number; tx_dropped: number;
}

const ZERO_TIME = '0001-01-01T00:00:00Z';

/** Docker's empty CPU reading: what precpu_stats holds before there is a previous one. */
const emptyCpu = () => ({
  cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 },
  throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
});

export async function containerStats(c: ContainerRecord, prev: any): Promise<any> {
  const running = c.State.Running;
  const [s, networks] = await Promise.all([cgroupStats(containerCgroupPath(c.Id, c.HostConfig.CgroupParent)), running ? interfaceStats(c.State.Pid) : undefined]);
  const out: Record<string, unknown> = {
    name: c.Name,
    id: c.Id,
    read: running ? s.read : ZERO_TIME,
    preread: prev?.read ?? ZERO_TIME,
    pids_stats: running ? { current: s.pids.current ?? 0, ...(s.pids.limit !== undefined ? { limit: s.pids.limit } : {}) } : {},
    blkio_stats: {
      io_service_bytes_recursive: running ? s.blkio.ioServiceBytesRecursive : null,
      io_serviced_recursive: running ? s.blkio.ioServicedRecursive : null,
      io_queue_service_time_recursive: null, io_service_time_recursive: null, io_wait_time_recursive: null,
      io_merged_recursive: null, io_time_recursive: null, sectors_recursive: null,
    },
    num_procs: 0,
    storage_stats: {},
    cpu_stats: running ? {
      cpu_usage: { total_usage: s.cpu.totalUsage ?? 0, percpu_usage: s.cpu.perCpuUsage, usage_in_kernelmode: s.cpu.usageInKernelmode ?? 0, usage_in_usermode: s.cpu.usageInUsermode ?? 0 },
      system_cpu_usage: s.cpu.systemCpuUsage,
      online_cpus: s.cpu.onlineCpus,
      throttling_data: { periods: s.cpu.throttling.periods, throttled_periods: s.cpu.throttling.throttledPeriods, throttled_time: s.cpu.throttling.throttledTime },
    } : emptyCpu(),
    precpu_stats: prev?.cpu_stats ?? emptyCpu(),
    memory_stats: running ? { usage: s.memory.usage, max_usage: s.memory.maxUsage, stats: s.memory.stats, failcnt: s.memory.failcnt, limit: s.memory.limit } : {},
  };
  // As Docker: no "networks" for a container without an interface of its own (none, host).
  if (networks && Object.keys(networks).length && c.HostConfig.NetworkMode !== 'host') out.networks = networks;
  return out;
}

/**
 * Counters of the container's interfaces but lo, per interface, from the kernel's view of its
 * network namespace (/proc/<pid>/net/dev of a process inside it).
 */
export async function interfaceStats(pid: number): Promise<Record<string, NetworkStats> | undefined> {
  if (!pid) return undefined;
  let text: string;
  try { text = await fsp.readFile(`/proc/${pid}/net/dev`, 'utf8'); } catch { return undefined; }
  const out: Record<string, NetworkStats> = {};
  for (const line of text.split('\n').slice(2)) {
    const i = line.indexOf(':');
    if (i < 0) continue;
    const name = line.slice(0, i).trim();
    if (name === 'lo') continue;
    const f = line.slice(i + 1).trim().split(/\s+/).map(Number);
    // receive: bytes packets errs drop fifo frame compressed multicast; transmit: bytes packets errs drop …
    out[name] = { rx_bytes: f[0], rx_packets: f[1], rx_errors: f[2], rx_dropped: f[3], tx_bytes: f[8], tx_packets: f[9], tx_errors: f[10], tx_dropped: f[11] };
  }
  return out;
}
