// Docker's flag grammar (spf13/pflag as the docker CLI configures it): --flag=value, --flag value,
// -abc combined shorthands, -e=V and -eV, repeated list flags, "--" ends flags, and for run/exec
// (non-interspersed) the first positional ends flags. Messages are pflag's, word for word.

export type FlagKind = 'bool' | 'value' | 'list';

export interface FlagDef {
  name: string;
  short?: string;
  kind: FlagKind;
  /** Type shown in help ("string", "int", "bytes", "list"…); bool flags show none. */
  type?: string;
  usage: string;
  /** Default value (before parsing); lists default to []. */
  default?: unknown;
  /** Converts/validates one value; a thrown Error's message follows "invalid argument … flag: ". */
  parse?: (v: string) => unknown;
  hidden?: boolean;
  /** Shown as "(default …)" in help. */
  defaultText?: string;
}

export type FlagValues = Record<string, any>;

export class FlagError extends Error {}

export interface ParseResult {
  values: FlagValues;
  args: string[];
  /** Names of the flags the user set (for "changed" checks). */
  changed: Set<string>;
  help: boolean;
}

const flagLabel = (f: FlagDef) => (f.short ? `-${f.short}, --${f.name}` : `--${f.name}`);

export function parseBool(v: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  throw new Error(`strconv.ParseBool: parsing ${JSON.stringify(v)}: invalid syntax`);
}

export function parseIntFlag(v: string, bits = 64): number {
  if (!/^[+-]?(\d+|0x[0-9a-fA-F]+|0o[0-7]+|0b[01]+)$/.test(v)) throw new Error(`strconv.ParseInt: parsing ${JSON.stringify(v)}: invalid syntax`);
  const neg = v.startsWith('-');
  const n = Number(v.replace(/^[+-]/, ''));
  const r = neg ? -n : n;
  if (bits < 64 && Math.abs(r) >= 2 ** (bits - 1)) throw new Error(`strconv.ParseInt: parsing ${JSON.stringify(v)}: value out of range`);
  return r;
}

export function parseUintFlag(v: string, bits = 64): number {
  if (!/^\+?\d+$/.test(v)) throw new Error(`strconv.ParseUint: parsing ${JSON.stringify(v)}: invalid syntax`);
  const n = Number(v);
  if (bits < 64 && n >= 2 ** bits) throw new Error(`strconv.ParseUint: parsing ${JSON.stringify(v)}: value out of range`);
  return n;
}

export const intFlag = (name: string, short: string | undefined, usage: string, def?: number, type = 'int'): FlagDef =>
  ({ name, short, kind: 'value', type, usage, default: def, parse: (v) => parseIntFlag(v) });
export const strFlag = (name: string, short: string | undefined, usage: string, def?: string): FlagDef =>
  ({ name, short, kind: 'value', type: 'string', usage, default: def });
export const boolFlag = (name: string, short: string | undefined, usage: string, def = false): FlagDef =>
  ({ name, short, kind: 'bool', usage, default: def });
export const listFlag = (name: string, short: string | undefined, usage: string, type = 'list'): FlagDef =>
  ({ name, short, kind: 'list', type, usage });

export function parseFlags(argv: string[], defs: FlagDef[], o: { interspersed?: boolean } = {}): ParseResult {
  const interspersed = o.interspersed ?? true;
  const byName = new Map<string, FlagDef>();
  const byShort = new Map<string, FlagDef>();
  for (const d of defs) { byName.set(d.name, d); if (d.short) byShort.set(d.short, d); }
  const values: FlagValues = {};
  for (const d of defs) values[d.name] = d.kind === 'list' ? [] : d.default ?? (d.kind === 'bool' ? false : undefined);
  const changed = new Set<string>();
  const args: string[] = [];
  let help = false;

  const set = (d: FlagDef, raw: string) => {
    let v: unknown = raw;
    try {
      if (d.kind === 'bool') v = parseBool(raw);
      else if (d.parse) v = d.parse(raw);
    } catch (e: any) {
      throw new FlagError(`invalid argument ${JSON.stringify(raw)} for "${flagLabel(d)}" flag: ${e.message}`);
    }
    if (d.kind === 'list') values[d.name].push(v);
    else values[d.name] = v;
    changed.add(d.name);
  };

  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') { args.push(...argv.slice(i + 1)); break; }
    if (!a.startsWith('-') || a === '-') {
      if (!interspersed) { args.push(...argv.slice(i)); break; }
      args.push(a);
      continue;
    }
    if (a.startsWith('--')) {
      const body = a.slice(2);
      const eq = body.indexOf('=');
      const name = eq >= 0 ? body.slice(0, eq) : body;
      const d = byName.get(name);
      if (!d) {
        if (name === 'help') { help = true; continue; }
        throw new FlagError(`unknown flag: --${name}`);
      }
      if (eq >= 0) set(d, body.slice(eq + 1));
      else if (d.kind === 'bool') set(d, 'true');
      else if (i + 1 < argv.length) set(d, argv[++i]);
      else throw new FlagError(`flag needs an argument: --${name}`);
      continue;
    }
    // Shorthand cluster: -abc, -e VALUE, -eVALUE, -e=VALUE.
    let s = a.slice(1);
    while (s.length) {
      const c = s[0];
      const d = byShort.get(c);
      if (!d) {
        if (c === 'h') { help = true; s = s.slice(1); continue; }
        throw new FlagError(`unknown shorthand flag: '${c}' in -${a.slice(1)}`);
      }
      if (s.length > 2 && s[1] === '=') { set(d, s.slice(2)); break; }
      if (d.kind === 'bool') { set(d, 'true'); s = s.slice(1); continue; }
      if (s.length > 1) { set(d, s.slice(1)); break; }
      if (i + 1 < argv.length) { set(d, argv[++i]); break; }
      throw new FlagError(`flag needs an argument: '${c}' in -${c}`);
    }
  }
  return { values, args, changed, help };
}

/** pflag's wrapN: cut before `i` at a space, unless the rest fits within i+slack. */
function wrapN(i: number, slack: number, s: string): [string, string] {
  if (i + slack >= s.length) return [s, ''];
  const head = s.slice(0, i);
  const w = Math.max(head.lastIndexOf(' '), head.lastIndexOf('\t'), head.lastIndexOf('\n'));
  if (w <= 0) return [s, ''];
  const nl = head.lastIndexOf('\n');
  if (nl > 0 && nl < w) return [s.slice(0, nl), s.slice(nl + 1)];
  return [s.slice(0, w), s.slice(w + 1)];
}

/** pflag's wrap: usage text wrapped to `cols`, continuation lines indented by `indent`. */
export function wrapUsage(indent: number, cols: number, s: string): string {
  const r = `\n${' '.repeat(indent)}`;
  let wrap = cols - indent;
  if (wrap < 24) return s.replace(/\n/g, r);
  const slack = 5;
  wrap -= slack;
  let [line, rest] = wrapN(wrap, slack, s);
  let out = line.replace(/\n/g, r);
  while (rest.length) {
    [line, rest] = wrapN(wrap, slack, rest);
    out += r + line.replace(/\n/g, r);
  }
  return out;
}

/** Flag list for --help, in pflag's layout (sorted by long name, wrapped for 80 columns). */
export function formatFlagHelp(defs: FlagDef[], cols = 78): string {
  // Docker lists --help only where -h means something else (run's --hostname), i.e. where the
  // command had to declare its own help flag.
  const ownHelp = defs.some((d) => d.short === 'h');
  const all = [...defs.filter((d) => !d.hidden), ...(ownHelp ? [{ name: 'help', kind: 'bool', usage: 'Print usage' } as FlagDef] : [])];
  all.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const left = all.map((d) => {
    const s = d.short ? `  -${d.short}, --${d.name}` : `      --${d.name}`;
    return d.kind === 'bool' ? s : `${s} ${d.type ?? 'string'}`;
  });
  const w = Math.max(...left.map((l) => l.length)) + 3;
  return all.map((d, i) => {
    let usage = d.usage;
    if (d.defaultText !== undefined) usage += ` (default ${d.defaultText})`;
    else if ((d.kind === 'value' && d.default !== undefined && d.default !== '' && d.default !== 0) || (d.kind === 'bool' && d.default === true)) {
      usage += ` (default ${d.kind === 'value' && (d.type ?? 'string') === 'string' ? JSON.stringify(d.default) : String(d.default)})`;
    }
    return left[i].padEnd(w) + wrapUsage(w, cols, usage);
  }).join('\n');
}
