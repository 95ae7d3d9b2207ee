// HTTP over a unix socket or TCP to the Engine API, with version negotiation (see requestVersion).
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { ApiError, ConnectionError } from './errors';
import { Endpoint, parseHost } from './host';
import { HttpClient, HttpResponse, HttpRequest } from './http';
import { Dialer, dialerFor } from './dial';
import { DRAY_CLIENT_AGENT } from '../lib/warm-cli';

/** The dray client's User-Agent. */
export const DRAY_USER_AGENT = `${DRAY_CLIENT_AGENT}0.1.0 (linux)`;

export { HttpResponse };

/** Highest API version this client speaks; negotiated down to the daemon's. */
export const CLIENT_API_VERSION = '1.47';

export type QueryValue = string | number | boolean | undefined | null | string[] | Record<string, unknown>;
export type Query = Record<string, QueryValue>;

export interface RequestOptions {
  query?: Query;
  /** A plain value is sent as JSON; a Buffer or stream is sent as is (set contentType). */
  body?: unknown;
  contentType?: string;
  headers?: Record<string, string>;
  /** Skip the /v1.NN prefix (for /_ping). */
  unversioned?: boolean;
  signal?: AbortSignal;
}

export interface PingResult {
  apiVersion: string;
  osType?: string;
  experimental: boolean;
  builderVersion?: string;
}

export interface TransportOptions {
  host: string;
  /** TLS to a TCP daemon (client/host.ts tlsFrom). */
  tls?: import('./host').ClientTls | false;
  /** Pin the API version (DOCKER_API_VERSION) and skip negotiation. */
  version?: string;
  userAgent?: string;
}

/** Encodes a query object the way Docker's API expects: booleans as 1/0, objects (filters) as JSON. */
export function encodeQuery(q: Query | undefined): string {
  if (!q) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(q)) {
    if (v === undefined || v === null) continue;
    const add = (s: string) => parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(s)}`);
    if (typeof v === 'boolean') add(v ? '1' : '0');
    else if (Array.isArray(v)) v.forEach((x) => add(String(x)));
    else if (typeof v === 'object') add(JSON.stringify(v));
    else add(String(v));
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

const compareVersions = (a: string, b: string): number => {
  const [a1, a2] = a.split('.').map(Number);
  const [b1, b2] = b.split('.').map(Number);
  return a1 - b1 || (a2 || 0) - (b2 || 0);
};

const lower = (daemon: string): string => (compareVersions(daemon, CLIENT_API_VERSION) < 0 ? daemon : CLIENT_API_VERSION);

export class Transport {
  readonly endpoint: Endpoint;
  private http: HttpClient;
  private readonly dialer: Dialer;
  private versionP?: Promise<string>;
  private pinned?: string;
  /** The version agreed with the daemon, once a ping or any response told us its own. */
  private learned?: string;
  private pingResult?: PingResult;
  private readonly userAgent: string;

  constructor(opts: TransportOptions) {
    this.endpoint = parseHost(opts.host, opts.tls ?? false);
    // Keep-alive lets a command's requests share one connection; idle ones are unref'd.
    this.dialer = dialerFor(this.endpoint);
    this.http = new HttpClient(this.dialer);
    this.pinned = opts.version;
    this.userAgent = opts.userAgent ?? DRAY_USER_AGENT;
  }

  close(): void {
    this.http.close();
    this.dialer.close?.();
  }

  /** GET /_ping; remembers the daemon's API version. */
  async ping(): Promise<PingResult> {
    const res = await this.raw('GET', '/_ping', { unversioned: true });
    await drain(res);
    if ((res.statusCode ?? 500) >= 400) throw new ApiError(res.statusCode ?? 500, `ping failed: ${res.statusMessage}`);
    const h = res.headers;
    this.pingResult = {
      apiVersion: String(h['api-version'] ?? CLIENT_API_VERSION),
      osType: h['ostype'] as string | undefined,
      experimental: h['docker-experimental'] === 'true',
      builderVersion: h['builder-version'] as string | undefined,
    };
    return this.pingResult;
  }

  /** The negotiated version: the lower of ours and the daemon's. */
  version(): Promise<string> {
    if (this.pinned) return Promise.resolve(this.pinned);
    if (this.learned) return Promise.resolve(this.learned);
    this.versionP ??= this.ping().then((p) => (this.learned = lower(p.apiVersion)))
      .catch((e) => { this.versionP = undefined; throw e; });
    return this.versionP;
  }

  /**
   * The version for the next request. Docker's CLI pings before its first request to learn the
   * daemon's version; that is a whole extra round trip per command. Instead the first request goes
   * out at our own version and the daemon's Api-Version header (on every answer, errors included)
   * tells us where we stand; a daemon older than us answers 400 and the request is sent again at
   * its version (see retryVersion). A body that is a stream cannot be sent twice, so it waits for
   * a ping as before.
   */
  private requestVersion(opts: RequestOptions): Promise<string> | string {
    if (this.pinned) return this.pinned;
    if (this.learned) return this.learned;
    if (opts.body instanceof Readable) return this.version();
    return CLIENT_API_VERSION;
  }

  /** Remembers the daemon's version from a response; returns a version to retry at, if any. */
  private learn(res: HttpResponse, sentAt: string | undefined): string | undefined {
    if (this.pinned) return undefined;
    const h = res.headers['api-version'];
    if (typeof h !== 'string' || !/^\d+\.\d+$/.test(h)) return undefined;
    const v = lower(h);
    this.learned ??= v;
    // The daemon refused a version above its own ("client version … is too new").
    if (res.statusCode === 400 && sentAt && compareVersions(h, sentAt) < 0) return (this.learned = v);
    return undefined;
  }

  lastPing(): PingResult | undefined { return this.pingResult; }

  private buildRequest(method: string, path: string, version: string | undefined, opts: RequestOptions): HttpRequest {
    const headers: Record<string, string> = { 'User-Agent': this.userAgent, ...(opts.headers ?? {}) };
    // Docker's Go client sends "Host: docker" over a unix socket.
    const e = this.endpoint;
    if (!Object.keys(headers).some((k) => k.toLowerCase() === 'host')) headers.Host = e.socketPath || e.ssh ? 'docker' : `${e.host!.includes(':') ? `[${e.host}]` : e.host}:${e.port}`;
    const { data, type } = this.bodyOf(opts);
    if (type) headers['Content-Type'] = type;
    if (Buffer.isBuffer(data)) headers['Content-Length'] = String(data.length);
    return { method, path: `${version ? `/v${version}` : ''}${path}${encodeQuery(opts.query)}`, headers, body: data, signal: opts.signal };
  }

  private bodyOf(opts: RequestOptions): { data?: Buffer | Readable; type?: string } {
    const b = opts.body;
    if (b === undefined) return {};
    if (Buffer.isBuffer(b)) return { data: b, type: opts.contentType ?? 'application/octet-stream' };
    if (b instanceof Readable) return { data: b, type: opts.contentType ?? 'application/octet-stream' };
    return { data: Buffer.from(JSON.stringify(b)), type: 'application/json' };
  }

  /** Sends a request; resolves with the response whatever its status (the caller reads the body). */
  async raw(method: string, path: string, opts: RequestOptions = {}): Promise<HttpResponse> {
    const version = opts.unversioned ? undefined : await this.requestVersion(opts);
    const res = await this.send(method, path, version, opts);
    const retry = this.learn(res, version);
    if (!retry) return res;
    res.resume();
    return this.send(method, path, retry, opts);
  }

  private send(method: string, path: string, version: string | undefined, opts: RequestOptions): Promise<HttpResponse> {
    return this.http.request(this.buildRequest(method, path, version, opts)).then((r) => r.res, async (e) => { throw await this.wrapError(e); });
  }

  /** Sends a request and throws ApiError for a status >= 400. */
  async request(method: string, path: string, opts: RequestOptions = {}): Promise<HttpResponse> {
    const res = await this.raw(method, path, opts);
    if ((res.statusCode ?? 500) >= 400) throw await errorFrom(res);
    return res;
  }

  /** JSON in, JSON out. 204/empty bodies resolve to undefined. */
  async json<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.request(method, path, opts);
    const text = (await readAll(res)).toString('utf8');
    if (!text.trim()) return undefined as T;
    try { return JSON.parse(text) as T; } catch { return text as unknown as T; }
  }

  /**
   * Hijacks the connection (attach, exec start): sends Upgrade: tcp, expects 101, then hands over
   * the raw socket. A non-101 answer becomes an ApiError (or, for 200 without upgrade, the
   * response's socket is used as the stream, as old daemons do).
   */
  async hijack(method: string, path: string, opts: RequestOptions = {}): Promise<{ socket: Socket; contentType?: string }> {
    const version = await this.requestVersion(opts);
    const r = await this.sendHijack(method, path, version, opts, true);
    return 'retry' in r ? this.sendHijack(method, path, r.retry, opts, false) as Promise<{ socket: Socket; contentType?: string }> : r;
  }

  private async sendHijack(method: string, path: string, version: string, opts: RequestOptions, mayRetry: boolean): Promise<{ socket: Socket; contentType?: string } | { retry: string }> {
    const req = this.buildRequest(method, path, version, opts);
    req.headers.Connection = 'Upgrade';
    req.headers.Upgrade = 'tcp';
    // A stream body cannot be followed by the hijacked stream on the same connection.
    if (req.body instanceof Readable) req.body = undefined;
    let r;
    try { r = await this.http.request(req, true); } catch (e) { throw await this.wrapError(e); }
    const { res, upgraded } = r;
    const retry = this.learn(res, version);
    if (upgraded) {
      // 101, or a plain 200 from an old daemon whose body is the stream (stdin cannot be sent on it).
      if (res.statusCode === 101) upgraded.setNoDelay(true);
      return { socket: upgraded, contentType: res.headers['content-type'] };
    }
    if (retry && mayRetry) { res.resume(); return { retry }; }
    if (res.statusCode >= 400) throw await errorFrom(res);
    return { socket: res.socket, contentType: res.headers['content-type'] };
  }

  private async wrapError(e: any): Promise<Error> {
    if (e?.name === 'AbortError') return e;
    if (this.dialer.explain && e?.drayConn) {
      const why = await this.dialer.explain(e.drayConn, e);
      if (why !== e) return why;
    }
    if (['ENOENT', 'ECONNREFUSED', 'EACCES', 'ENOTFOUND', 'EHOSTUNREACH', 'ECONNRESET', 'EAI_AGAIN', 'ENOTSOCK'].includes(e?.code)) {
      if (e.code === 'EACCES') {
        const err = new ConnectionError(this.endpoint.display, e);
        err.message = `permission denied while trying to connect to the Docker daemon socket at ${this.endpoint.display}: ${e.message}`;
        return err;
      }
      return new ConnectionError(this.endpoint.display, e);
    }
    return e;
  }
}

/**
 * Reads a stream to its end. Plain listeners rather than for-await: the async iterator machinery
 * costs about a millisecond the first time a CLI run touches it.
 */
export function readAll(res: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    if (res.readableEnded) { resolve(Buffer.alloc(0)); return; }
    let ended = false;
    res.on('data', (c: Buffer | string) => chunks.push(typeof c === 'string' ? Buffer.from(c) : c));
    res.once('end', () => { ended = true; resolve(Buffer.concat(chunks)); });
    res.once('error', reject);
    res.once('close', () => {
      if (ended) return;
      const e: any = new Error('Premature close');
      e.code = 'ERR_STREAM_PREMATURE_CLOSE';
      reject(e);
    });
  });
}

async function drain(res: Readable): Promise<void> { await readAll(res); }

export async function errorFrom(res: HttpResponse): Promise<ApiError> {
  const status = res.statusCode ?? 500;
  const text = (await readAll(res).catch(() => Buffer.alloc(0))).toString('utf8').trim();
  let message = text;
  try {
    const j = JSON.parse(text);
    if (j && typeof j.message === 'string') message = j.message;
  } catch { /* plain text body */ }
  if (!message) message = `${status} ${res.statusMessage ?? ''}`.trim();
  return new ApiError(status, message);
}
