// One request as the handlers see it: its route, who asked, and the few ways to answer (headers,
// JSON, an empty body, a stream). Handlers parse, call the registry, and answer; they never
// format errors themselves (server.ts turns a thrown RegistryError into the spec's body).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { regError } from '../errors';
import type { Registry } from '../registry';
import type { RegistryMetrics } from '../metrics';
import type { Config } from '../config';
import type { Authenticator, Identity } from '../auth';
import type { Route } from './router';
import type { Action, Notifier, Target } from '../notifications';

export interface Services {
  registry: Registry;
  metrics: RegistryMetrics;
  cfg: Config;
  auth: Authenticator;
  notifier: Notifier;
}

export class ReqCtx {
  identity: Identity = { can: () => true };
  bytesIn = 0;
  bytesOut = 0;

  constructor(
    readonly s: Services,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly url: URL,
    /** this server as clients reach it: "http://127.0.0.1:5001" */
    readonly base: string,
    readonly route: Route,
  ) {}

  get repo(): string { return this.route.repo!; }
  get method(): string { return this.req.method ?? 'GET'; }
  header(name: string): string | undefined {
    const v = this.req.headers[name.toLowerCase()];
    return Array.isArray(v) ? v[0] : v;
  }
  query(name: string): string | undefined { return this.url.searchParams.get(name) ?? undefined; }

  /** Tells the notification endpoints (if any) of what this request did to `target` in this repository. */
  notify(action: Action, target: Omit<Target, 'repository'> & { repository?: string }): void {
    if (!this.s.notifier.enabled) return;
    this.s.notifier.emit({ req: this.req, user: this.identity.user }, action, { repository: this.repo, ...target });
  }

  /** An absolute URL on this server for a path ("/v2/…"), as distribution writes Location headers. */
  location(p: string): string { return `${this.base}${p}`; }

  reply(status: number, headers: Record<string, string | number> = {}, body?: Buffer | string): void {
    const b = body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body) : body;
    this.res.writeHead(status, { 'Content-Length': b?.length ?? 0, ...headers });
    if (b && this.method !== 'HEAD') this.bytesOut += b.length;
    this.res.end(b);
  }

  json(status: number, value: unknown, headers: Record<string, string | number> = {}): void {
    this.reply(status, { 'Content-Type': 'application/json; charset=utf-8', ...headers }, JSON.stringify(value));
  }

  /** Sends `length` bytes of `src` after the headers; a client that goes away ends it quietly. */
  async stream(status: number, headers: Record<string, string | number>, src: Readable | AsyncIterable<Buffer>, length: number): Promise<void> {
    this.res.writeHead(status, { 'Content-Length': length, ...headers });
    const count = async function* (this: ReqCtx, it: AsyncIterable<Buffer>) {
      for await (const c of it) { this.bytesOut += c.length; yield c; }
    }.bind(this);
    try { await pipeline(src, count, this.res); } catch (e: any) {
      if (e?.code !== 'ERR_STREAM_PREMATURE_CLOSE' && !this.res.destroyed) throw e;
    }
  }

  /**
   * Sends headers, then a body of `length` bytes that `produce` writes through the function it is
   * given (which resolves once each chunk is on its way to the client). A client that goes away
   * ends it quietly.
   */
  async send(status: number, headers: Record<string, string | number>, length: number, produce: (write: (b: Buffer) => Promise<void>) => Promise<void>): Promise<void> {
    this.res.writeHead(status, { 'Content-Length': length, ...headers });
    const res = this.res;
    const write = (b: Buffer) => new Promise<void>((resolve, reject) => {
      if (res.destroyed) { reject(Object.assign(new Error('client went away'), { code: 'ERR_STREAM_PREMATURE_CLOSE' })); return; }
      this.bytesOut += b.length;
      res.write(b, (e) => (e ? reject(e) : resolve()));
    });
    try {
      await produce(write);
      res.end();
    } catch (e: any) {
      if (res.destroyed || e?.code === 'ERR_STREAM_PREMATURE_CLOSE' || e?.code === 'ERR_STREAM_DESTROYED' || e?.code === 'EPIPE' || e?.code === 'ECONNRESET') {
        res.destroy();
        return;
      }
      throw e;
    }
  }

  /** The request body as it arrives, counted. */
  body(): AsyncIterable<Buffer> {
    const req = this.req;
    const self = this;
    return (async function* () {
      for await (const c of req) { self.bytesIn += (c as Buffer).length; yield c as Buffer; }
    })();
  }

  /** Whether the request carries a body (a length above 0, or chunked). */
  hasBody(): boolean {
    const cl = this.header('content-length');
    if (cl !== undefined) return Number(cl) > 0;
    return /chunked/i.test(this.header('transfer-encoding') ?? '');
  }

  /** The whole body, refused with `tooBig()` beyond `limit` bytes. */
  async readBody(limit: number, tooBig: () => Error): Promise<Buffer> {
    const cl = Number(this.header('content-length') ?? NaN);
    if (cl > limit) throw tooBig();
    const parts: Buffer[] = [];
    let n = 0;
    for await (const c of this.body()) {
      n += c.length;
      if (n > limit) throw tooBig();
      parts.push(c);
    }
    if (Number.isFinite(cl) && n !== cl) throw regError('SIZE_INVALID', { contentLength: cl, received: n });
    return Buffer.concat(parts);
  }
}
