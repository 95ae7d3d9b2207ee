// WWW-Authenticate challenges (RFC 7235): `Bearer realm="https://auth.docker.io/token",
// service="registry.docker.io",scope="repository:library/busybox:pull"`, `Basic realm="x"`. One
// header may hold several challenges, and a response several headers; parameter values are tokens
// or quoted strings with backslash escapes, and commas separate both parameters and challenges.

export interface Challenge { scheme: string; params: Record<string, string> }

const TOKEN = /[!#$%&'*+\-.^_`|~0-9A-Za-z]+/y;

export function parseWwwAuthenticate(headers: string | string[] | undefined): Challenge[] {
  const out: Challenge[] = [];
  for (const h of Array.isArray(headers) ? headers : headers ? [headers] : []) out.push(...parseOne(h));
  return out;
}

function parseOne(s: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const ws = () => { while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++; };
  const token = (): string | undefined => {
    TOKEN.lastIndex = i;
    const m = TOKEN.exec(s);
    if (!m) return undefined;
    i += m[0].length;
    return m[0];
  };
  const quoted = (): string => {
    // s[i] is the opening quote
    i++;
    let v = '';
    while (i < s.length && s[i] !== '"') {
      if (s[i] === '\\' && i + 1 < s.length) i++;
      v += s[i++];
    }
    i++; // closing quote (or end)
    return v;
  };
  let cur: Challenge | undefined;
  while (i < s.length) {
    ws();
    if (s[i] === ',') { i++; continue; }
    const start = i;
    const t = token();
    if (t === undefined) { i++; continue; }
    ws();
    if (s[i] === '=') {
      // auth-param of the current challenge, unless it is token68 (e.g. "Negotiate abc==")
      i++;
      ws();
      const v = s[i] === '"' ? quoted() : (token() ?? '');
      if (cur) cur.params[t.toLowerCase()] = v;
      ws();
      continue;
    }
    // a new challenge: `scheme` then its parameters
    i = start + t.length;
    cur = { scheme: t.toLowerCase(), params: {} };
    out.push(cur);
  }
  return out;
}

/** The scope string of a repository: "repository:library/busybox:pull,push". */
export function repositoryScope(repository: string, actions: string[]): string {
  return `repository:${repository}:${actions.join(',')}`;
}
