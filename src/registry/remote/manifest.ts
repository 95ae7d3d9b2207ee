// Image manifests and indexes: Docker schema 2 (manifest and manifest list) and OCI (manifest and
// index). Parsed from the exact bytes the registry sent (their digest is what names them), checked
// for the fields the client relies on, and written for push in Docker's own layout.
import { createHash } from 'node:crypto';
import type { Platform } from './platform';
import { regError, REG_ERR } from './errors';

export const MT = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerForeign: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNondist: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociLayerNondistGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociLayerNondistZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
} as const;

/** What a pull accepts, most wanted first (the Accept header of manifest requests). */
export const MANIFEST_ACCEPT = [MT.ociIndex, MT.dockerList, MT.ociManifest, MT.dockerManifest].join(', ');

/** Manifests larger than this are refused before they are parsed (containerd and Docker use 4 MiB). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

const LAYER_TYPES = new Set<string>([MT.dockerLayerGzip, MT.dockerLayerForeign, MT.ociLayer, MT.ociLayerGzip, MT.ociLayerZstd,
  MT.ociLayerNondist, MT.ociLayerNondistGzip, MT.ociLayerNondistZstd, 'application/vnd.docker.image.rootfs.diff.tar']);

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform & { 'os.version'?: string; 'os.features'?: string[]; features?: string[] };
}

export interface ImageManifest { kind: 'manifest'; mediaType: string; config: Descriptor; layers: Descriptor[] }
export interface ImageIndex { kind: 'index'; mediaType: string; manifests: Descriptor[] }
export type Parsed = ImageManifest | ImageIndex;

export const sha256 = (b: Buffer | string) => 'sha256:' + createHash('sha256').update(b).digest('hex');

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

function invalidManifest(why: string) {
  return regError(REG_ERR.MANIFEST_INVALID, `invalid manifest: ${why}`);
}

function descriptor(d: any, where: string): Descriptor {
  if (!d || typeof d !== 'object') throw invalidManifest(`${where} is not a descriptor`);
  if (typeof d.digest !== 'string' || !DIGEST_RE.test(d.digest)) {
    if (typeof d.digest === 'string' && /^[a-z0-9]+:/.test(d.digest) && !d.digest.startsWith('sha256:')) {
      throw regError(REG_ERR.NOT_IMPLEMENTED, `unsupported digest algorithm in ${where}: ${d.digest.split(':')[0]}`);
    }
    throw invalidManifest(`${where} has an invalid digest`);
  }
  if (!Number.isSafeInteger(d.size) || d.size < 0) throw invalidManifest(`${where} has an invalid size`);
  if (typeof d.mediaType !== 'string') throw invalidManifest(`${where} has no mediaType`);
  return d as Descriptor;
}

/**
 * Parses manifest bytes. `contentType` (the response's Content-Type) decides when the document
 * carries no mediaType of its own, as OCI allows.
 */
export function parseManifest(bytes: Buffer, contentType?: string): Parsed {
  let j: any;
  try { j = JSON.parse(bytes.toString('utf8')); } catch { throw invalidManifest('not JSON'); }
  if (!j || typeof j !== 'object') throw invalidManifest('not an object');
  const ct = (contentType ?? '').split(';')[0].trim();
  const mt: string = typeof j.mediaType === 'string' && j.mediaType ? j.mediaType : ct || (Array.isArray(j.manifests) ? MT.ociIndex : MT.ociManifest);
  if (mt === MT.dockerSchema1 || mt === MT.dockerSchema1Signed || j.schemaVersion === 1) {
    throw regError(REG_ERR.UNSUPPORTED_MEDIA_TYPE, 'support for Docker Image Format v1 and Docker Image manifest version 2, schema 1 has been removed; the image has to be pushed again in a current format');
  }
  if (j.schemaVersion !== 2) throw invalidManifest(`unsupported schemaVersion ${JSON.stringify(j.schemaVersion)}`);
  if (mt === MT.dockerList || mt === MT.ociIndex || (Array.isArray(j.manifests) && !j.config)) {
    if (!Array.isArray(j.manifests)) throw invalidManifest('index without manifests');
    return { kind: 'index', mediaType: mt, manifests: j.manifests.map((d: any, i: number) => descriptor(d, `manifests[${i}]`)) };
  }
  if (mt !== MT.dockerManifest && mt !== MT.ociManifest) throw regError(REG_ERR.UNSUPPORTED_MEDIA_TYPE, `unsupported manifest media type ${mt}`);
  const config = descriptor(j.config, 'config');
  if (!Array.isArray(j.layers)) throw invalidManifest('no layers');
  const layers = j.layers.map((d: any, i: number) => descriptor(d, `layers[${i}]`));
  // An artifact (Helm chart, signature, SBOM) is an OCI manifest too, with other config and layer types.
  if (config.mediaType !== MT.dockerConfig && config.mediaType !== MT.ociConfig) {
    throw regError(REG_ERR.UNSUPPORTED_MEDIA_TYPE, `unsupported config media type ${config.mediaType}: not a container image`);
  }
  for (const l of layers) {
    if (!LAYER_TYPES.has(l.mediaType)) throw regError(REG_ERR.UNSUPPORTED_MEDIA_TYPE, `unsupported layer media type ${l.mediaType}`);
  }
  return { kind: 'manifest', mediaType: mt, config, layers };
}

/** Layers with URLs and a "foreign"/"nondistributable" type live elsewhere; Docker does not push them. */
export function isForeign(d: Descriptor): boolean {
  return d.mediaType === MT.dockerLayerForeign || d.mediaType.startsWith('application/vnd.oci.image.layer.nondistributable');
}

export interface PushLayer { mediaType: string; digest: string; size: number }

/**
 * A Docker schema 2 manifest as the docker engine writes it (Go's MarshalIndent with three
 * spaces), so a push from Dray and one from Docker of the same image give the same digest.
 */
export function dockerManifest(config: { digest: string; size: number }, layers: PushLayer[]): Buffer {
  const doc = {
    schemaVersion: 2,
    mediaType: MT.dockerManifest,
    config: { mediaType: MT.dockerConfig, size: config.size, digest: config.digest },
    layers: layers.map((l) => ({ mediaType: l.mediaType, size: l.size, digest: l.digest })),
  };
  return Buffer.from(JSON.stringify(doc, null, 3));
}

/** The schema 2 layer type for a stored blob's compression (OCI types for zstd, which schema 2 lacks). */
export function dockerLayerType(compression: 'gzip' | 'zstd' | 'none'): string {
  if (compression === 'gzip') return MT.dockerLayerGzip;
  if (compression === 'zstd') return MT.ociLayerZstd;
  return 'application/vnd.docker.image.rootfs.diff.tar';
}
