// The build cache: which image a step produced from a given parent. One JSON index under the data
// root, written atomically once per build (BuildCache.flush), read once per daemon:
//
//   <dataRoot>/builder/cache.json   {"version": 1, "entries": {"<key>": {parent, text, sources?, image, at}}}
//
// key = sha256(parent image ID, instruction text after ARG/ENV substitution with the build args
// it uses, and for COPY/ADD the content hash of the sources). An entry whose image was deleted is
// a miss and is dropped. The entries also explain a miss (explaincache=1): same parent and text
// with other sources means "sources changed", same parent only means "instruction changed".
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { writeJsonAtomic, readJsonIfExists } from '../lib/atomic';
import { KeyedMutex } from '../lib/lock';
import { shortId } from '../lib/ids';
import { invalid } from '../lib/errors';

export interface CacheProbe {
  parent: string;
  text: string;
  /** COPY/ADD: the combined source hash, and per-file hashes for explanations. */
  sourceHash?: string;
  sources?: Record<string, string>;
}

interface Entry {
  parent: string; text: string; sourceHash?: string; sources?: Record<string, string>; image: string; at: number;
  /** Last hit and the number of hits (kept in memory and written with the next change or within seconds). */
  used?: number; uses?: number;
}

/** An entry as dray build --cache-to writes it. */
export interface ExportedEntry { parent: string; text: string; sourceHash?: string; sources?: Record<string, string>; image: string }

/** One entry as `system df` and `builder prune` see it. */
export interface CacheEntryView { key: string; parent: string; text: string; image: string; created: number; lastUsed: number; uses: number }

/** How long recorded hits wait before they are written (a cached build makes many at once). */
const TOUCH_FLUSH_MS = 2_000;
interface IndexFile { version: 1; entries: Record<string, Entry> }

const MAX_ENTRIES = 20_000;
const MAX_SOURCE_NAMES = 2_000;

export class BuildCache {
  private index?: IndexFile;
  private readonly file: string;
  private readonly lock = new KeyedMutex();
  private flushTimer?: NodeJS.Timeout;
  /** Entries stored in memory that the file does not have yet (flush writes them). */
  private dirty = false;

  constructor(dataRoot: string, private exists: (imageId: string) => Promise<boolean>) {
    this.file = path.join(dataRoot, 'builder', 'cache.json');
  }

  static key(p: CacheProbe): string {
    return createHash('sha256').update(`${p.parent}\n${p.text}\n${p.sourceHash ?? ''}`).digest('hex');
  }

  private async load(): Promise<IndexFile> {
    if (this.index) return this.index;
    const f = await readJsonIfExists<IndexFile>(this.file).catch(() => undefined);
    this.index = f && f.version === 1 && f.entries ? f : { version: 1, entries: {} };
    return this.index;
  }

  /** The cached image for this step, if it still exists. */
  async lookup(p: CacheProbe): Promise<string | undefined> {
    const idx = await this.load();
    const e = idx.entries[BuildCache.key(p)];
    if (!e) return undefined;
    if (!(await this.exists(e.image))) return undefined;
    e.used = Date.now();
    e.uses = (e.uses ?? 0) + 1;
    if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined;
        void this.lock.run('index', () => this.save()).catch(() => {});
      }, TOUCH_FLUSH_MS);
      this.flushTimer.unref();
    }
    return e.image;
  }

  private async save(): Promise<void> {
    const idx = await this.load();
    const was = this.dirty;
    this.dirty = false;
    try {
      await fsp.mkdir(path.dirname(this.file), { recursive: true });
      await writeJsonAtomic(this.file, idx);
    } catch (e) {
      this.dirty ||= was;
      throw e;
    }
  }

  /**
   * Writes the entries store() added since the file was last written. A build calls it once, at
   * its end, instead of the index being written (and fsynced) at every step it ran: the entries
   * of a build that a crash interrupts are lost, which only costs a rebuild of those steps, and
   * the file is always a whole index (written atomically) whose entries name images already saved.
   */
  async flush(): Promise<void> {
    if (!this.dirty) return;
    await this.lock.run('index', async () => { if (this.dirty) await this.save(); });
  }

  /** Every entry (for system df and builder prune). */
  async entries(): Promise<CacheEntryView[]> {
    const idx = await this.load();
    return Object.entries(idx.entries).map(([key, e]) => ({ key, parent: e.parent, text: e.text, image: e.image, created: e.at, lastUsed: e.used ?? e.at, uses: e.uses ?? 0 }));
  }

  /** Forgets the entries with these keys; the images stay (they are images, counted as such). */
  async remove(keys: string[]): Promise<number> {
    if (!keys.length) return 0;
    return this.lock.run('index', async () => {
      const idx = await this.load();
      let n = 0;
      for (const k of keys) if (k in idx.entries) { delete idx.entries[k]; n++; }
      if (n) await this.save();
      return n;
    });
  }

  /** Why `p` missed, in words (for explaincache). */
  async explain(p: CacheProbe, what: string): Promise<string> {
    const idx = await this.load();
    const e = idx.entries[BuildCache.key(p)];
    if (e && !(await this.exists(e.image))) return `cached image ${shortId(e.image)} was deleted`;
    const sameParent: Entry[] = [];
    for (const x of Object.values(idx.entries)) if (x.parent === p.parent && (await this.exists(x.image))) sameParent.push(x);
    if (sameParent.length === 0) return `no cached layer for parent ${p.parent ? shortId(p.parent) : 'scratch'}`;
    const sameText = sameParent.filter((x) => x.text === p.text);
    if (sameText.length === 0) return 'instruction changed';
    const prev = sameText.sort((a, b) => b.at - a.at)[0];
    const changed: string[] = [];
    if (prev.sources && p.sources) {
      const names = new Set([...Object.keys(prev.sources), ...Object.keys(p.sources)]);
      for (const n of [...names].sort()) if (prev.sources[n] !== p.sources[n]) changed.push(n);
    }
    const list = changed.length > 5 ? [...changed.slice(0, 5), `and ${changed.length - 5} more`] : changed;
    return `${what} sources changed${list.length ? ` (${list.join(', ')})` : ''}`;
  }

  /** The entries whose image is one of `images` (dray build --cache-to), as they are in the index. */
  async exportEntries(images: Set<string>): Promise<Record<string, ExportedEntry>> {
    const idx = await this.load();
    const out: Record<string, ExportedEntry> = {};
    for (const [k, e] of Object.entries(idx.entries)) {
      if (images.has(e.image)) out[k] = { parent: e.parent, text: e.text, sourceHash: e.sourceHash, sources: e.sources, image: e.image };
    }
    return out;
  }

  /**
   * Adds exported entries (dray build --cache-from type=local): each must carry the key its
   * fields make and name an image that exists here (loaded from the same export). Returns how
   * many were taken. `checkOnly`: the entries are checked, not added (before their images load).
   */
  async importEntries(entries: unknown, checkOnly = false): Promise<number> {
    if (typeof entries !== 'object' || entries === null || Array.isArray(entries)) throw invalid('invalid build cache: entries is not an object');
    const ok: [string, ExportedEntry][] = [];
    for (const [k, v] of Object.entries(entries as Record<string, any>)) {
      if (typeof v?.parent !== 'string' || typeof v?.text !== 'string' || typeof v?.image !== 'string' || (v.sourceHash !== undefined && typeof v.sourceHash !== 'string')) throw invalid(`invalid build cache entry ${k}`);
      if (BuildCache.key(v) !== k) throw invalid(`invalid build cache entry ${k}: its key does not match its contents`);
      if (checkOnly) { ok.push([k, v]); continue; }
      if (!(await this.exists(v.image))) continue;
      const sources = v.sources && typeof v.sources === 'object' && !Array.isArray(v.sources) ? v.sources as Record<string, string> : undefined;
      ok.push([k, { parent: v.parent, text: v.text, sourceHash: v.sourceHash, sources, image: v.image }]);
    }
    if (!ok.length || checkOnly) return ok.length;
    await this.lock.run('index', async () => {
      const idx = await this.load();
      const now = Date.now();
      for (const [k, e] of ok) idx.entries[k] = { ...e, at: now, used: now, uses: 0 };
      await this.save();
    });
    return ok.length;
  }

  /** Adds an entry, seen by every lookup at once; on disk at the next flush() (or other write). */
  async store(p: CacheProbe, image: string): Promise<void> {
    await this.lock.run('index', async () => {
      const idx = await this.load();
      const sources = p.sources && Object.keys(p.sources).length <= MAX_SOURCE_NAMES ? p.sources : undefined;
      const now = Date.now();
      idx.entries[BuildCache.key(p)] = { parent: p.parent, text: p.text, sourceHash: p.sourceHash, sources, image, at: now, used: now, uses: 0 };
      // Bounded: entries of deleted images go first, then the oldest.
      const keys = Object.keys(idx.entries);
      if (keys.length > MAX_ENTRIES) {
        for (const k of keys) if (!(await this.exists(idx.entries[k].image))) delete idx.entries[k];
        const rest = Object.entries(idx.entries).sort((a, b) => a[1].at - b[1].at);
        for (let i = 0; i < rest.length - MAX_ENTRIES; i++) delete idx.entries[rest[i][0]];
      }
      this.dirty = true;
    });
  }
}
