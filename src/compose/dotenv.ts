// .env and env_file files, in the dotenv format Compose reads: KEY=VALUE lines, an optional
// `export `, # comments (whole lines, or after a space in an unquoted value), 'single quotes'
// taken literally, "double quotes" with \n \t \" \\ escapes, both of which may span lines.
// Unquoted and double-quoted values are interpolated: ${VAR} is looked up in the file's earlier
// keys first, then in `lookup`. A bare KEY line takes KEY's value from `lookup` (dropped if unset).
import { interpolateString, Lookup } from './interpolate';
import { ComposeError } from './errors';

const KEY = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

export function parseDotenv(text: string, file: string, lookup: Lookup = () => undefined): Map<string, string> {
  const out = new Map<string, string>();
  const resolve: Lookup = (k) => (out.has(k) ? out.get(k) : lookup(k));
  const src = text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
  let i = 0;
  let line = 1;
  const fail = (msg: string) => { throw new ComposeError(`failed to read ${file}: line ${line}: ${msg}`); };
  while (i < src.length) {
    // One logical line: skip blanks and comments.
    let nl = src.indexOf('\n', i);
    if (nl < 0) nl = src.length;
    const raw = src.slice(i, nl);
    const t = raw.trim();
    if (t === '' || t.startsWith('#')) { i = nl + 1; line++; continue; }
    let body = raw.replace(/^\s+/, '');
    if (body.startsWith('export ')) body = body.slice(7).replace(/^\s+/, '');
    const eq = body.indexOf('=');
    if (eq < 0) {
      const key = body.trim();
      if (!KEY.test(key)) fail(`unexpected character in variable name ${JSON.stringify(key)}`);
      const v = lookup(key);
      if (v !== undefined) out.set(key, v);
      i = nl + 1; line++;
      continue;
    }
    const key = body.slice(0, eq).trim();
    if (!KEY.test(key)) fail(`unexpected character in variable name ${JSON.stringify(key)}`);
    // Where the value starts in src.
    const startInSrc = i + (raw.length - body.length) + eq + 1;
    let j = startInSrc;
    while (j < src.length && (src[j] === ' ' || src[j] === '\t')) j++;
    const q = src[j];
    if (q === "'" || q === '"') {
      let k = j + 1;
      let val = '';
      for (;;) {
        if (k >= src.length) fail(`unterminated quoted value for ${key}`);
        const c = src[k];
        if (c === '\n') line++;
        if (q === '"' && c === '\\' && k + 1 < src.length) {
          const e = src[k + 1];
          val += e === 'n' ? '\n' : e === 't' ? '\t' : e === 'r' ? '\r' : e === '"' ? '"' : e === '\\' ? '\\' : e === '$' ? '$$' : `\\${e}`;
          k += 2;
          continue;
        }
        if (c === q) break;
        val += c;
        k++;
      }
      out.set(key, q === '"' ? interpolateString(val, { lookup: resolve }) : val);
      // The rest of the line after the closing quote (a comment) is ignored.
      let end = src.indexOf('\n', k);
      if (end < 0) end = src.length;
      i = end + 1; line++;
      continue;
    }
    let val = src.slice(j, nl);
    const hash = val.search(/\s#/);
    if (hash >= 0) val = val.slice(0, hash);
    out.set(key, interpolateString(val.trim(), { lookup: resolve }));
    i = nl + 1; line++;
  }
  return out;
}
