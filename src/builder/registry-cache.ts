// The step cache in a registry: dray build --cache-to / --cache-from type=registry,ref=REF. It
// carries what type=local carries (the entries and the images they name) and follows BuildKit's
// registry layout where that costs nothing: the ref names an OCI index, and the cache's metadata is
// a manifest whose config has BuildKit's media type.
//
//   REF (a tag) ─► OCI image index
//                   ├ manifests[0..n-1]  each cached step image (Docker schema 2, pushed by digest
//                   │                    through drayd's push: no tag names it), largest first
//                   └ manifests[n]       OCI manifest, artifactType application/vnd.buildkit.cacheconfig.v0
//                                          config: {"version": 1, "entries": {…}} (type=local's cache.json)
//                                          layers: none
//
// Every blob is reachable from the tag, so a registry's garbage collection keeps the cache whole.
// The document is Dray's own: BuildKit, reading the same media type, finds no records of its own
// in it and builds cold. Nothing names the cache until the index is put under the tag, last.
import type { Engine } from '../engine/engine';
import type { BuildCache, ExportedEntry } from './cache';
import type { AuthConfig } from '../registry/remote/credentials';
import type { ProgressSink } from '../registry/remote/progress';
import { statusLine } from '../registry/remote/progress';
import { resolveReference, Target } from '../registry/remote/resolve';
import { fetchConfig, fetchManifest } from '../registry/remote/pull';
import { Descriptor, MT, parseManifest, sha256 } from '../registry/remote/manifest';
import { isRegistryError, regError, REG_ERR } from '../registry/remote/errors';
import { invalid } from '../lib/errors';

export const CACHE_CONFIG_TYPE = 'application/vnd.buildkit.cacheconfig.v0';
/** Bound on the step images one cache may name (a Dockerfile of thousands of steps is not one). */
const MAX_IMAGES = 2_000;

const FINAL = /^(Pushed|Layer already exists|Mounted from|Already exists|Pull complete)/;

/**
 * The step images share most of their layers: each layer's lines are shown until it is done once
 * (pushed, found, pulled), and not again for every image that holds it.
 */
function layersOnce(progress: ProgressSink): ProgressSink {
  const done = new Set<string>();
  return (m) => {
    if (m.id && m.progressDetail !== undefined) {
      if (done.has(m.id)) return;
      if (m.status && FINAL.test(m.status)) done.add(m.id);
    }
    progress(m);
  };
}

function cacheTarget(ref: string): Target {
  const t = resolveReference(ref);
  if (t.ref.digest) throw invalid(`cache ref ${ref}: a digest names no place to write; give a tag`);
  return t;
}

/**
 * Pushes `entries` and the images they name to `ref`. Returns the index's digest.
 */
export async function exportToRegistry(engine: Engine, ref: string, entries: Record<string, ExportedEntry>, o: { creds: AuthConfig; progress: ProgressSink }): Promise<{ digest: string; size: number }> {
  const target = cacheTarget(ref);
  o = { ...o, progress: layersOnce(o.progress) };
  const ids = [...new Set(Object.values(entries).map((e) => e.image))];
  if (ids.length > MAX_IMAGES) throw invalid(`the build cache names ${ids.length} images; at most ${MAX_IMAGES} go to a registry`);
  // Largest first: its push sends the layers the smaller ones share, which then only check them.
  const images = await Promise.all(ids.map((id) => engine.images.resolve(id)));
  images.sort((a, b) => b.config.rootfs.diff_ids.length - a.config.rootfs.diff_ids.length);
  o.progress(statusLine(`Exporting the build cache to ${target.registry}/${target.repository}:${target.reference} (${images.length} images, ${Object.keys(entries).length} steps)`));
  const manifests: Descriptor[] = [];
  for (const img of images) manifests.push(await engine.distribution.pushUntagged(img.id, target, o));
  const doc = Buffer.from(JSON.stringify({ version: 1, entries }));
  const meta = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: MT.ociManifest, artifactType: CACHE_CONFIG_TYPE,
    config: { mediaType: CACHE_CONFIG_TYPE, digest: sha256(doc), size: doc.length }, layers: [],
  }));
  const m = await engine.distribution.pusher.pushDocument({ target, creds: o.creds, blobs: [doc], manifest: meta, mediaType: MT.ociManifest });
  manifests.push({ mediaType: MT.ociManifest, digest: m.digest, size: m.size, artifactType: CACHE_CONFIG_TYPE } as Descriptor);
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests }));
  const r = await engine.distribution.pusher.pushDocument({ target, reference: target.reference, creds: o.creds, blobs: [], manifest: index, mediaType: MT.ociIndex });
  o.progress(statusLine(`${target.reference}: digest: ${r.digest} size: ${r.size}`));
  return r;
}

export type ImportResult = { imported: number } | { missing: string };

/**
 * Pulls the cache `ref` names into this daemon: its document checked first, then its images, then
 * the entries whose images came. A ref the registry does not have is `missing` (a cold build).
 */
export async function importFromRegistry(engine: Engine, cache: BuildCache, ref: string, o: { creds: AuthConfig; progress: ProgressSink }): Promise<ImportResult> {
  const target = cacheTarget(ref);
  o = { ...o, progress: layersOnce(o.progress) };
  const session = await engine.distribution.client.session({ registry: target.registry, host: target.host, repository: target.repository, creds: o.creds, actions: ['pull'], pull: true });
  let top;
  try {
    top = await session.each((ep) => fetchManifest(session, ep, target.reference));
  } catch (e) {
    if (isRegistryError(e, REG_ERR.MANIFEST_UNKNOWN) || isRegistryError(e, REG_ERR.NAME_UNKNOWN)) return { missing: 'not found' };
    throw e;
  }
  const index = parseManifest(top.bytes, top.mediaType);
  if (index.kind !== 'index') throw notACache(ref, 'it names an image, not an index');
  const metaDesc = index.manifests.find((d) => (d as { artifactType?: string }).artifactType === CACHE_CONFIG_TYPE);
  if (!metaDesc) throw notACache(ref, `its index has no ${CACHE_CONFIG_TYPE} manifest`);
  const imageDescs = index.manifests.filter((d) => d !== metaDesc);
  if (imageDescs.length > MAX_IMAGES) throw notACache(ref, `it names ${imageDescs.length} images (at most ${MAX_IMAGES})`);
  const metaBytes = (await session.each((ep) => fetchManifest(session, ep, metaDesc.digest))).bytes;
  let cfg: Descriptor | undefined;
  try { cfg = JSON.parse(metaBytes.toString('utf8'))?.config; } catch { /* refused below */ }
  if (!cfg || cfg.mediaType !== CACHE_CONFIG_TYPE || typeof cfg.digest !== 'string' || !Number.isSafeInteger(cfg.size)) throw notACache(ref, 'its cache manifest has no cache config');
  const docBytes = await session.each((ep) => fetchConfig(session, ep, cfg!));
  let doc: { version?: number; entries?: unknown };
  try { doc = JSON.parse(docBytes.toString('utf8')); } catch { throw notACache(ref, 'its cache config is not JSON'); }
  if (doc?.version !== 1) throw notACache(ref, 'its cache config is not Dray\'s (version 1)');
  // Checked before any image comes: a bad document pulls nothing.
  await cache.importEntries(doc.entries, true);
  o.progress(statusLine(`Importing the build cache from ${ref} (${imageDescs.length} images)`));
  for (const d of imageDescs) {
    const t = resolveReference(`${target.registry}/${target.repository}@${d.digest}`);
    await engine.distribution.pullUntagged(t, o);
  }
  return { imported: await cache.importEntries(doc.entries) };
}

function notACache(ref: string, why: string) {
  return regError(REG_ERR.MANIFEST_INVALID, `${ref} is not a Dray build cache: ${why}`);
}
