// A small HTTP/1.1 client for the Engine API. node:http costs a CLI run several milliseconds
// before its first byte reaches the daemon (loading _http_agent/_http_client/_http_common and the
// llhttp parser, then a ClientRequest, an agent and their bookkeeping per request); a dray command
// is one to four small requests over a unix socket, so this speaks just what the API needs on
// top of node:net: Content-Length, chunked and close-delimited bodies both ways, keep-alive
// reuse, and the 101 upgrade that attach and exec hijack.
import * as net from 'node:net';
import { Readable } from 'node:stream';
import { recycleAfterWrite } from '../lib/recycled-buffers';
import type { IncomingHttpHeaders } from 'node:http';
import type { Dialer } from './dial';


export interface HttpRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer | Readable;
  signal?: AbortSignal;
}

/** What a response looks like to callers: node's IncomingMessage subset they use. */
export class HttpResponse extends Readable {
  statusCode = 0;
  statusMessage = '';
  httpVersion = '1.1';
  headers: IncomingHttpHeaders = {};
  /** The connection; after a 101 it is the caller's. */
  socket!: net.Socket;
  /** Called by _read when the consumer wants more: resumes a paused connection. */
  pull?: () => void;
  /** Called when the consumer destroys the response before its end: the connection goes too. */
  abandon?: () => void;
  override _read(): void { this.pull?.(); }
  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void { this.abandon?.(); cb(err); }
}

export interface HttpResult { res: HttpResponse; upgraded?: net.Socket }

// Headers node's parser keeps once (first wins); any other repeated header is joined with ", ".
const SINGLE = new Set(['content-type', 'content-length', 'user-agent', 'referer', 'host', 'authorization', 'proxy-authorization', 'if-modified-since', 'if-unmodified-since', 'from', 'location', 'max-forwards', 'retry-after', 'etag', 'last-modified', 'server', 'age', 'expires']);

function abortError(): Error {
  const e: any = new Error('The operation was aborted');
  e.name = 'AbortError';
  e.code = 'ABORT_ERR';
  return e;
}

function connReset(message: string): Error {
  const e: any = new Error(message);
  e.code = 'ECONNRESET';
  return e;
}

const CRLF2 = Buffer.from('\r\n\r\n');
/** The bytes of a streamed request body the socket may hold before the source is paused. */
const BODY_AHEAD = 4 << 20;

/** Keep-alive connections to one daemon address. */
export class HttpClient {
  private idle: net.Socket[] = [];
  private closed = false;

  constructor(private readonly dialer: Dialer) {}

  /** Ends idle connections; requests in flight keep theirs. */
  close(): void {
    this.closed = true;
    for (const s of this.idle.splice(0)) s.destroy();
  }

  private connect(): net.Socket { return this.dialer.dial(); }

  private release(s: net.Socket): void {
    if (this.closed || s.destroyed) { s.destroy(); return; }
    const drop = () => { const i = this.idle.indexOf(s); if (i >= 0) this.idle.splice(i, 1); s.destroy(); };
    s.once('close', drop);
    s.once('end', drop);
    s.once('error', drop);
    // An idle connection must not keep a finished command alive.
    s.unref();
    s.resume();
    (s as any)._drayDrop = drop;
    this.idle.push(s);
  }

  private take(): { socket: net.Socket; reused: boolean } {
    while (this.idle.length) {
      const s = this.idle.pop()!;
      const drop = (s as any)._drayDrop;
      s.off('close', drop); s.off('end', drop); s.off('error', drop);
      if (s.destroyed || !s.writable) { s.destroy(); continue; }
      s.ref();
      return { socket: s, reused: true };
    }
    return { socket: this.connect(), reused: false };
  }

  /**
   * Sends a request. Resolves once the response head arrived: `res` streams the body; for a 101
   * answer `upgraded` is the raw connection (any bytes after the head are unshifted onto it).
   */
  request(req: HttpRequest, upgrade = false): Promise<HttpResult> {
    const { socket, reused } = upgrade ? { socket: this.connect(), reused: false } : this.take();
    return this.exchange(socket, req, upgrade).catch((e) => {
      // The daemon may close an idle connection just as we reuse it; a request whose body can
      // be sent again gets a fresh connection, as nothing reached the daemon's handler.
      if (reused && e?.drayStale && !(req.body instanceof Readable)) return this.exchange(this.connect(), req, upgrade);
      throw e;
    });
  }

  private exchange(socket: net.Socket, req: HttpRequest, upgrade: boolean): Promise<HttpResult> {
    return new Promise<HttpResult>((resolve, reject) => {
      const { signal } = req;
      if (signal?.aborted) { socket.destroy(); reject(abortError()); return; }
      const head: string[] = [`${req.method} ${req.path} HTTP/1.1`];
      const h = req.headers;
      const hasLen = Object.keys(h).some((k) => k.toLowerCase() === 'content-length');
      const stream = req.body instanceof Readable ? req.body : undefined;
      if (stream) head.push('Transfer-Encoding: chunked');
      else if (!hasLen && req.body === undefined && /^(POST|PUT|PATCH)$/.test(req.method)) head.push('Content-Length: 0');
      for (const k of Object.keys(h)) head.push(`${k}: ${h[k]}`);
      const headBuf = Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1');

      let res: HttpResponse | undefined;
      let settled = false;
      let bodySent = !stream;
      let buf: Buffer = Buffer.alloc(0);
      // Body framing once the head is parsed.
      let mode: 'length' | 'chunked' | 'close' | 'none' = 'none';
      let remaining = 0;
      // Chunked sub-state: reading a size line, chunk data, the CRLF after data, or trailers.
      let cstate: 'size' | 'data' | 'crlf' | 'trailer' = 'size';
      let keepAlive = true;
      let done = false;

      const fail = (e: Error) => {
        // The connection that failed, for Dialer.explain (an ssh process knows why it ended).
        if (!(e as { drayConn?: unknown }).drayConn) Object.defineProperty(e, 'drayConn', { value: socket, configurable: true });
        cleanup();
        socket.destroy();
        if (!settled) { settled = true; reject(e); } else if (res && !done) res.destroy(e);
      };
      const onAbort = () => fail(abortError());
      const cleanup = () => {
        socket.off('data', onData);
        socket.off('end', onEnd);
        socket.off('close', onClose);
        socket.off('error', onError);
        signal?.removeEventListener('abort', onAbort);
      };
      const finish = () => {
        if (done) return;
        done = true;
        cleanup();
        if (res) { res.pull = undefined; res.abandon = undefined; }
        if (keepAlive && bodySent && !buf.length && !upgrade) this.release(socket);
        else socket.destroy();
        res?.push(null);
      };
      const deliver = (chunk: Buffer) => {
        if (!res!.push(chunk)) socket.pause();
      };

      const parseHead = (): boolean => {
        const i = buf.indexOf(CRLF2);
        if (i < 0) {
          if (buf.length > 1 << 20) fail(new Error('response header too large'));
          return false;
        }
        const lines = buf.subarray(0, i).toString('latin1').split('\r\n');
        buf = buf.subarray(i + 4);
        const m = /^HTTP\/(\d\.\d) (\d{3})(?: (.*))?$/.exec(lines[0]);
        if (!m) { fail(new Error(`malformed HTTP response: ${JSON.stringify(lines[0].slice(0, 80))}`)); return false; }
        const status = Number(m[2]);
        // 1xx other than 101 (100 Continue): skip and wait for the real head.
        if (status >= 100 && status < 200 && status !== 101) return true;
        const r = new HttpResponse();
        r.statusCode = status;
        r.statusMessage = m[3] ?? '';
        r.httpVersion = m[1];
        r.socket = socket;
        for (let j = 1; j < lines.length; j++) {
          const c = lines[j].indexOf(':');
          if (c <= 0) continue;
          const k = lines[j].slice(0, c).trim().toLowerCase();
          const v = lines[j].slice(c + 1).trim();
          const prev = r.headers[k];
          if (prev === undefined) r.headers[k] = k === 'set-cookie' ? [v] : v;
          else if (k === 'set-cookie') (prev as string[]).push(v);
          else if (!SINGLE.has(k)) r.headers[k] = `${prev}, ${v}`;
        }
        res = r;
        const conn = String(r.headers.connection ?? '').toLowerCase();
        keepAlive = m[1] === '1.1' ? !/\bclose\b/.test(conn) : /\bkeep-alive\b/.test(conn);
        // The connection now belongs to the caller, with whatever arrived after the head.
        const handOver = (): false => {
          cleanup();
          if (buf.length) socket.unshift(buf);
          buf = Buffer.alloc(0);
          done = true;
          settled = true;
          r.push(null);
          resolve({ res: r, upgraded: socket });
          return false;
        };
        if (status === 101 && upgrade) return handOver();
        const te = String(r.headers['transfer-encoding'] ?? '').toLowerCase();
        if (req.method === 'HEAD' || status === 204 || status === 304) mode = 'none';
        else if (te.includes('chunked')) mode = 'chunked';
        else if (r.headers['content-length'] !== undefined) { mode = 'length'; remaining = Number(r.headers['content-length']) || 0; }
        else { mode = 'close'; keepAlive = false; }
        if (upgrade && mode === 'close') {
          // A daemon that answers an upgrade with a plain 200 streams on the connection itself.
          return handOver();
        }
        r.pull = () => socket.resume();
        r.abandon = () => { if (!done) { done = true; cleanup(); socket.destroy(); } };
        settled = true;
        resolve({ res: r });
        if (mode === 'none' || (mode === 'length' && remaining === 0)) { finish(); return false; }
        return true;
      };

      const parseBody = (): void => {
        while (!done) {
          if (mode === 'close') { if (buf.length) deliver(buf); buf = Buffer.alloc(0); return; }
          if (mode === 'length') {
            if (!buf.length) return;
            const n = Math.min(remaining, buf.length);
            const piece = buf.subarray(0, n);
            buf = buf.subarray(n);
            remaining -= n;
            if (remaining === 0) {
              // Extra bytes after a complete body mean the connection cannot be trusted again.
              if (buf.length) keepAlive = false;
              buf = Buffer.alloc(0);
              res!.push(piece);
              finish();
              return;
            }
            deliver(piece);
            continue;
          }
          // chunked
          if (cstate === 'size' || cstate === 'trailer') {
            const i = buf.indexOf('\r\n');
            if (i < 0) return;
            const line = buf.subarray(0, i).toString('latin1');
            buf = buf.subarray(i + 2);
            if (cstate === 'trailer') {
              if (line === '') { if (buf.length) keepAlive = false; buf = Buffer.alloc(0); finish(); return; }
              continue;
            }
            const size = parseInt(line.split(';')[0].trim(), 16);
            if (Number.isNaN(size)) { fail(new Error('malformed chunked response')); return; }
            if (size === 0) { cstate = 'trailer'; continue; }
            remaining = size;
            cstate = 'data';
            continue;
          }
          if (cstate === 'data') {
            if (!buf.length) return;
            const n = Math.min(remaining, buf.length);
            const piece = buf.subarray(0, n);
            buf = buf.subarray(n);
            remaining -= n;
            if (remaining === 0) cstate = 'crlf';
            deliver(piece);
            continue;
          }
          // crlf after chunk data
          if (buf.length < 2) return;
          buf = buf.subarray(2);
          cstate = 'size';
        }
      };

      const onData = (chunk: Buffer) => {
        buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
        if (!res) { while (!res && !done && buf.length && parseHead()) { /* next head (1xx) */ } }
        if (res && !done) parseBody();
      };
      const onEnd = () => {
        if (res && mode === 'close') { keepAlive = false; finish(); return; }
        onClose();
      };
      const onClose = () => {
        if (done) return;
        if (!res) {
          const e: any = connReset('socket hang up');
          e.drayStale = true;
          fail(e);
        } else fail(connReset('aborted'));
      };
      const onError = (e: Error) => fail(e);

      socket.on('data', onData);
      socket.on('end', onEnd);
      socket.on('close', onClose);
      socket.on('error', onError);
      signal?.addEventListener('abort', onAbort, { once: true });

      if (!stream) {
        const b = req.body as Buffer | undefined;
        socket.write(b && b.length ? Buffer.concat([headBuf, b]) : headBuf);
        return;
      }
      socket.write(headBuf);
      stream.on('data', (c: Buffer | string) => {
        const d = typeof c === 'string' ? Buffer.from(c) : c;
        if (!d.length || socket.destroyed) return;
        // Three writes in one cork, not one concatenated buffer: a build context's 1 MiB chunks
        // are not copied again on their way to the socket.
        socket.cork();
        socket.write(`${d.length.toString(16)}\r\n`, 'latin1');
        socket.write(d, () => recycleAfterWrite(d));
        socket.write('\r\n', 'latin1');
        socket.uncork();
        // A socket signals backpressure past 16 KiB, less than one chunk: the source then reads
        // its next chunk only once the last has left, and the two sides take turns. Some MiB
        // queued here let it read ahead while the daemon takes them in.
        if (socket.writableLength > BODY_AHEAD) {
          stream.pause();
          socket.once('drain', () => stream.resume());
        }
      });
      stream.once('end', () => { if (!socket.destroyed) socket.write('0\r\n\r\n'); bodySent = true; });
      stream.once('error', (e) => fail(e));
    });
  }
}
