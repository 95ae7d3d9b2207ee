// A subset of Go's text/template with the functions the docker CLI adds (json, join, split, lower,
// upper, title, pad, truncate). Enough for every --format users write: fields, variables, pipes,
// parentheses, if/else if/else, range (with $i, $v :=), with, and Go's way of printing values.

export class TemplateError extends Error {}

/** A missing map key: prints "<no value>", and is false in conditions. */
const NO_VALUE = Symbol('no value');

export interface TemplateOptions {
  /** Go's missingkey=error (docker inspect): a missing map key is an error, not "<no value>". */
  missingKeyError?: boolean;
  /** Print numbers the way Go prints float64 (JSON decoded into interface{}: inspect -f). */
  floats?: boolean;
  funcs?: Record<string, (...a: any[]) => any>;
}

// ---- lexer -----------------------------------------------------------------------------------

type Tok =
  | { t: 'field'; v: string[] }        // .A.B  (v = ['A','B']); "." alone is v = []
  | { t: 'var'; v: string; f: string[] } // $x.A
  | { t: 'ident'; v: string }
  | { t: 'str'; v: string }
  | { t: 'num'; v: number }
  | { t: 'bool'; v: boolean }
  | { t: 'nil' }
  | { t: '(' } | { t: ')' } | { t: '|' } | { t: ':=' } | { t: '=' } | { t: ',' }
  | { t: 'fieldAfter'; v: string[] };    // .A after a ')' : (x).A

function lexAction(src: string, base = 0): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  const fieldChain = (): string[] => {
    const parts: string[] = [];
    while (src[i] === '.') {
      i++;
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i));
      if (!m) { if (parts.length === 0) return parts; throw new TemplateError(`bad character ${JSON.stringify(src[i] ?? '')}`); }
      parts.push(m[0]);
      i += m[0].length;
    }
    return parts;
  };
  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) { i++; continue; }
    if (c === '(' || c === ')' || c === '|' || c === ',') { out.push({ t: c } as Tok); i++; if (c === ')' && src[i] === '.') out.push({ t: 'fieldAfter', v: fieldChain() }); continue; }
    if (c === ':' && src[i + 1] === '=') { out.push({ t: ':=' }); i += 2; continue; }
    if (c === '=') { out.push({ t: '=' }); i++; continue; }
    if (c === '.') {
      if (/[0-9]/.test(src[i + 1] ?? '')) { const m = /^\.[0-9]+/.exec(src.slice(i))!; out.push({ t: 'num', v: Number(m[0]) }); i += m[0].length; continue; }
      const at = i;
      out.push({ t: 'field', v: fieldChain(), pos: base + at } as Tok);
      continue;
    }
    if (c === '$') {
      const m = /^\$[A-Za-z0-9_]*/.exec(src.slice(i))!;
      const at = i;
      i += m[0].length;
      out.push({ t: 'var', v: m[0], f: fieldChain(), pos: base + at } as Tok);
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      while (j < src.length && src[j] !== '"') { if (src[j] === '\\') j++; j++; }
      if (j >= src.length) throw new TemplateError('unterminated quoted string');
      out.push({ t: 'str', v: JSON.parse(src.slice(i, j + 1).replace(/\\'/g, "'")) });
      i = j + 1;
      continue;
    }
    if (c === '`') {
      const j = src.indexOf('`', i + 1);
      if (j < 0) throw new TemplateError('unterminated raw quoted string');
      out.push({ t: 'str', v: src.slice(i + 1, j) });
      i = j + 1;
      continue;
    }
    if (c === "'") {
      const m = /^'(\\.|[^'])'/.exec(src.slice(i));
      if (!m) throw new TemplateError('unterminated character constant');
      out.push({ t: 'num', v: JSON.parse(`"${m[1]}"`).codePointAt(0) });
      i += m[0].length;
      continue;
    }
    const num = /^[+-]?(0x[0-9a-fA-F]+|\d+(\.\d*)?([eE][+-]?\d+)?)/.exec(src.slice(i));
    if (num && /[0-9+-]/.test(c)) { out.push({ t: 'num', v: Number(num[0]) }); i += num[0].length; continue; }
    const id = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i));
    if (id) {
      i += id[0].length;
      if (id[0] === 'true' || id[0] === 'false') out.push({ t: 'bool', v: id[0] === 'true' });
      else if (id[0] === 'nil') out.push({ t: 'nil' });
      else out.push({ t: 'ident', v: id[0] });
      continue;
    }
    throw new TemplateError(`unexpected ${JSON.stringify(c)} in command`);
  }
  return out;
}

// ---- parser ----------------------------------------------------------------------------------

type Operand =
  | { k: 'field'; path: string[]; pos?: number }
  | { k: 'var'; name: string; path: string[]; pos?: number }
  | { k: 'func'; name: string }
  | { k: 'lit'; v: unknown }
  | { k: 'sub'; pipe: Pipeline; path: string[] };
interface Command { args: Operand[] }
interface Pipeline { decl: string[]; assign: boolean; cmds: Command[] }
type Node =
  | { k: 'text'; v: string }
  | { k: 'action'; pipe: Pipeline }
  | { k: 'if' | 'with'; pipe: Pipeline; body: Node[]; else: Node[] }
  | { k: 'range'; pipe: Pipeline; body: Node[]; else: Node[] };

class TokStream {
  i = 0;
  constructor(readonly toks: Tok[]) {}
  peek(): Tok | undefined { return this.toks[this.i]; }
  next(): Tok | undefined { return this.toks[this.i++]; }
}

function parsePipeline(ts: TokStream, funcs: Record<string, unknown>, inParen = false): Pipeline {
  const pipe: Pipeline = { decl: [], assign: false, cmds: [] };
  // Declarations: $x := …, $i, $v := …, $x = …
  const save = ts.i;
  const vars: string[] = [];
  while (ts.peek()?.t === 'var') {
    vars.push((ts.next() as any).v);
    if (ts.peek()?.t === ',') { ts.next(); continue; }
    break;
  }
  const op = ts.peek();
  if (vars.length && (op?.t === ':=' || op?.t === '=')) { ts.next(); pipe.decl = vars; pipe.assign = op.t === '='; } else ts.i = save;
  let cmd: Command = { args: [] };
  for (;;) {
    const tok = ts.peek();
    if (!tok) break;
    if (tok.t === ')') { if (inParen) break; throw new TemplateError('unexpected right paren'); }
    ts.next();
    switch (tok.t) {
      case '|':
        if (!cmd.args.length) throw new TemplateError('missing command');
        pipe.cmds.push(cmd); cmd = { args: [] };
        continue;
      case 'field': cmd.args.push({ k: 'field', path: tok.v, pos: (tok as any).pos }); break;
      case 'var': cmd.args.push({ k: 'var', name: tok.v, path: tok.f, pos: (tok as any).pos }); break;
      case 'str': case 'num': case 'bool': cmd.args.push({ k: 'lit', v: tok.v }); break;
      case 'nil': cmd.args.push({ k: 'lit', v: null }); break;
      case 'ident':
        if (!(tok.v in funcs)) throw new TemplateError(`function ${JSON.stringify(tok.v)} not defined`);
        cmd.args.push({ k: 'func', name: tok.v });
        break;
      case '(': {
        const sub = parsePipeline(ts, funcs, true);
        if (ts.next()?.t !== ')') throw new TemplateError('unclosed left paren');
        let path: string[] = [];
        if (ts.peek()?.t === 'fieldAfter') path = (ts.next() as any).v;
        cmd.args.push({ k: 'sub', pipe: sub, path });
        break;
      }
      default: throw new TemplateError(`unexpected ${JSON.stringify(tok.t)} in operand`);
    }
  }
  if (cmd.args.length) pipe.cmds.push(cmd);
  if (!pipe.cmds.length) throw new TemplateError('missing value for command');
  return pipe;
}

interface RawAction { text?: string; action?: string; pos?: number }

function split(src: string): RawAction[] {
  const out: RawAction[] = [];
  let i = 0;
  let trimNext = false;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    let text = open < 0 ? src.slice(i) : src.slice(i, open);
    if (trimNext) text = text.replace(/^\s+/, '');
    trimNext = false;
    if (open < 0) { if (text) out.push({ text }); break; }
    let start = open + 2;
    if (src[start] === '-' && /\s/.test(src[start + 1] ?? '')) { text = text.replace(/\s+$/, ''); start += 2; }
    if (text) out.push({ text });
    // Find the closing braces outside of quoted strings.
    let j = start;
    let q: string | null = null;
    for (; j < src.length; j++) {
      const c = src[j];
      if (q) { if (c === '\\' && q === '"') j++; else if (c === q) q = null; continue; }
      if (c === '"' || c === '`') { q = c; continue; }
      if (c === '}' && src[j + 1] === '}') break;
    }
    if (j >= src.length) throw new TemplateError('unclosed action');
    let body = src.slice(start, j);
    if (/\s-$/.test(body)) { body = body.slice(0, -2); trimNext = true; }
    out.push({ action: body.trim(), pos: start + (body.length - body.trimStart().length) });
    i = j + 2;
  }
  return out;
}

function parse(src: string, funcs: Record<string, unknown>): Node[] {
  const items = split(src);
  let pos = 0;
  const parseList = (stopAt: string[]): { nodes: Node[]; stop: string; rest: string; restPos?: number } => {
    const nodes: Node[] = [];
    while (pos < items.length) {
      const it = items[pos++];
      if (it.text !== undefined) { nodes.push({ k: 'text', v: it.text }); continue; }
      const a = it.action!;
      if (a.startsWith('/*')) continue;
      const kw = /^(if|range|with|else|end)\b\s*/.exec(a);
      if (!kw) { nodes.push({ k: 'action', pipe: parsePipeline(new TokStream(lexAction(a, it.pos)), funcs) }); continue; }
      const word = kw[1];
      const rest = a.slice(kw[0].length);
      if (word === 'end' || word === 'else') {
        if (!stopAt.includes(word)) throw new TemplateError(`unexpected {{${word}}}`);
        return { nodes, stop: word, rest, restPos: (it.pos ?? 0) + kw[0].length };
      }
      nodes.push(parseBlock(word as 'if' | 'range' | 'with', rest, (it.pos ?? 0) + kw[0].length));
    }
    if (stopAt.length) throw new TemplateError('unexpected EOF');
    return { nodes, stop: '', rest: '' };
  };
  const parseBlock = (word: 'if' | 'range' | 'with', rest: string, pos = 0): Node => {
    const pipe = parsePipeline(new TokStream(lexAction(rest, pos)), funcs);
    const body = parseList(['else', 'end']);
    let elseNodes: Node[] = [];
    if (body.stop === 'else') {
      const elseIf = /^(if|with)\b\s*/.exec(body.rest);
      if (elseIf) {
        // {{else if x}} … {{end}}: a nested block that consumes the shared {{end}}.
        elseNodes = [parseBlock(elseIf[1] as 'if' | 'with', body.rest.slice(elseIf[0].length), (body.restPos ?? 0) + elseIf[0].length)];
      } else {
        const e = parseList(['end']);
        elseNodes = e.nodes;
      }
    }
    return { k: word, pipe, body: body.nodes, else: elseNodes } as Node;
  };
  return parseList([]).nodes;
}

// ---- values, printing ------------------------------------------------------------------------

function isTrue(v: unknown): boolean {
  if (v === NO_VALUE || v === null || v === undefined || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (v instanceof Map) return v.size > 0;
  if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) return Object.keys(v as object).length > 0;
  return true;
}

export function goString(v: unknown, floats = false): string {
  if (v === NO_VALUE) return '<no value>';
  if (v === null || v === undefined) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return floats ? goFloatV(v) : String(v);
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'bigint') return v.toString();
  if (Array.isArray(v)) return `[${v.map((x) => goString(x, floats)).join(' ')}]`;
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'function') return goString(v(), floats);
  if (typeof v === 'object') {
    if (typeof (v as any).toString === 'function' && (v as any).toString !== Object.prototype.toString) return (v as any).toString();
    const keys = Object.keys(v as object).sort();
    return `map[${keys.map((k) => `${k}:${goString((v as any)[k], floats)}`).join(' ')}]`;
  }
  return String(v);
}

/** %v of a float64 (strconv 'g', shortest): exponent form when the exponent is < -4 or >= 6. */
function goFloatV(n: number): string {
  if (!Number.isFinite(n)) return n > 0 ? '+Inf' : n < 0 ? '-Inf' : 'NaN';
  if (n === 0) return '0';
  const exp = Math.floor(Math.log10(Math.abs(n)));
  if (exp < -4 || exp >= 6) return expForm(n.toExponential());
  return String(n);
}

/** Go writes at least two exponent digits: 1.5e+06. */
const expForm = (s: string) => s.replace(/e([+-])(\d+)$/, (_m, sign: string, d: string) => `e${sign}${d.padStart(2, '0')}`);

/** Go's json.Marshal (docker's "json" template function), HTML-escaping <, > and & like Go. */
export function goJson(v: unknown): string {
  // Key order is the value's own: API objects keep the daemon's (struct) order, as docker's typed
  // structs do; list contexts produce sorted keys in their toJSON, as docker's map-based ones do.
  const s = JSON.stringify(v === undefined || v === NO_VALUE ? null : v, (_k, x) => (typeof x === 'function' ? undefined : x)) ?? 'null';
  return s.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

// printf verbs: %s %v %d %q %t %f %x %X %o %e %g %c %%, with flags -, +, 0, space and width.precision.
export function sprintf(fmt: string, args: unknown[], floats = false): string {
  let ai = 0;
  return fmt.replace(/%([-+ 0#]*)(\d+|\*)?(?:\.(\d+|\*))?([a-zA-Z%])/g, (all, flags: string, width: string | undefined, prec: string | undefined, verb: string) => {
    if (verb === '%') return '%';
    if (width === '*') width = String(args[ai++]);
    if (prec === '*') prec = String(args[ai++]);
    if (ai >= args.length) return `%!${verb}(MISSING)`;
    const a = args[ai++];
    let s: string;
    const p = prec !== undefined ? Number(prec) : undefined;
    switch (verb) {
      case 'v': s = goString(a, floats); if (flags.includes('+') && a && typeof a === 'object' && !Array.isArray(a)) s = goString(a, floats); break;
      case 's': s = goString(a, floats); if (p !== undefined) s = [...s].slice(0, p).join(''); break;
      case 'q': s = JSON.stringify(goString(a, floats)); break;
      case 'd': s = typeof a === 'number' ? String(Math.trunc(a)) : `%!d(${typeof a}=${goString(a)})`; if (flags.includes('+') && typeof a === 'number' && a >= 0) s = `+${s}`; break;
      case 't': s = typeof a === 'boolean' ? String(a) : `%!t(${typeof a}=${goString(a)})`; break;
      case 'f': case 'F': s = Number(a).toFixed(p ?? 6); break;
      case 'e': s = expForm(Number(a).toExponential(p ?? 6)); break;
      case 'g': s = goFloatV(Number(a)); break;
      case 'x': s = typeof a === 'number' ? a.toString(16) : Buffer.from(String(a)).toString('hex'); break;
      case 'X': s = typeof a === 'number' ? a.toString(16).toUpperCase() : Buffer.from(String(a)).toString('hex').toUpperCase(); break;
      case 'o': s = Number(a).toString(8); break;
      case 'c': s = String.fromCodePoint(Number(a)); break;
      default: return `%!${verb}(${goString(a)})`;
    }
    if (width !== undefined) {
      const w = Number(width);
      if (flags.includes('-')) s = s.padEnd(w);
      else if (flags.includes('0') && /[dfeFgxXo]/.test(verb)) s = s.startsWith('-') ? `-${s.slice(1).padStart(w - 1, '0')}` : s.padStart(w, '0');
      else s = s.padStart(w);
    }
    return s;
  }) + (ai < args.length ? `%!(EXTRA ${args.slice(ai).map((x) => `${typeof x === 'number' ? 'int' : 'string'}=${goString(x)}`).join(', ')})` : '');
}

function cmp(a: any, b: any): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  throw new TemplateError('incompatible types for comparison');
}

const eqVal = (a: unknown, b: unknown) => (a === NO_VALUE ? null : a) === (b === NO_VALUE ? null : b) || (a == null && b == null);

function lenOf(v: unknown): number {
  if (typeof v === 'string') return Buffer.byteLength(v);
  if (Array.isArray(v)) return v.length;
  if (v && typeof v === 'object') return Object.keys(v).length;
  throw new TemplateError(`len of type ${v === null ? 'nil' : typeof v}`);
}

function indexOf(v: any, ...keys: any[]): unknown {
  let cur = v;
  for (const k of keys) {
    if (cur === null || cur === undefined || cur === NO_VALUE) throw new TemplateError('index of untyped nil');
    if (Array.isArray(cur) || typeof cur === 'string') {
      if (typeof k !== 'number' || k < 0 || k >= cur.length) throw new TemplateError(`error calling index: index out of range: ${k}`);
      cur = cur[k];
    } else if (typeof cur === 'object') {
      cur = Object.prototype.hasOwnProperty.call(cur, k) ? cur[k] : NO_VALUE;
    } else throw new TemplateError(`can't index item of type ${typeof cur}`);
  }
  return cur;
}

const titleCase = (s: string) => s.replace(/(^|[^\p{L}\p{N}_'])(\p{L})/gu, (_m, pre: string, c: string) => pre + c.toUpperCase());

function makeFuncs(floats: boolean): Record<string, (...a: any[]) => any> {
  return {
    json: (v: unknown) => goJson(v),
    join: (a: unknown, sep: string) => (Array.isArray(a) ? a.map((x) => goString(x, floats)).join(sep) : goString(a, floats)),
    split: (s: string, sep: string) => String(s).split(sep),
    lower: (s: unknown) => goString(s, floats).toLowerCase(),
    upper: (s: unknown) => goString(s, floats).toUpperCase(),
    title: (s: unknown) => titleCase(goString(s, floats)),
    pad: (s: unknown, before: number, after: number) => ' '.repeat(before) + goString(s, floats) + ' '.repeat(after),
    truncate: (s: unknown, n: number) => { const t = [...goString(s, floats)]; return t.length > n ? t.slice(0, n).join('') : t.join(''); },
    len: lenOf,
    index: indexOf,
    slice: (v: any, ...ix: number[]) => (typeof v === 'string' || Array.isArray(v) ? v.slice(ix[0] ?? 0, ix[1]) : v),
    print: (...a: unknown[]) => goSprint(a, floats),
    println: (...a: unknown[]) => a.map((x) => goString(x, floats)).join(' ') + '\n',
    printf: (f: string, ...a: unknown[]) => sprintf(f, a, floats),
    eq: (a: unknown, ...b: unknown[]) => b.some((x) => eqVal(a, x)),
    ne: (a: unknown, b: unknown) => !eqVal(a, b),
    lt: (a: unknown, b: unknown) => cmp(a, b) < 0,
    le: (a: unknown, b: unknown) => cmp(a, b) <= 0,
    gt: (a: unknown, b: unknown) => cmp(a, b) > 0,
    ge: (a: unknown, b: unknown) => cmp(a, b) >= 0,
    not: (a: unknown) => !isTrue(a),
    and: (...a: unknown[]) => { for (const x of a) if (!isTrue(x)) return x; return a[a.length - 1]; },
    or: (...a: unknown[]) => { for (const x of a) if (isTrue(x)) return x; return a[a.length - 1]; },
    html: (s: unknown) => goString(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;', "'": '&#39;' }[c]!)),
    urlquery: (s: unknown) => encodeURIComponent(goString(s)),
    call: (f: unknown, ...a: unknown[]) => (typeof f === 'function' ? f(...a) : (() => { throw new TemplateError('call of non-function'); })()),
  };
}

/** fmt.Sprint: spaces only between operands when neither is a string. */
function goSprint(a: unknown[], floats: boolean): string {
  let out = '';
  a.forEach((x, i) => {
    if (i > 0 && typeof x !== 'string' && typeof a[i - 1] !== 'string') out += ' ';
    out += goString(x, floats);
  });
  return out;
}

// ---- execution -------------------------------------------------------------------------------

/** An execution error at a node: Go reports the node's line:col and text. */
class NodeError extends TemplateError {
  constructor(readonly pos: number | undefined, readonly expr: string, message: string) { super(message); }
}

let missingKeyError = false;

function field(obj: any, name: string, args: unknown[] = []): unknown {
  if (obj === null || obj === undefined || obj === NO_VALUE) {
    throw new TemplateError(`nil pointer evaluating interface {}.${name}`);
  }
  if (typeof obj !== 'object') throw new TemplateError(`can't evaluate field ${name} in type ${typeof obj}`);
  const plain = Object.getPrototypeOf(obj) === Object.prototype || Object.getPrototypeOf(obj) === null;
  if (plain) {
    if (!Object.prototype.hasOwnProperty.call(obj, name)) {
      if (missingKeyError) throw new TemplateError(`map has no entry for key ${JSON.stringify(name)}`);
      return NO_VALUE;
    }
    const v = obj[name];
    return typeof v === 'function' ? v.apply(obj, args) : v;
  }
  if (!(name in obj)) throw new TemplateError(`can't evaluate field ${name} in type *formatter.${obj.constructor?.name ?? 'object'}`);
  const v = obj[name];
  return typeof v === 'function' ? v.apply(obj, args) : v;
}

class Exec {
  private vars: Array<[string, unknown]> = [];
  constructor(private readonly funcs: Record<string, (...a: any[]) => any>, private readonly floats: boolean) {}

  run(nodes: Node[], dot: unknown, out: string[]): void {
    for (const n of nodes) {
      switch (n.k) {
        case 'text': out.push(n.v); break;
        case 'action': {
          const v = this.pipe(n.pipe, dot);
          if (!n.pipe.decl.length) out.push(goString(v, this.floats));
          break;
        }
        case 'if': case 'with': {
          const mark = this.vars.length;
          const v = this.pipe(n.pipe, dot);
          if (isTrue(v)) this.run(n.body, n.k === 'with' ? v : dot, out);
          else this.run(n.else, dot, out);
          this.vars.length = mark;
          break;
        }
        case 'range': {
          const mark = this.vars.length;
          const v = this.pipe({ ...n.pipe, decl: [] }, dot);
          let entries: Array<[unknown, unknown]> = [];
          if (Array.isArray(v)) entries = v.map((x, i) => [i, x]);
          else if (typeof v === 'number') entries = Array.from({ length: v }, (_x, i) => [i, i]);
          else if (v && typeof v === 'object') entries = Object.keys(v).sort().map((k) => [k, (v as any)[k]]);
          else if (v !== null && v !== undefined && v !== NO_VALUE) throw new TemplateError(`range can't iterate over ${goString(v)}`);
          if (!entries.length) { this.run(n.else, dot, out); break; }
          for (const [k, x] of entries) {
            this.vars.length = mark;
            if (n.pipe.decl.length === 1) this.vars.push([n.pipe.decl[0], x]);
            else if (n.pipe.decl.length === 2) { this.vars.push([n.pipe.decl[0], k]); this.vars.push([n.pipe.decl[1], x]); }
            this.run(n.body, x, out);
          }
          this.vars.length = mark;
          break;
        }
      }
    }
  }

  private lookupVar(name: string): unknown {
    for (let i = this.vars.length - 1; i >= 0; i--) if (this.vars[i][0] === name) return this.vars[i][1];
    throw new TemplateError(`undefined variable: ${name}`);
  }

  pipe(p: Pipeline, dot: unknown): unknown {
    let v: unknown = undefined;
    let first = true;
    for (const c of p.cmds) { v = this.command(c, dot, first ? undefined : [v]); first = false; }
    if (p.decl.length) {
      if (p.assign) {
        const i = this.vars.map((x) => x[0]).lastIndexOf(p.decl[0]);
        if (i < 0) throw new TemplateError(`undefined variable: ${p.decl[0]}`);
        this.vars[i][1] = v;
      } else this.vars.push([p.decl[0], v]);
    }
    return v;
  }

  private operand(o: Operand, dot: unknown, args: unknown[] = []): unknown {
    switch (o.k) {
      case 'lit': return o.v;
      case 'field': return o.path.length ? this.at(o, () => this.chain(dot, o.path, args)) : dot;
      case 'var': return this.at(o, () => this.chain(this.lookupVar(o.name), o.path, args));
      case 'sub': return this.chain(this.pipe(o.pipe, dot), o.path, args);
      case 'func': return this.funcs[o.name](...args);
    }
  }

  private at(o: Operand & { pos?: number }, fn: () => unknown): unknown {
    try { return fn(); } catch (e: any) {
      if (e instanceof TemplateError && !(e instanceof NodeError)) {
        const expr = o.k === 'field' ? `.${o.path.join('.')}` : o.k === 'var' ? `${o.name}${o.path.map((p) => `.${p}`).join('')}` : '';
        // Go points at the last field of a chain (".State.Foo" → ".Foo").
        const path = o.k === 'field' || o.k === 'var' ? o.path : [];
        const last = path.length ? path[path.length - 1].length + 1 : expr.length;
        throw new NodeError(o.pos === undefined ? undefined : o.pos + expr.length - last, expr, e.message);
      }
      throw e;
    }
  }

  private chain(v: unknown, path: string[], args: unknown[]): unknown {
    let cur = v;
    path.forEach((name, i) => { cur = field(cur, name, i === path.length - 1 ? args : []); });
    return cur;
  }

  private command(c: Command, dot: unknown, piped?: unknown[]): unknown {
    const [head, ...rest] = c.args;
    const args = [...rest.map((a) => this.value(a, dot)), ...(piped ?? [])];
    if (head.k === 'func' || ((head.k === 'field' || head.k === 'var' || head.k === 'sub') && args.length && head.path.length)) {
      return this.operand(head, dot, args);
    }
    if (args.length) throw new TemplateError(`can't give argument to non-function ${describe(head)}`);
    return this.operand(head, dot);
  }

  private value(o: Operand, dot: unknown): unknown {
    if (o.k === 'func') return this.funcs[o.name]();
    return this.operand(o, dot);
  }
}

const describe = (o: Operand) => (o.k === 'field' ? `.${o.path.join('.')}` : o.k === 'lit' ? JSON.stringify(o.v) : o.k);

export class Template {
  private readonly nodes: Node[];
  private readonly funcs: Record<string, (...a: any[]) => any>;
  private readonly floats: boolean;
  private readonly missingKeyError: boolean;

  constructor(readonly source: string, opts: TemplateOptions = {}) {
    this.floats = !!opts.floats;
    this.missingKeyError = !!opts.missingKeyError;
    this.funcs = { ...makeFuncs(this.floats), ...(opts.funcs ?? {}) };
    try {
      this.nodes = parse(source, this.funcs);
    } catch (e: any) {
      throw new TemplateError(`template: :1: ${e.message}`);
    }
  }

  execute(data: unknown): string {
    const out: string[] = [];
    const ex = new Exec(this.funcs, this.floats);
    (ex as any).vars.push(['$', data]);
    missingKeyError = this.missingKeyError;
    try {
      ex.run(this.nodes, data, out);
    } catch (e: any) {
      if (e instanceof NodeError) {
        const before = this.source.slice(0, e.pos ?? 0);
        const line = before.split('\n').length;
        const col = (e.pos ?? 0) - (before.lastIndexOf('\n') + 1);
        const err = new TemplateError(`template: :${line}:${col}: executing "" at <${e.expr}>: ${e.message}`);
        (err as any).partial = out.join('');
        throw err;
      }
      if (e instanceof TemplateError) throw new TemplateError(`template: :1: executing "": ${e.message}`);
      throw e;
    } finally { missingKeyError = false; }
    return out.join('');
  }
}

export function renderTemplate(src: string, data: unknown, opts?: TemplateOptions): string {
  return new Template(src, opts).execute(data);
}
