// drayd's web dashboard: its own HTTP listener (127.0.0.1 by default), in front of three things:
//   /                 the front end (web/dashboard, built by Vite into dist/dashboard/), static
//   /api/events       one server-sent-events stream of the engine's events, straight off its bus
//                     (/api/events/history: the bus's recent past, for the timeline)
//   /api/stats        one server-sent-events stream of every running container's CPU and memory
//                     (stats.ts), for the list's sparklines
//   /api/files/ID     one directory of a container, as JSON (?path=); /api/files/ID/download?path=
//                     one file's bytes (files.ts), both read as `docker cp` reads
//   /api/prune-estimate  what image prune (and prune -a) would free now, removing nothing
//   /api/terminal/ID  a WebSocket to a shell exec'd in a container, for the page's terminal
//                     (xterm.js); the Origin must be this listener's and the CSRF secret is in the query
//   /api/engine/...   Engine API routes, dispatched in-process to drayd's own router, but only the
//                     (method, route) pairs of ALLOWED below: never the whole API (no create, exec,
//                     build, archive upload, commit, …; /images/create only pulls)
//
// Access: a random token, made at each start of the listener. The first URL carries ?token=…; the
// answer is a redirect to the same path without it and an HttpOnly, SameSite=Strict cookie holding
// it. Any request with neither gets 401, assets included. The Host header must name the listener
// (127.0.0.1:port, localhost:port, [::1]:port) so a DNS-rebound name cannot reach it with a
// browser's help. A request that changes state (POST, DELETE) also needs the CSRF header carrying a
// second secret (X-Dray-CSRF, injected into the served page) and, where the browser sends them, an
// Origin naming this listener and Sec-Fetch-Site: same-origin.
import * as http from 'node:http';
import { httpsModule } from '../lib/lazy-modules';
import * as path from 'node:path';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import type { Router } from '../api/router';
import type { EventBus, EngineEvent } from '../engine/events';
import type { ExecService } from '../engine/exec';
import { acceptWebSocket, checkWebSocketRequest } from '../api/websocket';
import type { Socket } from 'node:net';
import { DashboardConfig, parseAddr, refusal } from './config';
import { log } from '../lib/log';
import { httpStatus } from '../api/errors';
import type { ContainerService } from '../engine/containers';
import type { ImageService } from '../engine/images';
import { StatsSampler } from './stats';
import { listDir, sendFile } from './files';

type Dispatch = (router: Router, raw: http.IncomingMessage, res: http.ServerResponse) => Promise<void>;

/** The Engine API routes the dashboard may use: route patterns of src/api/, by method. */
export const ALLOWED: Record<string, readonly string[]> = {
  GET: [
    '/containers/json', '/containers/:id/json', '/containers/:id/logs', '/containers/:id/stats', '/containers/:id/top',
    '/images/json', '/images/*name/json', '/images/*name/history',
    '/volumes', '/volumes/:name', '/networks', '/networks/:id',
    '/info', '/version', '/system/df', '/_ping', '/dray/builds',
  ],
  POST: [
    '/containers/:id/start', '/containers/:id/stop', '/containers/:id/restart', '/containers/:id/pause', '/containers/:id/unpause',
    '/images/create', '/images/*name/push', '/volumes/create', '/networks/create',
    '/containers/prune', '/images/prune', '/volumes/prune', '/build/prune',
  ],
  DELETE: ['/containers/:id', '/images/*name', '/volumes/:name', '/networks/:id'],
};

/** Event streams open at once (each holds a socket and a subscription). */
const MAX_EVENT_STREAMS = 64;
/** Bytes of events queued for a page that does not read them. */
const MAX_BUFFERED = 1024 * 1024;
const HEARTBEAT_MS = 20_000;
/** Past events the timeline shows on opening (the engine keeps a ring of 2048). */
const HISTORY = 500;
const CSRF_HEADER = 'x-dray-csrf';
/** Terminals open at once. */
const MAX_TERMINALS = 16;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.json': 'application/json', '.woff2': 'font/woff2', '.map': 'application/json',
};

const SECURITY_HEADERS = {
  'Content-Security-Policy': "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/** Where the built front end is: beside drayd.js in dist/, or dist/ of the repository under tsx. */
export function defaultStaticDir(): string {
  const candidates = [path.join(__dirname, 'dashboard'), path.resolve(__dirname, '..', '..', 'dist', 'dashboard')];
  return candidates.find((d) => existsSync(path.join(d, 'index.html'))) ?? candidates[0];
}

function sameSecret(a: string | undefined, b: string): boolean {
  if (typeof a !== 'string') return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

function text(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', ...SECURITY_HEADERS });
  res.end(body.endsWith('\n') ? body : `${body}\n`);
}

export interface DashboardDeps {
  router: Router;
  dispatch: Dispatch;
  events: EventBus;
  /** The terminal's exec sessions; without it /api/terminal is not served. */
  execs?: ExecService;
  /** The containers, for /api/stats and /api/files; without them those are not served. */
  containers?: ContainerService;
  /** The images, for /api/prune-estimate. */
  images?: ImageService;
  staticDir?: string;
}

export class Dashboard {
  private server?: http.Server;
  private starting?: Promise<string>;
  private token = '';
  private csrf = '';
  private port = 0;
  private origins = new Set<string>();
  private hosts = new Set<string>();
  private streams = new Set<http.ServerResponse>();
  private terminals = new Set<Socket>();
  private files = new Map<string, { body: Buffer; type: string; immutable: boolean }>();
  private readonly staticDir: string;
  private readonly sampler?: StatsSampler;

  constructor(readonly config: DashboardConfig, private readonly deps: DashboardDeps) {
    this.staticDir = deps.staticDir ?? defaultStaticDir();
    const cs = deps.containers;
    if (cs) {
      this.sampler = new StatsSampler(() => cs.list().filter((c) => c.State.Running && !c.State.Paused)
        .map((c) => ({ Id: c.Id, cgroupParent: c.HostConfig.CgroupParent })));
    }
  }

  /** Why this configuration must not be served (checked at drayd's start), or undefined. */
  refusal(): string | undefined { return refusal(this.config); }

  /** Starts the listener once; resolves to the URL with its token. */
  url(): Promise<string> {
    if (!this.config.enabled) return Promise.reject(new Error('the dashboard is disabled ("dashboard": false in daemon.json)'));
    this.starting ??= this.listen().catch((e) => { this.starting = undefined; throw e; });
    return this.starting;
  }

  private async listen(): Promise<string> {
    const why = this.refusal();
    if (why) throw new Error(why);
    const { host, port } = parseAddr(this.config.addr);
    this.loadFiles();
    this.token = randomBytes(32).toString('base64url');
    this.csrf = randomBytes(32).toString('base64url');
    const tls = this.config.tlsCert ? { cert: readFileSync(this.config.tlsCert), key: readFileSync(this.config.tlsKey!) } : undefined;
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      try { this.handle(req, res); } catch (e) {
        log.error('dashboard request failed', { error: (e as Error).message });
        if (!res.headersSent) text(res, 500, 'internal error'); else res.destroy();
      }
    };
    const opts = { maxHeaderSize: 16 * 1024, keepAliveTimeout: 30_000 };
    const server = tls ? httpsModule().createServer({ ...tls, ...opts }, handler) : http.createServer(opts, handler);
    server.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
      try { this.upgrade(req, socket, head); } catch (e) {
        log.warn('dashboard terminal refused', { error: (e as Error).message });
        if (!socket.destroyed) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      }
    });
    server.headersTimeout = 20_000;
    server.requestTimeout = 0; // logs, stats and events stream for as long as the page is open
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => { server.off('error', reject); resolve(); });
    });
    server.unref();
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    const scheme = tls ? 'https' : 'http';
    const shown = host.includes(':') ? `[${host}]` : host;
    for (const h of ['127.0.0.1', 'localhost', '[::1]', shown]) {
      this.hosts.add(`${h}:${this.port}`);
      this.origins.add(`${scheme}://${h}:${this.port}`);
    }
    // A wildcard address (TLS only) is reached by the host's name.
    const reach = host === '0.0.0.0' || host === '::' ? hostname() : shown;
    this.hosts.add(`${reach}:${this.port}`);
    this.origins.add(`${scheme}://${reach}:${this.port}`);
    const url = `${scheme}://${reach}:${this.port}/?token=${this.token}`;
    log.info('dashboard served', { addr: `${shown}:${this.port}`, tls: !!tls });
    return url;
  }

  /** The built front end, read once: a few small files. */
  private loadFiles(): void {
    this.files.clear();
    const walk = (dir: string, rel: string) => {
      for (const name of readdirSync(dir)) {
        const full = path.join(dir, name);
        const r = `${rel}/${name}`;
        if (statSync(full).isDirectory()) walk(full, r);
        else this.files.set(r, { body: readFileSync(full), type: CONTENT_TYPES[path.extname(name)] ?? 'application/octet-stream', immutable: r.startsWith('/assets/') });
      }
    };
    if (existsSync(path.join(this.staticDir, 'index.html'))) walk(this.staticDir, '');
    else log.warn('dashboard front end not built', { dir: this.staticDir });
  }

  private cookieName(): string { return `dray_dashboard_${this.port}`; }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    // Over plain HTTP only on loopback: the Host must name this listener (DNS rebinding).
    if (!this.config.tlsCert && !this.hosts.has(String(req.headers.host ?? '').toLowerCase())) return text(res, 403, 'Forbidden: unexpected Host header');
    const url = new URL(req.url ?? '/', 'http://dashboard');
    const method = req.method ?? 'GET';
    const given = url.searchParams.get('token');
    if (given !== null) {
      if (method !== 'GET' || !sameSecret(given, this.token)) return text(res, 401, 'Unauthorized: the token is wrong or from an earlier start of drayd; run `dray dashboard` for a fresh URL');
      url.searchParams.delete('token');
      const secure = this.config.tlsCert ? '; Secure' : '';
      res.writeHead(303, {
        Location: `${url.pathname}${url.search}${url.hash}`,
        'Set-Cookie': `${this.cookieName()}=${this.token}; Path=/; HttpOnly; SameSite=Strict${secure}`,
        'Cache-Control': 'no-store', ...SECURITY_HEADERS,
      });
      res.end();
      return;
    }
    if (!sameSecret(cookieValue(req.headers.cookie, this.cookieName()), this.token)) {
      return text(res, 401, 'Unauthorized: open the dashboard with the URL `dray dashboard` prints');
    }
    if (method !== 'GET' && method !== 'HEAD') {
      const why = this.csrfRefusal(req);
      if (why) return text(res, 403, `Forbidden: ${why}`);
    }
    if (url.pathname === '/api/events') {
      if (method !== 'GET') return text(res, 405, 'method not allowed');
      return this.eventStream(req, res);
    }
    if (url.pathname === '/api/events/history') {
      if (method !== 'GET') return text(res, 405, 'method not allowed');
      const body = JSON.stringify(this.deps.events.history().slice(-HISTORY));
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...SECURITY_HEADERS });
      res.end(body);
      return;
    }
    if (url.pathname === '/api/stats') {
      if (method !== 'GET') return text(res, 405, 'method not allowed');
      return this.statsStream(req, res);
    }
    if (url.pathname === '/api/prune-estimate') {
      if (method !== 'GET') return text(res, 405, 'method not allowed');
      const images = this.deps.images;
      if (!images) return text(res, 404, 'not found');
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...SECURITY_HEADERS });
      res.end(JSON.stringify({ images: images.pruneEstimate(false), imagesAll: images.pruneEstimate(true) }));
      return;
    }
    const files = /^\/api\/files\/([A-Za-z0-9][A-Za-z0-9_.-]*)(\/download)?$/.exec(url.pathname);
    if (files) {
      if (method !== 'GET') return text(res, 405, 'method not allowed');
      return this.containerFiles(res, files[1], !!files[2], url.searchParams.get('path') ?? '/');
    }
    if (url.pathname === '/api/engine' || url.pathname.startsWith('/api/engine/')) return this.engine(req, res, url, method);
    if (url.pathname.startsWith('/api/')) return text(res, 404, 'not found');
    if (method !== 'GET' && method !== 'HEAD') return text(res, 405, 'method not allowed');
    this.serveFile(res, url.pathname);
  }

  /**
   * /api/terminal/<container>?cols=&rows=&csrf=: a TTY shell exec'd in the container. Messages
   * from the page: byte 0 then keyboard input, or byte 1 then {"cols","rows"}; to the page: the
   * terminal's output. A WebSocket carries no custom header, so the CSRF secret comes in the
   * query, and the Origin (which browsers always send here) must be this listener's.
   */
  private upgrade(req: http.IncomingMessage, socket: Socket, head: Buffer): void {
    const refuse = (status: string) => { socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`); };
    const url = new URL(req.url ?? '/', 'http://dashboard');
    const m = /^\/api\/terminal\/([A-Za-z0-9][A-Za-z0-9_.-]*)$/.exec(url.pathname);
    if (!this.config.tlsCert && !this.hosts.has(String(req.headers.host ?? '').toLowerCase())) return refuse('403 Forbidden');
    if (!sameSecret(cookieValue(req.headers.cookie, this.cookieName()), this.token)) return refuse('401 Unauthorized');
    const origin = req.headers.origin;
    if (!origin || !this.origins.has(origin.toLowerCase()) || !sameSecret(url.searchParams.get('csrf') ?? undefined, this.csrf)) return refuse('403 Forbidden');
    const execs = this.deps.execs;
    if (!m || !execs) return refuse('404 Not Found');
    if (this.terminals.size >= MAX_TERMINALS) return refuse('503 Service Unavailable');
    const key = checkWebSocketRequest(req.headers);
    const size = (v: string | null, d: number) => { const n = Number(v); return Number.isInteger(n) && n > 0 && n < 1000 ? n : d; };
    const cols = size(url.searchParams.get('cols'), 80);
    const rows = size(url.searchParams.get('rows'), 24);
    const execId = execs.create(m[1], { AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: true, Cmd: ['sh'], Env: ['TERM=xterm-256color'] });
    const ws = acceptWebSocket(socket, head, key, true);
    this.terminals.add(socket);
    socket.once('close', () => this.terminals.delete(socket));
    const bye = (msg: string) => { ws.send(Buffer.from(`\r\n[${msg}]\r\n`)); ws.close(); };
    execs.start(execId, { detach: false, tty: true, consoleSize: [rows, cols] }).then(({ conn, finished }) => {
      if (!conn) { bye('no terminal'); return; }
      conn.on('data', (_s, b) => ws.send(b));
      conn.on('end', () => { void finished.catch(() => -1).then((code) => bye(`process exited with code ${code}`)); });
      ws.on('message', (d: Buffer) => {
        if (d[0] === 0) conn.write(d.subarray(1));
        else if (d[0] === 1) {
          try {
            const r = JSON.parse(d.subarray(1).toString('utf8'));
            void execs.resize(execId, size(String(r.rows), rows), size(String(r.cols), cols)).catch(() => {});
          } catch { /* not JSON: ignored */ }
        }
      });
      // The page went: hang up, as a terminal does (SIGHUP ends the shell), and let go of the session.
      const hangUp = () => {
        const s = execs.get(execId);
        if (s.running && s.pid > 0) { try { process.kill(s.pid, 'SIGHUP'); } catch { /* gone */ } }
        conn.close();
      };
      ws.on('close', hangUp);
      if (ws.closed) hangUp();
    }, (e: Error) => bye(`exec failed: ${e.message}`));
  }

  private csrfRefusal(req: http.IncomingMessage): string | undefined {
    if (!sameSecret(req.headers[CSRF_HEADER] as string | undefined, this.csrf)) return 'missing or wrong CSRF header';
    const origin = req.headers.origin;
    if (origin !== undefined && !this.origins.has(origin.toLowerCase())) return `cross-origin request (${origin})`;
    const site = req.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin') return `cross-site request (Sec-Fetch-Site: ${site})`;
    return undefined;
  }

  /** One allow-listed Engine API route, in-process through drayd's router. */
  private engine(req: http.IncomingMessage, res: http.ServerResponse, url: URL, method: string): void {
    const enginePath = url.pathname.slice('/api/engine'.length) || '/';
    // No version prefix: the dashboard speaks the current API version.
    if (/^\/v\d/.test(enginePath)) return text(res, 403, 'Forbidden: the dashboard speaks the current API version only (no /vN.NN prefix)');
    const found = this.deps.router.match(method, enginePath);
    const allowed = found && found !== 'method' && (ALLOWED[method] ?? []).includes(found.pattern);
    if (!allowed) return text(res, 403, `Forbidden: ${method} ${enginePath} is not open to the dashboard`);
    // Pulls only: an import (fromSrc) would take a tarball from the request or fetch any URL.
    if (found.pattern === '/images/create' && (url.searchParams.has('fromSrc') || !url.searchParams.get('fromImage'))) {
      return text(res, 403, 'Forbidden: the dashboard pulls images (fromImage) and imports none (fromSrc)');
    }
    req.url = `${enginePath}${url.search}`;
    void this.deps.dispatch(this.deps.router, req, res);
  }

  /** Every running container's CPU and memory, one event per sampling round (stats.ts). */
  private statsStream(req: http.IncomingMessage, res: http.ServerResponse): void {
    const sampler = this.sampler;
    if (!sampler) return text(res, 404, 'not found');
    if (this.streams.size >= MAX_EVENT_STREAMS) return text(res, 503, `too many open event streams (${MAX_EVENT_STREAMS})`);
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no', ...SECURITY_HEADERS });
    res.write('retry: 2000\n: connected\n\n');
    this.streams.add(res);
    const unsubscribe = sampler.subscribe((samples) => {
      if (res.writableLength > MAX_BUFFERED) { res.destroy(); return; }
      res.write(`data: ${JSON.stringify({ time: Date.now(), samples })}\n\n`);
    });
    const done = () => { unsubscribe(); this.streams.delete(res); };
    req.once('close', done);
    res.once('close', done);
  }

  private containerFiles(res: http.ServerResponse, id: string, download: boolean, p: string): void {
    const cs = this.deps.containers;
    if (!cs) return text(res, 404, 'not found');
    const fail = (e: unknown) => {
      if (res.headersSent) { res.destroy(); return; }
      res.writeHead(httpStatus(e), { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...SECURITY_HEADERS });
      res.end(JSON.stringify({ message: (e as Error).message }));
    };
    if (download) { sendFile(cs, id, p, res, SECURITY_HEADERS).catch(fail); return; }
    listDir(cs, id, p).then((l) => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...SECURITY_HEADERS });
      res.end(JSON.stringify(l));
    }, fail);
  }

  /** The engine's events as server-sent events; the page's only live feed besides logs and stats. */
  private eventStream(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.streams.size >= MAX_EVENT_STREAMS) return text(res, 503, `too many open event streams (${MAX_EVENT_STREAMS})`);
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no', ...SECURITY_HEADERS });
    res.write('retry: 1000\n: connected\n\n');
    this.streams.add(res);
    // A page that stops reading is dropped rather than buffered for without end: its EventSource
    // reconnects and the page fetches afresh.
    const send = (e: EngineEvent) => {
      if (res.writableLength > MAX_BUFFERED) { res.destroy(); return; }
      res.write(`data: ${JSON.stringify(e)}\n\n`);
    };
    const unsubscribe = this.deps.events.subscribe(send);
    const beat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
    beat.unref();
    const done = () => { clearInterval(beat); unsubscribe(); this.streams.delete(res); };
    req.once('close', done);
    res.once('close', done);
  }

  private serveFile(res: http.ServerResponse, pathname: string): void {
    let name = pathname === '/' ? '/index.html' : pathname;
    let f = this.files.get(name);
    if (!f && !name.startsWith('/assets/')) { name = '/index.html'; f = this.files.get(name); }
    if (!f) {
      if (name === '/index.html') return text(res, 503, `the dashboard's front end is not built (no ${path.join(this.staticDir, 'index.html')}): run npm run build`);
      return text(res, 404, 'not found');
    }
    let body = f.body;
    if (name === '/index.html') body = Buffer.from(body.toString('utf8').replace('__DRAY_CSRF__', this.csrf));
    res.writeHead(200, {
      'Content-Type': f.type, 'Content-Length': body.length,
      'Cache-Control': f.immutable ? 'private, max-age=31536000, immutable' : 'no-store',
      ...SECURITY_HEADERS,
    });
    res.end(body);
  }

  async close(): Promise<void> {
    for (const s of this.streams) s.destroy();
    this.streams.clear();
    for (const s of this.terminals) s.destroy();
    this.terminals.clear();
    const srv = this.server;
    this.server = undefined;
    this.starting = undefined;
    if (!srv) return;
    await new Promise<void>((resolve) => { srv.close(() => resolve()); srv.closeAllConnections?.(); });
  }
}
