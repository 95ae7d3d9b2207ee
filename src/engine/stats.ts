// `docker stats`: the runtime's cgroup readings in the Engine API's stats shape.
import type { ContainerRecord } from './container-record';
import { cgroupStats } from '../runtime/cgroups';

export async function containerStats(c: ContainerRecord, prev: any): Promise<any> {
  const s = await cgroupStats(`/dray/${c.Id}`);
  const running = c.State.Running;
  return {
    read: s.read,
    preread: prev?.read ?? '0001-01-01T00:00:00Z',
    name: c.Name,
    id: c.Id,
    pids_stats: { current: running ? s.pids.current ?? 0 : 0, limit: s.pids.limit },
    blkio_stats: { io_service_bytes_recursive: s.blkio.ioServiceBytesRecursive, io_serviced_recursive: s.blkio.ioServicedRecursive },
    num_procs: 0,
    cpu_stats: {
      cpu_usage: { total_usage: running ? s.cpu.totalUsage ?? 0 : 0, percpu_usage: s.cpu.perCpuUsage, usage_in_kernelmode: s.cpu.usageInKernelmode ?? 0, usage_in_usermode: s.cpu.usageInUsermode ?? 0 },
      system_cpu_usage: s.cpu.systemCpuUsage,
      online_cpus: s.cpu.onlineCpus,
      throttling_data: { periods: s.cpu.throttling.periods, throttled_periods: s.cpu.throttling.throttledPeriods, throttled_time: s.cpu.throttling.throttledTime },
    },
    precpu_stats: prev?.cpu_stats ?? { cpu_usage: { total_usage: 0 }, throttling_data: {} },
    memory_stats: running ? { usage: s.memory.usage, max_usage: s.memory.maxUsage, limit: s.memory.limit, failcnt: s.memory.failcnt, stats: s.memory.stats } : {},
  };
}
