// A push, as Docker does it, with what the store allows beyond: layers go up as the compressed
// blobs they were pulled as (no recompression), and each layer only once anywhere.
//
//   per layer, top first, at most max-concurrent-uploads at once:
//     the registry has the blob (HEAD)              → "Layer already exists"
//     it holds it in another repository we know of  → POST …/uploads/?mount=&from= → "Mounted from x"
//     else upload                                   → "Pushing" … "Pushed"
//        a compressed blob: as it is; monolithic (one PUT) up to 64 MiB, in 32 MiB PATCH chunks
//          past that, each chunk retried from the offset the registry confirms
//        an uncompressed one (a local build): gzip on the fly, streamed in one PATCH, the digest
//          computed on the way and recorded for the next push of the same layer
//   the config blob, then the manifest under the tag → "<tag>: digest: sha256:… size: N"
// Nothing names the image in the registry until the manifest PUT, the last request.
import { createReadStream } from 'node:fs';
import { createGzip } from 'node:zlib';
import { createHash } from 'node:crypto';
import { Transform, Readable } from 'node:stream';
import type { RegistryClient, Session, LiveEndpoint } from './client';
import { responseError } from './client';
import type { AuthConfig } from './credentials';
import type { Target } from './resolve';
import type { Sources } from './sources';
import { dockerManifest, MT, PushLayer, sha256 } from './manifest';
import { layerProgress, layerStatus, ProgressSink, shortDigest, statusLine, Throttle } from './progress';
import { regError, REG_ERR } from './errors';
import { Slots } from './pull';
import { log } from '../../lib/log';

export interface PushLayerSource {
  diffId: string;
  /** The stored blob: its file, digest, size and compression. */
  path: string;
  digest: string;
  size: number;
  compression: 'gzip' | 'zstd' | 'none';
}

export interface PushRequest {
  target: Target;
  /** The tag to put the manifest under; none: by its digest only (a build cache's images). */
  tag?: string;
  configBytes: Buffer;
  layers: PushLayerSource[];
  creds: AuthConfig;
  progress: ProgressSink;
}

export interface PushResult { digest: string; size: number; mediaType: string; layers: PushLayer[] }

const MONOLITHIC_MAX = 64 * 1024 * 1024;
const CHUNK = 32 * 1024 * 1024;

export class Pusher {
  private readonly slots: Slots;
  /** Bytes of layer and config blobs sent (tests and the bench read it). */
  networkBytes = 0;

  constructor(private readonly client: RegistryClient, private readonly sources: Sources) {
    this.slots = new Slots(Math.max(1, client.cfg.maxConcurrentUploads));
  }

  async push(req: PushRequest): Promise<PushResult> {
    const t = req.target;
    // Repositories of this registry the layers are known in: mount candidates, so the token must cover them.
    const from = new Map<string, string[]>();
    for (const l of req.layers) {
      const known = [...await this.sources.get(l.digest), ...(await this.pushedBlob(l))?.sources ?? []];
      from.set(l.digest, [...new Set(known.filter((s) => s.registry === t.registry && s.repository !== t.repository).map((s) => s.repository))].slice(0, 3));
    }
    const alsoPull = [...new Set([...from.values()].flat())].slice(0, 8);
    const session = await this.client.session({ registry: t.registry, host: t.host, repository: t.repository, creds: req.creds, actions: ['pull', 'push'], alsoPull, pull: false });
    const ep = await session.origin();
    const order = [...req.layers].reverse();
    for (const l of order) req.progress(layerStatus(shortDigest(l.diffId), 'Preparing'));
    const cap = this.client.cfg.maxConcurrentUploads;
    order.slice(cap).forEach((l) => req.progress(layerStatus(shortDigest(l.diffId), 'Waiting')));
    const pushed = new Map<string, PushLayer>();
    const results = await Promise.allSettled(order.map(async (l) => {
      const release = await this.slots.acquire();
      try { pushed.set(l.diffId, await this.pushLayer(session, ep, t, l, from.get(l.digest) ?? [], req.progress)); } finally { release(); }
    }));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    // The config: no progress line of its own (Docker shows none).
    const cfgDigest = sha256(req.configBytes);
    if (!(await blobExists(session, ep, cfgDigest))) await this.uploadBuffer(session, ep, cfgDigest, req.configBytes);
    const layers = req.layers.map((l) => pushed.get(l.diffId)!);
    const manifest = layers.some((l) => l.mediaType === MT.ociLayerZstd)
      ? ociManifest({ digest: cfgDigest, size: req.configBytes.length }, layers)
      : dockerManifest({ digest: cfgDigest, size: req.configBytes.length }, layers);
    const digest = sha256(manifest);
    const mediaType = JSON.parse(manifest.toString()).mediaType;
    await putManifest(session, ep, req.tag ?? digest, manifest, mediaType, digest);
    if (req.tag) req.progress(statusLine(`${req.tag}: digest: ${digest} size: ${manifest.length}`));
    for (const l of layers) await this.sources.add(l.digest, { registry: t.registry, repository: t.repository }).catch(() => {});
    return { digest, size: manifest.length, mediaType, layers };
  }

  /**
   * A small document that is no image (a build cache's index and its metadata): `blobs` uploaded
   * unless the registry has them, then `manifest` under `reference` (a tag, or its own digest).
   */
  async pushDocument(req: { target: Target; reference?: string; creds: AuthConfig; blobs: Buffer[]; manifest: Buffer; mediaType: string }): Promise<{ digest: string; size: number }> {
    const t = req.target;
    const session = await this.client.session({ registry: t.registry, host: t.host, repository: t.repository, creds: req.creds, actions: ['pull', 'push'], pull: false });
    const ep = await session.origin();
    for (const b of req.blobs) {
      const d = sha256(b);
      if (!(await blobExists(session, ep, d))) await this.uploadBuffer(session, ep, d, b);
    }
    const digest = sha256(req.manifest);
    await putManifest(session, ep, req.reference ?? digest, req.manifest, req.mediaType, digest);
    return { digest, size: req.manifest.length };
  }

  /** For a layer stored uncompressed: the compressed blob a push made of it before, if any. */
  private async pushedBlob(l: PushLayerSource) {
    if (l.compression !== 'none') return undefined;
    const b = await this.sources.pushedAs(l.diffId);
    return b ? { blob: b, sources: await this.sources.get(b.digest) } : undefined;
  }

  private async pushLayer(session: Session, ep: LiveEndpoint, t: Target, l: PushLayerSource, mountFrom: string[], progress: ProgressSink): Promise<PushLayer> {
    const id = shortDigest(l.diffId);
    const known = l.compression === 'none' ? (await this.pushedBlob(l))?.blob : { digest: l.digest, size: l.size, mediaType: layerType(l.compression) };
    if (known) {
      if (await blobExists(session, ep, known.digest)) {
        progress(layerStatus(id, 'Layer already exists'));
        return known;
      }
      const froms = l.compression === 'none' ? (await this.sources.get(known.digest)).filter((s) => s.registry === t.registry && s.repository !== t.repository).map((s) => s.repository) : mountFrom;
      for (const repo of froms) {
        const r = await session.request(ep, { method: 'POST', path: `/v2/${t.repository}/blobs/uploads/?mount=${encodeURIComponent(known.digest)}&from=${encodeURIComponent(repo)}`, headers: { 'Content-Length': '0' } });
        if (r.status === 201) { await r.discard(); progress(layerStatus(id, `Mounted from ${repo}`)); return known; }
        // 202: the registry would not mount (no access, or it lacks the blob there) and opened an upload instead.
        await r.discard();
        if (r.status !== 202) log.debug('cross-repository mount refused', { digest: known.digest, from: repo, status: r.status });
      }
    }
    if (l.compression === 'none') return this.uploadCompressing(session, ep, t, l, progress);
    const blob = { digest: l.digest, size: l.size, mediaType: layerType(l.compression) };
    const throttle = new Throttle(l.size);
    const onBytes = (n: number) => { if (throttle.due(n, l.size)) progress(layerProgress(id, 'Pushing', n, l.size)); };
    if (l.size <= MONOLITHIC_MAX) await this.uploadMonolithic(session, ep, t, l, onBytes);
    else await this.uploadChunked(session, ep, t, l, onBytes);
    progress(layerStatus(id, 'Pushed'));
    return blob;
  }

  private async startUpload(session: Session, ep: LiveEndpoint): Promise<URL> {
    const r = await session.request(ep, { method: 'POST', path: `/v2/${session.repository}/blobs/uploads/`, headers: { 'Content-Length': '0' }, idempotent: true });
    if (r.status !== 202) throw await responseError(r);
    await r.discard();
    const loc = location(r.headers.location, r.url);
    if (!loc) throw regError(REG_ERR.HTTP, `the registry started an upload without a Location (${r.url.pathname})`);
    return loc;
  }

  private async uploadBuffer(session: Session, ep: LiveEndpoint, digest: string, data: Buffer): Promise<void> {
    const loc = await this.startUpload(session, ep);
    const r = await session.request(ep, { method: 'PUT', path: withDigest(loc, digest), headers: { 'Content-Type': 'application/octet-stream' }, body: () => data, idempotent: true });
    if (r.status !== 201) throw await responseError(r);
    await r.discard();
    this.networkBytes += data.length;
  }

  private async uploadMonolithic(session: Session, ep: LiveEndpoint, t: Target, l: PushLayerSource, onBytes: (n: number) => void): Promise<void> {
    void t;
    const loc = await this.startUpload(session, ep);
    const r = await session.request(ep, {
      method: 'PUT', path: withDigest(loc, l.digest),
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(l.size) },
      body: () => counted(createReadStream(l.path, { highWaterMark: 1024 * 1024 }), (n) => { this.networkBytes += n; }, onBytes),
    });
    if (r.status !== 201) throw await responseError(r);
    await r.discard();
  }

  /** PATCH chunks with Content-Range; a failed chunk resumes from what the registry says it has. */
  private async uploadChunked(session: Session, ep: LiveEndpoint, t: Target, l: PushLayerSource, onBytes: (n: number) => void): Promise<void> {
    void t;
    let loc = await this.startUpload(session, ep);
    let offset = 0;
    let failures = 0;
    while (offset < l.size) {
      const end = Math.min(l.size, offset + CHUNK) - 1;
      const base = offset;
      try {
        const r = await session.request(ep, {
          method: 'PATCH', path: loc,
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${end}`, 'Content-Length': String(end - offset + 1) },
          body: () => counted(createReadStream(l.path, { start: base, end, highWaterMark: 1024 * 1024 }), (n) => { this.networkBytes += n; }, (n) => onBytes(base + n)),
        });
        if (r.status !== 202) throw await responseError(r);
        await r.discard();
        loc = location(r.headers.location, r.url) ?? loc;
        offset = end + 1;
        failures = 0;
      } catch (e) {
        if (++failures >= this.client.cfg.maxDownloadAttempts) throw e;
        // Where the registry stands: GET on the upload answers Range: 0-<last byte>.
        const s = await session.request(ep, { method: 'GET', path: loc }).catch(() => undefined);
        const m = s && s.status === 204 ? /^0-(\d+)$/.exec(String(s.headers.range ?? '')) : null;
        await s?.discard();
        if (s?.status === 204) {
          offset = m ? Number(m[1]) + 1 : 0;
          loc = location(s.headers.location, s.url) ?? loc;
        } else { loc = await this.startUpload(session, ep); offset = 0; }
        log.info('blob upload interrupted; resuming', { digest: l.digest, offset, error: (e as Error).message });
      }
    }
    const r = await session.request(ep, { method: 'PUT', path: withDigest(loc, l.digest), headers: { 'Content-Length': '0' } });
    if (r.status !== 201) throw await responseError(r);
    await r.discard();
  }

  /** A layer stored as a plain tar (a local build): gzipped while it streams up, as Docker does. */
  private async uploadCompressing(session: Session, ep: LiveEndpoint, t: Target, l: PushLayerSource, progress: ProgressSink): Promise<PushLayer> {
    const id = shortDigest(l.diffId);
    const throttle = new Throttle(l.size);
    for (let attempt = 1; ; attempt++) {
      const loc = await this.startUpload(session, ep);
      let hash = createHash('sha256');
      let size = 0;
      let src: Readable | undefined;
      // Made afresh if the request has to be sent again (a 401 before any byte went).
      const body = () => {
        src?.destroy();
        hash = createHash('sha256');
        size = 0;
        const tap = new Transform({ transform: (c: Buffer, _e, cb) => { hash.update(c); size += c.length; this.networkBytes += c.length; cb(null, c); } });
        src = counted(createReadStream(l.path, { highWaterMark: 1024 * 1024 }), () => {}, (n) => { if (throttle.due(n, l.size)) progress(layerProgress(id, 'Pushing', n, l.size)); });
        // Docker's level (Go's DefaultCompression), so the blobs are as small as Docker's; 256 KiB chunks up the wire.
        const gz = createGzip({ level: 6, memLevel: 9, chunkSize: 256 * 1024 });
        src.on('error', (e) => gz.destroy(e));
        gz.on('error', (e) => tap.destroy(e));
        return src.pipe(gz).pipe(tap);
      };
      try {
        const r = await session.request(ep, {
          method: 'PATCH', path: loc, headers: { 'Content-Type': 'application/octet-stream' }, idempotent: false, body,
        });
        if (r.status !== 202) throw await responseError(r);
        await r.discard();
        const digest = 'sha256:' + hash.digest('hex');
        const done = await session.request(ep, { method: 'PUT', path: withDigest(location(r.headers.location, r.url) ?? loc, digest), headers: { 'Content-Length': '0' } });
        if (done.status !== 201) throw await responseError(done);
        await done.discard();
        const blob = { digest, size, mediaType: MT.dockerLayerGzip };
        await this.sources.setPushedAs(l.diffId, blob).catch(() => {});
        progress(layerStatus(id, 'Pushed'));
        return blob;
      } catch (e) {
        src?.destroy();
        if (attempt >= this.client.cfg.maxDownloadAttempts || !(e as any)?.detail?.retryable) throw e;
        log.info('compressed upload failed; starting it again', { diffId: l.diffId, error: (e as Error).message });
      }
    }
  }
}

async function putManifest(session: Session, ep: LiveEndpoint, reference: string, manifest: Buffer, mediaType: string, digest: string): Promise<void> {
  const res = await session.request(ep, {
    method: 'PUT', path: `/v2/${session.repository}/manifests/${reference}`, headers: { 'Content-Type': mediaType }, body: () => manifest, idempotent: true,
  });
  if (res.status !== 201 && res.status !== 200) throw await responseError(res);
  await res.discard();
  const said = res.headers['docker-content-digest'];
  if (typeof said === 'string' && said && said !== digest) log.warn('registry reports another digest for the pushed manifest', { ours: digest, theirs: said });
}

async function blobExists(session: Session, ep: LiveEndpoint, digest: string): Promise<boolean> {
  const r = await session.request(ep, { method: 'HEAD', path: `/v2/${session.repository}/blobs/${digest}` });
  await r.discard();
  if (r.status === 200) return true;
  if (r.status === 404) return false;
  throw await responseError(r);
}

function layerType(c: 'gzip' | 'zstd' | 'none'): string {
  return c === 'gzip' ? MT.dockerLayerGzip : c === 'zstd' ? MT.ociLayerZstd : 'application/vnd.docker.image.rootfs.diff.tar';
}

function location(h: string | string[] | undefined, from: URL): URL | undefined {
  const v = Array.isArray(h) ? h[0] : h;
  return v ? new URL(v, from) : undefined;
}

function withDigest(loc: URL, digest: string): URL {
  const u = new URL(loc.toString());
  u.searchParams.set('digest', digest);
  return u;
}

/** `src` with its bytes counted as they pass: `net` per chunk, `progress` with the running total. */
function counted(src: Readable, net: (n: number) => void, progress: (total: number) => void): Readable {
  let total = 0;
  const t = new Transform({ transform(c: Buffer, _e, cb) { total += c.length; net(c.length); progress(total); cb(null, c); } });
  src.on('error', (e) => t.destroy(e));
  return src.pipe(t);
}

/** An OCI image manifest (for zstd layers, which Docker's schema 2 has no type for). */
function ociManifest(config: { digest: string; size: number }, layers: PushLayer[]): Buffer {
  const doc = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: { mediaType: MT.ociConfig, digest: config.digest, size: config.size },
    layers: layers.map((l) => ({ mediaType: l.mediaType === MT.dockerLayerGzip ? MT.ociLayerGzip : l.mediaType === 'application/vnd.docker.image.rootfs.diff.tar' ? MT.ociLayer : l.mediaType, digest: l.digest, size: l.size })),
  };
  return Buffer.from(JSON.stringify(doc, null, 3));
}

