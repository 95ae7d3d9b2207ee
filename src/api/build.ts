// POST /build: the legacy builder's API. Parse the query, receive the context, then stream the
// build as JSON lines ({"stream"}, {"aux"}, {"errorDetail","error"}). Errors found before the
// context is in (bad parameters, unreadable archive) get a status code; later ones are a line in
// the 200 stream, as Docker does.
import type { Router } from './router';
import { Req, qBool, startJsonStream } from './http';
import type { Engine } from '../engine/engine';
import { invalid, notImplemented, errorMessage } from '../lib/errors';
import { shortId } from '../lib/ids';
import { log } from '../lib/log';
import { BuildCache } from '../builder/cache';
import { receiveContext } from '../builder/context';
import { normalizeAuthConfig, AuthConfig } from '../registry/remote/credentials';
import { Builder, BuildOptions } from '../builder/builder';
import { normalizeTags, buildTmpDir } from '../builder/tags';

export function registerBuildRoutes(r: Router, engine: Engine): void {
  const cache = new BuildCache(engine.config.dataRoot, (id) => engine.images.resolve(id).then(() => true, () => false));
  r.post('/build', (req) => buildHandler(req, engine, cache));
}

function jsonParam<T>(q: URLSearchParams, name: string, def: T): T {
  const v = q.get(name);
  if (!v) return def;
  try { return JSON.parse(v) as T; } catch { throw invalid(`invalid ${name} parameter: ${v}`); }
}

function options(q: URLSearchParams): BuildOptions & { quiet: boolean } {
  if (q.get('remote')) throw notImplemented('remote build contexts (git URLs, tarball URLs) are not implemented: send the context as the request body');
  if (q.get('version') === '2') throw notImplemented('BuildKit is not supported by Dray; use the legacy builder (DOCKER_BUILDKIT=0)');
  const buildArgs = jsonParam<Record<string, string | null>>(q, 'buildargs', {});
  const labels = jsonParam<Record<string, string>>(q, 'labels', {});
  if (typeof buildArgs !== 'object' || buildArgs === null || typeof labels !== 'object' || labels === null) throw invalid('buildargs and labels must be JSON objects');
  for (const k of Object.keys(buildArgs)) if (buildArgs[k] === null) delete buildArgs[k];
  const net = q.get('networkmode') || 'default';
  return {
    tags: normalizeTags(q.getAll('t')),
    buildArgs,
    labels,
    networkMode: net === 'default' ? 'bridge' : net,
    noCache: qBool(q, 'nocache'),
    pull: qBool(q, 'pull'),
    rm: qBool(q, 'rm', true),
    forceRm: qBool(q, 'forcerm'),
    target: q.get('target') || undefined,
    platform: q.get('platform') || undefined,
    explainCache: qBool(q, 'explaincache'),
    quiet: qBool(q, 'q'),
  };
}

async function buildHandler(req: Req, engine: Engine, cache: BuildCache): Promise<void> {
  const o = options(req.query);
  const t0 = performance.now();
  const ctx = await receiveContext(req.raw, buildTmpDir(engine.config.dataRoot), req.query.get('dockerfile'));
  log.debug('build context received', { ms: Math.round(performance.now() - t0) });
  const abort = new AbortController();
  let finished = false;
  req.res.on('close', () => { if (!finished) abort.abort(); });
  try {
    const write = startJsonStream(req.res);
    const stream = (text: string) => { if (!o.quiet && !abort.signal.aborted) write({ stream: text }); };
    const progress = (m: object) => { if (!o.quiet && !abort.signal.aborted) write(m); };
    try {
      const image = await new Builder(engine, cache, ctx, { ...o, registryAuth: registryConfigHeader(req.raw.headers['x-registry-config']) }, { stream, progress, signal: abort.signal }).build();
      log.debug('build steps done', { ms: Math.round(performance.now() - t0) });
      write({ aux: { ID: image.id } });
      if (o.quiet) write({ stream: `${image.id}\n` });
      stream(`Successfully built ${shortId(image.id)}\n`);
      for (const t of o.tags) {
        await engine.images.tag(image.id, t);
        stream(`Successfully tagged ${t}\n`);
      }
    } catch (e) {
      const message = errorMessage(e);
      if (!abort.signal.aborted) write({ errorDetail: { message }, error: message });
    }
  } finally {
    finished = true;
    // The client has its answer before the context is let go of.
    if (!req.res.writableEnded) req.res.end();
    await ctx.cleanup();
  }
}

/** X-Registry-Config: base64 JSON of {registry: AuthConfig}, the credentials the CLI holds. */
function registryConfigHeader(h: string | string[] | undefined): Record<string, AuthConfig> {
  const v = Array.isArray(h) ? h[0] : h;
  if (!v) return {};
  try {
    const j = JSON.parse(Buffer.from(v.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8'));
    return Object.fromEntries(Object.entries(j ?? {}).map(([k, c]) => [k, normalizeAuthConfig(c)]));
  } catch { return {}; }
}
