// Images: the engine's view over the store (blobs, layers, metadata and tags; see store/layout.ts
// for the on-disk layout). Image ID = sha256 of the exact config bytes; layers by DiffID.
// Deletion follows moby's daemon/images/image_delete.go rule for rule, so `rmi` conflicts read
// exactly as Docker's.
import { timeOrDurationAgo } from '../lib/units';
import { promises as fsp, createWriteStream } from 'node:fs';
import { randomBytes, createHash } from 'node:crypto';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { spawnChild } from '../lib/spawn';
import * as tarStream from 'tar-stream';
import type { Image, ContainerConfig, ImageConfigFile } from './types';
import type { EventBus } from './events';
import { applyChanges } from './changes';
import { StoreLayout, chainIds } from '../store/layout';
import { BlobStore, type BlobInfo } from '../store/blobs';
import { LayerStore, type LayerRecord } from '../store/layers';
import { mountView, mountScratch, sweepViews, type ImageView, type ScratchView } from '../store/image-views';
import type { IdMap } from '../lib/idmap';
import { MetadataStore, ImageMeta } from '../store/metadata';
import { writeDiffTar, openDecompressed, isWhiteoutDevice, fileCompression, tarMessage, type OwnerMap } from '../store/tar';
import { readArchiveDir, writeArchive, SaveImage } from '../store/archive';
import {
  Reference, parseAnyReference, parseReference, withDefaultTag, fullString, familiarString, fullName, referenceFilterMatch,
} from '../store/reference';
import { KeyedMutex } from '../lib/lock';
import { conflict, invalid, notFound, systemError, DrayError } from '../lib/errors';
import { shortId } from '../lib/ids';
import { log } from '../lib/log';

type DeleteRecord = { Untagged?: string; Deleted?: string };
type UsageCheck = (imageId: string) => { id: string; running: boolean }[];

export function hostArch(): string {
  const m: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return m[process.arch] ?? process.arch;
}

const ENGINE_VERSION_FOR_CONFIG = '25.0.0-dray';

class DeleteConflict extends DrayError {
  constructor(readonly imgId: string, readonly hard: boolean, readonly used: boolean, msg: string) {
    super('Conflict', `conflict: unable to delete ${shortId(imgId)} (${hard ? 'cannot' : 'must'} be forced) - ${msg}`);
  }
}

const CONFLICT_CHILD = 1, CONFLICT_RUNNING = 2, CONFLICT_REFERENCE = 4, CONFLICT_STOPPED = 8;
const CONFLICT_HARD = CONFLICT_CHILD | CONFLICT_RUNNING;
const CONFLICT_SOFT = CONFLICT_REFERENCE | CONFLICT_STOPPED;

export class ImageService {
  private readonly layout: StoreLayout;
  private readonly blobs: BlobStore;
  private readonly layers: LayerStore;
  private readonly meta: MetadataStore;
  private readonly events: EventBus;
  private images = new Map<string, Image>();
  private metas = new Map<string, ImageMeta>();
  private lock = new KeyedMutex();
  /**
   * The owner translation of a container's upper directory (a remapped container's host IDs back
   * to its own, so a committed layer holds the IDs the container saw), set by the engine.
   */
  ownersOf?: (containerId: string) => OwnerMap | undefined;
  private pins = new Map<string, number>();
  private usage: UsageCheck = () => [];

  constructor(opts: { dataRoot: string; events: EventBus }) {
    this.layout = new StoreLayout(opts.dataRoot);
    this.blobs = new BlobStore(this.layout);
    this.layers = new LayerStore(this.layout, this.blobs);
    this.meta = new MetadataStore(this.layout);
    this.events = opts.events;
  }

  setUsageCheck(fn: UsageCheck): void { this.usage = fn; }

  // ---- start-up --------------------------------------------------------------------------------

  async init(): Promise<void> {
    await fsp.mkdir(this.layout.root, { recursive: true, mode: 0o700 });
    await fsp.rm(this.layout.tmpDir, { recursive: true, force: true });
    await fsp.mkdir(this.layout.tmpDir, { recursive: true });
    await sweepViews(this.layout.viewsDir);
    await this.blobs.init();
    await this.layers.init();
    await this.meta.init();
    this.images.clear();
    this.metas.clear();
    for (const id of await this.meta.listImageIds()) {
      const m = await this.meta.readMeta(id);
      const bytes = await this.blobs.read(id).catch(() => undefined);
      let config: ImageConfigFile | undefined;
      try { config = bytes && sha(bytes) === id ? JSON.parse(bytes.toString('utf8')) : undefined; } catch { config = undefined; }
      const diffIds = config?.rootfs?.diff_ids ?? [];
      if (!m || !config || !diffIds.every((d) => this.layers.has(d))) {
        log.warn('removing incomplete image', { id });
        await this.meta.deleteMeta(id);
        continue;
      }
      this.metas.set(id, m);
      this.images.set(id, { id, config, repoTags: [], repoDigests: [], size: this.sizeOf(config), parent: m.parent ?? '' });
    }
    let dropped = false;
    for (const [ref, id] of [...this.meta.refs]) {
      if (!this.images.has(id)) { this.meta.refs.delete(ref); dropped = true; }
    }
    if (dropped) await this.meta.saveRefs();
    for (const id of this.images.keys()) this.refreshTags(id);
    // Blobs that nothing references any more (a crash between ingest and use, a superseded copy).
    const keep = new Set<string>([...this.images.keys(), ...this.layers.all().map((l) => l.blob.digest)]);
    for (const b of await this.blobs.list()) if (!keep.has(b)) await this.blobs.delete(b);
  }

  /**
   * At start, once the containers are known: a layer that no image and no container uses is what
   * a pull or build cut between its layer and its image leaves (a disk leak no API shows). The
   * layer goes; its blob joins the partial downloads, so pulling that image again unpacks it from
   * here instead of fetching it (partials are dropped after a week). A stopped container whose
   * image was removed with -f still sits on its layers: those stay.
   */
  async sweepUnusedLayers(containerLowerDirs: string[][]): Promise<void> {
    const used = new Set([...this.images.values()].flatMap((i) => i.config.rootfs?.diff_ids ?? []));
    const dirs = new Set(containerLowerDirs.flat());
    for (const l of this.layers.all()) {
      if (used.has(l.diffId) || dirs.has(this.layers.diffDir(l.diffId))) continue;
      log.info('removing a layer no image or container uses', { diffId: l.diffId });
      await this.layers.delete(l.diffId, true);
      await fsp.mkdir(this.layout.partialDir, { recursive: true, mode: 0o700 });
      await fsp.rename(this.blobs.path(l.blob.digest), path.join(this.layout.partialDir, l.blob.digest.replace(/^sha256:/, ''))).catch(() => {});
    }
  }

  // ---- lookup ----------------------------------------------------------------------------------

  async resolve(ref: string): Promise<Image> {
    const img = this.lookup(ref);
    if (!img) throw notFound(`No such image: ${this.displayRef(ref)}`);
    return img;
  }

  private displayRef(ref: string): string {
    try {
      const a = parseAnyReference(ref);
      if ('ref' in a) return familiarString(withDefaultTag(a.ref));
    } catch { /* shown raw */ }
    return ref;
  }

  private lookup(ref: string): Image | undefined {
    const a = parseAnyReference(ref);
    if ('id' in a) return this.images.get(a.id);
    const id = this.meta.refs.get(fullString(withDefaultTag(a.ref)));
    if (id && this.images.has(id)) return this.images.get(id);
    // Search by (short) ID.
    const m = /^(?:sha256:)?([a-f0-9]+)$/.exec(ref);
    if (m) {
      const found = [...this.images.keys()].filter((k) => k.slice(7).startsWith(m[1]));
      if (found.length === 1) return this.images.get(found[0]);
    }
    return undefined;
  }

  async list(): Promise<Image[]> {
    return [...this.images.values()].sort((a, b) => createdMs(b) - createdMs(a));
  }

  children(id: string): Image[] {
    return [...this.images.values()].filter((i) => i.parent === id);
  }

  async lowerDirs(image: Image): Promise<string[]> {
    const ids = image.config.rootfs?.diff_ids ?? [];
    for (const d of ids) if (!this.layers.has(d)) throw systemError(`layer ${d} of image ${shortId(image.id)} is missing`);
    // A layer listed twice (two steps that changed the same nothing, e.g. RUNs whose only writes
    // went to mounts) is one directory, which overlayfs refuses twice (ELOOP). The upper copy is
    // kept: the lower one's content is all under it, so the view is the same.
    const seen = new Set<string>();
    return [...ids].reverse().filter((d) => !seen.has(d) && !!seen.add(d)).map((d) => this.layers.diffDir(d));
  }

  /**
   * The image's file system, read-only, for a reader that writes nothing (store/image-views.ts).
   * The layers are seen as stored, without any userns-remap shift.
   */
  openView(image: Image): Promise<ImageView> {
    return this.pinnedWhileOpen(image, (lowers) => mountView(this.layout.viewsDir, lowers));
  }

  /** A writable view of the image for a build step that writes files and runs nothing: commit its `upper` once unmounted. */
  openScratch(image: Image): Promise<ScratchView> {
    return this.pinnedWhileOpen(image, (lowers) => mountScratch(this.layout.viewsDir, lowers));
  }

  /** A view's layers stay while it is open, even if the image is removed meanwhile. */
  private async pinnedWhileOpen<V extends ImageView>(image: Image, mount: (lowerDirs: string[]) => Promise<V>): Promise<V> {
    const unpin = this.pin(image.config.rootfs?.diff_ids ?? []);
    try {
      const view = await mount(await this.lowerDirs(image));
      let closed: Promise<void> | undefined;
      return { ...view, close: () => (closed ??= view.close().finally(unpin)) };
    } catch (e) {
      unpin();
      throw e;
    }
  }

  /** A lowerdir as a copy owned by the host IDs of `map` (userns-remap without idmapped mounts; LayerStore.remapped). */
  remappedLower(dir: string, map: IdMap): Promise<string> { return this.layers.remapped(dir, map); }

  /**
   * Per image, the bytes of its layers that another image uses too (Docker's SharedSize: a layer
   * counts as shared when more than one image references it), and the store's layers counted once.
   */
  async layerSharing(listed?: Image[]): Promise<{ shared: Map<string, number>; layersSize: number }> {
    const all = listed ?? await this.list();
    const users = new Map<string, number>();
    for (const i of all) for (const d of new Set(i.config.rootfs?.diff_ids ?? [])) users.set(d, (users.get(d) ?? 0) + 1);
    const size = (d: string) => this.layers.get(d)?.size ?? 0;
    const shared = new Map<string, number>();
    for (const i of all) shared.set(i.id, [...new Set(i.config.rootfs?.diff_ids ?? [])].reduce((n, d) => n + ((users.get(d) ?? 0) > 1 ? size(d) : 0), 0));
    let layersSize = 0;
    for (const d of users.keys()) layersSize += size(d);
    return { shared, layersSize };
  }

  private sizeOf(config: ImageConfigFile): number {
    return (config.rootfs?.diff_ids ?? []).reduce((n, d) => n + (this.layers.get(d)?.size ?? 0), 0);
  }

  private refreshTags(id: string): void {
    const img = this.images.get(id);
    if (!img) return;
    const refs = this.meta.refsOf(id).map((r) => parseReference(r));
    img.repoTags = refs.filter((r) => r.tag && !r.digest).map(familiarString).sort();
    img.repoDigests = refs.filter((r) => r.digest).map(familiarString).sort();
  }

  // ---- creating images -------------------------------------------------------------------------

  private pin(diffIds: string[]): () => void {
    for (const d of diffIds) this.pins.set(d, (this.pins.get(d) ?? 0) + 1);
    return () => {
      for (const d of diffIds) {
        const n = (this.pins.get(d) ?? 1) - 1;
        if (n <= 0) this.pins.delete(d); else this.pins.set(d, n);
      }
    };
  }

  /**
   * Stores a config whose layers are present and (optionally) tags it. Returns the image and, for
   * each tag that moved, the ID it was taken from.
   */
  private async addImage(configBytes: Buffer, parent: string, tags: Reference[]): Promise<{ image: Image; moved: { ref: Reference; from: string }[] }> {
    return this.lock.run('meta', async () => {
      const config = JSON.parse(configBytes.toString('utf8')) as ImageConfigFile;
      if (!config.rootfs || !Array.isArray(config.rootfs.diff_ids)) throw invalid('invalid image config: no rootfs');
      for (const d of config.rootfs.diff_ids) if (!this.layers.has(d)) throw systemError(`layer ${d} is missing`);
      // The config blob and the image's record are written side by side: init() drops a record
      // whose config is not there, so a crash between the two leaves no image.
      const id = sha(configBytes);
      let m = this.metas.get(id);
      const fresh = !m;
      m ??= { parent };
      await Promise.all([this.blobs.putBytes(configBytes), fresh ? this.meta.writeMeta(id, m) : undefined]);
      if (fresh) this.metas.set(id, m);
      let image = this.images.get(id);
      if (!image) {
        image = { id, config, repoTags: [], repoDigests: [], size: this.sizeOf(config), parent: m.parent ?? '' };
        this.images.set(id, image);
      }
      const moved = await this.setTags(id, tags);
      return { image, moved };
    });
  }

  /** Points each tag at `id` (caller holds the lock). */
  private async setTags(id: string, tags: Reference[]): Promise<{ ref: Reference; from: string }[]> {
    const moved: { ref: Reference; from: string }[] = [];
    if (tags.length === 0) return moved;
    const touched = new Set<string>([id]);
    let changed = false;
    for (const r of tags) {
      const key = fullString(r);
      const old = this.meta.refs.get(key);
      if (old === id) continue;
      if (old) { moved.push({ ref: r, from: old }); touched.add(old); }
      this.meta.refs.set(key, id);
      changed = true;
    }
    // Tagging again what a tag already names (every cached rebuild) changes no reference. The
    // references and the image's own record are files of their own: written side by side.
    const m = this.metas.get(id);
    if (m) m.lastTagTime = new Date().toISOString();
    await Promise.all([changed ? this.meta.saveRefs() : undefined, m ? this.meta.writeMeta(id, m) : undefined]);
    for (const t of touched) this.refreshTags(t);
    return moved;
  }

  private tagRef(s: string): Reference {
    const r = parseReference(s);
    if (r.digest) throw invalid('refusing to create a tag with a digest reference');
    return withDefaultTag(r);
  }

  async tag(ref: string, newRef: string): Promise<void> {
    const img = await this.resolve(ref);
    const r = this.tagRef(newRef);
    await this.lock.run('meta', async () => {
      if (!this.images.has(img.id)) throw notFound(`No such image: ${this.displayRef(ref)}`);
      await this.setTags(img.id, [r]);
    });
    this.events.publish('image', 'tag', img.id, { name: familiarString(r) });
  }

  async commit(opts: {
    upperDir: string; parent?: Image; config: ContainerConfig; containerId?: string; comment?: string; author?: string;
    createdBy?: string; emptyLayer?: boolean; ref?: string;
    /** A layer already in the store (by DiffID) to add instead of the diff of upperDir (COPY --link on a new base). */
    layer?: string;
    /**
     * The caller gives upperDir up (a finished build step): this moves it to the path given and
     * resolves true, and it becomes the layer's diff instead of a copy unpacked from the blob
     * (LayerStore.fromDir). Not used when the container's owners are translated (userns-remap).
     */
    adoptUpper?: (dest: string) => Promise<boolean>;
  }): Promise<Image> {
    const tags = opts.ref ? [this.tagRef(opts.ref)] : [];
    const parentCfg = opts.parent?.config;
    const diffIds = [...(parentCfg?.rootfs?.diff_ids ?? [])];
    const unpins = [this.pin(diffIds)];
    try {
      if (opts.layer) {
        if (!this.layers.has(opts.layer)) throw systemError(`layer ${opts.layer} is missing`);
        unpins.push(this.pin([opts.layer]));
        diffIds.push(opts.layer);
      } else if (!opts.emptyLayer) {
        const owners = opts.containerId ? this.ownersOf?.(opts.containerId) : undefined;
        const pack = tarStream.pack();
        const ingest = this.blobs.ingest(pack as unknown as NodeJS.ReadableStream);
        const adopt = opts.adoptUpper && !owners;
        const [{ size, faithful }, blob] = await Promise.all([writeDiffTar(opts.upperDir, pack, owners, { faithfulness: !!adopt }), ingest]);
        // An uncompressed layer blob's digest is its DiffID. The directory becomes the layer only
        // when the blob says all it holds: a layer must read the same here as where it is pulled
        // (the tar carries no file capability or other extended attribute).
        const layer = await this.layerOf(blob, () => adopt && faithful
          ? this.layers.fromDir(blob, size, opts.adoptUpper!)
          : this.layers.fromBlob(blob.digest, blob.digest));
        diffIds.push(layer.diffId);
        unpins.push(this.pin([layer.diffId]));
      }
      const created = new Date().toISOString();
      const history = [...(parentCfg?.history ?? [])];
      const h: NonNullable<ImageConfigFile['history']>[number] = { created, created_by: opts.createdBy ?? (opts.config.Cmd ?? []).join(' ') };
      if (opts.author) h.author = opts.author;
      if (opts.comment) h.comment = opts.comment;
      if (opts.emptyLayer) h.empty_layer = true;
      history.push(h);
      const cfg: ImageConfigFile = {
        architecture: parentCfg?.architecture ?? hostArch(),
        ...(opts.author ? { author: opts.author } : {}),
        ...(opts.comment ? { comment: opts.comment } : {}),
        config: opts.config,
        ...(opts.containerId ? { container: opts.containerId } : {}),
        created,
        docker_version: ENGINE_VERSION_FOR_CONFIG,
        history,
        os: parentCfg?.os ?? 'linux',
        rootfs: { type: 'layers', diff_ids: diffIds },
      };
      const { image } = await this.addImage(Buffer.from(JSON.stringify(cfg)), opts.parent?.id ?? '', tags);
      for (const t of tags) this.events.publish('image', 'tag', image.id, { name: familiarString(t) });
      return image;
    } finally {
      for (const u of unpins) u();
    }
  }

  /**
   * Creates an image from a base image config with no parent image record (the builder's FROM
   * scratch + files, bootstrap recipes): `layerTars` are uncompressed or compressed tar streams.
   */
  async createFromLayers(opts: { layers: NodeJS.ReadableStream[]; config: Omit<ImageConfigFile, 'rootfs'>; ref?: string }): Promise<Image> {
    const tags = opts.ref ? [this.tagRef(opts.ref)] : [];
    const diffIds: string[] = [];
    for (const l of opts.layers) {
      const blob = await this.blobs.ingest(l);
      const plain = (await fileCompression(this.blobs.path(blob.digest))) === 'none';
      diffIds.push((await this.layerOf(blob, () => this.layers.fromBlob(blob.digest, plain ? blob.digest : undefined))).diffId);
    }
    const unpin = this.pin(diffIds);
    try {
      const cfg = { ...opts.config, rootfs: { type: 'layers' as const, diff_ids: diffIds } };
      const { image } = await this.addImage(Buffer.from(JSON.stringify(cfg)), '', tags);
      for (const t of tags) this.events.publish('image', 'tag', image.id, { name: familiarString(t) });
      return image;
    } finally { unpin(); }
  }

  /**
   * The layer of a blob that `blob`'s caller has just stored. Should unpacking it fail (a full
   * disk, most often), a blob that came with this call and that no layer holds goes with the
   * error, so the space is back at once rather than at drayd's next start.
   */
  private async layerOf(blob: BlobInfo, unpack: () => Promise<LayerRecord>): Promise<LayerRecord> {
    try {
      return await unpack();
    } catch (e) {
      if (blob.fresh && !this.layers.all().some((l) => l.blob.digest === blob.digest)) await this.blobs.delete(blob.digest).catch(() => {});
      throw e;
    }
  }

  async importRootfs(tar: NodeJS.ReadableStream, opts: { ref?: string; changes?: string[]; message?: string }): Promise<Image> {
    const tags = opts.ref ? [this.tagRef(opts.ref)] : [];
    const config = applyChanges({}, opts.changes ?? []);
    const blob = await this.blobs.ingest(tar);
    const layer = await this.layerOf(blob, () => this.layers.fromBlob(blob.digest));
    const unpin = this.pin([layer.diffId]);
    try {
      const created = new Date().toISOString();
      const msg = opts.message || 'Imported from -';
      const cfg: ImageConfigFile = {
        architecture: hostArch(),
        comment: msg,
        config,
        created,
        docker_version: ENGINE_VERSION_FOR_CONFIG,
        history: [{ created, comment: msg }],
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [layer.diffId] },
      };
      const { image } = await this.addImage(Buffer.from(JSON.stringify(cfg)), '', tags);
      this.events.publish('image', 'import', image.id, { name: image.id });
      for (const t of tags) this.events.publish('image', 'tag', image.id, { name: familiarString(t) });
      return image;
    } finally { unpin(); }
  }

  async load(tar: NodeJS.ReadableStream, progress: (line: string) => void): Promise<Image[]> {
    const work = path.join(this.layout.tmpDir, `load-${randomBytes(6).toString('hex')}`);
    await fsp.mkdir(path.join(work, 'x'), { recursive: true });
    try {
      const archive = path.join(work, 'archive');
      await pipeline(tar, createWriteStream(archive));
      await extractPlainTar(await openDecompressed(archive), path.join(work, 'x'));
      await fsp.rm(archive, { force: true });
      const entries = await readArchiveDir(path.join(work, 'x'), hostArch());
      if (entries.length === 0) throw invalid('no images found in the archive');
      const adopted = new Map<string, BlobInfo>();
      const out: Image[] = [];
      for (const e of entries) {
        let cfg: ImageConfigFile;
        try { cfg = JSON.parse(e.config.toString('utf8')); } catch { throw invalid('invalid image config in archive'); }
        const diffIds = cfg.rootfs?.diff_ids ?? [];
        if (diffIds.length !== e.layers.length) throw invalid(`invalid manifest, layers length mismatch: expected ${diffIds.length}, got ${e.layers.length}`);
        const tags = e.repoTags.map((t) => this.tagRef(t));
        const unpin = this.pin(diffIds);
        try {
          for (let i = 0; i < diffIds.length; i++) {
            if (this.layers.has(diffIds[i])) continue;
            let blob = adopted.get(e.layers[i]);
            if (!blob) {
              blob = await this.blobs.adoptFile(e.layers[i]);
              adopted.set(e.layers[i], blob);
            }
            const digest = blob.digest;
            await this.layerOf(blob, () => this.layers.fromBlob(digest, diffIds[i]));
          }
          const { image, moved } = await this.addImage(e.config, '', tags);
          for (const mv of moved) {
            const left = this.images.get(mv.from);
            if (left && left.repoTags.length === 0) progress(`The image ${familiarString(mv.ref)} already exists, renaming the old one with ID ${mv.from} to empty string\n`);
          }
          this.events.publish('image', 'load', image.id, { name: image.id });
          for (const t of tags) {
            this.events.publish('image', 'tag', image.id, { name: familiarString(t) });
            progress(`Loaded image: ${familiarString(t)}\n`);
          }
          if (tags.length === 0) progress(`Loaded image ID: ${image.id}\n`);
          out.push(image);
        } finally { unpin(); }
      }
      return out;
    } finally {
      await fsp.rm(work, { recursive: true, force: true });
    }
  }

  async save(refs: string[], out: NodeJS.WritableStream): Promise<void> {
    const byId = new Map<string, SaveImage>();
    for (const ref of refs) {
      const img = await this.resolve(ref);
      let s = byId.get(img.id);
      if (!s) {
        const diffIds = img.config.rootfs.diff_ids;
        s = {
          id: img.id,
          config: await this.blobs.read(img.id),
          layers: diffIds.map((d) => {
            const l = this.layers.get(d);
            if (!l) throw systemError(`layer ${d} is missing`);
            return { path: this.blobs.path(l.blob.digest), digest: l.blob.digest, size: l.blob.size, mediaType: l.blob.mediaType };
          }),
          repoTags: [], fullTags: [],
        };
        byId.set(img.id, s);
      }
      // A name saves the tag it names (all the repository's tags for a bare name); an ID no tag.
      const a = parseAnyReference(ref);
      if ('ref' in a && !a.ref.digest) {
        const r = a.ref;
        const byName = this.meta.refs.get(fullString(withDefaultTag(r))) === img.id;
        if (byName) {
          const wanted = r.tag ? [r] : this.meta.refsOf(img.id).map((x) => parseReference(x)).filter((x) => x.tag && !x.digest && fullName(x) === fullName(r));
          for (const t of wanted) {
            const fam = familiarString(t);
            if (!s.repoTags.includes(fam)) { s.repoTags.push(fam); s.fullTags.push(fullString(t)); }
          }
        }
      }
    }
    const pack = tarStream.pack();
    await Promise.all([pipeline(pack as unknown as NodeJS.ReadableStream, out), writeArchive(pack, [...byId.values()])]);
    for (const s of byId.values()) this.events.publish('image', 'save', s.id, { name: s.repoTags[0] ?? s.id });
  }

  // ---- removal ---------------------------------------------------------------------------------

  async remove(ref: string, opts: { force: boolean; noprune: boolean }): Promise<DeleteRecord[]> {
    return this.lock.run('meta', async () => (await this.removeLocked(ref, opts.force, !opts.noprune)).records);
  }

  private async removeLocked(ref: string, force: boolean, prune: boolean): Promise<{ records: DeleteRecord[]; reclaimed: number }> {
    const img = this.lookup(ref);
    if (!img) throw notFound(`No such image: ${this.displayRef(ref)}`);
    const id = img.id;
    const records: DeleteRecord[] = [];
    const acc = { reclaimed: 0 };
    let repoRefs = this.meta.refsOf(id);
    const using = this.usage(id);
    let removedRepositoryRef = false;
    if (!isImageIdPrefix(id, ref)) {
      const r = withDefaultTag(parseReference(ref));
      if (!force && isSingleReference(repoRefs) && using.length > 0) {
        throw conflict(`conflict: unable to remove repository reference "${ref}" (must force) - container ${shortId(using[0].id)} is using its referenced image ${shortId(id)}`);
      }
      const key = fullString(r);
      if (this.meta.refs.get(key) !== id) throw notFound(`No such image: ${familiarString(r)}`);
      this.meta.refs.delete(key);
      await this.meta.saveRefs();
      this.refreshTags(id);
      records.push({ Untagged: familiarString(r) });
      this.events.publish('image', 'untag', id, { name: id });
      repoRefs = this.meta.refsOf(id);
      // The last tag of a repository goes with its digest references (RepoDigests), as in Docker.
      if (!r.digest && !repoRefs.some((k) => { const x = parseReference(k); return !x.digest && fullName(x) === fullName(r); })) {
        const digests = repoRefs.filter((k) => { const x = parseReference(k); return !!x.digest && fullName(x) === fullName(r); });
        for (const k of digests) {
          this.meta.refs.delete(k);
          records.push({ Untagged: familiarString(parseReference(k)) });
        }
        if (digests.length) { await this.meta.saveRefs(); this.refreshTags(id); repoRefs = this.meta.refsOf(id); }
      }
      if (repoRefs.length > 0) return { records, reclaimed: 0 };
      removedRepositoryRef = true;
    } else if (isSingleReference(repoRefs)) {
      const mask = CONFLICT_HARD | (force ? 0 : CONFLICT_SOFT & ~CONFLICT_REFERENCE);
      const c = this.checkConflict(id, mask);
      if (c) throw c;
      for (const k of repoRefs) {
        this.meta.refs.delete(k);
        records.push({ Untagged: familiarString(parseReference(k)) });
        this.events.publish('image', 'untag', id, { name: id });
      }
      await this.meta.saveRefs();
      this.refreshTags(id);
    }
    await this.deleteHelper(id, records, force, prune, removedRepositoryRef, acc);
    return { records, reclaimed: acc.reclaimed };
  }

  private checkConflict(id: string, mask: number): DeleteConflict | undefined {
    if (mask & CONFLICT_CHILD && this.children(id).length > 0) return new DeleteConflict(id, true, false, 'image has dependent child images');
    const users = this.usage(id);
    const running = users.find((u) => u.running);
    if (mask & CONFLICT_RUNNING && running) return new DeleteConflict(id, true, true, `image is being used by running container ${shortId(running.id)}`);
    if (mask & CONFLICT_REFERENCE && this.meta.refsOf(id).length > 0) return new DeleteConflict(id, false, false, 'image is referenced in multiple repositories');
    const stopped = users.find((u) => !u.running);
    if (mask & CONFLICT_STOPPED && stopped) return new DeleteConflict(id, false, true, `image is being used by stopped container ${shortId(stopped.id)}`);
    return undefined;
  }

  private isDangling(id: string): boolean {
    return this.meta.refsOf(id).length === 0 && this.children(id).length === 0;
  }

  private async deleteHelper(id: string, records: DeleteRecord[], force: boolean, prune: boolean, quiet: boolean, acc: { reclaimed: number }): Promise<void> {
    const c = this.checkConflict(id, CONFLICT_HARD | (force ? 0 : CONFLICT_SOFT));
    if (c) {
      if (quiet && (!this.isDangling(id) || c.used)) return;
      throw c;
    }
    const img = this.images.get(id)!;
    const parent = img.parent;
    const inUse = this.usage(id).length > 0;
    // Remove every remaining reference.
    const refs = this.meta.refsOf(id);
    if (refs.length) {
      for (const k of refs) {
        this.meta.refs.delete(k);
        records.push({ Untagged: familiarString(parseReference(k)) });
        this.events.publish('image', 'untag', id, { name: id });
      }
      await this.meta.saveRefs();
    }
    // Metadata first: a crash after this leaves only unreferenced blobs and layers.
    await this.meta.deleteMeta(id);
    this.images.delete(id);
    this.metas.delete(id);
    await this.blobs.delete(id);
    this.events.publish('image', 'delete', id, { name: id });
    records.push({ Deleted: id });
    // Layers no other image needs (kept when a stopped container still sits on them).
    if (!inUse) {
      const diffIds = img.config.rootfs.diff_ids;
      const chains = chainIds(diffIds);
      const stillUsed = new Set<string>();
      for (const other of this.images.values()) for (const d of other.config.rootfs.diff_ids) stillUsed.add(d);
      const done = new Set<string>();
      for (let i = diffIds.length - 1; i >= 0; i--) {
        const d = diffIds[i];
        if (stillUsed.has(d) || this.pins.has(d) || done.has(d)) continue;
        done.add(d);
        acc.reclaimed += this.layers.get(d)?.size ?? 0;
        await this.layers.delete(d);
        records.push({ Deleted: chains[i] });
      }
    }
    if (!prune || !parent || !this.images.has(parent)) return;
    await this.deleteHelper(parent, records, false, true, true, acc);
  }

  /** Whether prune may take `img` now: no child image left, untagged (or `all`), no container on it. */
  private prunable(img: Image, all: boolean, hasChild: (id: string) => boolean): boolean {
    return !hasChild(img.id) && (all || img.repoTags.length + img.repoDigests.length === 0) && this.usage(img.id).length === 0;
  }

  /**
   * What prune({all}) without filters would free now, removing nothing (the dashboard shows it
   * before one asks): the same candidates round after round (a parent goes once its last child
   * did), then the layers that no image left holds and no pull pins.
   */
  pruneEstimate(all: boolean): { images: number; bytes: number } {
    const gone = new Set<string>();
    for (;;) {
      const rest = [...this.images.values()].filter((i) => !gone.has(i.id));
      const candidates = rest.filter((img) => this.prunable(img, all, (id) => rest.some((o) => o.parent === id)));
      if (!candidates.length) break;
      for (const c of candidates) gone.add(c.id);
    }
    const kept = new Set<string>();
    for (const i of this.images.values()) if (!gone.has(i.id)) for (const d of i.config.rootfs.diff_ids) kept.add(d);
    const freed = new Set<string>();
    for (const id of gone) for (const d of this.images.get(id)!.config.rootfs.diff_ids) if (!kept.has(d) && !this.pins.has(d)) freed.add(d);
    let bytes = 0;
    for (const d of freed) bytes += this.layers.get(d)?.size ?? 0;
    return { images: gone.size, bytes };
  }

  async prune(opts: { all: boolean; filters: Map<string, string[]> }): Promise<{ ImagesDeleted: DeleteRecord[]; SpaceReclaimed: number }> {
    const f = opts.filters;
    for (const k of f.keys()) if (!['dangling', 'until', 'label', 'label!'].includes(k)) throw invalid(`invalid filter '${k}'`);
    let all = opts.all;
    const dangling = f.get('dangling');
    if (dangling && dangling.length) {
      const v = dangling[0].toLowerCase();
      if (!['true', 'false', '1', '0'].includes(v)) throw invalid(`invalid filter 'dangling=${dangling[0]}'`);
      all = v === 'false' || v === '0';
    }
    const until = f.get('until')?.[0];
    const untilMs = until !== undefined ? parseTimestamp(until) : undefined;
    const matches = (img: Image) => {
      if (untilMs !== undefined && !(createdMs(img) < untilMs)) return false;
      const labels = img.config.config?.Labels ?? {};
      for (const l of f.get('label') ?? []) if (!labelMatch(labels, l)) return false;
      for (const l of f.get('label!') ?? []) if (labelMatch(labels, l)) return false;
      return true;
    };
    return this.lock.run('meta', async () => {
      const deleted: DeleteRecord[] = [];
      let reclaimed = 0;
      const tried = new Set<string>();
      for (;;) {
        const candidates = [...this.images.values()].filter((img) => !tried.has(img.id) && this.prunable(img, all, (id) => this.children(id).length > 0) && matches(img));
        if (candidates.length === 0) break;
        for (const img of candidates) {
          tried.add(img.id);
          if (!this.images.has(img.id)) continue;
          try {
            const refs = this.meta.refsOf(img.id);
            const targets = refs.length ? refs.map((r) => familiarString(parseReference(r))) : [img.id];
            for (const t of targets) {
              if (!this.images.has(img.id)) break;
              const r = await this.removeLocked(t, false, true);
              deleted.push(...r.records);
              reclaimed += r.reclaimed;
            }
          } catch (e) {
            if (!(e instanceof DrayError && e.kind === 'Conflict')) throw e;
          }
        }
      }
      return { ImagesDeleted: deleted, SpaceReclaimed: reclaimed };
    });
  }

  // ---- views -----------------------------------------------------------------------------------

  inspect(image: Image): object {
    const c = image.config;
    const diffIds = c.rootfs?.diff_ids ?? [];
    const dirs = [...diffIds].reverse().map((d) => this.layout.layer(d));
    const graph: Record<string, string> = {};
    if (dirs.length) {
      if (dirs.length > 1) graph.LowerDir = dirs.slice(1).map((d) => path.join(d, 'diff')).join(':');
      graph.MergedDir = path.join(dirs[0], 'merged');
      graph.UpperDir = path.join(dirs[0], 'diff');
      graph.WorkDir = path.join(dirs[0], 'work');
    }
    return {
      Id: image.id,
      RepoTags: image.repoTags,
      RepoDigests: image.repoDigests,
      Parent: image.parent,
      Comment: c.comment ?? '',
      Created: c.created ?? '0001-01-01T00:00:00Z',
      Container: c.container ?? '',
      // Docker 20.10 shows an empty config here for images no container committed; docker-compose 1.29 reads it unguarded.
      ContainerConfig: fullConfig(c.container_config ?? {}),
      DockerVersion: c.docker_version ?? '',
      Author: c.author ?? '',
      Config: fullConfig(c.config),
      Architecture: c.architecture,
      ...(c.variant ? { Variant: c.variant } : {}),
      Os: c.os,
      ...(c['os.version'] ? { OsVersion: c['os.version'] } : {}),
      Size: image.size,
      VirtualSize: image.size,
      GraphDriver: { Name: 'overlay2', Data: dirs.length ? graph : null },
      RootFS: { Type: 'layers', Layers: diffIds },
      Metadata: { LastTagTime: this.metas.get(image.id)?.lastTagTime ?? '0001-01-01T00:00:00Z' },
    };
  }

  summary(image: Image): object {
    return {
      Containers: -1,
      Created: Math.floor(createdMs(image) / 1000),
      Id: image.id,
      Labels: image.config.config?.Labels ?? {},
      ParentId: image.parent,
      RepoDigests: image.repoDigests,
      RepoTags: image.repoTags,
      SharedSize: -1,
      Size: image.size,
      VirtualSize: image.size,
    };
  }

  history(image: Image): object[] {
    const c = image.config;
    const diffIds = c.rootfs?.diff_ids ?? [];
    const items: { Id: string; Created: number; CreatedBy: string; Tags: string[] | null; Size: number; Comment: string }[] = [];
    let li = 0;
    for (const h of c.history ?? []) {
      let size = 0;
      if (!h.empty_layer) {
        const d = diffIds[li++];
        size = d ? this.layers.get(d)?.size ?? 0 : 0;
      }
      items.unshift({ Id: '<missing>', Created: h.created ? Math.floor(Date.parse(h.created) / 1000) : 0, CreatedBy: h.created_by ?? '', Tags: null, Size: size, Comment: h.comment ?? '' });
    }
    let cur: Image | undefined = image;
    for (const it of items) {
      if (!cur) break;
      it.Id = cur.id;
      it.Tags = cur.repoTags.length ? [...cur.repoTags] : null;
      cur = cur.parent ? this.images.get(cur.parent) : undefined;
    }
    return items;
  }

  /** Images for GET /images/json with Docker's filters (dangling, label, before, since, reference). */
  async listFiltered(opts: { all: boolean; filters: Map<string, string[]> }): Promise<Image[]> {
    const f = opts.filters;
    for (const k of f.keys()) if (!['dangling', 'label', 'before', 'since', 'reference', 'until'].includes(k)) throw invalid(`invalid filter '${k}'`);
    let dangling: boolean | undefined;
    const dv = f.get('dangling');
    if (dv && dv.length) {
      const v = dv[0].toLowerCase();
      if (!['true', 'false', '1', '0'].includes(v)) throw invalid(`invalid filter 'dangling=${dv[0]}'`);
      dangling = v === 'true' || v === '1';
    }
    const before = f.get('before')?.length ? await this.resolve(f.get('before')![0]) : undefined;
    const since = f.get('since')?.length ? await this.resolve(f.get('since')![0]) : undefined;
    const until = f.get('until')?.[0];
    const untilMs = until !== undefined ? parseTimestamp(until) : undefined;
    const out: Image[] = [];
    for (const img of await this.list()) {
      const isDangling = img.repoTags.length === 0 && img.repoDigests.length === 0;
      if (dangling === true && !isDangling) continue;
      if (dangling === false && isDangling) continue;
      if (!opts.all && dangling === undefined && isDangling && this.children(img.id).length > 0) continue;
      if (before && !(createdMs(img) < createdMs(before))) continue;
      if (since && !(createdMs(img) > createdMs(since))) continue;
      if (untilMs !== undefined && !(createdMs(img) < untilMs)) continue;
      const labels = img.config.config?.Labels ?? {};
      if (!(f.get('label') ?? []).every((l) => labelMatch(labels, l))) continue;
      const pats = f.get('reference') ?? [];
      if (pats.length) {
        // As Docker: the image is listed with only the names that matched (`docker images foo`
        // prints foo's rows, not every tag the same image also has).
        const matches = (r: string) => pats.some((p) => referenceFilterMatch(p, parseReference(r)));
        const repoTags = img.repoTags.filter(matches);
        const repoDigests = img.repoDigests.filter(matches);
        if (!repoTags.length && !repoDigests.length) continue;
        out.push({ ...img, repoTags, repoDigests });
        continue;
      }
      out.push(img);
    }
    return out;
  }

  // ---- docker diff -----------------------------------------------------------------------------

  async changes(upperDir: string, lowerDirs: string[]): Promise<{ Path: string; Kind: 0 | 1 | 2 }[]> {
    const out: { Path: string; Kind: 0 | 1 | 2 }[] = [];
    const inLowers = async (rel: string): Promise<boolean> => {
      for (const l of lowerDirs) {
        const st = await fsp.lstat(path.join(l, rel)).catch(() => undefined);
        if (st) return !isWhiteoutDevice(st);
        // A whiteout or opaque parent in this lower hides anything below it.
        const parts = rel.split('/').filter(Boolean);
        for (let i = parts.length - 1; i > 0; i--) {
          const pst = await fsp.lstat(path.join(l, ...parts.slice(0, i))).catch(() => undefined);
          if (pst && (isWhiteoutDevice(pst) || !pst.isDirectory())) return false;
        }
      }
      return false;
    };
    const walk = async (abs: string, rel: string): Promise<void> => {
      const names = (await fsp.readdir(abs)).sort();
      for (const n of names) {
        const p = path.join(abs, n);
        const r = `${rel}/${n}`;
        const st = await fsp.lstat(p);
        if (isWhiteoutDevice(st)) { out.push({ Path: r, Kind: 2 }); continue; }
        out.push({ Path: r, Kind: (await inLowers(r)) ? 0 : 1 });
        if (st.isDirectory()) await walk(p, r);
      }
    };
    await walk(upperDir, '');
    return out.sort((a, b) => (a.Path < b.Path ? -1 : a.Path > b.Path ? 1 : 0));
  }

  // ---- what the registry client needs (engine/distribution.ts) ---------------------------------

  /** The store as pulls write to it: blobs, layers, pins, and which images exist. */
  registryStore(): { blobs: BlobStore; layers: LayerStore; layout: StoreLayout; pin: (d: string[]) => () => void; hasImage: (id: string) => boolean; layerInUse: (d: string) => boolean } {
    return {
      blobs: this.blobs, layers: this.layers, layout: this.layout,
      pin: (d) => this.pin(d),
      hasImage: (id) => {
        const img = this.images.get(id);
        return !!img && img.config.rootfs.diff_ids.every((d) => this.layers.has(d));
      },
      layerInUse: (d) => [...this.images.values()].some((i) => i.config.rootfs.diff_ids.includes(d)),
    };
  }

  /**
   * Commits a pulled image: its config (layers already in the store), the reference pulled (a
   * tag, or the digest) and the RepoDigest. `upToDate`: the reference named this image already.
   */
  async commitPulled(configBytes: Buffer, pulled: Reference, repoDigest: Reference): Promise<{ image: Image; upToDate: boolean }> {
    const key = fullString(pulled);
    const before = this.meta.refs.get(key);
    const { image } = await this.addImage(configBytes, '', pulled.digest ? [repoDigest] : [pulled, repoDigest]);
    const upToDate = before === image.id;
    if (!upToDate) this.events.publish('image', 'pull', image.id, { name: familiarString(pulled) });
    return { image, upToDate };
  }

  /** Commits a pulled image that no reference is to name (a build cache's step images, as a load by ID). */
  async commitUntagged(configBytes: Buffer): Promise<Image> {
    return (await this.addImage(configBytes, '', [])).image;
  }

  /** Adds `repoDigest` (name@sha256:…) to an image after a push. */
  async addRepoDigest(id: string, repoDigest: Reference): Promise<void> {
    await this.lock.run('meta', async () => {
      if (this.images.has(id)) await this.setTags(id, [repoDigest]);
    });
  }

  /** Tags of the repository `name` (docker.io/library/x) with their images: what `push --all-tags` pushes. */
  tagsOf(name: string): Reference[] {
    return [...this.meta.refs.keys()].map((k) => parseReference(k)).filter((r) => r.tag && !r.digest && fullName(r) === name)
      .sort((a, b) => (a.tag! < b.tag! ? -1 : 1));
  }

  /** The image a tag names, with what a push sends: config bytes and the stored layer blobs. */
  async forPush(ref: Reference): Promise<{ id: string; configBytes: Buffer; layers: { diffId: string; path: string; digest: string; size: number; mediaType: string }[] } | undefined> {
    const id = this.meta.refs.get(fullString(ref));
    return id ? this.forPushById(id) : undefined;
  }

  /** forPush of an image by its ID (a build cache's images, which no tag names). */
  async forPushById(id: string): Promise<{ id: string; configBytes: Buffer; layers: { diffId: string; path: string; digest: string; size: number; mediaType: string }[] } | undefined> {
    const img = this.images.get(id);
    if (!img) return undefined;
    const layers = img.config.rootfs.diff_ids.map((d) => {
      const l = this.layers.get(d);
      if (!l) throw systemError(`layer ${d} of image ${shortId(img.id)} is missing`);
      return { diffId: d, path: this.blobs.path(l.blob.digest), digest: l.blob.digest, size: l.blob.size, mediaType: l.blob.mediaType };
    });
    return { id: img.id, configBytes: await this.blobs.read(img.id), layers };
  }

  /** Pins the layers of an image while a push reads them. */
  pinImage(id: string): () => void {
    return this.pin(this.images.get(id)?.config.rootfs.diff_ids ?? []);
  }

  publishPush(id: string, ref: Reference): void {
    this.events.publish('image', 'push', id, { name: familiarString(ref) });
  }
}

// ---- helpers -------------------------------------------------------------------------------------

const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

function createdMs(img: Image): number {
  const t = img.config.created ? Date.parse(img.config.created) : 0;
  return Number.isFinite(t) ? t : 0;
}

function parseTimestamp(s: string): number {
  try { return timeOrDurationAgo(s); } catch (e) { throw invalid((e as Error).message); }
}

function labelMatch(labels: Record<string, string>, f: string): boolean {
  const i = f.indexOf('=');
  if (i < 0) return f in labels;
  return labels[f.slice(0, i)] === f.slice(i + 1);
}

function isImageIdPrefix(id: string, ref: string): boolean {
  return id.startsWith(ref) || id.slice(7).startsWith(ref);
}

function isSingleReference(refs: string[]): boolean {
  if (refs.length <= 1) return refs.length === 1;
  const parsed = refs.map((r) => parseReference(r));
  const canonical = new Set<string>();
  let single: Reference | undefined;
  for (const r of parsed) {
    if (r.digest) canonical.add(fullName(r));
    else if (!single) single = r;
    else return false;
  }
  single ??= parsed[0];
  return canonical.size === 1 && canonical.has(fullName(single));
}

/** Docker's ContainerConfig with every field present, as its API returns it. */
export function fullConfig(c: ContainerConfig | undefined): ContainerConfig | null {
  if (!c) return null;
  return {
    Hostname: '', Domainname: '', User: '', AttachStdin: false, AttachStdout: false, AttachStderr: false,
    Tty: false, OpenStdin: false, StdinOnce: false, Env: null, Cmd: null, Image: '', Volumes: null, WorkingDir: '',
    Entrypoint: null, OnBuild: null, Labels: null,
    ...c,
  };
}

/** Extracts a plain tar stream into `dir` with GNU tar (no whiteout handling: archives, not layers). */
async function extractPlainTar(src: NodeJS.ReadableStream, dir: string): Promise<void> {
  const tar = spawnChild('tar', ['-x', '--no-same-owner', '--no-same-permissions', '-C', dir, '-f', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
  let err = '';
  tar.stderr!.on('data', (b) => { err += b; });
  const done = new Promise<void>((resolve, reject) => {
    tar.on('error', reject);
    tar.on('close', (code) => (code === 0 ? resolve() : reject(invalid(`invalid archive: ${tarMessage(err) || `tar exit status ${code}`}`))));
  });
  tar.stdin!.on('error', () => {});
  // tar stops reading at the end-of-archive marker, so a closed stdin after a clean exit is fine.
  // A clean exit means tar read the whole archive; the feed may then end with EPIPE or a premature
  // close on the trailing padding it did not read, which is no error.
  const fed = pipeline(src, tar.stdin!).then(() => undefined, (e) => e as Error);
  await done.catch(async (e) => { await fed; throw e; });
  await fed;
}
