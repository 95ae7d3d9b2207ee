// Variable substitution in Compose files, as the Compose Specification defines it:
//   $VAR ${VAR}          value, or "" (with a warning) when unset
//   ${VAR:-d} ${VAR-d}   default when unset or empty (:-), when unset (-)
//   ${VAR:?e} ${VAR?e}   error when unset or empty (:?), when unset (?)
//   ${VAR:+r} ${VAR+r}   replacement when set and non-empty (:+), when set (+)
//   $$                   a literal $
// Defaults, errors and replacements may themselves hold substitutions (${A:-${B}}).
import { ComposeError } from './errors';
import { isReset, isOverride, makeOverride } from './yaml';

export type Lookup = (name: string) => string | undefined;

export interface InterpolateOptions {
  lookup: Lookup;
  /** Called once per variable that is unset and has no default. */
  warnUnset?: (name: string) => void;
}

const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;

export class InterpolationError extends ComposeError {}

/** Finds the "}" that closes a "${" whose body starts at `i`, honouring nested ${…}. */
function closingBrace(s: string, i: number): number {
  let depth = 1;
  for (let j = i; j < s.length; j++) {
    const c = s[j];
    if (c === '$' && s[j + 1] === '$') { j++; continue; }
    if (c === '$' && s[j + 1] === '{') { depth++; j++; continue; }
    if (c === '}' && --depth === 0) return j;
  }
  return -1;
}

function substituteBraced(body: string, whole: string, o: InterpolateOptions): string {
  let n = 0;
  if (!NAME_START.test(body[0] ?? '')) throw new InterpolationError(`Invalid template: ${JSON.stringify(whole)}`);
  while (n < body.length && NAME_CHAR.test(body[n])) n++;
  const name = body.slice(0, n);
  const rest = body.slice(n);
  const value = o.lookup(name);
  if (rest === '') {
    if (value === undefined) o.warnUnset?.(name);
    return value ?? '';
  }
  const colon = rest[0] === ':';
  const op = colon ? rest[1] : rest[0];
  const arg = rest.slice(colon ? 2 : 1);
  if (!['-', '?', '+'].includes(op)) throw new InterpolationError(`Invalid template: ${JSON.stringify(whole)}`);
  const missing = colon ? value === undefined || value === '' : value === undefined;
  switch (op) {
    case '-': return missing ? interpolateString(arg, o) : value!;
    case '+': return missing ? '' : interpolateString(arg, o);
    default: {
      if (!missing) return value!;
      const reason = interpolateString(arg, o);
      throw new InterpolationError(reason ? `required variable ${name} is missing a value: ${reason}` : `required variable ${name} is missing a value`);
    }
  }
}

/** Substitutes the variables of one string. */
export function interpolateString(s: string, o: InterpolateOptions): string {
  if (!s.includes('$')) return s;
  let out = '';
  let i = 0;
  while (i < s.length) {
    const d = s.indexOf('$', i);
    if (d < 0) { out += s.slice(i); break; }
    out += s.slice(i, d);
    const next = s[d + 1];
    if (next === '$') { out += '$'; i = d + 2; continue; }
    if (next === '{') {
      const end = closingBrace(s, d + 2);
      if (end < 0) throw new InterpolationError(`Invalid template: ${JSON.stringify(s)}`);
      out += substituteBraced(s.slice(d + 2, end), s, o);
      i = end + 1;
      continue;
    }
    if (next !== undefined && NAME_START.test(next)) {
      let j = d + 1;
      while (j < s.length && NAME_CHAR.test(s[j])) j++;
      const name = s.slice(d + 1, j);
      const v = o.lookup(name);
      if (v === undefined) o.warnUnset?.(name);
      out += v ?? '';
      i = j;
      continue;
    }
    // A lone "$" (end of string, "$ ", "$1") stays as written, as Compose leaves it.
    out += '$';
    i = d + 1;
  }
  return out;
}

/**
 * Substitutes every string value of a parsed file (keys are left alone, as Compose does). Errors
 * name the path of the value: "error while interpolating services.web.image: …".
 */
export function interpolateTree(v: unknown, o: InterpolateOptions, path: string[] = []): unknown {
  if (typeof v === 'string') {
    try { return interpolateString(v, o); } catch (e) {
      if (e instanceof InterpolationError && !e.message.startsWith('error while interpolating')) {
        throw new InterpolationError(`error while interpolating ${path.join('.')}: ${e.message}`);
      }
      throw e;
    }
  }
  if (isReset(v)) return v;
  if (isOverride(v)) return makeOverride(interpolateTree(v.override, o, path));
  if (Array.isArray(v)) return v.map((x, i) => interpolateTree(x, o, [...path, `[${i}]`]));
  if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = interpolateTree(x, o, [...path, k]);
    return out;
  }
  return v;
}
