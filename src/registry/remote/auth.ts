// Authorization for registry requests, as an interceptor: a request goes out with what is known
// to work for its endpoint and scope (a cached bearer token, or basic credentials); a 401 teaches
// the challenge (WWW-Authenticate), and the request is sent once more with a token fetched for it.
//
//   Basic realm="…"                          → Authorization: Basic base64(user:password)
//   Bearer realm=R,service=S[,scope=X]       → GET R?service=S&scope=… (basic credentials, or none
//                                              for anonymous pulls), or, holding a refresh token
//                                              (IdentityToken from a login), POST R with
//                                              grant_type=refresh_token — then Bearer <token>
//
// Tokens are cached per (realm, service, scopes, identity) until a little before they expire
// (expires_in, 60 s when absent, as the token spec says).
import type { Challenge } from './www-authenticate';
import { parseWwwAuthenticate } from './www-authenticate';
import type { AuthConfig } from './credentials';
import type { Response } from './transport';
import { regError, REG_ERR, parseSpecErrors, specErrorText } from './errors';

export interface TokenFetch {
  /** Sends a request to the token realm (through the same transport and trust as the registry). */
  (method: 'GET' | 'POST', url: URL, headers: Record<string, string>, body?: Buffer): Promise<Response>;
}

interface CachedToken { token: string; expires: number; refresh?: string }

export class TokenCache {
  private readonly tokens = new Map<string, CachedToken>();

  get(key: string): CachedToken | undefined {
    const t = this.tokens.get(key);
    if (!t) return undefined;
    if (Date.now() >= t.expires) { this.tokens.delete(key); return undefined; }
    return t;
  }

  set(key: string, t: CachedToken): void {
    if (this.tokens.size > 1000) for (const [k, v] of this.tokens) if (Date.now() >= v.expires) this.tokens.delete(k);
    this.tokens.set(key, t);
  }

  drop(key: string): void { this.tokens.delete(key); }
}

const identity = (c: AuthConfig) => c.identitytoken ? `it:${c.identitytoken.slice(-16)}` : c.username ? `u:${c.username}:${(c.password ?? '').length}` : 'anon';

export function basicHeader(c: AuthConfig): string | undefined {
  if (!c.username || c.password === undefined) return undefined;
  return 'Basic ' + Buffer.from(`${c.username}:${c.password}`).toString('base64');
}

/** What one endpoint asks of clients, learnt from its /v2/ ping or a 401. */
export interface EndpointAuth { challenge?: Challenge }

/**
 * Picks the challenge a client can answer: Bearer before Basic (a registry offering both takes
 * either; tokens carry scopes).
 */
export function usableChallenge(headers: string | string[] | undefined): Challenge | undefined {
  const all = parseWwwAuthenticate(headers);
  return all.find((c) => c.scheme === 'bearer' && c.params.realm) ?? all.find((c) => c.scheme === 'basic');
}

export class Authorizer {
  constructor(private readonly creds: AuthConfig, private readonly tokens: TokenCache, private readonly fetchToken: TokenFetch) {}

  private key(ch: Challenge, scopes: string[]): string {
    return [ch.params.realm, ch.params.service ?? '', [...scopes].sort().join(' '), identity(this.creds)].join('|');
  }

  /** The Authorization header for a request under `state`, fetching a token when none is cached. */
  async header(state: EndpointAuth, scopes: string[]): Promise<string | undefined> {
    const ch = state.challenge;
    if (!ch) return undefined;
    if (this.creds.registrytoken) return `Bearer ${this.creds.registrytoken}`;
    if (ch.scheme === 'basic') {
      const h = basicHeader(this.creds);
      if (!h) throw regError(REG_ERR.UNAUTHORIZED, 'no basic auth credentials');
      return h;
    }
    if (ch.scheme !== 'bearer') return undefined;
    const want = scopesWith(scopes, ch.params.scope);
    const key = this.key(ch, want);
    const cached = this.tokens.get(key);
    if (cached) return `Bearer ${cached.token}`;
    const t = await this.requestToken(ch, want, false);
    this.tokens.set(key, t);
    return `Bearer ${t.token}`;
  }

  /** After a 401: learns its challenge; true when sending again may succeed. */
  learn(state: EndpointAuth, res: Response, scopes: string[], hadAuth: boolean): boolean {
    const ch = usableChallenge(res.headers['www-authenticate']);
    if (!ch) return false;
    const before = state.challenge;
    state.challenge = ch;
    if (!hadAuth) return true;
    // Credentials were sent and refused: a cached token may have been revoked early; otherwise no retry.
    if (ch.scheme === 'bearer') {
      const key = this.key(ch, scopesWith(scopes, ch.params.scope));
      const had = this.tokens.get(key) !== undefined;
      this.tokens.drop(key);
      // A new scope in the challenge (Docker Hub names the one it wants) is worth one more try.
      return had || (!!ch.params.scope && !scopes.includes(ch.params.scope)) || before?.scheme !== 'bearer';
    }
    return before?.scheme !== ch.scheme;
  }

  /** A token for a login (no scope; a refresh token asked for, as `docker login` does). */
  async loginToken(ch: Challenge): Promise<CachedToken> {
    return this.requestToken(ch, [], true);
  }

  private async requestToken(ch: Challenge, scopes: string[], offline: boolean): Promise<CachedToken> {
    let realm: URL;
    try { realm = new URL(ch.params.realm); } catch { throw regError(REG_ERR.TOKEN, `invalid token realm ${JSON.stringify(ch.params.realm)} in the registry's challenge`); }
    if (realm.protocol !== 'https:' && realm.protocol !== 'http:') throw regError(REG_ERR.TOKEN, `unsupported token realm scheme in ${realm}`);
    const service = ch.params.service;
    let res: Response;
    if (this.creds.identitytoken) {
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: this.creds.identitytoken, client_id: 'docker' });
      if (service) form.set('service', service);
      if (scopes.length) form.set('scope', scopes.join(' '));
      if (offline) form.set('access_type', 'offline');
      res = await this.fetchToken('POST', realm, { 'Content-Type': 'application/x-www-form-urlencoded' }, Buffer.from(form.toString()));
    } else {
      const u = new URL(realm.toString());
      if (service) u.searchParams.set('service', service);
      for (const s of scopes) u.searchParams.append('scope', s);
      const headers: Record<string, string> = {};
      const basic = basicHeader(this.creds);
      if (basic) {
        headers.Authorization = basic;
        u.searchParams.set('account', this.creds.username!);
      }
      if (offline) { u.searchParams.set('offline_token', 'true'); u.searchParams.set('client_id', 'docker'); }
      res = await this.fetchToken('GET', u, headers);
    }
    const body = await res.read(1024 * 1024);
    if (res.status === 401 || res.status === 403) {
      const errs = parseSpecErrors(body);
      let details = '';
      try { details = JSON.parse(body.toString()).details ?? ''; } catch { /* not JSON */ }
      const text = errs.length ? specErrorText(errs[0]) : `unauthorized: ${details || 'authentication required'}`;
      throw regError(REG_ERR.UNAUTHORIZED, text, { status: res.status });
    }
    if (res.status !== 200) throw regError(REG_ERR.TOKEN, `token request to ${realm.origin}${realm.pathname} failed: HTTP ${res.status}${body.length && body.length < 300 ? `: ${body.toString().trim()}` : ''}`, { status: res.status });
    let j: any;
    try { j = JSON.parse(body.toString()); } catch { throw regError(REG_ERR.TOKEN, `token server ${realm.origin} answered with something that is not JSON`); }
    const token = j.token ?? j.access_token;
    if (typeof token !== 'string' || !token) throw regError(REG_ERR.TOKEN, `token server ${realm.origin} answered without a token`);
    const life = Number.isFinite(j.expires_in) && j.expires_in > 0 ? j.expires_in : 60;
    const issued = typeof j.issued_at === 'string' && Number.isFinite(Date.parse(j.issued_at)) ? Math.min(Date.parse(j.issued_at), Date.now()) : Date.now();
    // Renewed a little early: a token must not expire between being picked and being checked.
    const expires = issued + Math.max(5, life - Math.min(30, life / 5)) * 1000;
    return { token, expires, refresh: typeof j.refresh_token === 'string' ? j.refresh_token : undefined };
  }
}

function scopesWith(scopes: string[], extra?: string): string[] {
  if (!extra) return scopes;
  const more = extra.split(' ').filter((s) => s && !scopes.includes(s));
  return more.length ? [...scopes, ...more] : scopes;
}
