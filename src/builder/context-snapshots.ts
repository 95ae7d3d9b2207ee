// dray build's incremental context (a Dray extension; the docker CLI always sends the whole tar).
// drayd keeps the files of the last builds of each context directory, and the CLI sends only the
// files whose stat changed since, as BuildKit's fsutil does:
//
//   1. POST /dray/build/context?key=K, body: the manifest (every entry of the context, in tar
//      order, with its tar metadata and, for files, a stat key) → {"need": [indices]}: the files
//      drayd has no trusted copy of.
//   2. POST /build?…&draycontext=K, body: the manifest again, framed (named-contexts.ts' frames),
//      then a tar of the needed files only. drayd builds the context tree from both: the files
//      of the tar as usual (hashed as they stream), the others from its kept copies.
//   3. Once the context is in, while the build runs, the received files are kept and K's index
//      records the manifest's stat keys, under K's lock (a build of K that starts meanwhile waits
//      for it in step 1).
//
// When a file is trusted: the CLI's stat key is (dev, inode, size, mode, uid, gid, mtime, ctime).
// An edit that keeps the size and puts the old mtime back still moves ctime, which no user can
// set, so it is sent. What the stat cannot show is a second write within the file system clock's
// tick of the stat itself (git's "racily clean" entry): a file whose ctime is within RACY_MS
// (cli/build-context.ts) of the walk's start is marked racy by the CLI, is never indexed, and is
// always sent. The key K is the CLI's host name and context directory (hashed): two checkouts
// share nothing, and a file with another stat key is sent whatever K says.
//
// On disk (a cache: each file is written with a temp name and renamed, without fsync):
//
//   <dataRoot>/builder/contexts/
//     <K>.json          {"version": 1, "boot": <boot id>, "used": ms, "files": {"<rel>": {"k": stat key, "h": entry hash}}}
//     blobs/<hash>      a file's data, named by its entry hash (copy.ts: type, mode, content); never changed once in
//     blobs/.tmp-*      a blob being written (swept when the store is first used)
//
// An index written before the machine's last boot is dropped: its blobs may not have reached the
// disk. At most MAX_CONTEXTS indexes are kept (least recently used go first); a blob goes when no
// index names it and no build in flight uses it.
import * as path from 'node:path';
import { promises as fsp, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { readJsonIfExists, writeDerivedFile } from '../lib/atomic';
import { KeyedMutex } from '../lib/lock';
import { conflict, invalid, errorMessage } from '../lib/errors';
import { log } from '../lib/log';
import { TarHeader, TarKind } from './tar-reader';
import { BuildContext, ContextTree, receiveContext } from './context';
import { FramedBody } from './named-contexts';

/** One entry of the manifest, as the tar would carry it (mode: permission bits; mt: seconds). */
export interface ManifestEntry {
  p: string;
  t: 'f' | 'd' | 'l' | 'h' | 'o';
  m: number;
  mt: number;
  /** Files: size and stat key; racy (r) ones are always sent. */
  s?: number;
  k?: string;
  r?: 1;
  /** Symlinks: the target; hard links: the first path of the inode. */
  l?: string;
  /** Request 2: this file's data is in the tar. */
  x?: 1;
}
export interface Manifest { version: 1; entries: ManifestEntry[] }

interface IndexEntry { k: string; h: string }
interface IndexFile { version: 1; boot: string; used: number; files: Record<string, IndexEntry> }

export const MAX_CONTEXTS = 16;
const MAX_MANIFEST_BYTES = 256 << 20;
const KINDS: Record<ManifestEntry['t'], TarKind> = { f: 'file', d: 'dir', l: 'symlink', h: 'hardlink', o: 'other' };

function bootId(): string {
  try { return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(); } catch { return 'unknown'; }
}

export function checkManifest(doc: unknown): Manifest {
  const m = doc as Manifest;
  if (m?.version !== 1 || !Array.isArray(m.entries)) throw invalid('invalid build context manifest: expected {"version": 1, "entries": [...]}');
  for (const e of m.entries) {
    if (typeof e?.p !== 'string' || !(e.t in KINDS) || !Number.isInteger(e.m) || !Number.isFinite(e.mt)) throw invalid(`invalid build context manifest entry ${JSON.stringify(e)?.slice(0, 200)}`);
    if (e.t === 'f' && (!Number.isSafeInteger(e.s) || typeof e.k !== 'string')) throw invalid(`invalid build context manifest entry ${e.p}: a file needs a size and a stat key`);
    if ((e.t === 'l' || e.t === 'h') && typeof e.l !== 'string') throw invalid(`invalid build context manifest entry ${e.p}: a link needs its target`);
  }
  return m;
}

export function checkKey(key: string | null): string {
  if (!key || !/^[0-9a-f]{64}$/.test(key)) throw invalid(`invalid build context key: ${key}`);
  return key;
}

export class ContextSnapshots {
  private readonly dir: string;
  private readonly blobs: string;
  private readonly boot = bootId();
  private indexes?: Map<string, IndexFile>;
  private readonly lock = new KeyedMutex();
  /** Blobs that builds in flight read from, with their counts. */
  private readonly pinned = new Map<string, number>();

  constructor(dataRoot: string) {
    this.dir = path.join(dataRoot, 'builder', 'contexts');
    this.blobs = path.join(this.dir, 'blobs');
  }

  private blobPath(hash: string): string { return path.join(this.blobs, hash); }

  private loading?: Promise<Map<string, IndexFile>>;

  /** The indexes, read once (concurrent first callers share the read and its sweep). */
  private load(): Promise<Map<string, IndexFile>> {
    this.loading ??= this.readIndexes().catch((e) => { this.loading = undefined; throw e; });
    return this.loading;
  }

  private async readIndexes(): Promise<Map<string, IndexFile>> {
    const out = new Map<string, IndexFile>();
    await fsp.mkdir(this.blobs, { recursive: true });
    for (const name of await fsp.readdir(this.dir)) {
      const m = /^([0-9a-f]{64})\.json$/.exec(name);
      if (!m) continue;
      const f = await readJsonIfExists<IndexFile>(path.join(this.dir, name)).catch(() => undefined);
      if (f?.version === 1 && f.boot === this.boot && f.files) out.set(m[1], f);
      else await fsp.rm(path.join(this.dir, name), { force: true });
    }
    this.indexes = out;
    // What a crash or a reboot left: temp files and blobs no index names.
    const named = this.named();
    for (const b of await fsp.readdir(this.blobs)) if (!named.has(b)) await fsp.rm(this.blobPath(b), { force: true });
    return this.indexes;
  }

  private named(): Set<string> {
    const s = new Set<string>();
    for (const idx of this.indexes!.values()) for (const e of Object.values(idx.files)) s.add(e.h);
    return s;
  }

  /** The indices of the manifest's files drayd has no trusted copy of (step 1). */
  async need(key: string, m: Manifest): Promise<number[]> {
    // Waits for a build of the same context that is still keeping its files.
    return this.lock.run(key, async () => {
      const files = (await this.load()).get(key)?.files ?? {};
      const out: number[] = [];
      m.entries.forEach((e, i) => {
        if (e.t === 'f' && (e.r || files[e.p]?.k !== e.k)) out.push(i);
      });
      return out;
    });
  }

  /**
   * Receives an incremental context (step 2): the framed manifest, then the tar of the files it
   * marks as sent. The context's cleanup keeps the received files for the next build (step 3).
   */
  async receive(key: string, body: AsyncIterable<Buffer>, tmpRoot: string, dockerfileParam: string | null): Promise<BuildContext> {
    const framed = new FramedBody(body[Symbol.asyncIterator]());
    const parts: Buffer[] = [];
    let size = 0;
    for await (const b of framed.context('manifest')) {
      size += b.length;
      if (size > MAX_MANIFEST_BYTES) throw invalid('build context manifest too large');
      parts.push(b);
    }
    let doc: unknown;
    try { doc = JSON.parse(Buffer.concat(parts).toString('utf8')); } catch { throw invalid('invalid build context manifest: not JSON'); }
    const m = checkManifest(doc);
    const indexes = await this.load();
    const used: string[] = [];
    const unpin = async () => {
      const hs = used.splice(0);
      for (const h of hs) this.unpin(h);
      // A blob its index dropped while this build read it goes now.
      await this.sweep(hs);
    };
    const complete = async (tree: ContextTree) => {
      // Read now, with no await until the blobs are pinned: a sweep never takes a pinned blob.
      const files = indexes.get(key)?.files ?? {};
      for (const e of m.entries) {
        if (e.t === 'f' && e.x) {
          if (!tree.receivedFile(e.p)) throw invalid(`build context: ${e.p} is marked as sent but is not in the archive`);
          continue;
        }
        const h: TarHeader = { name: e.p, kind: KINDS[e.t], mode: e.m & 0o7777, uid: 0, gid: 0, size: e.t === 'f' ? e.s! : 0, mtimeMs: e.mt * 1000, linkname: e.l ?? '' };
        if (e.t !== 'f') { tree.addMember(h); continue; }
        const kept = files[e.p];
        // Step 1 said drayd had it; another build of this context may have replaced it since.
        if (!kept || kept.k !== e.k || e.r) throw conflict(`the build context's kept copy of ${e.p} changed during the upload; run the build again`);
        this.pin(kept.h);
        used.push(kept.h);
        tree.addMember(h, { path: this.blobPath(kept.h), hash: kept.h });
      }
    };
    let ctx: BuildContext;
    try {
      ctx = await receiveContext(framed.rest(), tmpRoot, dockerfileParam, complete);
    } catch (e) {
      await unpin();
      throw e;
    }
    // Kept while the build runs, not after it: the next build of this context (often at once)
    // waits for this in step 1. A failure costs the next build an upload, not this one its result.
    const tree = ctx.tree as ContextTree;
    const adopt = (rel: string, h: string) => {
      this.pin(h);
      used.push(h);
      tree.adoptBlob(rel, this.blobPath(h));
    };
    const kept = this.keep(key, m, tree, adopt).catch((e) => log.warn('keeping a build context failed', { error: errorMessage(e) }));
    const release = ctx.cleanup;
    ctx.cleanup = async () => {
      // The spool must outlive the copy out of it.
      await kept;
      await unpin().catch(() => {});
      await release();
    };
    return ctx;
  }

  private pin(h: string): void { this.pinned.set(h, (this.pinned.get(h) ?? 0) + 1); }
  private unpin(h: string): void {
    const n = (this.pinned.get(h) ?? 1) - 1;
    if (n > 0) this.pinned.set(h, n);
    else this.pinned.delete(h);
  }

  /** Step 3: the received files become blobs and K's index the manifest's trusted files. */
  /** `adopt`: called with each received file once it is a blob, which the build may read instead. */
  private async keep(key: string, m: Manifest, tree: ContextTree, adopt: (rel: string, hash: string) => void): Promise<void> {
    await this.lock.run(key, () => this.blobLock(async () => {
      const indexes = await this.load();
      const old = indexes.get(key)?.files ?? {};
      const files: Record<string, IndexEntry> = {};
      for (const e of m.entries) {
        if (e.t !== 'f' || e.r) continue;
        if (!e.x) {
          if (old[e.p]?.k === e.k) files[e.p] = old[e.p];
          continue;
        }
        const st = await tree.lstat(e.p);
        // Left out by .dockerignore on drayd's side: nothing to keep.
        if (!st?.isFile() || !tree.receivedFile(e.p)) continue;
        const h = await tree.entryHash(e.p, st);
        await this.writeBlobLocked(h, (dest) => tree.copyFile(e.p, dest));
        adopt(e.p, h);
        files[e.p] = { k: e.k!, h };
      }
      const idx: IndexFile = { version: 1, boot: this.boot, used: Date.now(), files };
      await writeDerivedFile(path.join(this.dir, `${key}.json`), JSON.stringify(idx), 0o600);
      indexes.set(key, idx);
      const dropped = Object.values(old).map((e) => e.h);
      // Bounded: the least recently used contexts go.
      const byAge = [...indexes.entries()].sort((a, b) => a[1].used - b[1].used);
      for (const [k, x] of byAge.slice(0, Math.max(0, byAge.length - MAX_CONTEXTS))) {
        indexes.delete(k);
        await fsp.rm(path.join(this.dir, `${k}.json`), { force: true });
        dropped.push(...Object.values(x.files).map((e) => e.h));
      }
      await this.sweepLocked(dropped);
    }));
  }

  /**
   * Blob writes and removals take one lock: a sweep that decided a blob was unused must not
   * remove it after a build found it on disk and named it in its index.
   */
  private blobLock<T>(fn: () => Promise<T>): Promise<T> { return this.lock.run('blobs', fn); }

  private async writeBlobLocked(h: string, write: (dest: string) => Promise<void>): Promise<void> {
    const dest = this.blobPath(h);
    if (await fsp.access(dest).then(() => true, () => false)) return;
    const tmp = path.join(this.blobs, `.tmp-${randomBytes(6).toString('hex')}`);
    try {
      await write(tmp);
      await fsp.rename(tmp, dest);
    } catch (e) {
      await fsp.rm(tmp, { force: true });
      throw e;
    }
  }

  /** Removes those of `hashes` that no index names and no build in flight uses. */
  private async sweep(hashes: string[]): Promise<void> {
    if (!hashes.length || !this.indexes) return;
    await this.blobLock(() => this.sweepLocked(hashes));
  }

  private async sweepLocked(hashes: string[]): Promise<void> {
    const named = this.named();
    for (const h of new Set(hashes)) if (!named.has(h) && !this.pinned.has(h)) await fsp.rm(this.blobPath(h), { force: true });
  }

  /**
   * The kept contexts as `system df` lists them: each with the bytes of its files, a blob that
   * several contexts share counted once (with the most recently used of them).
   */
  async usage(): Promise<{ key: string; used: number; files: number; size: number }[]> {
    const indexes = await this.load();
    const counted = new Set<string>();
    const out: { key: string; used: number; files: number; size: number }[] = [];
    for (const [key, x] of [...indexes.entries()].sort((a, b) => b[1].used - a[1].used)) {
      let size = 0;
      for (const e of Object.values(x.files)) {
        if (counted.has(e.h)) continue;
        counted.add(e.h);
        size += (await fsp.stat(this.blobPath(e.h)).catch(() => undefined))?.size ?? 0;
      }
      out.push({ key, used: x.used, files: Object.keys(x.files).length, size });
    }
    return out;
  }

  /** Forgets every kept context (builder prune --all); blobs in use by a build in flight stay until it ends. */
  async clear(): Promise<{ contexts: number; bytes: number }> {
    const indexes = await this.load();
    let bytes = 0;
    const keys = [...indexes.keys()];
    for (const key of keys) {
      await this.lock.run(key, async () => {
        const x = indexes.get(key);
        if (!x) return;
        indexes.delete(key);
        await fsp.rm(path.join(this.dir, `${key}.json`), { force: true });
        const hs = Object.values(x.files).map((e) => e.h);
        for (const h of new Set(hs)) if (!this.named().has(h) && !this.pinned.has(h)) bytes += (await fsp.stat(this.blobPath(h)).catch(() => undefined))?.size ?? 0;
        await this.sweep(hs);
      });
    }
    return { contexts: keys.length, bytes };
  }
}
