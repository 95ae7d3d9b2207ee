// Dockerfile parser: text → directives, global ARGs and stages of instructions. Pure: no I/O, no
// variable substitution (that needs the build's state and happens in builder.ts). Follows the
// grammar of moby/buildkit's frontend/dockerfile/parser: parser directives only at the very top,
// the escape character ends a line to continue it, comment and empty lines inside a continuation
// are dropped, heredocs (`<<EOF`) for RUN/COPY/ADD. Errors carry the instruction's line number.
import { parseDuration as goParseDuration } from '../lib/units';
import { invalid, notImplemented, DrayError } from '../lib/errors';
import { parseRunMount, parseRunNetwork } from './run-options';

export interface Heredoc {
  name: string;
  content: string;
  /** Unquoted delimiter: variables in the content expand. */
  expand: boolean;
  /** `<<-`: leading tabs stripped from each line. */
  chomp: boolean;
}

export interface Flag { name: string; value: string | null }

export interface Instruction {
  /** Lower-case keyword: "run", "copy"… */
  cmd: string;
  /** The source text with continuations joined, as the legacy builder prints it in "Step n/m". */
  original: string;
  /** 1-based line where the instruction starts. */
  line: number;
  flags: Flag[];
  /** Arguments after the keyword and its flags, trimmed. */
  args: string;
  /** Exec (JSON array) form, where the instruction allows one. */
  json?: string[];
  heredocs: Heredoc[];
  /** ONBUILD: the trigger instruction. */
  trigger?: Instruction;
}

export interface Stage {
  index: number;
  /** `AS name`, lower-cased (stage names are case-insensitive). */
  name?: string;
  /** The FROM argument before substitution. */
  base: string;
  platform?: string;
  from: Instruction;
  instructions: Instruction[];
}

export interface Dockerfile {
  directives: Record<string, string>;
  escape: string;
  /** ARGs before the first FROM: usable in FROM lines, and in stages that redeclare them. */
  globalArgs: Instruction[];
  stages: Stage[];
}

export const INSTRUCTIONS = [
  'add', 'arg', 'cmd', 'copy', 'entrypoint', 'env', 'expose', 'from', 'healthcheck', 'label',
  'maintainer', 'onbuild', 'run', 'shell', 'stopsignal', 'user', 'volume', 'workdir',
];

/** Flags each instruction accepts (BuildKit-only flags are refused by name, not ignored). */
const FLAGS: Record<string, string[]> = {
  from: ['platform'],
  copy: ['from', 'chown', 'chmod', 'link', 'parents', 'exclude'],
  add: ['chown', 'chmod', 'link', 'checksum', 'keep-git-dir', 'exclude'],
  run: ['mount', 'network', 'security'],
  healthcheck: ['interval', 'timeout', 'start-period', 'start-interval', 'retries'],
};

/** Instructions whose arguments may be a JSON array. */
const JSON_FORM = new Set(['run', 'cmd', 'entrypoint', 'shell', 'volume', 'copy', 'add', 'healthcheck']);
const HEREDOC_FORM = new Set(['run', 'copy', 'add']);

export class DockerfileParseError extends DrayError {
  constructor(readonly line: number, readonly detail: string) {
    super('InvalidParameter', `dockerfile parse error on line ${line}: ${detail}`);
  }
}

const DIRECTIVE_RE = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;
const KNOWN_DIRECTIVES = new Set(['syntax', 'escape', 'check']);
const HEREDOC_RE = /(^|\s)(\d*)<<(-?)(["']?)([A-Za-z_][A-Za-z0-9_.-]*)\4/g;

export function parseDockerfile(text: string, name = 'Dockerfile'): Dockerfile {
  const lines = text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n').split('\n');
  const directives: Record<string, string> = {};
  let i = 0;
  // Directives: only in the leading comment lines; the first other line ends them.
  for (; i < lines.length; i++) {
    const m = DIRECTIVE_RE.exec(lines[i].trim());
    if (!m || !KNOWN_DIRECTIVES.has(m[1].toLowerCase())) break;
    const key = m[1].toLowerCase();
    if (key in directives) throw new DockerfileParseError(i + 1, `only one ${key} parser directive can be used`);
    directives[key] = m[2];
  }
  const escape = directives.escape ?? '\\';
  if (escape !== '\\' && escape !== '`') throw new DockerfileParseError(1, `invalid escape token '${escape}' does not match ` + '` or \\');

  const raw: Instruction[] = [];
  // Each outer iteration consumes at least one line, so the loop ends.
  while (i < lines.length) {
    const first = lines[i];
    if (isBlankOrComment(first)) { i++; continue; }
    const start = i + 1;
    let joined = '';
    let line = first;
    i++;
    for (let guard = 0; guard <= lines.length; guard++) {
      const trimmed = line.replace(/\s+$/, '');
      if (trimmed.endsWith(escape)) {
        joined += trimmed.slice(0, -1);
        // Comment lines and empty lines inside a continuation are dropped.
        while (i < lines.length && isBlankOrComment(lines[i])) i++;
        if (i >= lines.length) break;
        line = lines[i++];
        continue;
      }
      joined += line;
      break;
    }
    const ins = parseLine(joined.trim(), start);
    if (ins.heredocs.length) i = readHeredocs(ins, lines, i);
    raw.push(ins);
  }
  if (raw.length === 0) throw invalid(`the Dockerfile (${name}) cannot be empty`);
  return group(raw, directives, escape);
}

function isBlankOrComment(line: string): boolean {
  const t = line.trim();
  return t === '' || t.startsWith('#');
}

function parseLine(text: string, line: number): Instruction {
  const m = /^(\S+)(?:\s+([\s\S]*))?$/.exec(text)!;
  const keyword = m[1];
  const cmd = keyword.toLowerCase();
  if (!INSTRUCTIONS.includes(cmd)) throw new DockerfileParseError(line, `unknown instruction: ${keyword.toUpperCase()}`);
  let rest = (m[2] ?? '').trim();
  const flags: Flag[] = [];
  if (cmd !== 'onbuild') {
    // Flags: leading `--name=value` words (values may be quoted with no spaces inside).
    for (let guard = 0; guard < 64; guard++) {
      const f = /^--([a-zA-Z][a-zA-Z0-9-]*)(?:=("[^"]*"|'[^']*'|\S*))?(?:\s+|$)/.exec(rest);
      if (!f) break;
      const allowed = FLAGS[cmd] ?? [];
      if (!allowed.includes(f[1])) throw new DockerfileParseError(line, `unknown flag: ${f[1]}`);
      let v: string | null = f[2] === undefined ? null : f[2];
      if (v && /^(["']).*\1$/.test(v)) v = v.slice(1, -1);
      flags.push({ name: f[1], value: v });
      rest = rest.slice(f[0].length);
    }
  }
  const ins: Instruction = { cmd, original: text, line, flags, args: rest, heredocs: [] };
  if (JSON_FORM.has(cmd) && rest.startsWith('[')) {
    try {
      const v = JSON.parse(rest);
      if (Array.isArray(v) && v.every((x) => typeof x === 'string')) ins.json = v;
    } catch { /* not JSON: shell form, as Docker does */ }
  }
  if (HEREDOC_FORM.has(cmd) && !ins.json) {
    for (const h of rest.matchAll(HEREDOC_RE)) {
      ins.heredocs.push({ name: h[5], content: '', expand: h[4] === '', chomp: h[3] === '-' });
    }
  }
  validate(ins);
  return ins;
}

function readHeredocs(ins: Instruction, lines: string[], i: number): number {
  for (const h of ins.heredocs) {
    const body: string[] = [];
    let closed = false;
    while (i < lines.length) {
      let l = lines[i++];
      if (h.chomp) l = l.replace(/^\t+/, '');
      if (l === h.name) { closed = true; break; }
      body.push(l);
    }
    if (!closed) throw new DockerfileParseError(ins.line, `unterminated heredoc ${h.name}`);
    h.content = body.length ? body.join('\n') + '\n' : '';
  }
  return i;
}

const perr = (ins: Instruction, msg: string) => new DockerfileParseError(ins.line, msg);
const NAME = (ins: Instruction) => ins.cmd.toUpperCase();

/** Argument checks that need no variable values, with moby's wording. */
function validate(ins: Instruction): void {
  const a = ins.args;
  const words = a ? a.split(/\s+/) : [];
  switch (ins.cmd) {
    case 'from': {
      if (!(words.length === 1 || (words.length === 3 && words[1].toLowerCase() === 'as'))) throw perr(ins, 'FROM requires either one or three arguments');
      if (words.length === 3 && !/^[a-zA-Z][a-zA-Z0-9_.-]*$/.test(words[2])) throw perr(ins, `invalid name for build stage: "${words[2]}", name can't start with a number or contain symbols`);
      break;
    }
    case 'run': case 'cmd': case 'entrypoint':
      if (ins.cmd === 'run' && !a) throw perr(ins, 'RUN requires at least one argument');
      if (ins.cmd === 'run') validateRunFlags(ins);
      break;
    case 'copy': case 'add':
      if ((ins.json ? ins.json.length : words.length) < 2) {
        const one = (ins.json ? ins.json.length : words.length) === 1;
        throw perr(ins, `${NAME(ins)} requires at least two arguments${one ? ', but only one was provided. Destination could not be determined.' : ''}`);
      }
      break;
    case 'env': case 'label':
      if (!a) throw perr(ins, `${NAME(ins)} requires at least one argument`);
      break;
    case 'expose': case 'volume': case 'arg':
      if (!a) throw perr(ins, `${NAME(ins)} requires at least one argument`);
      break;
    case 'workdir': case 'user': case 'stopsignal': case 'maintainer':
      if (!a) throw perr(ins, `${NAME(ins)} requires exactly one argument`);
      break;
    case 'shell':
      if (!ins.json) throw perr(ins, 'SHELL requires the arguments to be in JSON form');
      if (ins.json.length === 0) throw perr(ins, 'SHELL requires at least one argument');
      break;
    case 'onbuild': {
      if (!a) throw perr(ins, 'ONBUILD requires at least one argument');
      const inner = parseLine(a, ins.line);
      if (['onbuild', 'from', 'maintainer'].includes(inner.cmd)) throw perr(ins, `${inner.cmd.toUpperCase()} isn't allowed as an ONBUILD trigger`);
      ins.trigger = inner;
      break;
    }
    case 'healthcheck': {
      const w0 = (words[0] ?? '').toUpperCase();
      if (w0 !== 'NONE' && w0 !== 'CMD') throw perr(ins, 'Unknown type "' + w0 + '" in HEALTHCHECK (try CMD)');
      if (w0 === 'NONE' && (words.length > 1 || ins.flags.length)) throw perr(ins, 'HEALTHCHECK NONE takes no arguments');
      if (w0 === 'CMD' && words.length < 2) throw perr(ins, 'Missing command after HEALTHCHECK CMD');
      break;
    }
  }
}

/** RUN's BuildKit flags, as far as they can be checked before variables have values. */
function validateRunFlags(ins: Instruction): void {
  for (const f of ins.flags) {
    if (f.value === null || f.value === '') throw perr(ins, `RUN --${f.name} requires a value`);
    try {
      if (f.name === 'mount') {
        parseRunMount(f.value);
      } else if (f.name === 'network' && !f.value.includes('$')) parseRunNetwork(f.value);
      else if (f.name === 'security') {
        const v = f.value.toLowerCase();
        if (v === 'insecure') throw notImplemented(`dockerfile line ${ins.line}: RUN --security=insecure is not implemented in Dray (steps run unprivileged)`);
        if (v !== 'sandbox' && !v.includes('$')) throw new Error(`unsupported security mode "${f.value}" (sandbox and insecure are known)`);
      }
    } catch (e) {
      if (e instanceof DrayError) throw e;
      throw perr(ins, `RUN --${f.name}=${f.value}: ${(e as Error).message}`);
    }
  }
}

function group(raw: Instruction[], directives: Record<string, string>, escape: string): Dockerfile {
  const globalArgs: Instruction[] = [];
  const stages: Stage[] = [];
  const names = new Set<string>();
  for (const ins of raw) {
    if (ins.cmd === 'from') {
      const words = ins.args.split(/\s+/);
      const name = words.length === 3 ? words[2].toLowerCase() : undefined;
      if (name) {
        if (names.has(name)) throw perr(ins, `duplicate stage name "${name}"`);
        names.add(name);
      }
      const platform = ins.flags.find((f) => f.name === 'platform')?.value ?? undefined;
      stages.push({ index: stages.length, name, base: words[0], platform, from: ins, instructions: [] });
      continue;
    }
    if (stages.length === 0) {
      if (ins.cmd === 'arg') { globalArgs.push(ins); continue; }
      throw perr(ins, 'no build stage in current context');
    }
    stages[stages.length - 1].instructions.push(ins);
  }
  if (stages.length === 0) throw invalid('no build stage in current context');
  return { directives, escape, globalArgs, stages };
}

/** `ARG a=1 b` → [["a","1"],["b",undefined]]; values keep their quotes removed. */
export function parseArgDecls(ins: Instruction): [string, string | undefined][] {
  const out: [string, string | undefined][] = [];
  for (const raw of splitQuoted(ins.args)) {
    const w = unquote(raw);
    const eq = w.indexOf('=');
    const k = eq < 0 ? w : w.slice(0, eq);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw perr(ins, `invalid ARG name: "${k}"`);
    out.push([k, eq < 0 ? undefined : unquote(w.slice(eq + 1))]);
  }
  return out;
}

/** Whitespace-separated words where quoted parts keep their spaces (quotes kept for later lexing). */
export function splitQuoted(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let q: string | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (q) { cur += c; if (c === q) q = null; else if (c === '\\' && q === '"' && i + 1 < s.length) cur += s[++i]; continue; }
    if (c === '"' || c === "'") { q = c; cur += c; continue; }
    if (c === '\\' && i + 1 < s.length) { cur += c + s[++i]; continue; }
    if (/\s/.test(c)) { if (cur) { out.push(cur); cur = ''; } continue; }
    cur += c;
  }
  if (cur) out.push(cur);
  return out;
}

function unquote(v: string): string {
  if (v.length >= 2 && ((v[0] === '"' && v.endsWith('"')) || (v[0] === "'" && v.endsWith("'")))) return v.slice(1, -1);
  return v;
}

/** Flag value by name (last one wins), or undefined. */
export function flagValue(ins: Instruction, name: string): string | undefined {
  let v: string | undefined;
  for (const f of ins.flags) if (f.name === name) v = f.value ?? '';
  return v;
}

/** Go's time.ParseDuration for HEALTHCHECK flags, in nanoseconds; Docker's parse error wording. */
export function parseDuration(s: string): number {
  try { return goParseDuration(s); } catch (e) { throw invalid((e as Error).message); }
}
