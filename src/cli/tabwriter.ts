// Go's text/tabwriter as the docker CLI uses it (minwidth 10, tabwidth 1, padding 3, pad ' '):
// tab-terminated cells are aligned per column block (consecutive lines that have that column);
// the last cell of a line is never padded.

export interface TabOptions { minwidth?: number; padding?: number }

const width = (s: string) => [...s].length;

export function tabwrite(text: string, o: TabOptions = {}): string {
  const minwidth = o.minwidth ?? 10;
  const padding = o.padding ?? 3;
  const endsWithNl = text.endsWith('\n');
  const lines = (endsWithNl ? text.slice(0, -1) : text).split('\n').map((l) => l.split('\t'));
  const out: string[] = [];
  const widths: number[] = [];

  const emit = (a: number, b: number) => {
    for (let i = a; i < b; i++) {
      const cells = lines[i];
      let s = '';
      cells.forEach((c, j) => {
        s += c;
        if (j < cells.length - 1 && j < widths.length) s += ' '.repeat(Math.max(0, widths[j] - width(c)));
      });
      out.push(s);
    }
  };

  // Go's format(): for the next column, find each block of consecutive lines that have a cell
  // there, size the column to the block's widest cell, and recurse into the block.
  const format = (line0: number, line1: number): void => {
    const column = widths.length;
    let start = line0;
    let cur = line0;
    while (cur < line1) {
      if (column >= lines[cur].length - 1) { cur++; continue; }
      emit(start, cur);
      let w = minwidth;
      let end = cur;
      for (; end < line1 && column < lines[end].length - 1; end++) {
        w = Math.max(w, width(lines[end][column]) + padding);
      }
      widths.push(w);
      format(cur, end);
      widths.pop();
      start = cur = end;
    }
    emit(start, line1);
  };
  format(0, lines.length);
  return out.join('\n') + (endsWithNl ? '\n' : '');
}
