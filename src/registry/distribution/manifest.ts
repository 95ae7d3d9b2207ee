// Manifests as the registry sees them: which of the four media types a pushed body is (OCI image
// manifest and index, Docker schema 2 manifest and manifest list), whether it is well formed, and
// what it references (blobs that must exist, child manifests, its subject). The body itself is
// never re-encoded: what a client pushed is what every client pulls, byte for byte.
import { regError } from './errors';
import { Digest, parseDigest } from './names';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const DOCKER_SCHEMA1 = ['application/vnd.docker.distribution.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v1+prettyjws'];
export const MANIFEST_TYPES = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];
export const isIndexType = (t: string) => t === OCI_INDEX || t === DOCKER_LIST;

/** distribution's limit: a manifest is small, and a huge one is an attack on memory. */
export const MAX_MANIFEST = 4 << 20;

export interface ParsedManifest {
  mediaType: string;
  /** Blobs an image manifest needs in the repository (config, and layers that are not foreign). */
  blobs: Digest[];
  /** Manifests an index lists. */
  manifests: Digest[];
  subject?: Digest;
  artifactType?: string;
  annotations?: Record<string, string>;
}

const invalid = (why: string) => regError('MANIFEST_INVALID', why, { message: `manifest invalid: ${why}` });

/** The media type without parameters ("application/json; charset=utf-8" → "application/json"). */
export function bareMediaType(ct: string | undefined): string {
  return (ct ?? '').split(';')[0].trim().toLowerCase();
}

function descriptor(v: unknown, where: string): { mediaType: string; digest: Digest; size: number; urls?: unknown } {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw invalid(`${where} is not a descriptor`);
  const o = v as Record<string, unknown>;
  if (typeof o.mediaType !== 'string' || !o.mediaType) throw invalid(`${where}.mediaType is missing`);
  if (typeof o.digest !== 'string') throw invalid(`${where}.digest is missing`);
  if (typeof o.size !== 'number' || !Number.isSafeInteger(o.size) || o.size < 0) throw invalid(`${where}.size is not a size`);
  let d: Digest;
  try { d = parseDigest(o.digest); } catch { throw regError('DIGEST_INVALID', { digest: o.digest }, { message: `invalid digest in ${where}: ${o.digest}` }); }
  return { mediaType: o.mediaType, digest: d, size: o.size, urls: o.urls };
}

/**
 * Works out a pushed manifest's media type and checks its shape. `contentType` is the request's
 * Content-Type; a body's own mediaType, when it has one, must agree with it.
 */
export function parseManifest(body: Buffer, contentType: string | undefined): ParsedManifest {
  let m: any;
  try { m = JSON.parse(body.toString('utf8')); } catch (e) { throw invalid(`not JSON: ${(e as Error).message}`); }
  if (!m || typeof m !== 'object' || Array.isArray(m)) throw invalid('not a JSON object');
  const ct = bareMediaType(contentType);
  const own = typeof m.mediaType === 'string' ? m.mediaType : undefined;
  if (DOCKER_SCHEMA1.includes(ct) || DOCKER_SCHEMA1.includes(own ?? '') || m.schemaVersion === 1) {
    throw invalid('Docker schema 1 manifests are not supported; push schema 2 or OCI');
  }
  // As distribution decides: a manifest Content-Type names the type; a generic one (none, JSON)
  // leaves it to the body's mediaType, or to its shape; any other is refused.
  const generic = ct === '' || ct === 'application/json' || ct === 'application/octet-stream';
  let mediaType: string;
  if (MANIFEST_TYPES.includes(ct)) {
    if (own !== undefined && own !== ct) throw invalid(`mediaType ${JSON.stringify(own)} does not match Content-Type ${JSON.stringify(ct)}`);
    mediaType = ct;
  } else if (generic && own !== undefined && MANIFEST_TYPES.includes(own)) {
    mediaType = own;
  } else if (generic && own === undefined) {
    mediaType = Array.isArray(m.manifests) ? OCI_INDEX : OCI_MANIFEST;
  } else {
    throw invalid(`unsupported manifest media type ${JSON.stringify(generic ? own : ct)}`);
  }
  if (m.schemaVersion !== 2) throw invalid('schemaVersion must be 2');
  const out: ParsedManifest = { mediaType, blobs: [], manifests: [] };
  if (isIndexType(mediaType)) {
    if (!Array.isArray(m.manifests)) throw invalid('manifests is not a list');
    m.manifests.forEach((x: unknown, i: number) => out.manifests.push(descriptor(x, `manifests[${i}]`).digest));
  } else {
    out.blobs.push(descriptor(m.config, 'config').digest);
    const layers = m.layers ?? (mediaType === OCI_MANIFEST ? [] : undefined);
    if (!Array.isArray(layers)) throw invalid('layers is not a list');
    layers.forEach((x: unknown, i: number) => {
      const l = descriptor(x, `layers[${i}]`);
      // Foreign (Windows base) and non-distributable layers are fetched from their URLs, not here.
      const foreign = Array.isArray(l.urls) && l.urls.length > 0;
      if (!foreign) out.blobs.push(l.digest);
    });
    if (typeof m.artifactType !== 'string') out.artifactType = (m.config as { mediaType: string }).mediaType;
  }
  if (m.subject !== undefined) out.subject = descriptor(m.subject, 'subject').digest;
  if (typeof m.artifactType === 'string') out.artifactType = m.artifactType;
  if (m.annotations && typeof m.annotations === 'object' && !Array.isArray(m.annotations)) out.annotations = m.annotations;
  return out;
}

/** What a stored manifest references (for GC), or undefined when it cannot be read as a manifest. */
export function manifestReferences(body: Buffer, mediaType: string): ParsedManifest | undefined {
  try { return parseManifest(body, mediaType); } catch {
    return undefined;
  }
}
