// Pull-through cache: the registry fronts one upstream registry (proxy.remoteurl). A manifest by
// digest, or a blob, is fetched from upstream the first time, verified, and kept; later pulls are
// served here even when upstream is down. A tag is re-checked with upstream once its copy is older
// than proxy.ttl (default 5 min), and served stale when upstream cannot answer. Blobs stream to
// the client and into the store at once; one that fails its digest is not kept.
import { PassThrough, Readable } from 'node:stream';
import { log } from '../../lib/log';
import { errorMessage } from '../../lib/errors';
import { regError } from './errors';
import { Digest, digestOf, parseDigest } from './names';
import { MANIFEST_TYPES, MAX_MANIFEST, bareMediaType, parseManifest } from './manifest';
import { layout } from './store/layout';
import type { Reference, Registry, StoredManifest, Upstream } from './registry';
import type { RegistryMetrics } from './metrics';
import type { Config } from './config';

const HEADERS_TIMEOUT_MS = 30_000;

/** A small registry client: basic auth or Docker's bearer-token flow, tokens cached per scope. */
export class UpstreamClient {
  private tokens = new Map<string, { token: string; until: number }>();

  constructor(private base: string, private username?: string, private password?: string) {}

  private basic(): string | undefined {
    return this.username !== undefined ? `Basic ${Buffer.from(`${this.username}:${this.password ?? ''}`).toString('base64')}` : undefined;
  }

  async request(method: string, path: string, scope: string, headers: Record<string, string> = {}): Promise<Response> {
    const cached = this.tokens.get(scope);
    let auth = cached && cached.until > Date.now() ? `Bearer ${cached.token}` : undefined;
    let res = await this.send(method, path, { ...headers, ...(auth ? { Authorization: auth } : {}) });
    if (res.status !== 401) return res;
    const challenge = res.headers.get('www-authenticate') ?? '';
    await res.body?.cancel().catch(() => {});
    if (/^Bearer\s/i.test(challenge)) auth = `Bearer ${await this.token(challenge, scope)}`;
    else if (/^Basic\s/i.test(challenge) && this.basic()) auth = this.basic();
    else return res;
    res = await this.send(method, path, { ...headers, Authorization: auth! });
    return res;
  }

  private async send(method: string, path: string, headers: Record<string, string>): Promise<Response> {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(new Error(`upstream ${method} ${path}: no answer in ${HEADERS_TIMEOUT_MS / 1000} s`)), HEADERS_TIMEOUT_MS);
    try {
      return await fetch(`${this.base}${path}`, { method, headers, signal: ac.signal, redirect: 'follow' });
    } finally {
      clearTimeout(timer);
    }
  }

  private async token(challenge: string, scope: string): Promise<string> {
    const params: Record<string, string> = {};
    for (const m of challenge.replace(/^Bearer\s+/i, '').matchAll(/(\w+)="([^"]*)"/g)) params[m[1]] = m[2];
    if (!params.realm) throw new Error(`upstream: a Bearer challenge without a realm: ${challenge}`);
    const u = new URL(params.realm);
    if (params.service) u.searchParams.set('service', params.service);
    u.searchParams.set('scope', scope);
    const basic = this.basic();
    const r = await fetch(u, { headers: basic ? { Authorization: basic } : {}, signal: AbortSignal.timeout(HEADERS_TIMEOUT_MS) });
    if (!r.ok) throw new Error(`upstream token server ${u.origin}: HTTP ${r.status}`);
    const body = (await r.json()) as { token?: string; access_token?: string; expires_in?: number };
    const token = body.token ?? body.access_token;
    if (!token) throw new Error('upstream token server: no token in its answer');
    this.tokens.set(scope, { token, until: Date.now() + Math.max(30, (body.expires_in ?? 60) - 10) * 1000 });
    return token;
  }
}

export class PullThrough implements Upstream {
  private client: UpstreamClient;
  private ttlMs: number;

  constructor(private reg: Registry, cfg: NonNullable<Config['proxy']>, private metrics: RegistryMetrics) {
    this.client = new UpstreamClient(cfg.remoteurl, cfg.username, cfg.password);
    this.ttlMs = cfg.tagTtlMs;
  }

  private async tagFresh(name: string, tag: string): Promise<boolean> {
    try { return Date.now() - (await this.reg.driver.stat(layout.tagLink(name, tag))).modTime.getTime() < this.ttlMs; } catch {
      return false;
    }
  }

  /** A HEAD is answered as a GET would be: a manifest is small, and the copy is worth keeping. */
  async manifest(name: string, ref: Reference, _method: 'GET' | 'HEAD'): Promise<StoredManifest | undefined> {
    const local = await this.reg.localManifest(name, ref);
    if (local && (ref.digest || (await this.tagFresh(name, ref.tag)))) {
      this.metrics.proxyRequests.inc({ kind: 'manifest', result: 'hit' });
      return local;
    }
    let res: Response;
    try {
      res = await this.client.request('GET', `/v2/${name}/manifests/${ref.tag ?? ref.digest.text}`, `repository:${name}:pull`, { Accept: MANIFEST_TYPES.join(', ') });
    } catch (e) {
      return this.fallback(local, `upstream unreachable: ${errorMessage(e)}`);
    }
    if (res.status === 404) {
      await res.body?.cancel().catch(() => {});
      this.metrics.proxyRequests.inc({ kind: 'manifest', result: 'miss' });
      return local;
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      return this.fallback(local, `upstream answered HTTP ${res.status}`);
    }
    const body = Buffer.from(await res.arrayBuffer());
    if (body.length > MAX_MANIFEST) throw regError('MANIFEST_INVALID', undefined, { message: 'manifest invalid: upstream manifest larger than 4 MiB' });
    const algorithm = ref.digest?.algorithm ?? 'sha256';
    const d = parseDigest(digestOf(body, algorithm));
    if (ref.digest && ref.digest.hex !== d.hex) throw regError('DIGEST_INVALID', { expected: ref.digest.text, actual: d.text }, { message: 'upstream manifest does not match its digest' });
    const m = parseManifest(body, res.headers.get('content-type') ?? undefined);
    const mediaType = MANIFEST_TYPES.includes(bareMediaType(res.headers.get('content-type') ?? '')) ? bareMediaType(res.headers.get('content-type')!) : m.mediaType;
    this.metrics.proxyRequests.inc({ kind: 'manifest', result: 'miss' });
    await this.reg.storeManifest(name, d, body, mediaType, ref.tag);
    return { body, mediaType, digest: d };
  }

  private fallback(local: StoredManifest | undefined, why: string): StoredManifest {
    if (local) {
      this.metrics.proxyRequests.inc({ kind: 'manifest', result: 'stale' });
      log.warn('proxy: serving a cached tag without checking upstream', { why });
      return local;
    }
    throw regError('UNAVAILABLE', why, { message: `service unavailable: ${why}` });
  }

  async blob(name: string, d: Digest, method: 'GET' | 'HEAD'): Promise<{ size: number; body?: AsyncIterable<Buffer> } | undefined> {
    let res: Response;
    try {
      res = await this.client.request(method, `/v2/${name}/blobs/${d.text}`, `repository:${name}:pull`);
    } catch (e) {
      throw regError('UNAVAILABLE', errorMessage(e), { message: `service unavailable: upstream unreachable: ${errorMessage(e)}` });
    }
    if (res.status === 404) { await res.body?.cancel().catch(() => {}); return undefined; }
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      throw regError('UNAVAILABLE', `upstream answered HTTP ${res.status}`, { message: `service unavailable: upstream answered HTTP ${res.status}` });
    }
    const size = Number(res.headers.get('content-length') ?? NaN);
    if (!Number.isSafeInteger(size)) { await res.body?.cancel().catch(() => {}); throw regError('UNAVAILABLE', 'upstream sent no Content-Length'); }
    this.metrics.proxyRequests.inc({ kind: 'blob', result: 'miss' });
    if (method === 'HEAD' || !res.body) return { size };
    // One stream from upstream, two readers: the client, and the store (which verifies the digest).
    const src = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream);
    const toClient = new PassThrough();
    const toStore = new PassThrough();
    src.pipe(toClient);
    src.pipe(toStore);
    src.on('error', (e) => { toClient.destroy(e); toStore.destroy(e); });
    // A client that goes away must not stop the copy into the store.
    toClient.on('close', () => src.unpipe(toClient));
    this.reg.uploads.ingest(name, d, toStore).then(
      (r) => { this.metrics.blobsCommitted.inc({ result: r.deduplicated ? 'deduplicated' : 'stored' }); log.debug('proxy: blob cached', { repository: name, digest: d.text, size: r.size }); },
      (e) => log.warn('proxy: blob not cached', { repository: name, digest: d.text, error: errorMessage(e) }),
    );
    return { size, body: toClient };
  }

  async tags(name: string): Promise<string[] | undefined> {
    try {
      const res = await this.client.request('GET', `/v2/${name}/tags/list`, `repository:${name}:pull`);
      if (!res.ok) { await res.body?.cancel().catch(() => {}); return undefined; }
      const body = (await res.json()) as { tags?: string[] | null };
      return Array.isArray(body.tags) ? body.tags : [];
    } catch {
      return undefined;
    }
  }
}
