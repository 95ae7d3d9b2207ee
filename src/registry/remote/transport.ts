// The one HTTP transport under the registry client: node:http/https over keep-alive agents, with
// two bounds so a registry that is down or stalls fails the operation instead of holding it:
//   connect  — no TCP (and TLS) connection within connectTimeoutMs;
//   idle     — no response header, or no body byte while the reader waits for one, within
//              idleTimeoutMs (a reader that is busy writing to disk does not count as idle).
// Failures become RegistryErrors worded as Go's net/http words them ("Get \"https://…/v2/\": dial
// tcp 127.0.0.1:5000: connect: connection refused"): that text is what Docker users know.
import * as http from 'node:http';
import type * as https from 'node:https';
import { httpsModule } from '../../lib/lazy-modules';
import type { Readable } from 'node:stream';
import { regError, REG_ERR, RegistryError } from './errors';

export interface SendOptions {
  method: string;
  url: URL;
  headers?: Record<string, string | string[] | number>;
  body?: Buffer | Readable;
  agent: http.Agent | https.Agent;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
}

export interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  url: URL;
  method: string;
  /** The body, chunk by chunk, each wait for a chunk bounded by the idle timeout. */
  chunks(): AsyncGenerator<Buffer>;
  /** The whole body, refused past `limit` bytes. */
  read(limit?: number): Promise<Buffer>;
  /** Reads and drops a small body so the connection can be reused; destroys a large one. */
  discard(): Promise<void>;
  destroy(): void;
}

/** Go's spelling of an HTTP method in url.Error: "Get", "Head", "Put". */
export function goMethod(m: string): string {
  return m.charAt(0) + m.slice(1).toLowerCase();
}

const quoteUrl = (u: URL) => JSON.stringify(u.toString());

/** Wraps a transport failure in Docker's wording: `Get "url": <cause>`. */
export function transportError(method: string, url: URL, e: any): RegistryError {
  if (e instanceof RegistryError) return e;
  const prefix = `${goMethod(method)} ${quoteUrl(url)}: `;
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  const hostport = `${url.hostname.replace(/^\[|\]$/g, '')}:${port}`;
  const addr = e?.address ? `${e.address}:${e.port ?? port}` : hostport;
  const code: string = e?.code ?? '';
  const msg: string = e?.message ?? String(e);
  switch (code) {
    case 'ECONNREFUSED': return regError(REG_ERR.CONNECT, `${prefix}dial tcp ${addr}: connect: connection refused`, { retryable: true });
    case 'ENOTFOUND': return regError(REG_ERR.CONNECT, `${prefix}dial tcp: lookup ${url.hostname}: no such host`, { retryable: false });
    case 'EAI_AGAIN': return regError(REG_ERR.CONNECT, `${prefix}dial tcp: lookup ${url.hostname}: Temporary failure in name resolution`, { retryable: true });
    case 'ENETUNREACH': return regError(REG_ERR.CONNECT, `${prefix}dial tcp ${addr}: connect: network is unreachable`, { retryable: true });
    case 'EHOSTUNREACH': return regError(REG_ERR.CONNECT, `${prefix}dial tcp ${addr}: connect: no route to host`, { retryable: true });
    case 'ECONNRESET': case 'EPIPE': case 'ERR_STREAM_PREMATURE_CLOSE':
      return regError(REG_ERR.RESET, `${prefix}read tcp ${hostport}: connection reset by peer`, { retryable: true });
  }
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number|packet length too long/i.test(msg)) {
    return regError(REG_ERR.TLS, `${prefix}http: server gave HTTP response to HTTPS client`, { retryable: false });
  }
  const tlsText = tlsCause(code, msg);
  if (tlsText) return regError(REG_ERR.TLS, `${prefix}tls: failed to verify certificate: ${tlsText}`, { retryable: false, registryCode: code });
  if (/SSL|TLS|certificate/i.test(msg)) return regError(REG_ERR.TLS, `${prefix}tls: ${msg}`, { retryable: false });
  if (msg === 'aborted' || msg === 'socket hang up') return regError(REG_ERR.RESET, `${prefix}unexpected EOF`, { retryable: true });
  return regError(REG_ERR.CONNECT, `${prefix}${msg}`, { retryable: true });
}

/** Go's x509 wording for Node's certificate errors (undefined: not a verification error). */
function tlsCause(code: string, msg: string): string | undefined {
  switch (code) {
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE': case 'SELF_SIGNED_CERT_IN_CHAIN': case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT': case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
      return 'x509: certificate signed by unknown authority';
    case 'CERT_HAS_EXPIRED': case 'CERT_NOT_YET_VALID': return 'x509: certificate has expired or is not yet valid';
    case 'ERR_TLS_CERT_ALTNAME_INVALID': return `x509: ${msg.replace(/^Hostname\/IP does not match certificate's altnames: /, '')}`;
  }
  return undefined;
}

export function isCertificateError(e: unknown): boolean {
  return e instanceof RegistryError && e.code === REG_ERR.TLS && e.message.includes('failed to verify certificate');
}

export function send(o: SendOptions): Promise<Response> {
  const mod = o.url.protocol === 'https:' ? httpsModule() : http;
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (e: unknown) => { if (!settled) { settled = true; reject(e instanceof RegistryError ? e : transportError(o.method, o.url, e)); } };
    const headers: Record<string, string | string[] | number> = { 'User-Agent': USER_AGENT, ...o.headers };
    if (Buffer.isBuffer(o.body)) headers['Content-Length'] = o.body.length;
    const req = mod.request(o.url, { method: o.method, headers, agent: o.agent });
    // connect bound: until the socket is connected (and the TLS handshake done)
    const connectTimer = setTimeout(() => {
      req.destroy(regError(REG_ERR.TIMEOUT, `${goMethod(o.method)} ${quoteUrl(o.url)}: dial tcp ${o.url.host}: i/o timeout (no connection within ${seconds(o.connectTimeoutMs)})`, { retryable: true }));
    }, o.connectTimeoutMs);
    req.on('socket', (s) => {
      // A reused keep-alive socket is connected (and its TLS set up) already.
      if (!(s as any).connecting) { clearTimeout(connectTimer); return; }
      s.once(o.url.protocol === 'https:' ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer));
    });
    // idle bound while waiting for the response head
    req.setTimeout(o.idleTimeoutMs, () => {
      req.destroy(regError(REG_ERR.TIMEOUT, `${goMethod(o.method)} ${quoteUrl(o.url)}: net/http: timeout awaiting response headers (nothing from the registry for ${seconds(o.idleTimeoutMs)})`, { retryable: true }));
    });
    req.on('error', (e) => { clearTimeout(connectTimer); fail(e); });
    req.on('response', (res) => {
      clearTimeout(connectTimer);
      req.setTimeout(0);
      settled = true;
      resolve(wrapResponse(o, res));
    });
    if (o.body === undefined) req.end();
    else if (Buffer.isBuffer(o.body)) req.end(o.body);
    else {
      o.body.on('error', (e) => req.destroy(e));
      o.body.pipe(req);
    }
  });
}

export const USER_AGENT = 'docker/25.0.0-dray go/go1.21 os/linux arch/' + ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[process.arch];

const seconds = (ms: number) => `${Math.round(ms / 100) / 10}s`;

function wrapResponse(o: SendOptions, res: http.IncomingMessage): Response {
  let consumed = false;
  const stall = () => regError(REG_ERR.TIMEOUT, `${goMethod(o.method)} ${quoteUrl(o.url)}: read: i/o timeout (the registry sent nothing for ${seconds(o.idleTimeoutMs)})`, { retryable: true });
  async function* chunks(): AsyncGenerator<Buffer> {
    if (consumed) throw new Error('response body read twice');
    consumed = true;
    const it = res[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const next = it.next();
      let r: IteratorResult<Buffer>;
      try {
        r = await Promise.race([next, new Promise<never>((_, rej) => { timer = setTimeout(() => rej(stall()), o.idleTimeoutMs); })]);
      } catch (e) {
        next.catch(() => {});
        res.destroy();
        throw transportError(o.method, o.url, e);
      } finally {
        clearTimeout(timer);
      }
      if (r.done) return;
      yield r.value;
    }
  }
  return {
    status: res.statusCode ?? 0,
    headers: res.headers,
    url: o.url,
    method: o.method,
    chunks,
    async read(limit = 16 * 1024 * 1024) {
      const parts: Buffer[] = [];
      let n = 0;
      for await (const c of chunks()) {
        n += c.length;
        if (n > limit) { res.destroy(); throw regError(REG_ERR.MANIFEST_TOO_LARGE, `${goMethod(o.method)} ${quoteUrl(o.url)}: response larger than ${limit} bytes`); }
        parts.push(c);
      }
      return Buffer.concat(parts);
    },
    async discard() {
      const len = Number(res.headers['content-length'] ?? NaN);
      if (consumed || !(len <= 64 * 1024)) { res.destroy(); return; }
      try { for await (const _ of chunks()) { /* drop */ } } catch { /* the connection is not reused then */ }
    },
    destroy() { res.destroy(); },
  };
}
