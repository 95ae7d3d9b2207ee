// Image archives: what `docker save` writes and `docker load` reads.
//   docker-archive (Docker ≤ 24): manifest.json, <id>.json, <layer id>/layer.tar, repositories
//   docker-archive (Docker ≥ 25): manifest.json + an OCI image layout: oci-layout, index.json,
//                                 blobs/sha256/<hex> (configs, manifests, layers)
//   OCI image layout alone:       oci-layout, index.json, blobs/
// save writes the Docker ≥ 25 form (readable by every docker load and as an OCI layout); load
// reads all three from a directory into which the archive was extracted.
import { createReadStream, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import * as tarStream from 'tar-stream';
import { createHash } from 'node:crypto';
import { invalid } from '../lib/errors';
import { hex } from './layout';

export interface ArchiveImage {
  /** Exact bytes of the image config. */
  config: Buffer;
  /** Absolute paths of the layer files (compressed or not), bottom-most first. */
  layers: string[];
  /** Full or familiar references to tag the image with. */
  repoTags: string[];
}

const MT_OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const MT_OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const MT_DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const MT_DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const MT_OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';

/** Resolves `rel` inside `root`, following symlinks but never out of `root`. */
async function inside(root: string, rel: string): Promise<string> {
  const real = await fsp.realpath(path.join(root, rel)).catch(() => { throw invalid(`invalid archive: missing ${rel}`); });
  const rootReal = await fsp.realpath(root);
  if (real !== rootReal && !real.startsWith(rootReal + '/')) throw invalid(`invalid archive: ${rel} points outside the archive`);
  return real;
}

async function readJsonIn(root: string, rel: string): Promise<any> {
  try { return JSON.parse(await fsp.readFile(await inside(root, rel), 'utf8')); } catch (e: any) {
    if (e?.kind) throw e;
    throw invalid(`invalid archive: ${rel}: ${e.message}`);
  }
}

const exists = (p: string) => fsp.access(p).then(() => true, () => false);
const blobRel = (digest: string) => `blobs/${digest.split(':')[0]}/${digest.split(':')[1]}`;

export async function readArchiveDir(root: string, arch: string): Promise<ArchiveImage[]> {
  if (await exists(path.join(root, 'manifest.json'))) {
    const m = await readJsonIn(root, 'manifest.json');
    if (!Array.isArray(m)) throw invalid('invalid archive: manifest.json is not a list');
    const out: ArchiveImage[] = [];
    for (const e of m) {
      if (typeof e?.Config !== 'string' || !Array.isArray(e?.Layers)) throw invalid('invalid archive: bad manifest.json entry');
      out.push({
        config: await fsp.readFile(await inside(root, e.Config)),
        layers: await Promise.all(e.Layers.map((l: string) => inside(root, l))),
        repoTags: Array.isArray(e.RepoTags) ? e.RepoTags : [],
      });
    }
    return out;
  }
  if (await exists(path.join(root, 'index.json'))) {
    const index = await readJsonIn(root, 'index.json');
    const out: ArchiveImage[] = [];
    const visit = async (desc: any, names: string[]): Promise<void> => {
      const mt = desc?.mediaType;
      const doc = await readJsonIn(root, blobRel(desc.digest));
      const kind = mt ?? doc.mediaType;
      if (kind === MT_OCI_INDEX || kind === MT_DOCKER_LIST || Array.isArray(doc.manifests)) {
        // A multi-platform index: take this host's platform (or the only manifest).
        const ms: any[] = doc.manifests ?? [];
        const pick = ms.filter((d) => !d.platform || (d.platform.os === 'linux' && d.platform.architecture === arch));
        const chosen = pick.length ? pick[0] : ms.length === 1 ? ms[0] : undefined;
        if (!chosen) throw invalid(`invalid archive: no manifest for linux/${arch}`);
        await visit(chosen, names);
        return;
      }
      if (!doc.config?.digest || !Array.isArray(doc.layers)) throw invalid('invalid archive: bad image manifest');
      out.push({
        config: await fsp.readFile(await inside(root, blobRel(doc.config.digest))),
        layers: await Promise.all(doc.layers.map((l: any) => inside(root, blobRel(l.digest)))),
        repoTags: names,
      });
    };
    for (const d of index.manifests ?? []) {
      const ann = d.annotations ?? {};
      // A bare tag ("latest") as ref.name names no repository: the image loads untagged.
      const refName: string | undefined = ann['org.opencontainers.image.ref.name'];
      const name: string | undefined = ann['io.containerd.image.name'] ?? (refName && /[/:]/.test(refName) ? refName : undefined);
      const names = name ? [name] : [];
      await visit(d, names);
    }
    return out;
  }
  throw invalid('invalid archive: no manifest.json or index.json found');
}

export interface SaveImage {
  id: string;
  config: Buffer;
  layers: { path: string; digest: string; size: number; mediaType: string }[];
  /** Familiar references ("busybox:latest"). */
  repoTags: string[];
  /** Full references for the OCI index annotation. */
  fullTags: string[];
}

/** Writes `images` to `pack` in Docker ≥ 25's save format, then finalises the pack. */
export async function writeArchive(pack: tarStream.Pack, images: SaveImage[]): Promise<void> {
  const mtime = new Date(0);
  const written = new Set<string>();
  const entry = (name: string, body: Buffer | string) => new Promise<void>((resolve, reject) => {
    pack.entry({ name, mtime, mode: 0o644, type: 'file' }, typeof body === 'string' ? Buffer.from(body) : body, (e) => (e ? reject(e) : resolve()));
  });
  const fileEntry = (name: string, file: string, size: number) => new Promise<void>((resolve, reject) => {
    const w = pack.entry({ name, mtime, mode: 0o644, size, type: 'file' }, (e) => (e ? reject(e) : resolve()));
    const r = createReadStream(file);
    r.on('error', reject);
    r.pipe(w);
  });
  const dirEntry = (name: string) => new Promise<void>((resolve, reject) => {
    pack.entry({ name, mtime, mode: 0o755, type: 'directory' }, (e) => (e ? reject(e) : resolve()));
  });
  await dirEntry('blobs/');
  await dirEntry('blobs/sha256/');
  const manifestJson: unknown[] = [];
  const indexManifests: unknown[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  for (const img of images) {
    const configName = `blobs/sha256/${hex(img.id)}`;
    if (!written.has(configName)) { await entry(configName, img.config); written.add(configName); }
    for (const l of img.layers) {
      const n = `blobs/sha256/${hex(l.digest)}`;
      if (!written.has(n)) { await fileEntry(n, l.path, l.size); written.add(n); }
    }
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: MT_OCI_MANIFEST,
      config: { mediaType: MT_OCI_CONFIG, digest: img.id, size: img.config.length },
      layers: img.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    }));
    const mDigest = 'sha256:' + createHash('sha256').update(manifest).digest('hex');
    const mName = `blobs/sha256/${hex(mDigest)}`;
    if (!written.has(mName)) { await entry(mName, manifest); written.add(mName); }
    const desc = { mediaType: MT_OCI_MANIFEST, digest: mDigest, size: manifest.length };
    if (img.fullTags.length === 0) indexManifests.push(desc);
    img.fullTags.forEach((full, i) => {
      const tag = full.slice(full.lastIndexOf(':') + 1);
      indexManifests.push({ ...desc, annotations: { 'io.containerd.image.name': full, 'org.opencontainers.image.ref.name': tag } });
      const fam = img.repoTags[i];
      const repo = fam.slice(0, fam.lastIndexOf(':'));
      (repositories[repo] ??= {})[tag] = hex(img.layers[img.layers.length - 1]?.digest ?? img.id);
    });
    manifestJson.push({ Config: configName, RepoTags: img.repoTags.length ? img.repoTags : null, Layers: img.layers.map((l) => `blobs/sha256/${hex(l.digest)}`) });
  }
  await entry('index.json', JSON.stringify({ schemaVersion: 2, mediaType: MT_OCI_INDEX, manifests: indexManifests }) + '\n');
  await entry('manifest.json', JSON.stringify(manifestJson) + '\n');
  await entry('oci-layout', JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  if (Object.keys(repositories).length) await entry('repositories', JSON.stringify(repositories) + '\n');
  pack.finalize();
}

export { MT_DOCKER_MANIFEST };
