// Shell words without a shell: Compose's command strings, dray's DRAY_SSH_OPTS.
/**
 * Splits a command string into words as a POSIX shell would, without expanding anything: quotes,
 * backslashes and whitespace (Compose: shellwords). `error` makes the error for an unclosed quote.
 */
export function splitShellWords(s: string, error: (message: string) => Error = (m) => new Error(m)): string[] {
  const out: string[] = [];
  let cur = '';
  let has = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\' && i + 1 < s.length) { cur += s[++i]; has = true; continue; }
    if (c === "'") {
      const j = s.indexOf("'", i + 1);
      if (j < 0) throw error(`invalid command line string: ${JSON.stringify(s)}`);
      cur += s.slice(i + 1, j); i = j; has = true; continue;
    }
    if (c === '"') {
      let j = i + 1;
      for (; j < s.length && s[j] !== '"'; j++) {
        if (s[j] === '\\' && j + 1 < s.length && '"\\$`'.includes(s[j + 1])) { cur += s[++j]; continue; }
        cur += s[j];
      }
      if (j >= s.length) throw error(`invalid command line string: ${JSON.stringify(s)}`);
      i = j; has = true; continue;
    }
    if (c === ' ' || c === '\t' || c === '\n') { if (has) { out.push(cur); cur = ''; has = false; } continue; }
    cur += c; has = true;
  }
  if (has) out.push(cur);
  return out;
}
