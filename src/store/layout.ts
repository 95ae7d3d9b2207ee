// On-disk layout of the image side of the data root. Everything below is written by src/store/*
// and src/engine/images.ts; every file is replaced atomically (temp + fsync + rename) and every
// directory that is built in several steps is built under a temp name and renamed when complete,
// so a daemon killed at any moment restarts onto a consistent store (init() sweeps the leftovers).
//
//   <dataRoot>/image/
//   ├── blobs/
//   │   ├── sha256/<hex>           content store: exact bytes by digest — image config JSONs (the
//   │   │                          image ID is the digest of its config blob) and each layer's
//   │   │                          original tar blob (gzip, zstd or plain, as it arrived), so save
//   │   │                          and push serve it byte-exact
//   │   └── ingest/<random>        blob being written; renamed into sha256/ once hashed and synced
//   ├── layers/
//   │   ├── <diffid hex>/          one unpacked layer, shared by every image that has it
//   │   │   ├── diff/              the layer's files: overlay lowerdir (OCI whiteouts already
//   │   │   │                      translated: .wh.x → char dev 0:0 x, .wh..wh..opq → xattr
//   │   │   │                      trusted.overlay.opaque=y)
//   │   │   └── layer.json         {diffId, size, blob: {digest, size, mediaType}}
//   │   └── .tmp-<random>/         a layer being unpacked (diff/ + layer.json), or a build
//   │                              step's upper directory moved in as its diff/, renamed to
//   │                              <diffid hex>/ only when complete
//   ├── images/<id hex>.json       per-image metadata: {parent, lastTagTime}; the config itself is
//   │                              blobs/sha256/<id hex>
//   ├── repositories.json          tag store: {"refs": {"docker.io/library/busybox:latest": "sha256:<id>"}}
//   ├── partial/<hex>              a blob being pulled, the bytes received so far (kept across a
//   │                              cut connection and a daemon restart, so the next pull resumes
//   │                              with a Range request; moved into blobs/ once its digest checks)
//   ├── distribution/<hex>.json    where a blob came from: [{registry, repository}], so a push to
//   │                              another repository of that registry mounts it instead of uploading
//   ├── tmp/<random>/              scratch for load/save/commit (whole dir emptied by init())
//   ├── views/<random>/merged/     a read-only overlay of an image's layers, mounted while a build
//   │                              reads it (store/image-views.ts; init() detaches what a crash left)
//   └── trash/                     deleted layers, renamed here at once and emptied in the background
//
// Layers are keyed by DiffID, not ChainID: with overlayfs a layer's directory holds only its own
// diff, whatever is below it, so one directory serves every chain that contains the diff. ChainIDs
// are still computed (chainIds()) for what the API reports.
import * as path from 'node:path';
import { createHash } from 'node:crypto';

export class StoreLayout {
  readonly root: string;
  constructor(dataRoot: string) { this.root = path.join(dataRoot, 'image'); }
  get blobsDir() { return path.join(this.root, 'blobs', 'sha256'); }
  get ingestDir() { return path.join(this.root, 'blobs', 'ingest'); }
  get layersDir() { return path.join(this.root, 'layers'); }
  get imagesDir() { return path.join(this.root, 'images'); }
  get tmpDir() { return path.join(this.root, 'tmp'); }
  get viewsDir() { return path.join(this.root, 'views'); }
  get trashDir() { return path.join(this.root, 'trash'); }
  get repositoriesFile() { return path.join(this.root, 'repositories.json'); }
  get partialDir() { return path.join(this.root, 'partial'); }
  get distributionDir() { return path.join(this.root, 'distribution'); }
  blob(digest: string) { return path.join(this.blobsDir, hex(digest)); }
  layer(diffId: string) { return path.join(this.layersDir, hex(diffId)); }
  layerDiff(diffId: string) { return path.join(this.layer(diffId), 'diff'); }
  imageMeta(id: string) { return path.join(this.imagesDir, `${hex(id)}.json`); }
}

export function hex(digest: string): string {
  const h = digest.replace(/^sha256:/, '');
  if (!/^[a-f0-9]{64}$/.test(h)) throw new Error(`invalid digest ${digest}`);
  return h;
}

/** ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)). */
export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev ? 'sha256:' + createHash('sha256').update(`${prev} ${d}`).digest('hex') : d);
  }
  return out;
}
