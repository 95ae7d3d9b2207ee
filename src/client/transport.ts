// HTTP over a unix socket or TCP to the Engine API, with version negotiation through /_ping.
import * as http from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { ApiError, ConnectionError } from './errors';
import { Endpoint, parseHost } from './host';

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

export class Transport {
  readonly endpoint: Endpoint;
  private agent: http.Agent;
  private versionP?: Promise<string>;
  private pinned?: string;
  private pingResult?: PingResult;
  private readonly userAgent: string;

  constructor(opts: TransportOptions) {
    this.endpoint = parseHost(opts.host);
    // Keep-alive lets the ping and the first request share one connection; free sockets are unref'd.
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    this.pinned = opts.version;
    this.userAgent = opts.userAgent ?? 'Dray-Client/0.1.0 (linux)';
  }

  close(): void { this.agent.destroy(); }

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
    this.versionP ??= this.ping().then((p) => (compareVersions(p.apiVersion, CLIENT_API_VERSION) < 0 ? p.apiVersion : CLIENT_API_VERSION))
      .catch((e) => { this.versionP = undefined; throw e; });
    return this.versionP;
  }

  lastPing(): PingResult | undefined { return this.pingResult; }

  private requestOptions(method: string, path: string, version: string | undefined, opts: RequestOptions): http.RequestOptions {
    const headers: Record<string, string> = { 'User-Agent': this.userAgent, ...(opts.headers ?? {}) };
    const fullPath = `${version ? `/v${version}` : ''}${path}${encodeQuery(opts.query)}`;
    // servername '': the agent would otherwise compute a TLS server name for every new socket, and
    // its first IPv6 check compiles a large regular expression (~6ms of a CLI run). Plain HTTP
    // never uses it.
    const base: http.RequestOptions & { servername?: string } = { method, path: fullPath, headers, agent: this.agent, signal: opts.signal, servername: '' };
    if (this.endpoint.socketPath) base.socketPath = this.endpoint.socketPath;
    else { base.host = this.endpoint.host; base.port = this.endpoint.port; }
    // Node sends "Host: localhost" for unix sockets; Docker's Go client sends "docker".
    if (this.endpoint.socketPath) headers.Host = 'docker';
    return base;
  }

  private bodyOf(opts: RequestOptions): { data?: Buffer | Readable; type?: string } {
    const b = opts.body;
    if (b === undefined) return {};
    if (Buffer.isBuffer(b)) return { data: b, type: opts.contentType ?? 'application/octet-stream' };
    if (b instanceof Readable) return { data: b, type: opts.contentType ?? 'application/octet-stream' };
    return { data: Buffer.from(JSON.stringify(b)), type: 'application/json' };
  }

  /** Sends a request; resolves with the response whatever its status (the caller reads the body). */
  async raw(method: string, path: string, opts: RequestOptions = {}): Promise<http.IncomingMessage> {
    const version = opts.unversioned ? undefined : await this.version();
    const ro = this.requestOptions(method, path, version, opts);
    const { data, type } = this.bodyOf(opts);
    const headers = ro.headers as Record<string, string>;
    if (type) headers['Content-Type'] = type;
    if (Buffer.isBuffer(data)) headers['Content-Length'] = String(data.length);
    return new Promise((resolve, reject) => {
      const req = http.request(ro, resolve);
      req.on('error', (e) => reject(this.wrapError(e)));
      if (data instanceof Readable) {
        data.on('error', (e) => req.destroy(e));
        data.pipe(req);
      } else req.end(data);
    });
  }

  /** Sends a request and throws ApiError for a status >= 400. */
  async request(method: string, path: string, opts: RequestOptions = {}): Promise<http.IncomingMessage> {
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
    const version = await this.version();
    const ro = this.requestOptions(method, path, version, opts);
    const headers = ro.headers as Record<string, string>;
    headers.Connection = 'Upgrade';
    headers.Upgrade = 'tcp';
    // A hijacked socket must never go back to the keep-alive pool.
    ro.agent = false;
    const { data, type } = this.bodyOf(opts);
    if (type) headers['Content-Type'] = type;
    if (Buffer.isBuffer(data)) headers['Content-Length'] = String(data.length);
    return new Promise((resolve, reject) => {
      const req = http.request(ro);
      req.on('upgrade', (res, socket, head) => {
        if (head.length) socket.unshift(head);
        socket.setNoDelay(true);
        resolve({ socket, contentType: res.headers['content-type'] });
      });
      req.on('response', (res) => {
        const status = res.statusCode ?? 500;
        if (status >= 400) { errorFrom(res).then(reject, reject); return; }
        // 200 without upgrade: the body is the stream; stdin cannot be sent on it.
        resolve({ socket: res.socket as Socket, contentType: res.headers['content-type'] });
      });
      req.on('error', (e) => reject(this.wrapError(e)));
      req.end(Buffer.isBuffer(data) ? data : undefined);
    });
  }

  private wrapError(e: any): Error {
    if (e?.name === 'AbortError') return e;
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

export async function readAll(res: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks);
}

async function drain(res: Readable): Promise<void> { for await (const _ of res) { /* discard */ } }

export async function errorFrom(res: http.IncomingMessage): Promise<ApiError> {
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
