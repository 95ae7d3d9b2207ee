// The registry client: one per drayd, holding what outlives an operation (agents, token cache,
// which endpoint answered), and a Session per operation on one repository. A request travels down
// a chain of small interceptors over one transport, as undici composes its dispatchers:
//
//   retry (transport failures, 5xx/429, idempotent requests only)
//     → auth (cached token or basic; a 401 teaches the challenge and the request goes once more)
//       → redirects (GET/HEAD; Authorization dropped when the host changes)
//         → transport (keep-alive agent of the endpoint: system CAs + certs.d; connect/idle bounds)
//
// Mirror fallback sits above the chain: a session knows its endpoints in order (mirrors, then the
// registry), and pull.ts moves to the next one when one cannot serve a manifest or blob.
import type { Readable } from 'node:stream';
import type { AuthConfig } from './credentials';
import { Authorizer, EndpointAuth, TokenCache, usableChallenge } from './auth';
import { Agents } from './tls';
import { Endpoint, EndpointResolver, EndpointConfig } from './endpoints';
import { send, Response, isCertificateError, goMethod } from './transport';
import { regError, REG_ERR, RegistryError, isRetryable, parseSpecErrors, specErrorText, specErrorCode } from './errors';
import { repositoryScope, parseWwwAuthenticate } from './www-authenticate';
import { log } from '../../lib/log';

export interface RegistryConfig extends EndpointConfig {
  certsDir: string;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  maxConcurrentDownloads: number;
  maxConcurrentUploads: number;
  maxDownloadAttempts: number;
}

export const defaultRegistryConfig = (): RegistryConfig => ({
  mirrors: {}, insecure: [], certsDir: '/etc/docker/certs.d',
  connectTimeoutMs: 15_000, idleTimeoutMs: 30_000,
  maxConcurrentDownloads: 3, maxConcurrentUploads: 5, maxDownloadAttempts: 5,
});

export interface Req {
  method: string;
  /** A path below the endpoint's base ("/v2/…"), or an absolute URL (upload locations). */
  path: string | URL;
  headers?: Record<string, string>;
  /** Made afresh for every attempt, so the request can be sent again. */
  body?: () => Buffer | Readable;
  /** May be sent again after a transport failure (GET and HEAD are by default). */
  idempotent?: boolean;
}

export type Dispatch = (r: Req) => Promise<Response>;

/** An endpoint of a session, with what its ping taught. */
export interface LiveEndpoint extends Endpoint { auth: EndpointAuth }

export class RegistryClient {
  readonly agents: Agents;
  readonly endpoints: EndpointResolver;
  readonly tokens = new TokenCache();
  /** Which endpoints answered /v2/ lately (base URL → ok, verify, challenge), so each pull does not ping again. */
  private readonly pings = new Map<string, { at: number; verify: boolean; auth: EndpointAuth }>();
  /**
   * Alternatives that failed while a later one of the same registry answered (HTTPS to a plain
   * HTTP registry on loopback): not tried again for five minutes, as each try costs a TLS set-up.
   */
  private readonly dead = new Map<string, { at: number; err: unknown }>();

  constructor(readonly cfg: RegistryConfig) {
    this.agents = new Agents(cfg.certsDir);
    this.endpoints = new EndpointResolver(cfg);
  }

  /** Sends one request to `ep` with no interceptor (pings, token requests). */
  async raw(ep: Pick<Endpoint, 'base' | 'host' | 'verify'>, method: string, url: URL, headers: Record<string, string> = {}, body?: Buffer | Readable): Promise<Response> {
    const sameHost = url.host === ep.base.host;
    const agent = url.protocol === 'https:'
      ? await this.agents.https(sameHost ? ep.host : url.host, sameHost ? ep.verify : true)
      : this.agents.httpAgent;
    return send({ method, url, headers, body, agent, connectTimeoutMs: this.cfg.connectTimeoutMs, idleTimeoutMs: this.cfg.idleTimeoutMs });
  }

  /**
   * The endpoint `c` as a ping of GET /v2/ finds it (200, or 401 with its challenge), from a cache
   * of five minutes so each pull does not ping again.
   */
  async live(c: Endpoint): Promise<LiveEndpoint> {
    const key = `${c.base}|${c.verify}`;
    const dead = this.dead.get(key);
    if (dead && Date.now() - dead.at < 300_000) throw dead.err;
    const cached = this.pings.get(key);
    if (cached && Date.now() - cached.at < 300_000) return { ...c, verify: cached.verify, auth: { ...cached.auth } };
    const ep = await this.ping(c);
    this.pings.set(key, { at: Date.now(), verify: ep.verify, auth: { ...ep.auth } });
    return ep;
  }

  /** `failed` did not answer where a later alternative of the same registry did. */
  markDead(failed: Endpoint, err: unknown): void {
    this.dead.set(`${failed.base}|${failed.verify}`, { at: Date.now(), err });
  }

  /** Forgets the dead marks of `eps` (every alternative failed: try them all again). */
  revive(eps: Endpoint[]): boolean {
    let any = false;
    for (const e of eps) any = this.dead.delete(`${e.base}|${e.verify}`) || any;
    return any;
  }

  private async ping(c: Endpoint): Promise<LiveEndpoint> {
    const url = v2Url(c.base, '/v2/');
    let verify = c.verify;
    let res: Response;
    try {
      res = await this.raw({ ...c, verify }, 'GET', url);
    } catch (e) {
      if (!(c.allowUnverified && isCertificateError(e))) throw e;
      // An insecure registry: Docker would not have checked at all.
      log.warn('registry certificate not verified (insecure registry)', { endpoint: c.base.toString(), error: (e as Error).message });
      verify = false;
      res = await this.raw({ ...c, verify }, 'GET', url);
    }
    const status = res.status;
    const challenge = status === 401 ? usableChallenge(res.headers['www-authenticate']) : undefined;
    await res.discard();
    if (status !== 200 && !(status === 401 && challenge) && status !== 401) {
      throw regError(REG_ERR.HTTP, `GET ${JSON.stringify(url.toString())}: not a registry: HTTP ${status}`, { status, retryable: false });
    }
    log.debug('registry endpoint', { endpoint: c.base.toString(), tls: c.base.protocol === 'https:' ? (verify ? 'verified' : 'not verified') : 'none', auth: challenge?.scheme ?? 'none' });
    return { ...c, verify, auth: { challenge } };
  }

  /** A session on one repository: `actions` ["pull"] or ["pull", "push"]; `alsoPull` repositories to mount from. */
  async session(o: { registry: string; host: string; repository: string; creds: AuthConfig; actions: string[]; alsoPull?: string[]; pull: boolean }): Promise<Session> {
    const candidates = o.pull ? await this.endpoints.forPull(o.host, o.registry) : await this.endpoints.origin(o.host, o.registry);
    const scopes = [repositoryScope(o.repository, o.actions), ...(o.alsoPull ?? []).filter((r) => r !== o.repository).map((r) => repositoryScope(r, ['pull']))];
    return new Session(this, candidates, o.repository, o.creds, scopes);
  }

  close(): void { this.agents.destroy(); }
}

export function v2Url(base: URL, p: string): URL {
  const prefix = base.pathname.replace(/\/+$/, '');
  return new URL(`${base.protocol}//${base.host}${prefix}${p}`);
}

export class Session {
  private readonly authorizer: Authorizer;
  private readonly chains = new Map<string, Dispatch>();
  private readonly known = new Map<Endpoint, Promise<LiveEndpoint>>();

  constructor(readonly client: RegistryClient, readonly candidates: Endpoint[], readonly repository: string, creds: AuthConfig, readonly scopes: string[]) {
    this.authorizer = new Authorizer(creds, client.tokens, (method, url, headers, body) => {
      const ep = candidates.find((e) => e.base.host === url.host) ?? { base: url, host: url.host, verify: true };
      return client.raw(ep, method, url, headers, body);
    });
  }

  private liveOf(c: Endpoint): Promise<LiveEndpoint> {
    let p = this.known.get(c);
    if (!p) { p = this.client.live(c); this.known.set(c, p); p.catch(() => {}); }
    return p;
  }

  /**
   * Runs `fn` on the endpoints in order (mirrors first, each pinged when first reached) until one
   * succeeds. A mirror's failure, any failure, moves on; of the registry's own alternatives
   * (HTTPS, then HTTP for an insecure one) the first that answers /v2/ is the registry. The error
   * thrown when all fail is the registry's own, as Docker reports it.
   */
  async each<T>(fn: (ep: LiveEndpoint) => Promise<T>, opts: { mirrors?: boolean; fallback?: (e: unknown) => boolean } = {}, retried = false): Promise<T> {
    let lastErr: unknown;
    let originErr: unknown;
    const failedOrigins: [Endpoint, unknown][] = [];
    for (const c of this.candidates) {
      if (c.mirror && opts.mirrors === false) continue;
      let ep: LiveEndpoint;
      try { ep = await this.liveOf(c); } catch (e) {
        lastErr = e;
        if (c.mirror) log.warn('registry mirror unavailable, trying the next endpoint', { mirror: c.base.toString(), error: (e as Error).message });
        else failedOrigins.push([c, e]);
        continue;
      }
      if (!c.mirror) for (const [f, e] of failedOrigins) this.client.markDead(f, e);
      try { return await fn(ep); } catch (e) {
        if (!c.mirror || (opts.fallback && !opts.fallback(e))) { originErr = e; break; }
        lastErr = e;
        log.warn('registry mirror failed, trying the next endpoint', { mirror: c.base.toString(), error: (e as Error).message });
      }
    }
    if (!originErr && !retried && this.client.revive(this.candidates)) { this.known.clear(); return this.each(fn, opts, true); }
    throw originErr ?? lastErr ?? regError(REG_ERR.CONNECT, 'no registry endpoint');
  }

  /** The registry itself, not a mirror (pushes, logins). */
  async origin(retried = false): Promise<LiveEndpoint> {
    let lastErr: unknown;
    const failed: [Endpoint, unknown][] = [];
    for (const c of this.candidates) {
      if (c.mirror) continue;
      try {
        const ep = await this.liveOf(c);
        for (const [f, e] of failed) this.client.markDead(f, e);
        return ep;
      } catch (e) { lastErr = e; failed.push([c, e]); }
    }
    if (!retried && this.client.revive(this.candidates)) { this.known.clear(); return this.origin(true); }
    throw lastErr ?? regError(REG_ERR.CONNECT, 'no registry endpoint');
  }

  /** Sends `r` to `ep` through retry → auth → redirects → transport. */
  request(ep: LiveEndpoint, r: Req, o: { attempts?: number } = {}): Promise<Response> {
    const key = `${ep.base}|${o.attempts ?? ''}`;
    let d = this.chains.get(key);
    if (!d) {
      d = withRetry(o.attempts ?? this.client.cfg.maxDownloadAttempts, withAuth(this.authorizer, ep, this.scopes, withRedirects(ep, transportFor(this.client, ep))));
      this.chains.set(key, d);
    }
    return d(r);
  }

  /** The Authorization header the session sends to `ep`. */
  authHeader(ep: LiveEndpoint): Promise<string | undefined> { return this.authorizer.header(ep.auth, this.scopes); }

  loginToken(ep: LiveEndpoint) {
    if (ep.auth.challenge?.scheme !== 'bearer') throw new Error('not a token registry');
    return this.authorizer.loginToken(ep.auth.challenge);
  }
}

// ---- interceptors --------------------------------------------------------------------------------

function transportFor(client: RegistryClient, ep: LiveEndpoint): Dispatch {
  return async (r) => {
    const url = typeof r.path === 'string' ? v2Url(ep.base, r.path) : r.path;
    return client.raw(ep, r.method, url, r.headers ?? {}, r.body?.());
  };
}

function withRedirects(ep: LiveEndpoint, next: Dispatch): Dispatch {
  return async (r) => {
    let cur: Req = r;
    for (let hop = 0; ; hop++) {
      const res = await next(cur);
      if (![301, 302, 303, 307, 308].includes(res.status) || !res.headers.location || (cur.method !== 'GET' && cur.method !== 'HEAD')) return res;
      if (hop >= 10) { res.destroy(); throw regError(REG_ERR.HTTP, `${goMethod(r.method)} ${JSON.stringify(String(r.path))}: stopped after 10 redirects`); }
      const from = typeof cur.path === 'string' ? v2Url(ep.base, cur.path) : cur.path;
      const to = new URL(res.headers.location, from);
      await res.discard();
      const headers = { ...(cur.headers ?? {}) };
      // Blob storage (S3, a CDN) gets no registry credentials.
      if (to.host !== ep.base.host) delete headers.Authorization;
      cur = { ...cur, path: to, headers };
    }
  };
}

function withAuth(authz: Authorizer, ep: LiveEndpoint, scopes: string[], next: Dispatch): Dispatch {
  const send = async (r: Req): Promise<{ res: Response; sent: boolean }> => {
    const target = typeof r.path === 'string' ? ep.base.host : r.path.host;
    let h: string | undefined;
    try {
      h = target === ep.base.host ? await authz.header(ep.auth, scopes) : undefined;
    } catch (e) {
      // Docker names the request that needed the credentials: `Head "http://…/manifests/v1": no basic auth credentials`.
      if (e instanceof RegistryError && e.code === REG_ERR.UNAUTHORIZED && !e.message.includes('"')) {
        const url = typeof r.path === 'string' ? v2Url(ep.base, r.path) : r.path;
        throw new RegistryError(e.code, `${goMethod(r.method)} ${JSON.stringify(url.toString())}: ${e.message}`, e.detail);
      }
      throw e;
    }
    const res = await next(h ? { ...r, headers: { ...(r.headers ?? {}), Authorization: h } } : r);
    return { res, sent: !!h };
  };
  return async (r) => {
    const first = await send(r);
    if (first.res.status !== 401) return first.res;
    if (!authz.learn(ep.auth, first.res, scopes, first.sent)) return first.res;
    await first.res.discard();
    return (await send(r)).res;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function withRetry(attempts: number, next: Dispatch): Dispatch {
  return async (r) => {
    const idempotent = r.idempotent ?? (r.method === 'GET' || r.method === 'HEAD');
    for (let i = 1; ; i++) {
      let res: Response;
      try {
        res = await next(r);
      } catch (e) {
        if (!idempotent || i >= attempts || !isRetryable(e)) throw e;
        log.debug('registry request failed; retrying', { method: r.method, path: String(r.path), attempt: i, error: (e as Error).message });
        await sleep(backoff(i));
        continue;
      }
      if (idempotent && i < attempts && (res.status >= 500 || res.status === 429) && res.status !== 501) {
        const after = Number(res.headers['retry-after']);
        await res.discard();
        await sleep(Number.isFinite(after) && after > 0 ? Math.min(after * 1000, 10_000) : backoff(i));
        continue;
      }
      return res;
    }
  };
}

const backoff = (attempt: number) => Math.min(250 * 2 ** (attempt - 1), 4000);

// ---- statuses to errors --------------------------------------------------------------------------

/**
 * The error a non-success response stands for: the registry's own error (`{"errors": [...]}`),
 * worded as Docker words it, or the bare status.
 */
export async function responseError(res: Response, what?: string): Promise<RegistryError> {
  const body = res.method === 'HEAD' ? Buffer.alloc(0) : await res.read(256 * 1024).catch(() => Buffer.alloc(0));
  // An OAuth error in a Bearer challenge (RFC 6750 §3.1) comes before the body, as in Docker
  // (distribution's HandleErrorResponse): a token server that hands out a token without the rights
  // asked for (Docker Hub and `dray registry serve` for an anonymous pull of a private or missing
  // repository) makes the registry answer 401 with error="insufficient_scope" and a body saying
  // UNAUTHORIZED; Docker reads that as "denied", which its pull turns into "pull access denied for
  // x, repository does not exist or may require 'docker login': denied: …", the words users and
  // tools know. Reading the body first said "unauthorized: authentication required" instead.
  if (res.status >= 400 && res.status < 500) {
    for (const c of parseWwwAuthenticate(res.headers['www-authenticate'])) {
      if (c.scheme !== 'bearer') continue;
      const denied = c.params.error === 'insufficient_scope';
      if (!denied && c.params.error !== 'invalid_token') continue;
      const text = c.params.error_description || (denied ? 'requested access to the resource is denied' : 'authentication required');
      return denied
        ? regError(REG_ERR.DENIED, `denied: ${text}`, { status: res.status, registryCode: 'DENIED' })
        : regError(REG_ERR.UNAUTHORIZED, `unauthorized: ${text}`, { status: res.status, registryCode: 'UNAUTHORIZED' });
    }
  }
  const errs = parseSpecErrors(body);
  if (errs.length) {
    const e = errs[0];
    return regError(specErrorCode(e.code), specErrorText(e), { status: res.status, registryCode: e.code });
  }
  if (res.status === 401) return regError(REG_ERR.UNAUTHORIZED, 'unauthorized: authentication required', { status: 401 });
  if (res.status === 403) return regError(REG_ERR.DENIED, 'denied: requested access to the resource is denied', { status: 403 });
  if (res.status === 404 && what === 'manifest') return regError(REG_ERR.MANIFEST_UNKNOWN, 'manifest unknown: manifest unknown', { status: 404 });
  if (res.status === 404 && what === 'blob') return regError(REG_ERR.BLOB_UNKNOWN, 'blob unknown: blob unknown to registry', { status: 404 });
  return regError(REG_ERR.HTTP, `received unexpected HTTP status: ${res.status} ${httpStatusText(res.status)}`, { status: res.status, retryable: res.status >= 500 || res.status === 429 });
}

function httpStatusText(s: number): string {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  return (require('node:http').STATUS_CODES as Record<number, string>)[s] ?? '';
}
