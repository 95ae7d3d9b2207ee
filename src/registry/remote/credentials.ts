// Credentials as Docker clients hand them to the daemon: the body of POST /auth, and the
// X-Registry-Auth header of pull and push (base64url of the same JSON; docker-py and old CLIs send
// plain base64 with padding, and "e30=" — {} — for none). drayd keeps no credentials: a client sends
// them with each request, as with Docker.
import { invalid } from '../../lib/errors';

export interface AuthConfig {
  username?: string;
  password?: string;
  /** base64("user:password"), which older clients send instead of the two fields. */
  auth?: string;
  email?: string;
  serveraddress?: string;
  /** A refresh token the token server gave at login (Docker's IdentityToken). */
  identitytoken?: string;
  /** A bearer token to use as it is. */
  registrytoken?: string;
}

/** Decodes an X-Registry-Auth header; an absent or empty one is no credentials. */
export function decodeRegistryAuth(header: string | string[] | undefined): AuthConfig {
  const h = Array.isArray(header) ? header[0] : header;
  if (!h || !h.trim()) return {};
  let text: string;
  try {
    text = Buffer.from(h.trim().replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8');
  } catch { throw invalid('invalid X-Registry-Auth header: not base64'); }
  let j: any;
  try { j = JSON.parse(text); } catch {
    // Docker ignores a header it cannot read and pulls anonymously.
    return {};
  }
  return normalizeAuthConfig(j);
}

/** Accepts Docker's field spellings (Username/username…) and the combined `auth` field. */
export function normalizeAuthConfig(j: any): AuthConfig {
  if (!j || typeof j !== 'object') return {};
  const pick = (k: string): string | undefined => {
    for (const key of Object.keys(j)) if (key.toLowerCase() === k && typeof j[key] === 'string') return j[key];
    return undefined;
  };
  const c: AuthConfig = {
    username: pick('username'), password: pick('password'), auth: pick('auth'), email: pick('email'),
    serveraddress: pick('serveraddress'), identitytoken: pick('identitytoken'), registrytoken: pick('registrytoken'),
  };
  if (c.auth && !c.username && !c.password) {
    const plain = Buffer.from(c.auth, 'base64').toString('utf8');
    const i = plain.indexOf(':');
    if (i > 0) { c.username = plain.slice(0, i); c.password = plain.slice(i + 1); }
  }
  for (const k of Object.keys(c) as (keyof AuthConfig)[]) if (c[k] === undefined || c[k] === '') delete c[k];
  return c;
}

export function hasCredentials(c: AuthConfig): boolean {
  return !!(c.identitytoken || c.registrytoken || (c.username && c.password !== undefined));
}
