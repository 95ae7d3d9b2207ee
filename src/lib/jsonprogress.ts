// Docker's progress bar (pkg/jsonmessage JSONProgress.String()), shared by drayd, which sends it
// in the "progress" field at the 200 columns a daemon assumes, and by the dray CLI, which draws it
// again from progressDetail at its terminal's width, as the docker CLI does.
import { humanSize } from './units';

/** "[====>      ]  1.2MB/5MB"; the bar only above 110 columns; counts alone past the total. */
export function progressBar(current: number, total: number, width = 200): string {
  if (current <= 0 && total <= 0) return '';
  if (total <= 0) return humanSize(current).padStart(8);
  let percentage = Math.trunc(Math.trunc((current / total) * 100) / 2);
  if (percentage > 50) percentage = 50;
  let bar = '';
  if (width > 110) bar = `[${'='.repeat(percentage)}>${' '.repeat(Math.max(0, 50 - percentage))}] `;
  const numbers = current > total ? humanSize(current).padStart(8) : `${humanSize(current).padStart(8)}/${humanSize(total)}`;
  return bar + numbers;
}
