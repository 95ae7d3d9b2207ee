// The registry's operations, over the stores: what a handler calls once it has parsed a request.
// Validation that needs the store lives here (a manifest's blobs must be in its repository); the
// HTTP details (headers, statuses, streaming) stay in http/.
import { regError } from './errors';
import { Digest, digestOf, parseDigest, validTag } from './names';
import { MAX_MANIFEST, OCI_INDEX, isIndexType, parseManifest, manifestReferences } from './manifest';
import type { StorageDriver } from './storage/driver';
import { BlobStore } from './store/blobs';
import { Descriptor, Repositories } from './store/repositories';
import { Uploads } from './store/uploads';

export type Reference = { tag: string; digest?: undefined } | { digest: Digest; tag?: undefined };

export interface StoredManifest { body: Buffer; mediaType: string; digest: Digest }

/** Where a pull-through cache plugs in: asked when the local store lacks something. */
export interface Upstream {
  manifest(name: string, ref: Reference, method: 'GET' | 'HEAD'): Promise<StoredManifest | undefined>;
  /** A blob fetched from upstream: its size, and for a GET its bytes (stored here as they pass). */
  blob(name: string, d: Digest, method: 'GET' | 'HEAD'): Promise<{ size: number; body?: AsyncIterable<Buffer> } | undefined>;
  tags(name: string): Promise<string[] | undefined>;
}

export interface RegistryOptions {
  /** DELETE of manifests, tags and blobs (distribution's storage.delete.enabled). */
  deleteEnabled: boolean;
  /** On S3, uses of one blob closer together than this are recorded once (GC's delay / 4 keeps it safe). */
  useEvery?: number;
  /** Read-only (a pull-through cache): pushes and deletes are UNSUPPORTED. */
  readOnly?: boolean;
}

export function parseReference(ref: string): Reference {
  if (ref.includes(':')) return { digest: parseDigest(ref) };
  if (!validTag(ref)) throw regError('TAG_INVALID', { tag: ref });
  return { tag: ref };
}

export class Registry {
  readonly blobs: BlobStore;
  readonly repos: Repositories;
  readonly uploads: Uploads;
  upstream?: Upstream;

  constructor(readonly driver: StorageDriver, readonly opts: RegistryOptions) {
    this.blobs = new BlobStore(driver, opts.useEvery);
    this.repos = new Repositories(driver);
    this.uploads = new Uploads(driver, this.blobs, this.repos);
  }

  writable(): void {
    if (this.opts.readOnly) throw regError('UNSUPPORTED', undefined, { message: 'The operation is unsupported: this registry is a read-only pull-through cache' });
  }

  deletable(): void {
    this.writable();
    if (!this.opts.deleteEnabled) throw regError('UNSUPPORTED', undefined, { message: 'The operation is unsupported: deletes are disabled on this registry' });
  }

  // manifests

  async getManifest(name: string, ref: Reference, method: 'GET' | 'HEAD' = 'GET'): Promise<StoredManifest> {
    // a pull-through cache decides itself when its copy of a tag is too old to trust
    const m = this.upstream ? await this.upstream.manifest(name, ref, method) : await this.localManifest(name, ref);
    if (m) return m;
    throw regError('MANIFEST_UNKNOWN', ref.tag !== undefined ? { tag: ref.tag } : { digest: ref.digest.text });
  }

  async localManifest(name: string, ref: Reference): Promise<StoredManifest | undefined> {
    const d = ref.digest ?? (await this.repos.resolveTag(name, ref.tag));
    if (!d) return undefined;
    const rev = await this.repos.getRevision(name, d);
    if (!rev) return undefined;
    const body = await this.blobs.get(d);
    if (!body) return undefined;
    const mediaType = rev.mediaType || manifestReferences(body, '')?.mediaType || '';
    return { body, mediaType, digest: d };
  }

  /**
   * Stores a pushed manifest. Every blob an image manifest names, and every manifest an index
   * lists, must be in this repository already (MANIFEST_BLOB_UNKNOWN otherwise).
   */
  async putManifest(name: string, ref: Reference, body: Buffer, contentType: string | undefined): Promise<{ digest: Digest; subject?: Digest; mediaType: string }> {
    this.writable();
    if (body.length > MAX_MANIFEST) throw tooLarge();
    const m = parseManifest(body, contentType);
    const algorithm = ref.digest?.algorithm ?? 'sha256';
    const d = parseDigest(digestOf(body, algorithm));
    if (ref.digest && ref.digest.hex !== d.hex) {
      throw regError('DIGEST_INVALID', { expected: ref.digest.text, actual: d.text });
    }
    for (const b of m.blobs) {
      if (!(await this.repos.hasLayer(name, b)) || !(await this.blobs.use(b))) {
        throw regError('MANIFEST_BLOB_UNKNOWN', { digest: b.text });
      }
    }
    for (const c of m.manifests) {
      if (!(await this.repos.getRevision(name, c)) || !(await this.blobs.use(c))) {
        throw regError('MANIFEST_BLOB_UNKNOWN', { digest: c.text }, { message: `manifest unknown to registry: ${c.text}` });
      }
    }
    await this.storeManifest(name, d, body, m.mediaType, ref.tag);
    if (m.subject) {
      const desc: Descriptor = { mediaType: m.mediaType, digest: d.text, size: body.length };
      if (m.artifactType !== undefined) desc.artifactType = m.artifactType;
      if (m.annotations) desc.annotations = m.annotations;
      await this.repos.putReferrer(name, m.subject, desc);
    }
    return { digest: d, subject: m.subject, mediaType: m.mediaType };
  }

  /** Writes a manifest known to be valid: content, then revision, then tag (a reader never finds a link to nothing). */
  async storeManifest(name: string, d: Digest, body: Buffer, mediaType: string, tag?: string): Promise<void> {
    await this.blobs.putSmall(body, d.algorithm);
    await this.repos.putRevision(name, d, mediaType);
    if (tag !== undefined) await this.repos.putTag(name, tag, d);
  }

  async deleteManifest(name: string, ref: Reference): Promise<void> {
    this.deletable();
    if (ref.tag !== undefined) {
      if (!(await this.repos.deleteTag(name, ref.tag))) throw regError('MANIFEST_UNKNOWN', { tag: ref.tag });
      return;
    }
    const d = ref.digest;
    const rev = await this.repos.getRevision(name, d);
    if (!rev) throw regError('MANIFEST_UNKNOWN', { digest: d.text });
    for (const [tag, t] of await this.repos.tagMap(name)) if (t.text === d.text) await this.repos.deleteTag(name, tag);
    const body = await this.blobs.get(d);
    const refs = body && manifestReferences(body, rev.mediaType);
    if (refs?.subject) await this.repos.deleteReferrer(name, refs.subject, d);
    await this.repos.deleteRevision(name, d);
  }

  // blobs

  /**
   * The size of a blob this repository holds. `use`: the caller relies on it staying (a HEAD
   * before a push skips the upload), so a concurrent GC must keep it.
   */
  async blobSize(name: string, d: Digest, use: boolean): Promise<number | undefined> {
    if (!(await this.repos.hasLayer(name, d)) && !(await this.repos.getRevision(name, d))) return undefined;
    if (use && !(await this.blobs.use(d))) return undefined;
    return (await this.blobs.stat(d))?.size;
  }

  async deleteBlob(name: string, d: Digest): Promise<void> {
    this.deletable();
    if (!(await this.repos.unlinkLayer(name, d))) throw regError('BLOB_UNKNOWN', { digest: d.text });
  }

  /** Links a blob of `from` into `name` without a copy; false when `from` does not have it. */
  async mount(name: string, from: string, d: Digest): Promise<boolean> {
    this.writable();
    if (!(await this.repos.hasLayer(from, d)) || !(await this.blobs.use(d))) return false;
    await this.repos.linkLayer(name, d);
    return true;
  }

  // discovery

  async tags(name: string): Promise<string[]> {
    const local = await this.repos.listTags(name);
    const up = this.upstream && (await this.upstream.tags(name));
    if (up) return [...new Set([...up, ...(local ?? [])])].sort();
    if (!local) throw regError('NAME_UNKNOWN', { name });
    return local;
  }

  /** The referrers index of `subject` in `name`, optionally only those of one artifact type. */
  async referrers(name: string, subject: Digest, artifactType?: string): Promise<{ index: Buffer; filtered: boolean }> {
    const all = await this.repos.listReferrers(name, subject);
    const live: Descriptor[] = [];
    for (const r of all) {
      // an entry whose manifest was deleted meanwhile (or by a crash mid-delete) is not a referrer
      if (await this.repos.getRevision(name, parseDigest(r.digest))) live.push(r);
    }
    const manifests = artifactType !== undefined ? live.filter((r) => r.artifactType === artifactType) : live;
    return { index: Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests })), filtered: artifactType !== undefined };
  }

  catalog(): Promise<string[]> { return this.repos.listRepositories(); }

  isIndex(mediaType: string): boolean { return isIndexType(mediaType); }
}

export const tooLarge = () =>
  regError('MANIFEST_INVALID', { limit: MAX_MANIFEST }, { message: `manifest invalid: larger than ${MAX_MANIFEST} bytes`, status: 413 });

/** n/last pagination over a sorted list, as distribution does it. */
export function paginate(all: string[], n: number | undefined, last: string | undefined): { items: string[]; more: boolean } {
  let items = last !== undefined ? all.filter((x) => x > last) : all;
  let more = false;
  if (n !== undefined && items.length > n) { items = items.slice(0, n); more = true; }
  return { items, more };
}
