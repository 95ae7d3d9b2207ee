// `dray registry serve`: the HTTP(S) server. Each request is routed (http/router.ts),
// authenticated for the access its route needs, handled, logged on one line and counted in
// /metrics; a thrown RegistryError becomes the spec's JSON error. Background jobs run beside
// it: purge of abandoned uploads, scheduled GC, scrub.
import * as http from 'node:http';
import * as https from 'node:https';
import * as http2 from 'node:http2';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { log } from '../../lib/log';
import { noteActivity } from '../../lib/idle-gc';
import { errorMessage } from '../../lib/errors';
import { RegistryError, regError } from './errors';
import { Config, parseListen } from './config';
import { Registry } from './registry';
import { registryMetrics, RegistryMetrics } from './metrics';
import { newAuthenticator } from './auth';
import { openStorage, describeStorage } from './storage';
import { PathNotFoundError } from './storage/driver';
import { PullThrough } from './proxy';
import { collectGarbage, GcReport } from './gc';
import { scrub, ScrubReport } from './scrub';
import { ReqCtx, Services } from './http/context';
import { Notifier } from './notifications';
import { RouteName, accessNeeded, matchRoute, methodAllowed } from './http/router';
import { manifestHandler } from './http/manifests';
import { blobHandler } from './http/blobs';
import { uploadHandler, uploadStartHandler } from './http/uploads';
import { baseHandler, catalogHandler, referrersHandler, tagsHandler } from './http/discovery';

const HANDLERS: Record<RouteName, (c: ReqCtx) => Promise<void>> = {
  base: baseHandler,
  catalog: catalogHandler,
  manifest: manifestHandler,
  blob: blobHandler,
  'upload-start': uploadStartHandler,
  upload: uploadHandler,
  tags: tagsHandler,
  referrers: referrersHandler,
};

export interface RunningServer {
  url: string;
  port: number;
  registry: Registry;
  metrics: RegistryMetrics;
  /** Runs one GC now (as the schedule would). */
  gc(): Promise<GcReport>;
  scrub(): Promise<ScrubReport>;
  close(): Promise<void>;
}

/** A registry over the configured storage, without a server (for `dray registry gc` and `scrub`). */
export function openRegistry(cfg: Config, create = true): Registry {
  return new Registry(openStorage(cfg.storage, create), {
    deleteEnabled: cfg.deleteEnabled,
    readOnly: !!cfg.proxy,
    // on S3, uses of a blob closer together than this are recorded once (store/blobs.ts)
    useEvery: Math.min(60_000, cfg.gc.delayMs / 4),
  });
}

export function recordGc(m: RegistryMetrics, r: GcReport): void {
  m.gcRuns.inc({ result: 'ok' });
  m.gcBlobsDeleted.inc({}, r.blobsDeleted);
  m.gcBytesFreed.inc({}, r.bytesFreed);
  m.gcManifestsDeleted.inc({}, r.manifestsDeleted);
  m.gcLastRun.set(Date.now() / 1000);
  m.gcLastDuration.set(r.durationMs / 1000);
}

export function recordScrub(m: RegistryMetrics, r: ScrubReport): void {
  m.scrubRuns.inc({ result: r.corrupt.length ? 'corrupt' : 'ok' });
  m.scrubBlobsChecked.inc({}, r.checked);
  m.scrubBytesChecked.inc({}, r.bytes);
  m.scrubCorruptTotal.inc({}, r.corrupt.length);
  m.scrubCorrupt.set(r.corrupt.length);
  m.scrubLastRun.set(Date.now() / 1000);
}

export async function startServer(cfg: Config): Promise<RunningServer> {
  const registry = openRegistry(cfg);
  const metrics = registryMetrics();
  if (cfg.proxy) registry.upstream = new PullThrough(registry, cfg.proxy, metrics);
  const auth = newAuthenticator(cfg);
  const notifier = new Notifier(cfg.notifications);
  const s: Services = { registry, metrics, cfg, auth, notifier };
  const startedAt = Date.now() / 1000;
  metrics.registry.onCollect(() => {
    const mu = process.memoryUsage();
    metrics.rss.set(mu.rss);
    metrics.heap.set(mu.heapUsed);
    metrics.start.set(startedAt);
    metrics.uploadsInProgress.set(registry.uploads.inProgress);
  });

  const scheme = cfg.http.tls ? 'https' : 'http';
  const limiter = new UploadLimiter(cfg.limits.concurrentUploads);
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => { void handle(s, req, res, scheme, limiter); };
  // Over TLS, HTTP/2 for the clients that offer it (Go's, so the docker CLI's, skopeo's and
  // containerd's: many blobs over one connection) and HTTP/1.1 for the rest, as distribution
  // serves; http.http2.disabled keeps HTTP/1.1 only.
  const tlsOpts = cfg.http.tls && { cert: readFileSync(cfg.http.tls.certificate), key: readFileSync(cfg.http.tls.key) };
  const server: http.Server = tlsOpts
    ? (cfg.http.http2 ? http2.createSecureServer({ ...tlsOpts, allowHTTP1: true }, onRequest as never) as unknown as http.Server : https.createServer(tlsOpts, onRequest))
    : http.createServer(onRequest);
  // Every connection, to end those still open at close (HTTP/2 sessions included, which the
  // HTTP/1 servers' closeAllConnections does not know).
  const sockets = new Set<import('node:net').Socket>();
  server.on(tlsOpts ? 'secureConnection' : 'connection', (sock: import('node:net').Socket) => { sockets.add(sock); sock.once('close', () => sockets.delete(sock)); });
  // A layer upload may take longer than node's default five minutes; a stalled one ends by the
  // socket timeout instead. (The HTTP/2 server serves its HTTP/1.1 clients with these too.)
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 65_000;
  server.setTimeout(10 * 60_000);
  const { host, port } = parseListen(cfg.http.addr);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(); });
  });
  const addr = server.address() as AddressInfo;
  const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `${scheme}://${shown}:${addr.port}`;
  notifier.listening(addr.port);
  const jobs = startJobs(s);
  log.info('dray registry listening', {
    addr: `${shown}:${addr.port}`, url, storage: `${cfg.storage.driver} ${describeStorage(cfg.storage)}`,
    auth: auth.kind, tls: !!cfg.http.tls, proxy: cfg.proxy?.remoteurl,
    gc: cfg.gc.intervalMs ? `every ${cfg.gc.intervalMs / 1000} s, delay ${cfg.gc.delayMs / 1000} s` : 'off',
    scrub: cfg.scrub.intervalMs ? `every ${cfg.scrub.intervalMs / 1000} s` : 'off',
    notifications: cfg.notifications.length ? cfg.notifications.map((e) => e.name) : undefined,
  });
  return {
    url, port: addr.port, registry, metrics,
    gc: () => jobs.gcNow(),
    scrub: () => jobs.scrubNow(),
    async close() {
      await jobs.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections?.();
        // in-flight requests get a moment to finish, then their connections go
        setTimeout(() => { for (const sock of sockets) sock.destroy(); }, 5000).unref();
      });
      await notifier.close();
      await registry.driver.close?.();
    },
  };
}

/** At most `max` upload requests at once (0: any number); the rest are told to come back. */
class UploadLimiter {
  private active = 0;
  constructor(private max: number) {}
  async run(route: RouteName, method: string, fn: () => Promise<void>): Promise<void> {
    const counted = this.max > 0 && (route === 'upload-start' || (route === 'upload' && (method === 'PATCH' || method === 'PUT')));
    if (!counted) return fn();
    if (this.active >= this.max) {
      throw regError('TOOMANYREQUESTS', { limit: this.max }, { message: `too many requests: ${this.max} uploads in progress` }).withHeader('Retry-After', '1');
    }
    this.active++;
    try { await fn(); } finally { this.active--; }
  }
}

async function handle(s: Services, req: http.IncomingMessage, res: http.ServerResponse, scheme: string, limiter: UploadLimiter): Promise<void> {
  const t0 = process.hrtime.bigint();
  noteActivity();
  res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  const method = req.method ?? 'GET';
  let url: URL;
  try { url = new URL(req.url ?? '/', 'http://registry'); } catch {
    res.writeHead(400).end();
    return;
  }
  // (HTTP/2 names the host in :authority, not Host.)
  const base = s.cfg.http.host ?? `${scheme}://${req.headers.host ?? req.headers[':authority'] ?? 'localhost'}`;
  let routeName = 'other';
  let ctx: ReqCtx | undefined;
  const remote = req.socket.remoteAddress;
  res.once('close', () => {
    noteActivity();
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const code = res.headersSent ? String(res.statusCode) : 'aborted';
    s.metrics.requests.inc({ route: routeName, method, code });
    s.metrics.requestSeconds.inc({ route: routeName }, secs);
    if (ctx) {
      s.metrics.bytesSent.inc({}, ctx.bytesOut);
      s.metrics.bytesReceived.inc({}, ctx.bytesIn);
    }
    if (s.cfg.log.accessLog) {
      log.info('request', {
        method, path: url.pathname + url.search, status: res.headersSent ? res.statusCode : 0, ms: Math.round(secs * 10000) / 10,
        in: ctx?.bytesIn ?? 0, out: ctx?.bytesOut ?? 0, user: ctx?.identity.user, remote, agent: req.headers['user-agent'], proto: `HTTP/${req.httpVersion}`,
        ...(res.writableEnded ? {} : { incomplete: true }),
      });
    }
  });
  try {
    if (url.pathname === '/metrics' && s.cfg.metrics.enabled) {
      routeName = 'metrics';
      const body = s.metrics.registry.render();
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
      res.end(method === 'HEAD' ? undefined : body);
      return;
    }
    if (url.pathname === '/auth/token' && s.auth.tokenEndpoint) {
      routeName = 'token';
      await s.auth.tokenEndpoint(req, res, url);
      return;
    }
    const route = matchRoute(url.pathname);
    if (!route) {
      routeName = 'none';
      const body = '404 page not found\n';
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length });
      res.end(body);
      return;
    }
    routeName = route.name;
    if (!methodAllowed(route, method)) throw regError('UNSUPPORTED', { method }, { message: `The operation is unsupported: ${method} ${route.name}` });
    ctx = new ReqCtx(s, req, res, url, base, route);
    ctx.identity = await s.auth.authenticate(req, accessNeeded(route, method), base);
    const c = ctx;
    await limiter.run(route.name, method, () => HANDLERS[route.name](c));
  } catch (e) {
    // A client still sending a body we refused (a manifest over the limit, a chunk out of order)
    // would take a reply mid-send as a broken pipe: a body of a few MiB is read to its end first.
    if (!req.complete && !res.headersSent && Number(req.headers['content-length'] ?? Infinity) <= DRAIN_LIMIT) await drain(req);
    sendError(req, res, e, method, url);
  }
}

const DRAIN_LIMIT = 16 << 20;

function drain(req: http.IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    const done = () => { clearTimeout(t); resolve(); };
    const t = setTimeout(done, 5000);
    req.on('end', done).on('error', done).on('close', done).resume();
  });
}

function sendError(req: http.IncomingMessage, res: http.ServerResponse, e: unknown, method: string, url: URL): void {
  if (res.headersSent) {
    // mid-stream: all that can be said is to cut the connection
    log.warn('request failed after its headers were sent', { method, path: url.pathname, error: errorMessage(e) });
    res.destroy();
    return;
  }
  let err: RegistryError;
  if (e instanceof RegistryError) err = e;
  else if (e instanceof PathNotFoundError) err = regError('UNKNOWN', undefined, { message: 'unknown error: storage path vanished during the request' });
  else {
    log.error('request failed', { method, path: url.pathname, error: (e as Error)?.stack ?? errorMessage(e) });
    err = regError('UNKNOWN', undefined, { message: `unknown error: ${errorMessage(e)}` });
  }
  const body = err.body();
  const headers: Record<string, string | number> = { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), ...err.headers };
  // A body we did not read (a refused PATCH) is not worth reading: close the connection after this
  // (HTTP/1 only: an HTTP/2 stream ends by itself, and the header is forbidden there).
  if (!req.complete && req.httpVersionMajor < 2) headers.Connection = 'close';
  res.writeHead(err.status, headers);
  res.end(method === 'HEAD' ? undefined : body);
}

/** Upload purge, scheduled GC and scrub; none overlaps itself. */
function startJobs(s: Services) {
  const { cfg, registry, metrics } = s;
  const timers = new Set<NodeJS.Timeout>();
  const running = new Set<Promise<unknown>>();
  const scrubAbort = new AbortController();
  let stopped = false;
  let gcRun: Promise<GcReport> | undefined;
  let scrubRun: Promise<ScrubReport> | undefined;

  const track = <T>(p: Promise<T>): Promise<T> => {
    running.add(p);
    p.finally(() => running.delete(p)).catch(() => {});
    return p;
  };
  const every = (ms: number, what: string, fn: () => Promise<unknown>, now = false) => {
    if (!ms) return;
    const tick = async () => {
      if (stopped) return;
      try { await fn(); } catch (e) { log.error(`${what} failed`, { error: errorMessage(e) }); }
      if (!stopped) schedule();
    };
    const schedule = () => {
      const t = setTimeout(() => { timers.delete(t); void tick(); }, ms);
      t.unref();
      timers.add(t);
    };
    if (now) { const t = setTimeout(() => { timers.delete(t); void tick(); }, 0); t.unref(); timers.add(t); } else schedule();
  };

  const gcNow = (): Promise<GcReport> => {
    if (gcRun) return gcRun;
    gcRun = track(collectGarbage(registry, { delayMs: cfg.gc.delayMs, deleteUntagged: cfg.gc.deleteUntagged }).then((r) => {
      recordGc(metrics, r);
      log.info('gc done', { blobs: r.blobs, deleted: r.blobsDeleted, freed: r.bytesFreed, manifestsDeleted: r.manifestsDeleted, kept: r.restored, ms: r.durationMs });
      return r;
    }, (e) => { metrics.gcRuns.inc({ result: 'error' }); throw e; }).finally(() => { gcRun = undefined; }));
    return gcRun;
  };
  const scrubNow = (): Promise<ScrubReport> => {
    if (scrubRun) return scrubRun;
    scrubRun = track(scrub(registry, { rateBytesPerSec: cfg.scrub.rateBytesPerSec, signal: scrubAbort.signal }).then((r) => {
      recordScrub(metrics, r);
      (r.corrupt.length ? log.error : log.info)('scrub done', { checked: r.checked, bytes: r.bytes, corrupt: r.corrupt.map((c) => c.digest), ms: r.durationMs });
      return r;
    }).finally(() => { scrubRun = undefined; }));
    return scrubRun;
  };

  if (cfg.uploadPurging.enabled) {
    every(cfg.uploadPurging.intervalMs, 'upload purge', async () => {
      const n = await track(registry.uploads.purge(cfg.uploadPurging.ageMs));
      if (n) { metrics.uploadsPurged.inc({}, n); log.info('abandoned uploads purged', { count: n }); }
    }, true);
  }
  every(cfg.gc.intervalMs, 'gc', gcNow);
  every(cfg.scrub.intervalMs, 'scrub', scrubNow);

  return {
    gcNow,
    scrubNow,
    async stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      scrubAbort.abort();
      await Promise.allSettled([...running]);
    },
  };
}
