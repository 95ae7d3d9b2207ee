// What a scenario produces: rows of samples per side, with the targets from the issue.
import { median } from './stats';

export type Side = 'dray' | 'docker';
export type Unit = 'ms' | 'MiB' | 'MB/s' | 'req/s' | '%';

/**
 * A target from the issue. `ratio`: Dray median / Docker median must be ≤ max.
 * `abs`: Dray median must be ≤ max (in the row's unit). `floor`: Dray median / floor median ≤ max.
 * `floor-min`: Dray median / floor median must be ≥ min (throughput: higher is better, e.g. a
 * published port against the same server at its container address).
 */
export type Target =
  | { kind: 'ratio'; max: number }
  /** Dray median / Docker median must be ≥ min (throughput: higher is better). */
  | { kind: 'ratio-min'; min: number }
  | { kind: 'abs'; max: number }
  | { kind: 'floor'; max: number }
  | { kind: 'floor-min'; min: number };

export interface Row {
  /** stable id, also matched by --only (as are the scenario ids) */
  id: string;
  label: string;
  unit: Unit;
  /** lower is better for ms and MiB, higher for MB/s and req/s */
  samples: Partial<Record<Side | 'floor', number[]>>;
  errors?: Partial<Record<Side | 'floor', string>>;
  targets?: Target[];
  /** "n/a (not implemented yet)" and similar: a row with no measurement */
  na?: string;
  note?: string;
  /**
   * samples.dray[i] and samples.floor[i] were taken back to back: Dray/floor is then the median of
   * the per-pair ratios, which the host's load drifting during the scenario does not skew
   */
  pairedFloor?: boolean;
  /** extra data kept in the JSON (e.g. PSS next to RSS) */
  extra?: Record<string, unknown>;
}

export interface Verdict { target: Target; value?: number; ok?: boolean }

export function med(row: Row, side: Side | 'floor'): number | undefined {
  return median(row.samples[side] ?? []);
}

export function ratio(row: Row): number | undefined {
  const d = med(row, 'dray');
  const k = med(row, 'docker');
  if (d === undefined || k === undefined || k === 0) return undefined;
  return d / k;
}

export function floorRatio(row: Row): number | undefined {
  if (row.pairedFloor) {
    const f = row.samples.floor ?? [];
    return median((row.samples.dray ?? []).map((v, i) => v / f[i]).filter(Number.isFinite));
  }
  const d = med(row, 'dray');
  const f = med(row, 'floor');
  if (d === undefined || f === undefined || f === 0) return undefined;
  return d / f;
}

export function verdicts(row: Row): Verdict[] {
  return (row.targets ?? []).map((target) => {
    const value = target.kind === 'ratio' || target.kind === 'ratio-min' ? ratio(row) : target.kind === 'floor' || target.kind === 'floor-min' ? floorRatio(row) : med(row, 'dray');
    const ok = value === undefined ? undefined : target.kind === 'floor-min' || target.kind === 'ratio-min' ? value >= target.min : value <= target.max;
    return { target, value, ok };
  });
}

export function targetText(t: Target, unit: Unit): string {
  if (t.kind === 'ratio') return `≤ ${t.max}×`;
  if (t.kind === 'ratio-min') return `≥ ${t.min}×`;
  if (t.kind === 'floor') return `≤ ${t.max}× floor`;
  if (t.kind === 'floor-min') return `≥ ${t.min}× floor`;
  return `≤ ${t.max} ${unit}`;
}

export function newRow(id: string, label: string, unit: Unit, targets?: Target[]): Row {
  return { id, label, unit, samples: {}, targets };
}

export function naRow(id: string, label: string, why = 'n/a (not implemented yet)'): Row {
  return { id, label, unit: 'ms', samples: {}, na: why };
}
