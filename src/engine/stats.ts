// `docker stats` from the container's v1 cgroups (the layout crun makes with cgroupsPath /dray/<id>).
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import type { ContainerRecord } from './container-record';

const cg = (ctrl: string, id: string, file: string) => `/sys/fs/cgroup/${ctrl}/dray/${id}/${file}`;
const num = async (p: string): Promise<number> => Number((await fsp.readFile(p, 'utf8').catch(() => '0')).trim()) || 0;

async function systemCpuNs(): Promise<number> {
  const stat = await fsp.readFile('/proc/stat', 'utf8');
  const f = stat.split('\n')[0].trim().split(/\s+/).slice(1, 8).map(Number);
  return f.reduce((a, b) => a + b, 0) * (1e9 / 100);
}

export async function containerStats(c: ContainerRecord, prev: any): Promise<any> {
  const id = c.Id;
  const running = c.State.Running;
  const [cpu, mem, limit, pids, sys, memStat] = running ? await Promise.all([
    num(cg('cpuacct', id, 'cpuacct.usage')),
    num(cg('memory', id, 'memory.usage_in_bytes')),
    num(cg('memory', id, 'memory.limit_in_bytes')),
    num(cg('pids', id, 'pids.current')),
    systemCpuNs(),
    fsp.readFile(cg('memory', id, 'memory.stat'), 'utf8').catch(() => ''),
  ]) : [0, 0, 0, 0, await systemCpuNs(), ''];
  const stats: Record<string, number> = {};
  for (const line of memStat.split('\n')) { const [k, v] = line.split(' '); if (k) stats[k] = Number(v); }
  const hostMem = os.totalmem();
  return {
    read: new Date().toISOString(),
    preread: prev?.read ?? '0001-01-01T00:00:00Z',
    name: c.Name,
    id: c.Id,
    pids_stats: { current: pids },
    blkio_stats: {},
    num_procs: 0,
    cpu_stats: { cpu_usage: { total_usage: cpu, usage_in_kernelmode: 0, usage_in_usermode: 0 }, system_cpu_usage: sys, online_cpus: os.cpus().length, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } },
    precpu_stats: prev?.cpu_stats ?? { cpu_usage: { total_usage: 0 }, throttling_data: {} },
    memory_stats: running ? { usage: mem, limit: limit > hostMem ? hostMem : limit, stats } : {},
  };
}
