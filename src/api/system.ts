// /_ping, /version, /info, /events, /system/df, the swarm refusals, and the placeholders of areas
// that later issues fill (build, registry).
import * as os from 'node:os';
import { Router } from './router';
import { Req, sendJson, parseFilters, checkFilterKeys, startJsonStream, Filters } from './http';
import { API_VERSION, MIN_API_VERSION, ENGINE_VERSION } from './version';
import type { Engine } from '../engine/engine';
import type { EngineEvent } from '../engine/events';
import { notImplemented, unavailable } from '../lib/errors';
import { untilCutoff } from './containers';
import { buildCacheRecords } from './build';

export function registerSystemRoutes(r: Router, engine: Engine): void {
  const ping = (req: Req) => {
    req.res.writeHead(200, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Cache-Control': 'no-cache, no-store, must-revalidate',
      Pragma: 'no-cache',
      'Builder-Version': '1',
      'Content-Length': req.method === 'HEAD' ? '0' : '2',
    });
    req.res.end(req.method === 'HEAD' ? undefined : 'OK');
  };
  r.get('/_ping', ping);
  r.head('/_ping', ping);

  r.get('/version', async (req) => sendJson(req.res, 200, await engine.version()));
  r.get('/info', async (req) => sendJson(req.res, 200, await engine.info()));

  r.get('/events', async (req) => eventsHandler(req, engine));

  r.get('/system/df', async (req) => sendJson(req.res, 200, { ...await engine.diskUsage(), BuildCache: await buildCacheRecords(engine) }));

  // A non-swarm daemon answers swarm endpoints with 503, which clients such as testcontainers expect.
  const noSwarm = () => { throw unavailable('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.'); };
  for (const p of ['/swarm', '/nodes', '/services', '/tasks', '/secrets', '/configs']) r.get(p, noSwarm);
  for (const p of ['/swarm/init', '/swarm/join', '/swarm/leave', '/swarm/update', '/swarm/unlock']) r.post(p, noSwarm);

  // POST /build and /build/prune are in api/build.ts.
  r.post('/session', () => { throw notImplemented('BuildKit sessions are not supported; use DOCKER_BUILDKIT=0'); });
  // POST /auth is in api/distribution.ts.
  r.get('/plugins', async (req) => sendJson(req.res, 200, []));
}

// ---- events ---------------------------------------------------------------------------------------

function eventMatches(e: EngineEvent, f: Filters): boolean {
  const any = (k: string, pred: (v: string) => boolean) => { const vs = f.get(k); return !vs || vs.length === 0 || vs.some(pred); };
  const name = e.Actor.Attributes.name ?? '';
  return any('type', (v) => v === e.Type)
    && any('event', (v) => e.Action === v || e.Action.startsWith(v + ':'))
    && any('container', (v) => e.Type === 'container' && (e.Actor.ID.startsWith(v) || name === v))
    && any('image', (v) => (e.Type === 'image' && (e.Actor.ID === v || name === v || e.Actor.ID.replace('sha256:', '').startsWith(v))) || e.Actor.Attributes.image === v)
    && any('label', (v) => { const i = v.indexOf('='); return i < 0 ? v in e.Actor.Attributes : e.Actor.Attributes[v.slice(0, i)] === v.slice(i + 1); })
    && any('volume', (v) => e.Type === 'volume' && (e.Actor.ID === v))
    && any('network', (v) => e.Type === 'network' && (e.Actor.ID.startsWith(v) || name === v))
    && any('daemon', () => e.Type === 'daemon')
    && any('scope', (v) => v === 'local');
}

function parseTimeParam(v: string | null): number | undefined {
  if (!v) return undefined;
  return untilCutoff(v) * 1e6; // ms → ns
}

async function eventsHandler(req: Req, engine: Engine): Promise<void> {
  const f = parseFilters(req.query.get('filters'));
  checkFilterKeys(f, ['type', 'event', 'container', 'image', 'label', 'volume', 'network', 'daemon', 'plugin', 'node', 'service', 'secret', 'config', 'scope']);
  const since = parseTimeParam(req.query.get('since'));
  const until = parseTimeParam(req.query.get('until'));
  const write = startJsonStream(req.res);
  req.res.flushHeaders();
  const ok = (e: EngineEvent) => eventMatches(e, f) && (since === undefined || e.timeNano >= since) && (until === undefined || e.timeNano <= until);
  const send = (e: EngineEvent) => write(e);
  const nowNs = Date.now() * 1e6;
  if (since !== undefined) for (const e of engine.events.history()) if (ok(e)) send(e);
  if (until !== undefined && until <= nowNs) { req.res.end(); return; }
  await new Promise<void>((resolve) => {
    const unsub = engine.events.subscribe((e) => { if (ok(e)) send(e); });
    let timer: NodeJS.Timeout | undefined;
    const done = () => { unsub(); if (timer) clearTimeout(timer); resolve(); };
    if (until !== undefined) timer = setTimeout(done, Math.max(0, (until - nowNs) / 1e6));
    req.res.on('close', done);
  });
  if (!req.res.writableEnded) req.res.end();
}

export function versionInfo(kernel: string, components: { Name: string; Version: string; Details?: Record<string, string> }[]) {
  return {
    Platform: { Name: 'Dray Engine' },
    Components: [
      { Name: 'Engine', Version: ENGINE_VERSION, Details: { ApiVersion: API_VERSION, Arch: goArch(), BuildTime: '', Experimental: 'false', GitCommit: 'dray', GoVersion: `node${process.versions.node}`, KernelVersion: kernel, MinAPIVersion: MIN_API_VERSION, Os: 'linux' } },
      ...components,
    ],
    Version: ENGINE_VERSION,
    ApiVersion: API_VERSION,
    MinAPIVersion: MIN_API_VERSION,
    GitCommit: 'dray',
    GoVersion: `node${process.versions.node}`,
    Os: 'linux',
    Arch: goArch(),
    KernelVersion: kernel,
    BuildTime: '',
  };
}

export function goArch(): string {
  const a = os.arch();
  return a === 'x64' ? 'amd64' : a === 'ia32' ? '386' : a;
}
