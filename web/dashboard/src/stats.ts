// The container list's CPU and memory: ONE server-sent-events stream of every running container's
// samples (/api/stats, a round every 2 s), open only while some row shows them. Each container's
// last SERIES samples are kept for its sparklines.
import { useEffect, useState } from 'preact/hooks';

export interface Sample { cpu: number; mem: number }
export const SERIES = 30;

class StatsHub {
  private source?: EventSource;
  private users = 0;
  private listeners = new Set<() => void>();
  private closeTimer?: ReturnType<typeof setTimeout>;
  readonly series = new Map<string, Sample[]>();
  /** Sampling rounds received (tests read it from the page). */
  rounds = 0;

  private open(): void {
    clearTimeout(this.closeTimer);
    if (this.source) return;
    const es = new EventSource('/api/stats');
    this.source = es;
    es.onmessage = (m) => {
      let d: { samples: Record<string, Sample> };
      try { d = JSON.parse(m.data); } catch { return; }
      for (const [id, s] of Object.entries(d.samples)) {
        const arr = this.series.get(id) ?? [];
        arr.push(s);
        if (arr.length > SERIES) arr.splice(0, arr.length - SERIES);
        this.series.set(id, arr);
      }
      // A container no longer sampled (stopped, paused, removed) shows no stale line.
      for (const id of this.series.keys()) if (!(id in d.samples)) this.series.delete(id);
      this.rounds++;
      document.documentElement.dataset.statsRounds = String(this.rounds);
      for (const f of this.listeners) f();
    };
  }

  use(f: () => void): () => void {
    this.users++;
    this.listeners.add(f);
    this.open();
    return () => {
      this.listeners.delete(f);
      // Moving between views keeps the stream (and the history): closed a while after the last user.
      if (--this.users === 0) {
        this.closeTimer = setTimeout(() => { this.source?.close(); this.source = undefined; this.series.clear(); }, 10_000);
      }
    };
  }
}

export const statsHub = new StatsHub();

/** Re-renders the caller at each sampling round; returns the hub's series. */
export function useStatsRounds(): Map<string, Sample[]> {
  const [, setN] = useState(0);
  useEffect(() => statsHub.use(() => setN((n) => n + 1)), []);
  return statsHub.series;
}
