// Small SVG charts: no library, a polyline or two in a fixed 100×40 box stretched to its place.

/** A line of `values` with the newest at the right edge, scaled to `max`; `slots` places in all. */
export function Spark({ values, max, slots, label, second }: { values: number[]; max: number; slots: number; label?: string; second?: number[] }) {
  const m = Math.max(max, 1e-9);
  const line = (vs: number[]) => vs.map((v, i) => `${((slots - vs.length + i) / Math.max(slots - 1, 1)) * 100},${40 - (Math.min(v, m) / m) * 38}`).join(' ');
  return (
    <svg viewBox="0 0 100 40" preserveAspectRatio="none" role={label ? 'img' : undefined} aria-label={label} aria-hidden={label ? undefined : 'true'}>
      <polyline points={line(values)} />
      {second && <polyline class="second" points={line(second)} />}
    </svg>
  );
}
