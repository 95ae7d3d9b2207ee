// POST /build: the legacy builder's API. Parse the query, receive the context, then stream the
// build as JSON lines ({"stream"}, {"aux"}, {"errorDetail","error"}). Errors found before the
// context is in (bad parameters, unreadable archive) get a status code; later ones are a line in
// the 200 stream, as Docker does.
import type { Router } from './router';
import { Req, qBool, startJsonStream, sendJson, parseFilters, readJsonBody } from './http';
import type { Engine } from '../engine/engine';
import { invalid, notImplemented, errorMessage } from '../lib/errors';
import { shortId } from '../lib/ids';
import { log } from '../lib/log';
import { BuildCache } from '../builder/cache';
import { receiveContext } from '../builder/context';
import { ContextSnapshots, checkKey, checkManifest } from '../builder/context-snapshots';
import { normalizeAuthConfig, decodeRegistryAuth, AuthConfig } from '../registry/remote/credentials';
import { exportToRegistry, importFromRegistry } from '../builder/registry-cache';
import { Builder, BuildOptions } from '../builder/builder';
import { normalizeTags, buildTmpDir } from '../builder/tags';
import { CacheMounts } from '../builder/cache-mounts';
import { BuildHistory, BuildRecord } from '../builder/history';
import { SshAgents } from '../builder/ssh-agents';
import { BuildSecrets, SECRETS_HEADER, readSecretsPrefix, sweepSecretMounts } from '../builder/secrets';
import { FramedBody, NamedContext, parseNamedContextsParam } from '../builder/named-contexts';
import { pruneBuildCache, buildCacheUsage, PruneRequest } from '../builder/prune';
import { withImageRootfs } from '../builder/workers';
import { exportRootfs } from '../engine/archive';
import * as path from 'node:path';
import { promises as fsp } from 'node:fs';
import { Readable } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { monotonicMs } from '../lib/clock';

/** What every build of one daemon shares: the step cache and the cache mounts. */
export interface BuilderState { cache: BuildCache; cacheMounts: CacheMounts; runRoot: string; history: BuildHistory; contexts: ContextSnapshots }
const states = new WeakMap<Engine, BuilderState>();

export function builderState(engine: Engine): BuilderState {
  let s = states.get(engine);
  if (!s) {
    s = {
      cache: new BuildCache(engine.config.dataRoot, (id) => engine.images.resolve(id).then(() => true, () => false)),
      cacheMounts: new CacheMounts(engine.config.dataRoot),
      runRoot: path.join(engine.config.execRoot, 'builder'),
      history: new BuildHistory(),
      contexts: new ContextSnapshots(engine.config.dataRoot),
    };
    states.set(engine, s);
  }
  return s;
}

export function registerBuildRoutes(r: Router, engine: Engine): void {
  const state = builderState(engine);
  // Secret file systems a crashed daemon left mounted.
  void sweepSecretMounts(state.runRoot).catch((e) => log.warn('sweeping build secrets failed', { error: errorMessage(e) }));
  r.post('/build', (req) => buildHandler(req, engine, state));
  // Dray extension (dray build): which files of a context drayd needs (builder/context-snapshots.ts).
  r.post('/dray/build/context', async (req) => {
    const key = checkKey(req.query.get('key'));
    const m = checkManifest(await readJsonBody(req.raw));
    sendJson(req.res, 200, { need: await state.contexts.need(key, m) });
  });
  // Dray extension: the recent builds, step by step (builder/history.ts), newest first.
  r.get('/dray/builds', async (req) => sendJson(req.res, 200, state.history.list()));
  // Dray extension for dray build --output type=local|tar: an image's filesystem, flattened.
  r.get('/dray/build/rootfs', async (req) => {
    const ref = req.query.get('image');
    if (!ref) throw invalid('missing image parameter');
    const img = await engine.images.resolve(ref);
    await withImageRootfs(engine, img, (root) => exportRootfs(root, req.res));
  });
  // Dray extensions for dray build --cache-to / --cache-from type=local (the images travel as
  // GET /images/get and POST /images/load archives): the step cache entries of a build's images.
  r.get('/dray/build/cache', async (req) => {
    const ids = await cacheChain(engine, req.query.getAll('image'));
    const entries = await state.cache.exportEntries(ids);
    sendJson(req.res, 200, { version: 1, entries, images: [...new Set(Object.values(entries).map((e) => e.image))] });
  });
  r.post('/dray/build/cache', async (req) => {
    const doc = await readJsonBody<{ version?: number; entries?: unknown }>(req.raw);
    if (doc?.version !== 1) throw invalid('invalid build cache: unknown version (expected 1)');
    sendJson(req.res, 200, { Imported: await state.cache.importEntries(doc.entries, qBool(req.query, 'check')) });
  });
  // Dray extensions for dray build --cache-to / --cache-from type=registry (builder/registry-cache.ts):
  // the same cache carried through a registry by drayd's own push and pull, with the CLI's
  // X-Registry-Auth; progress and errors are lines of a JSON stream, as a push's are.
  r.post('/dray/build/cache/export', async (req) => {
    const ref = cacheRef(req.query);
    const entries = await state.cache.exportEntries(await cacheChain(engine, req.query.getAll('image')));
    await progressStream(req, async (progress, creds) => {
      const res = await exportToRegistry(engine, ref, entries, { creds, progress });
      progress({ aux: { Digest: res.digest, Size: res.size, Entries: Object.keys(entries).length } });
    });
  });
  r.post('/dray/build/cache/import', async (req) => {
    const ref = cacheRef(req.query);
    await progressStream(req, async (progress, creds) => {
      const res = await importFromRegistry(engine, state.cache, ref, { creds, progress });
      progress({ aux: 'missing' in res ? { Missing: res.missing } : { Imported: res.imported } });
    });
  });
  const image = (id: string) => engine.images.resolve(id).then((i) => i, () => undefined);
  r.post('/build/prune', async (req) => {
    const pr = pruneRequest(req.query);
    const out = await pruneBuildCache(state.cache, state.cacheMounts, pr, image);
    // The files kept for dray build's incremental contexts go with everything (BuildKit's prune
    // -a drops its local sources too); the next build of each context sends them again.
    if (pr.all && pr.keepStorage === 0 && pr.filters.size === 0) out.SpaceReclaimed += (await state.contexts.clear()).bytes;
    sendJson(req.res, 200, out);
  });
}

/** POST /build/prune's query: all, keep-storage (reserved-space and max-used-space from API 1.48 alike), filters. */
function pruneRequest(q: URLSearchParams): PruneRequest {
  if (q.get('min-free-space')) throw notImplemented('builder prune --min-free-space is not implemented in Dray');
  const sizes = ['keep-storage', 'reserved-space', 'max-used-space'].map((k) => q.get(k)).filter((v): v is string => !!v);
  let keepStorage = 0;
  for (const v of sizes) {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw invalid(`invalid keep-storage value: ${v}`);
    keepStorage = Math.max(keepStorage, n);
  }
  return { all: qBool(q, 'all'), keepStorage, filters: parseFilters(q.get('filters')) };
}

/** The BuildCache records of GET /system/df. */
export async function buildCacheRecords(engine: Engine): Promise<unknown[]> {
  const s = builderState(engine);
  return buildCacheUsage(s.cache, s.cacheMounts, (id) => engine.images.resolve(id).then((i) => i, () => undefined), s.contexts);
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
  // The docker CLI sends one extrahosts value per --add-host; a comma list is taken too.
  const extraHosts = q.getAll('extrahosts').flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
  for (const h of extraHosts) if (!/^[^:\s]+:\S+$/.test(h)) throw invalid(`invalid extra host: ${h} (expected host:ip)`);
  return {
    extraHosts,
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
    // Dray extension (dray build --progress=plain): BuildKit's plain progress lines in the stream.
    progress: q.get('progress') === 'plain' ? 'plain' : undefined,
    quiet: qBool(q, 'q'),
  };
}

async function buildHandler(req: Req, engine: Engine, state: BuilderState): Promise<void> {
  const o = options(req.query);
  const t0 = monotonicMs();
  // dray build's secrets come ahead of the context in the body (builder/secrets.ts).
  const secretsLen = req.raw.headers[SECRETS_HEADER];
  let body: NodeJS.ReadableStream = req.raw;
  let secrets: BuildSecrets | undefined;
  if (typeof secretsLen === 'string') {
    const { secrets: values, rest } = await readSecretsPrefix(req.raw, Number(secretsLen));
    secrets = new BuildSecrets(values, state.runRoot);
    body = Readable.from(rest);
  }
  let ctx;
  const named = new Map<string, NamedContext>();
  const dropNamed = async () => { for (const n of named.values()) if (n.kind === 'dir') await n.ctx.cleanup(); };
  try {
    const specs = parseNamedContextsParam(req.query.get('namedcontexts'));
    if ([...specs.values()].some((v) => 'local' in v)) {
      const framed = new FramedBody((body as AsyncIterable<Buffer>)[Symbol.asyncIterator]());
      for (const [name, spec] of specs) {
        if (!('local' in spec)) continue;
        named.set(name, { kind: 'dir', ctx: await receiveContext(Readable.from(framed.context(name)), buildTmpDir(engine.config.dataRoot), false) });
      }
      body = framed.rest();
    }
    for (const [name, spec] of specs) if ('image' in spec) named.set(name, { kind: 'image', ref: spec.image });
    const incremental = req.query.get('draycontext');
    ctx = incremental
      ? await state.contexts.receive(checkKey(incremental), body as AsyncIterable<Buffer>, buildTmpDir(engine.config.dataRoot), req.query.get('dockerfile'))
      : await receiveContext(body, buildTmpDir(engine.config.dataRoot), req.query.get('dockerfile'));
  } catch (e) {
    await secrets?.close();
    await dropNamed();
    throw e;
  }
  log.debug('build context received', { ms: Math.round(monotonicMs() - t0) });
  const abort = new AbortController();
  let finished = false;
  req.res.on('close', () => { if (!finished) abort.abort(); });
  try {
    const write = startJsonStream(req.res);
    const stream = (text: string) => { if (!o.quiet && !abort.signal.aborted) write({ stream: text }); };
    const progress = (m: object) => { if (!o.quiet && !abort.signal.aborted) write(m); };
    // A cache hint, not a change of meaning: built without it, said so rather than ignored.
    if (cacheFrom(req.query).length) stream(`WARNING: --cache-from ${cacheFrom(req.query).join(', ')} is not implemented in Dray's builder; this build uses the local build cache only (dray build --cache-from type=registry,ref=REF reads a cache that --cache-to type=registry wrote)\n`);
    let builder: Builder | undefined;
    let ssh: SshAgents | undefined;
    const record: BuildRecord = { id: randomUUID(), started: new Date().toISOString(), ms: 0, tags: o.tags, steps: [] };
    try {
      const agents = await sshSockets(req.query.get('sshsockets'));
      if (agents) ssh = new SshAgents(agents, state.runRoot);
      builder = new Builder(engine, state.cache, ctx, { ...o, namedContexts: named, registryAuth: registryConfigHeader(req.raw.headers['x-registry-config']) }, { stream, progress, signal: abort.signal }, { cacheMounts: state.cacheMounts, secrets, ssh });
      const image = await builder.build();
      record.imageId = image.id;
      log.debug('build steps done', { ms: Math.round(monotonicMs() - t0) });
      write({ aux: { ID: image.id } });
      // Dray extension (dray build --cache-to mode=max): every stage's image, not only the last.
      if (qBool(req.query, 'draystages')) write({ aux: { DrayStages: builder.builtStages() } });
      if (o.quiet) write({ stream: `${image.id}\n` });
      if (!o.progress) stream(`Successfully built ${shortId(image.id)}\n`);
      for (const t of o.tags) {
        await engine.images.tag(image.id, t);
        if (!o.progress) stream(`Successfully tagged ${t}\n`);
      }
      if (o.progress) stream(builder.plainExport(image.id, o.tags));
    } catch (e) {
      const message = errorMessage(e);
      record.error = abort.signal.aborted ? 'cancelled: the client went away' : message;
      if (!abort.signal.aborted) write({ errorDetail: { message }, error: message });
    } finally {
      await ssh?.close();
      record.ms = Math.round(monotonicMs() - t0);
      record.steps = builder?.stepLog ?? [];
      state.history.add(record);
    }
  } finally {
    finished = true;
    // The client has its answer before the context is let go of.
    if (!req.res.writableEnded) req.res.end();
    await secrets?.close();
    await ctx.cleanup();
    await dropNamed();
  }
}

/**
 * sshsockets (Dray extension, dray build --ssh): {"<id>": "<socket path>"}, sockets the CLI on this
 * host serves for the build's lifetime (a relay to the user's agent). Each must be a socket; drayd
 * only connects to it (builder/ssh-agents.ts).
 */
async function sshSockets(v: string | null): Promise<Map<string, string> | undefined> {
  if (!v) return undefined;
  let j: unknown;
  try { j = JSON.parse(v); } catch { throw invalid(`invalid sshsockets parameter: ${v}`); }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw invalid('invalid sshsockets parameter: not a JSON object');
  const out = new Map<string, string>();
  for (const [id, p] of Object.entries(j as Record<string, unknown>)) {
    if (typeof p !== 'string' || !path.isAbsolute(p) || !/^[A-Za-z0-9_.-]+$/.test(id)) throw invalid(`invalid ssh agent ${id}`);
    const st = await fsp.lstat(p).catch(() => undefined);
    if (!st?.isSocket()) throw invalid(`ssh agent ${id}: ${p} is not a socket on the daemon's host (dray build --ssh needs drayd on the same host)`);
    out.set(id, p);
  }
  return out;
}

function cacheRef(q: URLSearchParams): string {
  const ref = q.get('ref');
  if (!ref) throw invalid('missing ref parameter');
  return ref;
}

/** Runs `fn` with a JSON-lines stream begun: its failure is the stream's last line. */
async function progressStream(req: Req, fn: (progress: (m: object) => void, creds: AuthConfig) => Promise<void>): Promise<void> {
  req.raw.resume();
  const creds = decodeRegistryAuth(req.raw.headers['x-registry-auth']);
  const write = startJsonStream(req.res);
  try { await fn(write, creds); } catch (e) {
    const message = errorMessage(e);
    write({ errorDetail: { message }, error: message });
  }
  req.res.end();
}

/** The images `tips` and their parents (the steps that made them), bounded. */
async function cacheChain(engine: Engine, tips: string[]): Promise<Set<string>> {
  if (!tips.length) throw invalid('missing image parameter');
  const out = new Set<string>();
  for (const t of tips) {
    let img = await engine.images.resolve(t);
    for (let i = 0; i < 10_000 && !out.has(img.id); i++) {
      out.add(img.id);
      if (!img.parent) break;
      const next = await engine.images.resolve(img.parent).catch(() => undefined);
      if (!next) break;
      img = next;
    }
  }
  return out;
}

/** The images of cachefrom (a JSON list, as the docker CLI sends it). */
function cacheFrom(q: URLSearchParams): string[] {
  const v = q.get('cachefrom');
  if (!v) return [];
  try { const j = JSON.parse(v); return Array.isArray(j) ? j.map(String) : [String(j)]; } catch { return [v]; }
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
