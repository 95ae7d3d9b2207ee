// `--change` for commit and import: Dockerfile instructions applied to a container config.
// Pure functions; the instruction parsing (JSON vs shell form, key=value words with quotes,
// $VAR expansion, port specs) is exported for the builder to reuse.
import type { ContainerConfig } from './types';
import { invalid } from '../lib/errors';

/** Instructions `docker commit --change` and `docker import --change` accept. */
export const CHANGE_COMMANDS = ['cmd', 'entrypoint', 'env', 'expose', 'label', 'onbuild', 'user', 'volume', 'workdir', 'stopsignal'];

export interface Instruction {
  /** Lower-case instruction name. */
  cmd: string;
  /** Raw arguments after the instruction name, trimmed. */
  rest: string;
  /** Set when the arguments are a JSON array of strings (exec form). */
  json?: string[];
}

export function parseInstruction(line: string): Instruction {
  const m = /^\s*(\S+)(?:\s+([\s\S]*))?$/.exec(line);
  if (!m) throw invalid('dockerfile parse error: empty instruction');
  const rest = (m[2] ?? '').trim();
  let json: string[] | undefined;
  if (rest.startsWith('[')) {
    try {
      const v = JSON.parse(rest);
      if (Array.isArray(v) && v.every((x) => typeof x === 'string')) json = v;
    } catch { /* shell form */ }
  }
  return { cmd: m[1].toLowerCase(), rest, json };
}

/** Looks a variable up in a Docker-style env list ("K=V"), last one wins. */
export function envLookup(env: string[], key: string): string | undefined {
  for (let i = env.length - 1; i >= 0; i--) {
    const e = env[i];
    const eq = e.indexOf('=');
    if ((eq < 0 ? e : e.slice(0, eq)) === key) return eq < 0 ? '' : e.slice(eq + 1);
  }
  return undefined;
}

/**
 * Shell-like word splitting as the Dockerfile does for ENV, LABEL, EXPOSE, VOLUME…: whitespace
 * separates words outside quotes, quotes are removed, backslash escapes, and `$VAR`, `${VAR}`,
 * `${VAR:-default}`, `${VAR:+alt}` expand from `env` (except inside single quotes).
 * With `single` the whole input is one word (whitespace kept), as for the old `ENV key value` form.
 */
export function lexWords(s: string, env: string[] = [], single = false): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let i = 0;
  const expandAt = (): string => {
    // s[i] === '$'
    if (s[i + 1] === '{') {
      const end = s.indexOf('}', i + 2);
      if (end < 0) throw invalid(`missing '}' in '${s}'`);
      const body = s.slice(i + 2, end);
      i = end + 1;
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([\s\S]*))?$/.exec(body);
      if (!m) throw invalid(`bad substitution: \${${body}}`);
      const val = envLookup(env, m[1]);
      if (m[2] === '-') return val ? val : lexWords(m[3], env, true)[0] ?? '';
      if (m[2] === '+') return val ? lexWords(m[3], env, true)[0] ?? '' : '';
      return val ?? '';
    }
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(s.slice(i + 1));
    if (!m) { i++; return '$'; }
    i += 1 + m[0].length;
    return envLookup(env, m[0]) ?? '';
  };
  while (i < s.length) {
    const c = s[i];
    if (!single && /\s/.test(c)) {
      if (inWord) { words.push(cur); cur = ''; inWord = false; }
      i++;
      continue;
    }
    inWord = true;
    if (c === '\\') {
      if (i + 1 < s.length) { cur += s[i + 1]; i += 2; } else { cur += c; i++; }
    } else if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) throw invalid(`unexpected end of statement while looking for matching single-quote`);
      cur += s.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      i++;
      while (i < s.length && s[i] !== '"') {
        if (s[i] === '\\' && i + 1 < s.length && '"\\$'.includes(s[i + 1])) { cur += s[i + 1]; i += 2; } else if (s[i] === '$') cur += expandAt();
        else { cur += s[i]; i++; }
      }
      if (i >= s.length) throw invalid('unexpected end of statement while looking for matching double-quote');
      i++;
    } else if (c === '$') {
      cur += expandAt();
    } else {
      cur += c;
      i++;
    }
  }
  if (inWord || (single && words.length === 0)) words.push(cur);
  return words;
}

/** ENV/LABEL arguments: `k=v k2="v 2"` or the old `key value with spaces` form. */
export function parseKeyValues(instr: string, rest: string, env: string[]): [string, string][] {
  const first = rest.split(/\s+/)[0] ?? '';
  if (!first.includes('=')) {
    const m = /^(\S+)\s+([\s\S]+)$/.exec(rest);
    if (!m) throw invalid(`${instr.toUpperCase()} must have two arguments`);
    return [[lexWords(m[1], env)[0] ?? m[1], lexWords(m[2], env, true)[0]]];
  }
  return lexWords(rest, env).map((w) => {
    const eq = w.indexOf('=');
    if (eq === 0) throw invalid(`${instr.toUpperCase()} names can not be blank`);
    if (eq < 0) throw invalid(`Syntax error - can't find = in "${w}". Must be of the form: name=value`);
    return [w.slice(0, eq), w.slice(eq + 1)] as [string, string];
  });
}

/** "80", "80/udp", "8000-8002/tcp" → ["80/tcp"], ["80/udp"], ["8000/tcp","8001/tcp","8002/tcp"]. */
export function parsePortSpecs(words: string[]): string[] {
  const out: string[] = [];
  for (const w of words) {
    const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(w);
    if (!m) throw invalid(`invalid containerPort: ${w.split('/')[0]}`);
    const lo = Number(m[1]);
    const hi = m[2] ? Number(m[2]) : lo;
    if (lo < 0 || hi > 65535 || hi < lo) throw invalid(`invalid range format for --expose: ${w}`);
    const proto = (m[3] ?? 'tcp').toLowerCase();
    for (let p = lo; p <= hi; p++) out.push(`${p}/${proto}`);
  }
  return out;
}

/** Exec form as is; shell form wrapped in the config's shell (default /bin/sh -c). */
export function commandForm(ins: Instruction, shell: string[] | null | undefined): string[] {
  if (ins.json) return ins.json;
  return [...(shell && shell.length ? shell : ['/bin/sh', '-c']), ins.rest];
}

/** Applies Dockerfile-style `changes` to a copy of `config`. */
export function applyChanges(config: ContainerConfig, changes: string[]): ContainerConfig {
  const c: ContainerConfig = JSON.parse(JSON.stringify(config ?? {}));
  let cmdSet = false;
  for (const raw of changes) {
    if (!raw.trim()) continue;
    const ins = parseInstruction(raw);
    if (!CHANGE_COMMANDS.includes(ins.cmd)) throw invalid(`${ins.cmd} is not a valid change command`);
    const env = c.Env ?? [];
    switch (ins.cmd) {
      case 'cmd':
        c.Cmd = commandForm(ins, c.Shell);
        cmdSet = true;
        break;
      case 'entrypoint':
        c.Entrypoint = ins.json ? ins.json : ins.rest === '' ? null : commandForm(ins, c.Shell);
        if (!cmdSet) c.Cmd = null;
        break;
      case 'env': {
        const list = [...env];
        for (const [k, v] of parseKeyValues('env', ins.rest, list)) {
          const i = list.findIndex((e) => e === k || e.startsWith(k + '='));
          if (i >= 0) list[i] = `${k}=${v}`; else list.push(`${k}=${v}`);
        }
        c.Env = list;
        break;
      }
      case 'label': {
        const labels = { ...(c.Labels ?? {}) };
        for (const [k, v] of parseKeyValues('label', ins.rest, env)) labels[k] = v;
        c.Labels = labels;
        break;
      }
      case 'expose': {
        const words = lexWords(ins.rest, env);
        if (words.length === 0) throw invalid('EXPOSE requires at least one argument');
        const ports = { ...(c.ExposedPorts ?? {}) };
        for (const p of parsePortSpecs(words)) ports[p] = {};
        c.ExposedPorts = ports;
        break;
      }
      case 'volume': {
        const list = ins.json ?? lexWords(ins.rest, env);
        if (list.length === 0) throw invalid('VOLUME requires at least one argument');
        const vols = { ...(c.Volumes ?? {}) };
        for (const v of list) {
          if (!v.trim()) throw invalid('VOLUME specified can not be an empty string');
          vols[v] = {};
        }
        c.Volumes = vols;
        break;
      }
      case 'workdir': {
        const w = lexWords(ins.rest, env, true)[0] ?? '';
        if (!w) throw invalid('WORKDIR requires exactly one argument');
        const joined = w.startsWith('/') ? w : `${c.WorkingDir || '/'}/${w}`;
        c.WorkingDir = normalizePath(joined);
        break;
      }
      case 'user': {
        const u = lexWords(ins.rest, env, true)[0] ?? '';
        if (!u) throw invalid('USER requires exactly one argument');
        c.User = u;
        break;
      }
      case 'stopsignal': {
        const s = lexWords(ins.rest, env, true)[0] ?? '';
        if (!s) throw invalid('STOPSIGNAL requires exactly one argument');
        c.StopSignal = s;
        break;
      }
      case 'onbuild': {
        const inner = parseInstruction(ins.rest);
        if (['onbuild', 'from', 'maintainer'].includes(inner.cmd)) throw invalid(`${inner.cmd.toUpperCase()} isn't allowed as an ONBUILD trigger`);
        c.OnBuild = [...(c.OnBuild ?? []), ins.rest];
        break;
      }
    }
  }
  return c;
}

function normalizePath(p: string): string {
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (!part || part === '.') continue;
    if (part === '..') out.pop(); else out.push(part);
  }
  return '/' + out.join('/');
}
