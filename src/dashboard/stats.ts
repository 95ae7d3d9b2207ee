// The container list's sparklines: CPU and memory of every running container, sampled in ONE loop
// and sent down ONE server-sent-events stream (/api/stats). A page cannot hold one Engine API stats
// stream per row: a browser opens at most six HTTP/1.1 connections to a host, and each such stream
// costs drayd a timer, a dozen cgroup reads and a JSON document of a few kB a second. Here a tick
// reads three small cgroup files per container (runtime/cgroups.ts cpuAndMemorySync), and only
// while a page listens.
import { containerCgroupPath, cpuAndMemorySync } from '../runtime/cgroups';

export interface Running { Id: string; cgroupParent?: string | null }

/** One sample: percent of one core (as `docker stats`) and bytes in use (cache not counted, as Docker's CLI). */
export interface Sample { cpu: number; mem: number }

export const TICK_MS = 2000;

type Listener = (samples: Record<string, Sample>) => void;

/** Samples every running container each TICK_MS while anyone listens; the loop stops with the last listener. */
export class StatsSampler {
  private listeners = new Set<Listener>();
  private timer?: ReturnType<typeof setInterval>;
  private prev = new Map<string, { cpuNs: number; at: number }>();

  constructor(private readonly running: () => Running[], private readonly tickMs = TICK_MS) {}

  subscribe(f: Listener): () => void {
    this.listeners.add(f);
    if (!this.timer) {
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
      const r = cpuAndMemorySync(containerCgroupPath(c.Id, c.cgroupParent));
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
