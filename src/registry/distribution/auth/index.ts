// Who may do what: no auth, htpasswd basic auth, or bearer tokens from the built-in token server
// or an external one (Docker's token flow: a 401 with `WWW-Authenticate: Bearer realm,service,scope`,
// the client fetches a token from the realm with its credentials, and retries with it). Each request states
// the access it needs (http/router.ts); the authenticator either returns an identity or throws
// the spec's UNAUTHORIZED (401, with the challenge) or DENIED (403).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { regError } from '../errors';
import { log } from '../../../lib/log';
import { Access, AccessPolicy, parseScope, scopeText } from './access';
import { Htpasswd, parseBasic } from './htpasswd';
import { TokenAuthority, Verified, verified } from './token';
import { TrustedKeys } from './trusted-keys';
import type { Config } from '../config';

export interface Identity {
  user?: string;
  /** Whether this identity may take `a` (e.g. pull from a mount's source repository). */
  can(a: Access): boolean;
}

export interface Authenticator {
  readonly kind: 'none' | 'htpasswd' | 'token';
  /** `need`: empty for /v2/ itself, which only asks who the caller is. `base`: this server's URL. */
  authenticate(req: IncomingMessage, need: Access[], base: string): Promise<Identity>;
  /** The token server's endpoint (GET or POST /auth/token), token mode only. */
  tokenEndpoint?(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void>;
}

const everything: Identity = { can: () => true };

export function newAuthenticator(cfg: Config): Authenticator {
  const a = cfg.auth;
  if (!a) return { kind: 'none', authenticate: async () => everything };
  const policy = new AccessPolicy(a.access);
  const htpasswd = a.htpasswd ? new Htpasswd(a.htpasswd.path) : undefined;
  if (a.token && (a.token.rootcertbundle || a.token.jwks)) return new ExternalTokenAuth(cfg, policy, htpasswd);
  if (a.token) return new TokenAuth(cfg, policy, htpasswd!);
  if (!htpasswd) throw new Error('auth.access needs auth.htpasswd (or auth.token) to know who is asking');
  return new BasicAuth(a.htpasswd!.realm, htpasswd, policy);
}

const unauthorized = (challenge: string, message?: string, detail?: unknown) =>
  regError('UNAUTHORIZED', detail, { message }).withHeader('WWW-Authenticate', challenge);

const denied = (need: Access) =>
  regError('DENIED', [need], { message: `requested access to the resource is denied: ${scopeText(need)}` });

class BasicAuth implements Authenticator {
  readonly kind = 'htpasswd';
  constructor(private realm: string, private htpasswd: Htpasswd, private policy: AccessPolicy) {}

  async authenticate(req: IncomingMessage, need: Access[]): Promise<Identity> {
    const challenge = `Basic realm=${JSON.stringify(this.realm)}`;
    const cred = parseBasic(req.headers.authorization);
    let user: string | undefined;
    if (cred) {
      if (!(await this.htpasswd.verify(cred.user, cred.password))) throw unauthorized(challenge, 'authentication required: incorrect username or password');
      user = cred.user;
    } else if (need.length === 0 || !need.every((n) => this.policy.allows(undefined, n))) {
      throw unauthorized(challenge);
    }
    for (const n of need) if (!this.policy.allows(user, n)) throw denied(n);
    return { user, can: (x) => this.policy.allows(user, x) };
  }
}

/** Bearer tokens checked here, whoever issued them: what both token modes share. */
abstract class BearerAuth implements Authenticator {
  readonly kind = 'token';
  protected service: string;

  constructor(protected cfg: Config, protected policy: AccessPolicy, protected htpasswd: Htpasswd | undefined) {
    this.service = cfg.auth!.token!.service;
  }

  /** The token's subject and granted access, or a throw saying why it is not good. */
  protected abstract verifyToken(token: string): Promise<Verified>;

  private challenge(base: string, need: Access[], error?: string): string {
    const realm = this.cfg.auth!.token!.realm ?? `${base}/auth/token`;
    let c = `Bearer realm=${JSON.stringify(realm)},service=${JSON.stringify(this.service)}`;
    if (need.length) c += `,scope=${JSON.stringify(need.map(scopeText).join(' '))}`;
    if (error) c += `,error=${JSON.stringify(error)}`;
    return c;
  }

  async authenticate(req: IncomingMessage, need: Access[], base: string): Promise<Identity> {
    const h = req.headers.authorization ?? '';
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(h);
    if (bearer) {
      let v: Verified;
      try { v = await this.verifyToken(bearer[1]); } catch (e) {
        throw unauthorized(this.challenge(base, need, 'invalid_token'), `authentication required: ${(e as Error).message}`);
      }
      const has = (x: Access) => v.access.some((g) => g.type === x.type && g.name === x.name && x.actions.every((a) => g.actions.includes(a) || g.actions.includes('*')));
      for (const n of need) {
        if (!has(n)) throw unauthorized(this.challenge(base, need, 'insufficient_scope'), 'authentication required: insufficient scope', [n]);
      }
      // Beyond what this request needed (the catalog's filter, a mount's source repository), the
      // rules decide for the token's subject, as the token server would have.
      return { user: v.subject, can: (x) => has(x) || this.policy.allows(v.subject, x) };
    }
    // Basic credentials straight to the registry (curl, scripts) are honoured as well, where
    // there is an htpasswd file to check them against.
    const cred = parseBasic(h);
    if (cred && this.htpasswd) {
      if (!(await this.htpasswd.verify(cred.user, cred.password))) throw unauthorized(this.challenge(base, need), 'authentication required: incorrect username or password');
      for (const n of need) if (!this.policy.allows(cred.user, n)) throw denied(n);
      return { user: cred.user, can: (x) => this.policy.allows(cred.user, x) };
    }
    throw unauthorized(this.challenge(base, need));
  }
}

/** Tokens of an external token server (auth.token.rootcertbundle / jwks): checked, never issued. */
class ExternalTokenAuth extends BearerAuth {
  private keys: TrustedKeys;

  constructor(cfg: Config, policy: AccessPolicy, htpasswd: Htpasswd | undefined) {
    super(cfg, policy, htpasswd);
    const t = cfg.auth!.token!;
    this.keys = new TrustedKeys(t.rootcertbundle, t.jwks);
  }

  protected async verifyToken(token: string): Promise<Verified> {
    const t = this.cfg.auth!.token!;
    return verified(await this.keys.verify(token, { issuer: t.issuer, audience: t.service }));
  }
}

class TokenAuth extends BearerAuth {
  private authority: TokenAuthority;

  constructor(cfg: Config, policy: AccessPolicy, htpasswd: Htpasswd) {
    super(cfg, policy, htpasswd);
    const t = cfg.auth!.token!;
    this.authority = new TokenAuthority({ issuer: t.issuer, service: t.service, expirationS: t.expirationS, key: t.key });
  }

  protected verifyToken(token: string): Promise<Verified> { return this.authority.verify(token); }

  async tokenEndpoint(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      const b = JSON.stringify(body);
      res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(b), 'Cache-Control': 'no-store', ...headers });
      res.end(b);
    };
    const realm = `Basic realm=${JSON.stringify(this.cfg.auth!.htpasswd!.realm)}`;
    let user: string | undefined;
    let scopes: string[];
    let offline: boolean;
    if (req.method === 'POST') {
      // OAuth2's password and refresh_token grants, which the docker CLI tries first
      const chunks: Buffer[] = [];
      let n = 0;
      for await (const c of req) {
        n += (c as Buffer).length;
        if (n > 65536) { send(413, { error: 'invalid_request', error_description: 'request too large' }); return; }
        chunks.push(c as Buffer);
      }
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const grant = form.get('grant_type');
      if (grant === 'password') {
        const u = form.get('username') ?? '';
        if (!(await this.htpasswd!.verify(u, form.get('password') ?? ''))) { send(401, { error: 'invalid_grant', error_description: 'incorrect username or password' }); return; }
        user = u;
      } else if (grant === 'refresh_token') {
        try { user = await this.authority.verifyRefresh(form.get('refresh_token') ?? ''); } catch {
          send(401, { error: 'invalid_grant', error_description: 'invalid refresh token' });
          return;
        }
      } else {
        send(400, { error: 'unsupported_grant_type' });
        return;
      }
      scopes = (form.get('scope') ?? '').split(' ');
      offline = form.get('access_type') === 'offline';
    } else if (req.method === 'GET') {
      const cred = parseBasic(req.headers.authorization);
      if (cred) {
        if (!(await this.htpasswd!.verify(cred.user, cred.password))) {
          const e = unauthorized(realm, 'authentication required: incorrect username or password');
          send(401, JSON.parse(e.body()), e.headers);
          return;
        }
        user = cred.user;
      }
      scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' '));
      offline = url.searchParams.get('offline_token') === 'true';
    } else {
      send(405, JSON.parse(regError('UNSUPPORTED').body()));
      return;
    }
    // Each scope asked for comes back with the actions granted of those asked (possibly none):
    // the registry then refuses what is missing, and the client says "denied".
    const access: Access[] = [];
    for (const s of scopes.filter(Boolean)) {
      const want = parseScope(s);
      if (!want) continue;
      const g = this.policy.granted(user, want.type, want.name);
      const actions = want.actions.includes('*') && g.has('*') ? ['*'] : want.actions.filter((x) => g.has(x) || g.has('*'));
      access.push({ type: want.type, name: want.name, actions });
    }
    const t = await this.authority.issue(user, access);
    const body: Record<string, unknown> = { token: t.token, access_token: t.token, expires_in: t.expiresIn, issued_at: t.issuedAt };
    if (offline && user) body.refresh_token = await this.authority.issueRefresh(user);
    log.debug('token issued', { user: user ?? '(anonymous)', access: access.map(scopeText) });
    send(200, body);
  }
}
