// A pull, end to end, as Docker does it and with what Docker lacks (streamed unpacking, resume):
//
//   manifest (by tag or digest; an index/list → the entry for the platform, by digest)
//   config blob (verified; rootfs.diff_ids must pair with the layers)
//   layers, at most max-concurrent-downloads at once across all pulls, each one
//     already a layer here (same DiffID)      → "Already exists"
//     else downloadBlob → LayerUnpacker       → Downloading … Verifying Checksum, Download complete,
//                                               Extracting, Pull complete
//   → the caller commits the image (config blob, tags, RepoDigest) only when every layer did.
// A failed pull removes the layers it made (their verified blobs go back to partial/, so a retry
// moves no byte twice); a cut one keeps every byte received, in partial/.
import type { BlobStore } from '../../store/blobs';
import type { LayerStore } from '../../store/layers';
import { DiffIdMismatch } from '../../store/layers';
import type { AuthConfig } from './credentials';
import type { RegistryClient, Session, LiveEndpoint } from './client';
import { responseError } from './client';
import type { Target } from './resolve';
import { Descriptor, ImageManifest, MANIFEST_ACCEPT, MAX_MANIFEST_BYTES, parseManifest, sha256 } from './manifest';
import { Platform, describePlatform, hostPlatform, selectPlatform, normalize } from './platform';
import { downloadBlob } from './download';
import { LayerUnpacker } from './unpack';
import { prewarmUnpackWorkers } from '../../store/unpack-worker';
import type { Partials } from './partials';
import type { Sources } from './sources';
import { layerProgress, layerStatus, ProgressSink, shortDigest, statusLine, Throttle } from './progress';
import { Verifier } from './verify';
import { regError, REG_ERR, RegistryError, isRegistryError } from './errors';
import { SingleFlight } from '../../lib/lock';
import { log } from '../../lib/log';
import { isKind } from '../../lib/errors';
import { monotonicMs } from '../../lib/clock';

export interface PullStore {
  blobs: BlobStore;
  layers: LayerStore;
  partials: Partials;
  sources: Sources;
  /** An image with this ID is here, layers and all. */
  hasImage(id: string): boolean;
  /** Keeps layers from being deleted while the pull runs; returns the release. */
  pin(diffIds: string[]): () => void;
  /** Some image, or a container, uses the layer. */
  layerInUse(diffId: string): boolean;
}

export interface PullRequest {
  target: Target;
  /** The platform asked for (--platform); the host's otherwise. */
  platform?: Platform;
  creds: AuthConfig;
  progress: ProgressSink;
}

export interface PullResult {
  imageId: string;
  configBytes: Buffer;
  /** The digest of what the reference names (an index's own digest for a multi-platform image). */
  manifestDigest: string;
  /** Layers were fetched (false: everything was here). */
  downloaded: boolean;
}

/** Counting semaphore: the daemon-wide bound on layer downloads. */
export class Slots {
  private busy = 0;
  private readonly queue: (() => void)[] = [];
  constructor(private readonly max: number) {}
  get free(): boolean { return this.busy < this.max; }
  async acquire(): Promise<() => void> {
    if (this.busy >= this.max) await new Promise<void>((r) => this.queue.push(r));
    else this.busy++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.queue.shift();
      if (next) next(); else this.busy--;
    };
  }
}

interface FetchedManifest { bytes: Buffer; mediaType: string; digest: string }

export class Puller {
  private readonly flights = new SingleFlight();
  private readonly slots: Slots;
  /** Bytes that came over the network, all pulls together (tests and the bench read it). */
  networkBytes = 0;

  constructor(private readonly client: RegistryClient, private readonly store: PullStore) {
    this.slots = new Slots(Math.max(1, client.cfg.maxConcurrentDownloads));
  }

  async pull(req: PullRequest): Promise<PullResult> {
    const t = req.target;
    const session = await this.client.session({ registry: t.registry, host: t.host, repository: t.repository, creds: req.creds, actions: ['pull'], pull: true });
    const top = await session.each((ep) => fetchManifest(session, ep, t.reference));
    const manifestDigest = top.digest;
    const manifest = await this.choose(session, top, req.platform);
    // Threads to unpack on, as many as layers can come at once, started while the config comes.
    prewarmUnpackWorkers(Math.min(this.client.cfg.maxConcurrentDownloads, manifest.layers.length));
    req.progress(statusLine(`Pulling from ${t.repository}`, t.ref.digest ? `${t.registry}/${t.repository}@${t.ref.digest}` : t.ref.tag));
    const imageId = manifest.config.digest;
    if (this.store.hasImage(imageId)) {
      return { imageId, configBytes: await this.store.blobs.read(imageId), manifestDigest, downloaded: false };
    }
    const configBytes = await session.each((ep) => fetchConfig(session, ep, manifest.config));
    let config: any;
    try { config = JSON.parse(configBytes.toString('utf8')); } catch { throw regError(REG_ERR.MANIFEST_INVALID, `image config ${imageId} is not JSON`); }
    const diffIds: string[] = config?.rootfs?.diff_ids;
    if (!Array.isArray(diffIds) || diffIds.length !== manifest.layers.length || !diffIds.every((d) => typeof d === 'string' && /^sha256:[a-f0-9]{64}$/.test(d))) {
      throw regError(REG_ERR.MANIFEST_INVALID, "layers from manifest don't match image configuration");
    }
    const unpin = this.store.pin(diffIds);
    const made: { diffId: string; digest: string }[] = [];
    try {
      const downloaded = await this.pullLayers(session, t, manifest.layers, diffIds, req.progress, made);
      return { imageId, configBytes, manifestDigest, downloaded };
    } catch (e) {
      await this.rollback(made);
      // On a full disk what was received is what fills it, and the pull cannot finish without
      // the space: the partial downloads go too (a later pull starts over).
      if (isDiskFull(e)) for (const l of manifest.layers) await this.store.partials.remove(l.digest).catch(() => {});
      throw e;
    } finally {
      unpin();
    }
  }

  /** The image manifest of `top` for the platform (`top` itself when it is one). */
  private async choose(session: Session, top: FetchedManifest, platform?: Platform): Promise<ImageManifest> {
    let cur = top;
    for (let depth = 0; depth < 2; depth++) {
      const p = parseManifest(cur.bytes, cur.mediaType);
      if (p.kind === 'manifest') return p;
      const wanted = platform ?? hostPlatform();
      const candidates = p.manifests.map((d) => (d.platform ? normalize(d.platform) : undefined));
      const i = selectPlatform(wanted, candidates);
      if (i < 0) throw regError(REG_ERR.NO_PLATFORM, `no matching manifest for ${describePlatform(wanted)} in the manifest list entries`);
      const d = p.manifests[i];
      cur = await session.each((ep) => fetchManifest(session, ep, d.digest));
    }
    throw regError(REG_ERR.MANIFEST_INVALID, 'invalid manifest: an index inside an index inside an index');
  }

  private async pullLayers(session: Session, t: Target, layers: Descriptor[], diffIds: string[], progress: ProgressSink, made: { diffId: string; digest: string }[]): Promise<boolean> {
    const todo: number[] = [];
    for (let i = 0; i < layers.length; i++) {
      const id = shortDigest(layers[i].digest);
      if (this.store.layers.has(diffIds[i])) progress(layerStatus(id, 'Already exists'));
      else { progress(layerStatus(id, 'Pulling fs layer')); todo.push(i); }
    }
    if (!todo.length) return false;
    // Those that will not start at once say so, as Docker's do.
    const cap = this.client.cfg.maxConcurrentDownloads;
    todo.slice(cap).forEach((i) => progress(layerStatus(shortDigest(layers[i].digest), 'Waiting')));
    const seen = new Set<string>();
    let firstErr: unknown;
    const jobs = todo.map(async (i) => {
      const d = layers[i];
      if (seen.has(d.digest)) return; // the same blob twice in one image
      seen.add(d.digest);
      try {
        // A layer another pull is fetching right now is waited for, not fetched twice.
        let mine = false;
        const created = await this.flights.run(d.digest, () => { mine = true; return this.pullLayer(session, d, diffIds[i], progress); });
        if (!mine) { progress(layerStatus(shortDigest(d.digest), 'Download complete')); progress(layerStatus(shortDigest(d.digest), 'Pull complete')); }
        if (created && mine) made.push({ diffId: diffIds[i], digest: d.digest });
        await this.store.sources.add(d.digest, { registry: t.registry, repository: t.repository }).catch(() => {});
      } catch (e) {
        firstErr ??= e;
        throw e;
      }
    });
    const results = await Promise.allSettled(jobs);
    if (results.some((r) => r.status === 'rejected')) throw firstErr;
    return true;
  }

  /** Downloads and unpacks one layer; true when this call created it. */
  private async pullLayer(session: Session, d: Descriptor, diffId: string, progress: ProgressSink): Promise<boolean> {
    const id = shortDigest(d.digest);
    const release = await this.slots.acquire();
    try {
      if (this.store.layers.has(diffId)) { progress(layerStatus(id, 'Pull complete')); return false; }
      for (let round = 0; ; round++) {
        const resumed = (await this.store.partials.size(d.digest)) > 0;
        try {
          await this.fetchAndUnpack(session, d, diffId, progress);
          progress(layerStatus(id, 'Pull complete'));
          return true;
        } catch (e) {
          // A resumed blob whose whole fails its digest: what was kept was not what the registry
          // serves now. Once more from the first byte.
          if (resumed && round === 0 && isRegistryError(e, REG_ERR.DIGEST_MISMATCH)) {
            log.warn('resumed blob failed verification; downloading it again from the start', { digest: d.digest });
            await this.store.partials.remove(d.digest);
            continue;
          }
          throw e;
        }
      }
    } finally {
      release();
    }
  }

  private async fetchAndUnpack(session: Session, d: Descriptor, diffId: string, progress: ProgressSink): Promise<void> {
    const id = shortDigest(d.digest);
    let file: string | undefined;
    const unpacker = new LayerUnpacker(this.store.layers, diffId, { digest: d.digest, size: d.size }, async () => {
      await this.store.blobs.adoptVerified(file!, d.digest, { synced: true });
    });
    const throttle = new Throttle(d.size);
    const t0 = monotonicMs();
    try {
      file = await downloadBlob({
        session, desc: d, partials: this.store.partials, attempts: this.client.cfg.maxDownloadAttempts,
        sink: (c) => unpacker.write(c),
        onProgress: (n) => { if (throttle.due(n, d.size)) progress(layerProgress(id, 'Downloading', n, d.size)); },
        onNetwork: (n) => { this.networkBytes += n; },
      });
    } catch (e) {
      await unpacker.abort(e as Error);
      await this.dropRefusedBlob(d, e);
      throw e;
    }
    const t1 = monotonicMs();
    progress(layerStatus(id, 'Verifying Checksum'));
    progress(layerStatus(id, 'Download complete'));
    progress(layerProgress(id, 'Extracting', d.size, d.size));
    try {
      await unpacker.end();
      log.debug('layer pulled', { digest: d.digest, size: d.size, downloadMs: Math.round(t1 - t0), unpackedMs: Math.round(monotonicMs() - t0) });
    } catch (e) {
      if (e instanceof DiffIdMismatch) {
        await this.store.partials.remove(d.digest);
        throw regError(REG_ERR.DIFFID_MISMATCH, `failed to register layer ${d.digest}: ${e.message}`);
      }
      await this.dropRefusedBlob(d, e);
      throw e;
    }
  }

  /**
   * A layer refused for what it holds (an entry that climbs out, a whiteout of its own directory):
   * its bytes would be refused again, so they are not kept for a resumed pull.
   */
  private async dropRefusedBlob(d: Descriptor, e: unknown): Promise<void> {
    if (isKind(e, 'InvalidParameter')) await this.store.partials.remove(d.digest).catch(() => {});
  }

  /** Undoes the layers a failed pull made: their blobs back to partial/, the layers gone. */
  private async rollback(made: { diffId: string; digest: string }[]): Promise<void> {
    for (const m of made) {
      if (this.store.layerInUse(m.diffId)) continue;
      try {
        await this.store.layers.delete(m.diffId, true);
        await this.store.partials.adopt(this.store.blobs.path(m.digest), m.digest);
      } catch (e) {
        log.warn('could not roll back a layer of a failed pull', { diffId: m.diffId, error: (e as Error).message });
      }
    }
  }
}

// ---- manifests and the config --------------------------------------------------------------------

export async function fetchManifest(session: Session, ep: LiveEndpoint, reference: string): Promise<FetchedManifest> {
  const res = await session.request(ep, { method: 'GET', path: `/v2/${session.repository}/manifests/${reference}`, headers: { Accept: MANIFEST_ACCEPT } });
  if (res.status !== 200) throw await responseError(res, 'manifest');
  const len = Number(res.headers['content-length'] ?? 0);
  if (len > MAX_MANIFEST_BYTES) { res.destroy(); throw regError(REG_ERR.MANIFEST_TOO_LARGE, `manifest ${reference} is too large (${len} bytes; at most ${MAX_MANIFEST_BYTES})`); }
  let bytes: Buffer;
  try { bytes = await res.read(MAX_MANIFEST_BYTES); } catch (e) {
    if (isRegistryError(e, REG_ERR.MANIFEST_TOO_LARGE)) throw regError(REG_ERR.MANIFEST_TOO_LARGE, `manifest ${reference} is too large (more than ${MAX_MANIFEST_BYTES} bytes)`);
    throw e;
  }
  const digest = sha256(bytes);
  if (reference.startsWith('sha256:') && digest !== reference) {
    throw regError(REG_ERR.DIGEST_MISMATCH, `manifest verification failed for digest ${reference}`);
  }
  return { bytes, mediaType: String(res.headers['content-type'] ?? ''), digest };
}

/** A small blob (an image config, a build cache's document), verified against its descriptor. */
export async function fetchConfig(session: Session, ep: LiveEndpoint, d: Descriptor): Promise<Buffer> {
  if (d.size > 64 * 1024 * 1024) throw regError(REG_ERR.MANIFEST_TOO_LARGE, `image config ${d.digest} is too large (${d.size} bytes)`);
  const res = await session.request(ep, { method: 'GET', path: `/v2/${session.repository}/blobs/${d.digest}` });
  if (res.status !== 200) throw await responseError(res, 'blob');
  const v = new Verifier(d.digest, d.size, 'image config');
  const parts: Buffer[] = [];
  for await (const c of res.chunks()) { v.update(c); parts.push(c); }
  v.check();
  return Buffer.concat(parts);
}

/** Every tag of a repository (GET /v2/<name>/tags/list, following Link pages). */
export async function listTags(client: RegistryClient, t: Target, creds: AuthConfig): Promise<string[]> {
  const session = await client.session({ registry: t.registry, host: t.host, repository: t.repository, creds, actions: ['pull'], pull: true });
  return session.each(async (ep) => {
    const tags: string[] = [];
    let path: string | URL = `/v2/${t.repository}/tags/list`;
    for (let page = 0; page < 1000; page++) {
      const res = await session.request(ep, { method: 'GET', path });
      if (res.status !== 200) throw await responseError(res, 'manifest');
      const j = JSON.parse((await res.read(16 * 1024 * 1024)).toString());
      if (Array.isArray(j?.tags)) tags.push(...j.tags.filter((x: unknown) => typeof x === 'string'));
      const link = /<([^>]+)>\s*;\s*rel="?next"?/.exec(String(res.headers.link ?? ''));
      if (!link) break;
      path = new URL(link[1], res.url);
    }
    return [...new Set(tags)].sort();
  });
}

/** GET /distribution/{name}/json: the descriptor the reference names and the platforms it serves. */
export async function inspectRemote(client: RegistryClient, t: Target, creds: AuthConfig): Promise<{ Descriptor: Descriptor; Platforms: Platform[] }> {
  const session = await client.session({ registry: t.registry, host: t.host, repository: t.repository, creds, actions: ['pull'], pull: true });
  return session.each(async (ep) => {
    const m = await fetchManifest(session, ep, t.reference);
    const p = parseManifest(m.bytes, m.mediaType);
    const mediaType = p.mediaType;
    const Descriptor = { mediaType, digest: m.digest, size: m.bytes.length } as Descriptor;
    if (p.kind === 'index') {
      return { Descriptor, Platforms: p.manifests.filter((d) => d.platform).map((d) => platformOut(d.platform!)) };
    }
    const cfg = JSON.parse((await fetchConfig(session, ep, p.config)).toString('utf8'));
    return { Descriptor, Platforms: [platformOut({ os: cfg.os, architecture: cfg.architecture, variant: cfg.variant })] };
  });
}

function platformOut(p: Platform & { 'os.version'?: string }): Platform {
  const o: Record<string, unknown> = { architecture: p.architecture, os: p.os };
  if (p['os.version']) o['os.version'] = p['os.version'];
  if (p.variant) o.variant = p.variant;
  return o as unknown as Platform;
}

export { RegistryError };

/** ENOSPC, from drayd's own writes or as GNU tar reports it while unpacking. */
function isDiskFull(e: unknown): boolean {
  return (e as NodeJS.ErrnoException)?.code === 'ENOSPC' || /no space left on device/i.test(String((e as Error)?.message ?? e));
}
