// Process facts from /proc: who belongs to which engine, and how much memory they hold.
import { readdirSync, readFileSync } from 'node:fs';

/** rssAnonKiB / rssFileKiB: RSS split into private memory and mapped files (for node, mostly its
 * own binary's code and read-only data, shared with every node process). */
export interface ProcInfo { pid: number; ppid: number; comm: string; cmdline: string; rssKiB: number; rssAnonKiB: number; rssFileKiB: number; pssKiB?: number }

function read(p: string): string | undefined {
  try { return readFileSync(p, 'utf8'); } catch { return undefined; }
}

export function procInfo(pid: number): ProcInfo | undefined {
  const status = read(`/proc/${pid}/status`);
  const cmd = read(`/proc/${pid}/cmdline`);
  if (status === undefined || cmd === undefined) return undefined;
  const field = (k: string) => status.match(new RegExp(`^${k}:\\s*(.*)$`, 'm'))?.[1] ?? '';
  const kib = (k: string) => Number(field(k).replace(/\s*kB$/, '')) || 0;
  const rollup = read(`/proc/${pid}/smaps_rollup`);
  const pss = rollup?.match(/^Pss:\s+(\d+) kB/m)?.[1];
  return {
    pid,
    ppid: Number(field('PPid')),
    comm: field('Name'),
    cmdline: cmd.split('\0').filter(Boolean).join(' '),
    rssKiB: kib('VmRSS'),
    rssAnonKiB: kib('RssAnon'),
    rssFileKiB: kib('RssFile'),
    pssKiB: pss === undefined ? undefined : Number(pss),
  };
}

export function allProcs(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const p = procInfo(Number(d));
    if (p) out.push(p);
  }
  return out;
}

export interface MemoryTotal { rssMiB: number; anonMiB: number; fileMiB: number; pssMiB: number; procs: { pid: number; comm: string; rssKiB: number }[] }

export function memoryOf(procs: ProcInfo[]): MemoryTotal {
  const rss = procs.reduce((a, p) => a + p.rssKiB, 0);
  const pss = procs.reduce((a, p) => a + (p.pssKiB ?? 0), 0);
  const anon = procs.reduce((a, p) => a + p.rssAnonKiB, 0);
  const file = procs.reduce((a, p) => a + p.rssFileKiB, 0);
  return { rssMiB: rss / 1024, anonMiB: anon / 1024, fileMiB: file / 1024, pssMiB: pss / 1024, procs: procs.map((p) => ({ pid: p.pid, comm: p.comm, rssKiB: p.rssKiB })) };
}

export function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

export function mountsUnder(prefix: string): string[] {
  return (read('/proc/mounts') ?? '').split('\n').filter((l) => l.split(' ')[1]?.startsWith(prefix)).map((l) => l.split(' ')[1]);
}
