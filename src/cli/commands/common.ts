// Pieces shared by commands: filters, --format flag, name cleanup, printing errors per argument.
import type { FlagDef } from '../flags';
import { listFlag, strFlag } from '../flags';
import { StatusError } from '../command';

export const filterFlag = (): FlagDef => ({ ...listFlag('filter', 'f', 'Filter output based on conditions provided', 'filter') });
export const formatFlag = (usage = `Format output using a custom template:
'table':            Print output in table format with column headers (default)
'table TEMPLATE':   Print output in table format using the given Go template
'json':             Print in JSON format
'TEMPLATE':         Print output using the given Go template.
Refer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates`): FlagDef => strFlag('format', undefined, usage);
export const inspectFormatFlag = (): FlagDef => strFlag('format', 'f', `Format output using a custom template:
'json':             Print in JSON format
'TEMPLATE':         Print output using the given Go template.
Refer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates`);

/** --filter k=v (repeatable) → {k: [v…]}. */
export function parseFilterArgs(list: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const f of list) {
    const i = f.indexOf('=');
    if (i < 0) throw new StatusError(1, 'bad format of filter (expected name=value)');
    const k = f.slice(0, i).trim().toLowerCase();
    (out[k] ??= []).push(f.slice(i + 1));
  }
  return out;
}

export const stripSlash = (n: string) => n.replace(/^\//, '');
export const shortId = (id: string) => id.replace(/^sha256:/, '').slice(0, 12);

/** Docker's Ellipsis: at most n runes, the last one "…" when cut. */
export function ellipsis(s: string, n: number): string {
  const r = [...s];
  if (r.length <= n) return s;
  return r.slice(0, n - 1).join('') + '…';
}

/** What one argument's operation prints: its stdout line, or a note on stderr that is no failure. */
export type ArgResult = string | void | { note: string };

// docker's parallelOperation runs up to 50 at once.
const PARALLEL_REQUESTS = 50;

/**
 * Runs `fn` for each argument; errors are printed one per line and the command fails at the end
 * (docker rm/stop/kill… keep going after a failure).
 */
export async function forEachArg(args: string[], fn: (a: string) => Promise<ArgResult>, opts: { parallel?: boolean } = {}): Promise<number> {
  // docker's stop, kill, rm, pause and unpause send their requests at once (up to 50 in flight)
  // and print the results in argument order; the other commands go one by one.
  const width = opts.parallel ? PARALLEL_REQUESTS : 1;
  const settled: Promise<PromiseSettledResult<ArgResult>>[] = [];
  let next = 0;
  const launch = () => { const a = args[next++]; settled.push(fn(a).then((value) => ({ status: 'fulfilled' as const, value }), (reason) => ({ status: 'rejected' as const, reason }))); };
  while (next < Math.min(width, args.length)) launch();
  let failed = false;
  for (let i = 0; i < args.length; i++) {
    const r = await settled[i];
    if (next < args.length) launch();
    if (r.status === 'fulfilled') {
      if (typeof r.value === 'object') process.stderr.write(`${r.value.note}\n`);
      else if (r.value !== undefined) process.stdout.write(`${r.value}\n`);
      continue;
    }
    const e = r.reason;
    if (e?.name === 'ConnectionError') throw e;
    failed = true;
    process.stderr.write(`${e?.name === 'ApiError' ? `Error response from daemon: ${e.message}` : e?.message ?? e}\n`);
  }
  return failed ? 1 : 0;
}

/** Go's time.Time.String() for a Unix time in UTC: "2024-01-02 15:04:05 +0000 UTC". */
export function goTimeString(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000 UTC`;
}

/** y/N prompt on stdin; anything but y/yes is no. */
export async function confirm(question: string): Promise<boolean> {
  process.stdout.write(question);
  const answer = await new Promise<string>((resolve) => {
    let buf = '';
    const onData = (c: Buffer) => {
      buf += c.toString();
      const i = buf.indexOf('\n');
      if (i >= 0) { done(buf.slice(0, i)); }
    };
    const done = (s: string) => { process.stdin.off('data', onData); process.stdin.off('end', onEnd); process.stdin.pause(); resolve(s); };
    const onEnd = () => done(buf);
    process.stdin.on('data', onData);
    process.stdin.on('end', onEnd);
    process.stdin.resume();
  });
  return /^\s*y(es)?\s*$/i.test(answer);
}
