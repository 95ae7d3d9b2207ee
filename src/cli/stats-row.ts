// One row of `stats` (docker stats, and dray compose stats) from a container's stats JSON.
import type { StatsJson } from '../client';
import { humanSize, bytesSize } from '../lib/units';

const shortId = (id: string) => id.replace(/^sha256:/, '').slice(0, 12);

export const STATS_TABLE = '{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}';
export const STATS_HEADERS = { Container: 'CONTAINER', ID: 'CONTAINER ID', Name: 'NAME', CPUPerc: 'CPU %', MemUsage: 'MEM USAGE / LIMIT', MemPerc: 'MEM %', NetIO: 'NET I/O', BlockIO: 'BLOCK I/O', PIDs: 'PIDS' };

// stats: docker's CPU% = delta(container cpu) / delta(system cpu) * online cpus * 100.
export function statsRow(s: StatsJson, id: string, name: string) {
  const cpuDelta = s.cpu_stats.cpu_usage.total_usage - (s.precpu_stats?.cpu_usage?.total_usage ?? 0);
  const sysDelta = (s.cpu_stats.system_cpu_usage ?? 0) - (s.precpu_stats?.system_cpu_usage ?? 0);
  const cpus = s.cpu_stats.online_cpus || s.cpu_stats.cpu_usage.percpu_usage?.length || 1;
  const cpu = sysDelta > 0 && cpuDelta > 0 ? (cpuDelta / sysDelta) * cpus * 100 : 0;
  const ms = s.memory_stats ?? {};
  const cache = ms.stats?.inactive_file ?? ms.stats?.total_inactive_file ?? 0;
  const mem = Math.max(0, (ms.usage ?? 0) - cache);
  const limit = ms.limit ?? 0;
  let rx = 0; let tx = 0;
  for (const n of Object.values(s.networks ?? {})) { rx += n.rx_bytes; tx += n.tx_bytes; }
  let rd = 0; let wr = 0;
  for (const e of s.blkio_stats?.io_service_bytes_recursive ?? []) { if (/^read$/i.test(e.op)) rd += e.value; if (/^write$/i.test(e.op)) wr += e.value; }
  return {
    Container: id, ID: shortId(id), Name: name,
    CPUPerc: `${cpu.toFixed(2)}%`,
    MemUsage: `${bytesSize(mem)} / ${bytesSize(limit)}`,
    MemPerc: `${limit ? ((mem / limit) * 100).toFixed(2) : '0.00'}%`,
    NetIO: `${humanSize(rx)} / ${humanSize(tx)}`,
    BlockIO: `${humanSize(rd)} / ${humanSize(wr)}`,
    PIDs: String(s.pids_stats?.current ?? 0),
  };
}

