// Sample statistics. All timings in the suite come from process.hrtime.bigint() (see proc.ts, now()).

export function now(): bigint { return process.hrtime.bigint(); }
export function msSince(t0: bigint): number { return Number(process.hrtime.bigint() - t0) / 1e6; }

export function median(xs: number[]): number | undefined {
  if (!xs.length) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function quantile(xs: number[], q: number): number | undefined {
  if (!xs.length) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

export interface Summary { n: number; median?: number; min?: number; max?: number; p90?: number; mean?: number }

export function summarize(xs: number[]): Summary {
  if (!xs.length) return { n: 0 };
  return {
    n: xs.length,
    median: median(xs),
    min: Math.min(...xs),
    max: Math.max(...xs),
    p90: quantile(xs, 0.9),
    mean: xs.reduce((a, b) => a + b, 0) / xs.length,
  };
}

export function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
