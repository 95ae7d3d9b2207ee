// HTTP server for the Docker Engine API on a Unix socket (or TCP, with TLS). Handlers live in one router per
// API area (containers.ts, images.ts, system.ts, …); this file strips the /v1.NN prefix, checks
// the version, and turns thrown errors into Docker's {"message": …} bodies.
import * as http from 'node:http';
import { httpsModule } from '../lib/lazy-modules';
import { promises as fsp } from 'node:fs';
import { Router } from './router';
import { Req, sendJson, setPreReadBody } from './http';
import { httpStatus } from './errors';
import { API_VERSION, MIN_API_VERSION, versionNumber } from './version';
import { errorMessage } from '../lib/errors';
import { log } from '../lib/log';
import { noteActivity } from '../lib/idle-gc';
import { apiDuration, apiRequests } from '../lib/metrics';

const versionPrefix = /^\/v(\d+\.\d+)(\/.*)$/;
/** Headers larger than this get 431 (the docker CLI's largest, X-Registry-Config, is a few KiB). */
const MAX_HEADER_BYTES = 64 * 1024;
const HEADERS_TIMEOUT_MS = 30_000;
/** Attach, exec and other hijacked streams open at once, by default (daemon.json max-attached-streams). */
export const MAX_ATTACHED_STREAMS = 2000;

/** The count of hijacked streams open, shared by every server of one drayd (Unix socket and TCP). */
export class StreamBudget {
  open = 0;
  constructor(readonly max = MAX_ATTACHED_STREAMS) {}
}

/** TLS for TCP hosts: the server's certificate, and with `ca` every client must present one it signed. */
export interface ServerTls { key: Buffer; cert: Buffer; ca?: Buffer }

export function createServer(router: Router, tls?: ServerTls, streams = new StreamBudget()): http.Server {
  const handler = (raw: http.IncomingMessage, res: http.ServerResponse) => { void dispatch(router, raw, res); };
  // As dockerd's --tlsverify: a client without a certificate the CA signed does not get past the
  // handshake, so nothing of the API is reachable without one. allowHalfOpen: the docker CLI ends
  // its side of an attach (CloseWrite: a TLS close_notify) as soon as it has no stdin to send, and
  // the container's output must still flow back on the other side.
  const limits = { keepAliveTimeout: 60_000, maxHeaderSize: MAX_HEADER_BYTES };
  const server: http.Server = tls
    ? httpsModule().createServer({ key: tls.key, cert: tls.cert, ...(tls.ca ? { ca: tls.ca, requestCert: true, rejectUnauthorized: true } : {}), ...limits, allowHalfOpen: true }, handler)
    : http.createServer(limits, handler);
  // attach and exec start arrive with "Upgrade: tcp": node hands those over as 'upgrade' events.
  server.on('upgrade', (raw: http.IncomingMessage, socket: import('node:net').Socket, head: Buffer) => {
    const res = new http.ServerResponse(raw);
    res.assignSocket(socket);
    res.shouldKeepAlive = false;
    // Each attached stream holds a socket, buffers and, through conmon, a container's output: a
    // client opening them without end would take drayd's memory and file descriptors with it.
    if (streams.open >= streams.max) {
      sendJson(res, 503, { message: `too many attached streams (${streams.max}): close some before opening more` });
      return;
    }
    streams.open++;
    socket.once('close', () => { streams.open--; });
    // The request body (exec start sends one) arrives in `head`, before the raw stream.
    void splitUpgradeBody(raw, socket, head).then(({ body, rest }) => {
      setPreReadBody(raw, body);
      return dispatch(router, raw, res, { socket, head: rest });
    });
  });
  // A request's headers must arrive within this time (a client that opens connections and sends
  // half a request, byte by byte, would otherwise hold each open for good); its body may take as
  // long as it takes (docker load, build contexts), and streams (logs -f, events) idle freely.
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = 0;
  return server;
}

/** One request through the router (also the dashboard's way in: src/dashboard/server.ts). */
export async function dispatch(router: Router, raw: http.IncomingMessage, res: http.ServerResponse, upgrade?: Req['upgrade']): Promise<void> {
  const url = new URL(raw.url ?? '/', 'http://d');
  let path = url.pathname;
  let version = versionNumber(API_VERSION);
  const m = versionPrefix.exec(path);
  res.setHeader('Api-Version', API_VERSION);
  res.setHeader('Docker-Experimental', 'false');
  res.setHeader('Ostype', 'linux');
  res.setHeader('Server', `Docker/${API_VERSION} (linux)`);
  if (m) {
    version = versionNumber(m[1]);
    path = m[2];
    if (version > versionNumber(API_VERSION)) {
      return sendJson(res, 400, { message: `client version ${m[1]} is too new. Maximum supported API version is ${API_VERSION}` });
    }
    if (version < versionNumber(MIN_API_VERSION)) {
      return sendJson(res, 400, { message: `client version ${m[1]} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version` });
    }
  }
  const method = raw.method ?? 'GET';
  const found = router.match(method, path);
  if (!found) return sendJson(res, 404, { message: `page not found` });
  if (found === 'method') return sendJson(res, 405, { message: `method ${method} not allowed for ${path}` });
  const req: Req = { raw, res, method, path, params: found.params, query: url.searchParams, version, upgrade };
  const t0 = Date.now();
  noteActivity();
  try {
    await found.handler(req);
  } catch (err) {
    const status = httpStatus(err);
    if (status >= 500) log.error('request failed', { method, path, error: errorMessage(err), stack: (err as Error)?.stack });
    // The client reads a raw stream by now: closing it is the only answer it can get, and
    // leaving it open would hang it (docker run waiting for output that never comes).
    if (req.hijacked) req.hijacked.destroy();
    else if (!res.headersSent) {
      if (status === 304) { res.writeHead(304); res.end(); } else sendJson(res, status, { message: errorMessage(err) });
    } else if (!res.writableEnded) {
      res.end();
    }
  } finally {
    noteActivity();
    const ms = Date.now() - t0;
    // By route pattern, not path: ids and names in paths would make a series per container.
    apiRequests.inc({ method, route: found.pattern, status: String(res.statusCode) });
    apiDuration.observe({ method, route: found.pattern }, ms / 1000);
    log.debug('request', { method, path: url.pathname, ms, status: res.statusCode });
  }
}

/**
 * Listens on unix:///path or tcp://host:port; a stale socket file from a crash is replaced. A
 * socket is mode 0660, owned by `group` when given (dockerd's --group).
 */
export async function listen(server: http.Server, host: string, group?: number): Promise<void> {
  if (host.startsWith('unix://') || host.startsWith('/')) {
    const sock = host.replace(/^unix:\/\//, '');
    await fsp.rm(sock, { force: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(sock, () => { server.off('error', reject); resolve(); });
    });
    await fsp.chmod(sock, 0o660);
    if (group !== undefined) await fsp.chown(sock, 0, group);
    return;
  }
  const u = new URL(host.replace(/^tcp:/, 'http:'));
  // 2376 is Docker's port for TLS, 2375 for plain TCP.
  const port = Number(u.port || ('setSecureContext' in server ? 2376 : 2375));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, u.hostname.replace(/^\[|\]$/g, ''), () => { server.off('error', reject); resolve(); });
  });
}

/** Separates Content-Length bytes of body from the start of the hijacked stream. */
async function splitUpgradeBody(raw: http.IncomingMessage, socket: import('node:net').Socket, head: Buffer): Promise<{ body: Buffer; rest: Buffer }> {
  const len = Number(raw.headers['content-length'] ?? 0) || 0;
  let buf = head;
  while (buf.length < len) {
    const chunk = await new Promise<Buffer | null>((resolve) => {
      const onData = (b: Buffer) => { cleanup(); resolve(b); };
      const onEnd = () => { cleanup(); resolve(null); };
      const cleanup = () => { socket.off('data', onData); socket.off('end', onEnd); socket.off('close', onEnd); socket.pause(); };
      socket.on('data', onData);
      socket.once('end', onEnd);
      socket.once('close', onEnd);
      socket.resume();
    });
    if (!chunk) break;
    buf = Buffer.concat([buf, chunk]);
  }
  return { body: buf.subarray(0, len), rest: buf.subarray(len) };
}
