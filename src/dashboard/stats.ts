// The container list's sparklines: CPU and memory of every running container, sampled in ONE loop
// and sent down ONE server-sent-events stream (/api/stats). A page cannot hold one Engine API stats
// stream per row: a browser opens at most six HTTP/1.1 connections to a host, and each such stream
// costs drayd a timer, a dozen cgroup reads and a JSON document of a few kB a second. Here a tick
// reads three small cgroup files per container (cpuacct.usage, memory.usage_in_bytes, memory.stat
// on cgroup v1; cpu.stat, memory.current, memory.stat on v2) synchronously (kernel files: no
// thread-pool round trip), and only while a page listens.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { containerCgroupPath } from '../runtime/cgroups';

export interface Running { Id: string; cgroupParent?: string | null }

/** One sample: percent of one core (as `docker stats`) and bytes in use (cache not counted, as Docker's CLI). */
export interface Sample { cpu: number; mem: number }

export const TICK_MS = 2000;

function num(file: string): number | undefined {
  try { const n = Number(readFileSync(file, 'utf8').trim()); return Number.isFinite(n) ? n : undefined; } catch { return undefined; }
}

const keyRes = new Map<string, RegExp>();

/** One value of a "key value" cgroup file. */
function keyed(file: string, key: string): number | undefined {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch { return undefined; }
  let re = keyRes.get(key);
  if (!re) keyRes.set(key, re = new RegExp(`(?:^|\\n)${key} (\\d+)`));
  const m = re.exec(text);
  return m ? Number(m[1]) : undefined;
}

interface Hierarchies { cpuacct?: string; memory?: string; v2?: string }

function hierarchies(): Hierarchies {
  const out: Hierarchies = {};
  let text = '';
  try { text = readFileSync('/proc/self/mountinfo', 'utf8'); } catch { return out; }
  for (const line of text.split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!post) continue;
    const mp = pre.split(' ')[4];
    const [type, , opts = ''] = post.split(' ');
    if (type === 'cgroup2') out.v2 ??= mp;
    if (type !== 'cgroup') continue;
    const o = opts.split(',');
    if (o.includes('cpuacct')) out.cpuacct ??= mp;
    if (o.includes('memory')) out.memory ??= mp;
  }
  return out;
}

/** CPU time in ns and memory in use, or undefined when the cgroup is gone. */
function read(h: Hierarchies, cg: string): { cpuNs: number; mem: number } | undefined {
  if (h.memory && h.cpuacct) {
    const cpuNs = num(path.join(h.cpuacct, cg, 'cpuacct.usage'));
    const usage = num(path.join(h.memory, cg, 'memory.usage_in_bytes'));
    if (cpuNs === undefined || usage === undefined) return undefined;
    const inactive = keyed(path.join(h.memory, cg, 'memory.stat'), 'total_inactive_file') ?? 0;
    return { cpuNs, mem: Math.max(0, usage - inactive) };
  }
  if (h.v2) {
    const dir = path.join(h.v2, cg);
    const usec = keyed(path.join(dir, 'cpu.stat'), 'usage_usec');
    const usage = num(path.join(dir, 'memory.current'));
    if (usec === undefined || usage === undefined) return undefined;
    const inactive = keyed(path.join(dir, 'memory.stat'), 'inactive_file') ?? 0;
    return { cpuNs: usec * 1000, mem: Math.max(0, usage - inactive) };
  }
  return undefined;
}

type Listener = (samples: Record<string, Sample>) => void;

/** Samples every running container each TICK_MS while anyone listens; the loop stops with the last listener. */
export class StatsSampler {
  private listeners = new Set<Listener>();
  private timer?: ReturnType<typeof setInterval>;
  private prev = new Map<string, { cpuNs: number; at: number }>();
  private h?: Hierarchies;

  constructor(private readonly running: () => Running[], private readonly tickMs = TICK_MS) {}

  subscribe(f: Listener): () => void {
    this.listeners.add(f);
    if (!this.timer) {
      this.h ??= hierarchies();
      this.tick(); // the baseline for CPU deltas: the first samples come a tick later
      this.timer = setInterval(() => this.tick(), this.tickMs);
      this.timer.unref();
    }
    return () => {
      this.listeners.delete(f);
      if (!this.listeners.size && this.timer) { clearInterval(this.timer); this.timer = undefined; this.prev.clear(); }
    };
  }

  /** One round of readings; containers seen for the first time get theirs on the next round. */
  tick(): Record<string, Sample> {
    const out: Record<string, Sample> = {};
    const seen = new Map<string, { cpuNs: number; at: number }>();
    const at = Number(process.hrtime.bigint());
    for (const c of this.running()) {
      const r = read(this.h!, containerCgroupPath(c.Id, c.cgroupParent));
      if (!r) continue;
      seen.set(c.Id, { cpuNs: r.cpuNs, at });
      const p = this.prev.get(c.Id);
      if (!p || at <= p.at) continue;
      out[c.Id] = { cpu: Math.round(Math.max(0, (r.cpuNs - p.cpuNs) / (at - p.at)) * 1000) / 10, mem: r.mem };
    }
    this.prev = seen;
    if (Object.keys(out).length || seen.size === 0) for (const f of this.listeners) f(out);
    return out;
  }
}
