// --format handling shared by listing commands, as docker's formatter.Context does it: "table",
// "table TEMPLATE" (header row from the same template, tabwriter-aligned), "json", or a template.
import { Template, TemplateError } from './template';
import { tabwrite } from './tabwriter';

export interface FormatSpec {
  /** The template used by "table" and by an empty --format. */
  defaultTable: string;
  /** Header text per field name: { ID: 'CONTAINER ID', … }. */
  headers: Record<string, string | ((...a: string[]) => string)>;
}

/** Docker lets users type \t and \n in formats. */
export const unescapeFormat = (f: string) => f.replace(/\\t/g, '\t').replace(/\\n/g, '\n');

// In the header row, functions pass their argument through, so {{upper .Names}} still says NAMES.
const headerFuncs: Record<string, (...a: any[]) => any> = Object.fromEntries(
  ['json', 'join', 'split', 'lower', 'upper', 'title', 'pad', 'truncate', 'printf', 'len', 'index', 'println'].map((n) => [n, (...a: any[]) => (n === 'printf' ? a[1] ?? '' : a[0])]),
);

export function renderList(format: string | undefined, rows: unknown[], spec: FormatSpec): string {
  let f = format ?? '';
  if (f === '' || f === 'table') f = `table ${spec.defaultTable}`;
  if (f === 'json') f = '{{json .}}';
  const isTable = f.startsWith('table');
  if (isTable) f = f.slice('table'.length);
  f = unescapeFormat(f.trim());
  const fast = renderSimple(f, isTable, rows, spec);
  if (fast !== undefined) return fast;
  let tmpl: Template;
  try { tmpl = new Template(f); } catch (e: any) { throw new TemplateError(`failed to parse template: ${e.message}`); }
  let body = '';
  // docker's list contexts marshal as maps, so {{json .}} has sorted keys.
  const sorted = (r: any) => {
    const o = r && typeof r.toJSON === 'function' ? r.toJSON() : r;
    return o && typeof o === 'object' && !Array.isArray(o) ? Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]])) : o;
  };
  try {
    for (const r of rows) body += tmpl.execute(format === 'json' ? sorted(r) : r) + '\n';
  } catch (e: any) {
    if (e instanceof TemplateError) throw new TemplateError(`failed to execute template: ${e.message}`);
    throw e;
  }
  if (!isTable) return body;
  const header = new Template(f, { funcs: headerFuncs }).execute(spec.headers) + '\n';
  return tabwrite(header + body);
}

const SIMPLE_FORMAT = /^(?:[^{}]|\{\{\s*\.[A-Za-z_]\w*\s*\}\})*$/;
const FIELD = /\{\{\s*\.([A-Za-z_]\w*)\s*\}\}/g;

/**
 * The common case without the template engine: a format of plain text and {{.Field}} whose values
 * are all strings (the default tables) prints exactly what the template would, a few ms sooner on
 * a cold start. Anything else (functions, non-string values, unknown fields) returns undefined.
 */
function renderSimple(f: string, isTable: boolean, rows: unknown[], spec: FormatSpec): string | undefined {
  if (!SIMPLE_FORMAT.test(f)) return undefined;
  let ok = true;
  const fill = (o: any) => f.replace(FIELD, (_m, k: string) => {
    const v = o?.[k];
    if (typeof v !== 'string') { ok = false; return ''; }
    return v;
  });
  let body = '';
  for (const r of rows) {
    body += fill(r) + '\n';
    if (!ok) return undefined;
  }
  if (!isTable) return body;
  const header = fill(spec.headers) + '\n';
  if (!ok) return undefined;
  return tabwrite(header + body);
}

/** Plain template over one object (inspect -f, version -f, info -f). */
export function renderOne(format: string, data: unknown, floats = false): string {
  if (format === 'json') return JSON.stringify(data) + '\n';
  let t: Template;
  try { t = new Template(unescapeFormat(format), { floats, missingKeyError: true }); } catch (e: any) { throw new TemplateError(`template parsing error: ${e.message}`); }
  try { return t.execute(data) + '\n'; } catch (e: any) {
    if (e instanceof TemplateError) {
      // docker discards the partial output but still ends the line.
      process.stdout.write('\n');
      throw new TemplateError(`template parsing error: ${e.message}`);
    }
    throw e;
  }
}

export { TemplateError };

/** Go's json.MarshalIndent with 4 spaces and HTML escaping, as docker inspect prints. */
export function inspectJson(v: unknown): string {
  return JSON.stringify(v, null, 4)
    .replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `inspect` output: a JSON array, or the template once per object. */
export function printInspect(objs: unknown[], format?: string): void {
  if (!format) { process.stdout.write(objs.length ? `${inspectJson(objs)}\n` : '[]\n'); return; }
  for (const o of objs) process.stdout.write(renderOne(format, o));
}
