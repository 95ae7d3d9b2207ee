// .dockerignore with Docker's rules (moby/patternmatcher): one pattern a line, `#` comments, `!`
// re-includes, the last matching pattern decides, a pattern that matches a parent directory
// matches everything under it, `*` and `?` stay within one path component, `**` spans any number
// of them. Pure.
import { invalid } from '../lib/errors';

interface Pattern { text: string; exclusion: boolean; re: RegExp }

export class IgnoreMatcher {
  private readonly patterns: Pattern[];

  constructor(lines: string[]) {
    this.patterns = [];
    for (const raw of lines) {
      let p = raw.trim();
      if (!p || p.startsWith('#')) continue;
      let exclusion = false;
      if (p.startsWith('!')) {
        exclusion = true;
        p = p.slice(1).trim();
        if (!p) throw invalid('illegal exclusion pattern: "!"');
      }
      p = cleanPath(p);
      if (p.length > 1 && p.startsWith('/')) p = p.slice(1);
      this.patterns.push({ text: p, exclusion, re: compile(p) });
    }
  }

  static parse(content: string): IgnoreMatcher {
    return new IgnoreMatcher(content.split(/\r?\n/));
  }

  get empty(): boolean { return this.patterns.length === 0; }
  /** Whether some `!` pattern exists: then an ignored directory may still hold included files. */
  get hasExclusions(): boolean { return this.patterns.some((p) => p.exclusion); }

  /** `file` is a context-relative path with "/" separators ("a/b.txt"). */
  matches(file: string): boolean {
    const f = cleanPath(file).replace(/^\/+/, '');
    const parent = dirname(f);
    const parentDirs = parent === '.' ? [] : parent.split('/');
    let matched = false;
    for (const p of this.patterns) {
      // An inclusion cannot change an already-ignored file, nor an exclusion a kept one.
      if (p.exclusion !== matched) continue;
      let m = p.re.test(f);
      for (let i = 0; !m && i < parentDirs.length; i++) m = p.re.test(parentDirs.slice(0, i + 1).join('/'));
      if (m) matched = !p.exclusion;
    }
    return matched;
  }
}

function dirname(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? '.' : p.slice(0, i) || '/';
}

/** Go's filepath.Clean for "/"-separated paths. */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (!part || part === '.') continue;
    if (part === '..') {
      if (out.length && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(part);
  }
  const s = out.join('/');
  return rooted ? '/' + s : s || '.';
}

const REGEX_SPECIAL = new Set(['.', '+', '(', ')', '|', '{', '}', '^', '$']);

/** The pattern as an anchored regular expression (moby/patternmatcher's compile). */
function compile(p: string): RegExp {
  let re = '^';
  const chars = [...p];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i];
    if (c === '*') {
      if (chars[i + 1] === '*') {
        i++;
        if (chars[i + 1] === '/') i++;
        re += i + 1 >= chars.length ? '.*' : '(.*/)?';
      } else {
        re += '[^/]*';
      }
    } else if (c === '?') {
      re += '[^/]';
    } else if (c === '\\') {
      if (i + 1 < chars.length) { re += '\\' + chars[++i]; } else re += '\\\\';
    } else if (REGEX_SPECIAL.has(c)) {
      re += '\\' + c;
    } else {
      re += c;
    }
  }
  re += '$';
  try { return new RegExp(re, 'u'); } catch { throw invalid(`syntax error in pattern: ${p}`); }
}

/**
 * Go's path.Match (used for COPY source globs): `*` and `?` do not cross "/", `[...]` classes
 * with `^`/`!` negation, `\` escapes. Whole-string match.
 */
export function globMatch(pattern: string, name: string): boolean {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) throw invalid('syntax error in pattern');
      let cls = pattern.slice(i + 1, end);
      if (cls.startsWith('!') || cls.startsWith('^')) cls = '^' + cls.slice(1);
      re += '[' + cls.replace(/\\(?!.)/g, '\\\\') + ']';
      i = end;
    } else if (c === '\\' && i + 1 < pattern.length) re += escapeRe(pattern[++i]);
    else re += escapeRe(c);
  }
  return new RegExp(re + '$').test(name);
}

export const hasGlob = (s: string): boolean => /[*?[]/.test(s);

function escapeRe(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? '\\' + c : c;
}
