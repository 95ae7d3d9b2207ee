// The printed table: one line per row, medians, ratio, target, Dray against the floor, verdict.
import { floorRatio, med, ratio, Row, targetText, verdicts } from './model';

function fmt(v: number | undefined, unit: string): string {
  if (v === undefined) return '-';
  const digits = v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return `${v.toFixed(digits)} ${unit}`;
}

function cell(row: Row, side: 'dray' | 'docker' | 'floor'): string {
  if (row.errors?.[side] && !(row.samples[side]?.length)) return 'error';
  return fmt(med(row, side), row.unit);
}

export function renderTable(rows: Row[], dockerNote?: string): string {
  const head = ['scenario', 'Dray', 'Docker', 'Dray/Docker', 'target', 'floor', 'Dray/floor', 'result'];
  const lines: string[][] = [];
  for (const r of rows) {
    if (r.na) { lines.push([r.label, r.na, '', '', '', '', '', '']); continue; }
    const rt = ratio(r);
    const fr = floorRatio(r);
    const vs = verdicts(r);
    const result = vs.map((v) => (v.ok === undefined ? '?' : v.ok ? 'ok' : 'MISS')).join(' ');
    lines.push([
      r.label,
      cell(r, 'dray'),
      dockerNote && !r.samples.docker ? dockerNote : cell(r, 'docker'),
      rt === undefined ? '-' : `${rt.toPrecision(3)}×`,
      (r.targets ?? []).map((t) => targetText(t, r.unit)).join(', ') || '-',
      r.samples.floor || r.errors?.floor ? cell(r, 'floor') : '',
      fr === undefined ? '' : `${fr.toPrecision(3)}×`,
      result,
    ]);
  }
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l, k) => (rows[k].na && i > 0 ? 0 : [...l[i]].length))));
  const pad = (s: string, w: number, right: boolean) => (right ? s.padStart(w) : s.padEnd(w));
  const rightCols = new Set([1, 2, 3, 5, 6]);
  const out = [head.map((h, i) => pad(h, widths[i], rightCols.has(i))).join('  '), widths.map((w) => '─'.repeat(w)).join('  ')];
  lines.forEach((l, k) => {
    if (rows[k].na) out.push(`${pad(l[0], widths[0], false)}  ${l[1]}`);
    else out.push(l.map((c, i) => pad(c, widths[i], rightCols.has(i))).join('  ').trimEnd());
  });
  return out.join('\n');
}

export function renderErrors(rows: Row[]): string {
  // one line per distinct message: a failing round marks every row it feeds with the same error
  const byMsg = new Map<string, string[]>();
  const notes: string[] = [];
  for (const r of rows) {
    for (const [side, msg] of Object.entries(r.errors ?? {})) {
      const k = `[${side}] ${msg}`;
      byMsg.set(k, [...(byMsg.get(k) ?? []), r.id]);
    }
    if (r.note) notes.push(`  ${r.id}: ${r.note}`);
  }
  const errs = [...byMsg].map(([k, ids]) => `  ${ids.join(', ')} ${k}`);
  return [...errs, ...notes].join('\n');
}
