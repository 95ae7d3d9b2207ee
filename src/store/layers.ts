// Layer store: unpacked layers keyed by DiffID, each with the blob it came from.
// Lifecycle: a blob already committed to the content store is unpacked into layers/.tmp-<random>/
// (diff/ + layer.json; or a build step's upper directory, the blob's source, is moved there as
// diff/), which is renamed to layers/<diffid hex>/ only when complete → read
// (lowerdir paths, records) → delete (when no image references it). Concurrent unpacks of one blob
// share a single flight; two blobs with the same content (say gzip and plain) end in one layer.
// A deleted layer leaves its place by one rename into the store's trash/ and is emptied from there.
import { promises as fsp } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { StoreLayout, hex } from './layout';
import { BlobStore } from './blobs';
import { unpackLayer, openDecompressed, fileCompression, mapTarOwners, MEDIA_TYPES, UnpackResult } from './tar';
import { into, type IdMap } from '../lib/idmap';
import { readJsonIfExists, writeJsonAtomic, fsyncDir } from '../lib/atomic';
import { SingleFlight, KeyedMutex } from '../lib/lock';
import { invalid } from '../lib/errors';
import { log } from '../lib/log';
import { Trash } from '../lib/trash';

export interface LayerRecord {
  diffId: string;
  /** Bytes of file content in the layer. */
  size: number;
  /** The original blob (as received or as committed), kept for save and push. */
  blob: { digest: string; size: number; mediaType: string };
}

/** The unpacked tar's digest is not the DiffID the image config names. */
export class DiffIdMismatch extends Error {
  constructor(readonly expected: string, readonly got: string) { super(`invalid diffID for layer: expected "${expected}", got "${got}"`); }
}

export class LayerStore {
  private records = new Map<string, LayerRecord>();
  private flights = new SingleFlight();
  private lock = new KeyedMutex();
  private readonly trash: Trash;

  constructor(private layout: StoreLayout, private blobs: BlobStore) {
    this.trash = new Trash(layout.trashDir);
  }

  async init(): Promise<void> {
    await fsp.mkdir(this.layout.layersDir, { recursive: true });
    await this.trash.init();
    this.records.clear();
    for (const name of await fsp.readdir(this.layout.layersDir)) {
      const dir = path.join(this.layout.layersDir, name);
      if (!/^[a-f0-9]{64}$/.test(name)) {
        log.info('removing partial layer left by a crash', { dir });
        await fsp.rm(dir, { recursive: true, force: true });
        continue;
      }
      const rec = await readJsonIfExists<LayerRecord>(path.join(dir, 'layer.json')).catch(() => undefined);
      const diffOk = await fsp.stat(path.join(dir, 'diff')).then((s) => s.isDirectory()).catch(() => false);
      if (!rec || !diffOk || rec.diffId !== `sha256:${name}` || !(await this.blobs.has(rec.blob.digest))) {
        log.warn('removing incomplete layer', { dir });
        await fsp.rm(dir, { recursive: true, force: true });
        continue;
      }
      this.records.set(rec.diffId, rec);
    }
  }

  get(diffId: string): LayerRecord | undefined { return this.records.get(diffId); }
  has(diffId: string): boolean { return this.records.has(diffId); }
  all(): LayerRecord[] { return [...this.records.values()]; }
  diffDir(diffId: string): string { return this.layout.layerDiff(diffId); }

  /**
   * Unpacks a committed blob into a layer (or finds the layer it already is). `expectDiffId`,
   * when known (load, pull), lets an existing layer be found without unpacking, and is verified.
   */
  async fromBlob(blobDigest: string, expectDiffId?: string): Promise<LayerRecord> {
    if (expectDiffId && this.records.has(expectDiffId)) return this.records.get(expectDiffId)!;
    return this.flights.run(blobDigest, async () => {
      if (expectDiffId && this.records.has(expectDiffId)) return this.records.get(expectDiffId)!;
      const blobPath = this.blobs.path(blobDigest);
      const compression = await fileCompression(blobPath);
      const tmp = this.tmpDir();
      await fsp.mkdir(path.join(tmp, 'diff'), { recursive: true, mode: 0o755 });
      try {
        const res = await unpackLayer(await openDecompressed(blobPath), path.join(tmp, 'diff'));
        if (expectDiffId && res.diffId !== expectDiffId) throw invalid(`invalid diffID for layer: expected "${expectDiffId}", got "${res.diffId}"`);
        const rec: LayerRecord = {
          diffId: res.diffId, size: res.size,
          blob: { digest: blobDigest, size: await this.blobs.size(blobDigest), mediaType: MEDIA_TYPES[compression] },
        };
        return await this.publish(tmp, rec);
      } finally {
        await fsp.rm(tmp, { recursive: true, force: true });
      }
    });
  }

  /**
   * A layer unpacked while its blob is still arriving (a pull): `unpack` fills the directory it is
   * given (on this thread or a worker's) and says what it found. Once its DiffID is `expectDiffId`,
   * `commitBlob` puts the blob in the content store (the caller checks the blob's digest there);
   * only then does the layer become visible. Any failure leaves neither.
   */
  async fromUnpack(expectDiffId: string, blob: { digest: string; size: number }, commitBlob: () => Promise<void>,
    unpack: (diffDir: string) => Promise<UnpackResult & { mediaType: string }>): Promise<LayerRecord> {
    const tmp = this.tmpDir();
    await fsp.mkdir(path.join(tmp, 'diff'), { recursive: true, mode: 0o755 });
    try {
      const res = await unpack(path.join(tmp, 'diff'));
      if (res.diffId !== expectDiffId) throw new DiffIdMismatch(expectDiffId, res.diffId);
      await commitBlob();
      const rec: LayerRecord = { diffId: res.diffId, size: res.size, blob: { ...blob, mediaType: res.mediaType } };
      return await this.publish(tmp, rec);
    } finally {
      await fsp.rm(tmp, { recursive: true, force: true });
    }
  }

  /**
   * A layer whose diff is a directory already on disk (a build step's upper directory), with
   * `blob` the plain tar just written from that same directory (so its digest is the DiffID) and
   * already committed. The directory itself becomes diff/ by `move(dest)`, a rename within the
   * data root, instead of the tar being unpacked again: one write of the content instead of two.
   * An overlay upper is already in the store's on-disk format (whiteouts are 0:0 character devices,
   * opaque directories carry trusted.overlay.opaque=y, as unpackLayer makes them). Sub-second
   * times, which a tar does not carry, stay, as containerd's overlay snapshotter keeps the active
   * snapshot's upper as the committed one; a directory the tar does not say whole (other xattrs, a
   * .wh. name: writeDiffTar's `faithful`) is not given here (ImageService.commit). `move` resolves false when it cannot move the
   * directory (another file system, still mounted): the blob is then unpacked as usual. Nothing
   * is moved when the layer exists already.
   */
  async fromDir(blob: { digest: string; size: number }, size: number, move: (dest: string) => Promise<boolean>): Promise<LayerRecord> {
    const diffId = blob.digest;
    const existing = this.records.get(diffId);
    if (existing) return existing;
    const tmp = this.tmpDir();
    await fsp.mkdir(tmp, { mode: 0o755 });
    try {
      const diff = path.join(tmp, 'diff');
      if (!(await move(diff))) return await this.fromBlob(blob.digest, diffId);
      // unpackLayer's diff/ is a fresh 0755 root-owned directory; the tar has no entry for the root.
      await fsp.chmod(diff, 0o755);
      return await this.publish(tmp, { diffId, size, blob: { ...blob, mediaType: MEDIA_TYPES.none } });
    } finally {
      await fsp.rm(tmp, { recursive: true, force: true });
    }
  }

  /** A new name under layers/ for a directory being made: init sweeps what a crash leaves there. */
  private tmpDir(): string { return path.join(this.layout.layersDir, `.tmp-${randomBytes(8).toString('hex')}`); }

  /** Makes the complete layer directory `tmp` (diff/ filled) visible as `rec`, unless it is already. */
  private publish(tmp: string, rec: LayerRecord): Promise<LayerRecord> {
    return this.lock.run(rec.diffId, async () => {
      const existing = this.records.get(rec.diffId);
      if (existing) return existing;
      await writeJsonAtomic(path.join(tmp, 'layer.json'), rec);
      const dest = this.layout.layer(rec.diffId);
      await fsp.rm(dest, { recursive: true, force: true });
      await fsp.rename(tmp, dest);
      await fsyncDir(this.layout.layersDir);
      this.records.set(rec.diffId, rec);
      return rec;
    });
  }

  /**
   * userns-remap where idmapped mounts are not available (runtime/userns.ts): `lowerDir`, a layer's
   * diff/, as a copy whose owners are the host's IDs under `map` (dockerd's per-mapping layer
   * store). The copy is unpacked once from the layer's blob, through the same tar path as the
   * layer itself, with the owners translated; it lives in the layer's own directory
   * (remap-<mapping>/), so it goes when the layer goes. Anything that is not a layer's diff/ (the
   * empty stand-in lower) passes unchanged.
   */
  async remapped(lowerDir: string, map: IdMap): Promise<string> {
    const name = path.basename(path.dirname(lowerDir));
    const diffId = `sha256:${name}`;
    const rec = this.records.get(diffId);
    if (!/^[a-f0-9]{64}$/.test(name) || lowerDir !== this.layout.layerDiff(diffId) || !rec) return lowerDir;
    const key = createHash('sha256').update(JSON.stringify(map)).digest('hex').slice(0, 16);
    const dest = path.join(this.layout.layer(diffId), `remap-${key}`);
    const made = () => fsp.stat(dest).then((s) => s.isDirectory(), () => false);
    if (await made()) return dest;
    return this.flights.run(`${diffId}/${key}`, async () => {
      if (await made()) return dest;
      // Renamed in from layers/.tmp-* when whole.
      const tmp = this.tmpDir();
      await fsp.mkdir(tmp, { mode: 0o755 });
      try {
        // The DiffID of the translated stream is not the layer's; the blob was verified when it was stored.
        await unpackLayer(mapTarOwners(await openDecompressed(this.blobs.path(rec.blob.digest)), into(map)), tmp);
        await this.lock.run(diffId, async () => {
          if (!this.records.has(diffId)) throw invalid(`layer ${diffId} was removed while its remapped copy was made`);
          await fsp.rename(tmp, dest);
          await fsyncDir(this.layout.layer(diffId));
        });
        return dest;
      } finally {
        await fsp.rm(tmp, { recursive: true, force: true });
      }
    });
  }

  /** Removes the layer directory (its blob too unless `keepBlob`). */
  async delete(diffId: string, keepBlob = false): Promise<void> {
    await this.lock.run(diffId, async () => {
      const rec = this.records.get(diffId);
      this.records.delete(diffId);
      hex(diffId);
      await this.trash.take(this.layout.layer(diffId));
      if (rec && !keepBlob) await this.blobs.delete(rec.blob.digest);
    });
  }
}
