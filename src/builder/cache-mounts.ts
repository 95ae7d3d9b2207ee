// Cache mounts (RUN --mount=type=cache): directories kept under the data root across builds and
// bind-mounted into the steps that name them. They are never part of a layer, nor of a step's
// cache key (only the mount's spec is). Lifecycle: acquire (made on first use, empty or filled
// from `from`) → mounted by one or more steps → release → pruned by `builder prune`.
//
//   <dataRoot>/builder/cache-mounts/
//     <key>/             one cache: key = sha256 of the BuildKit key (below)
//       meta.json        {version, id, target, description, created, lastUsed, usageCount}
//       data/            what the steps see at the target
//     <key>.<n>/         further instances of a `sharing=private` cache used by several steps at once
//     .new-<random>/     a cache being made, renamed into place when complete (removed at start)
//     .old-<random>/     a pruned cache being deleted (removed at start)
//
// The key is BuildKit's: the cache's id (which defaults to the target), plus, when the cache
// starts from something other than an empty directory (`from`, or `uid`/`gid`/`mode`), that
// starting point; so a cache with another owner or source is another cache.
//
// Sharing, among the steps of every build this daemon runs: `shared` steps use one instance at
// once; `locked` waits until no other step uses it and keeps others out; `private` takes an
// instance no step is using, making another when all are busy.
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { readJsonIfExists, writeJsonAtomic } from '../lib/atomic';
import { KeyedMutex } from '../lib/lock';
import { errorMessage, systemError } from '../lib/errors';
import { log } from '../lib/log';
import { dirSize } from '../engine/volumes';
import type { CacheSharing } from './run-options';

interface Meta { version: 1; id: string; target: string; description: string; created: number; lastUsed: number; usageCount: number }

export interface CacheMountRecord {
  /** Directory name: the key, with `.<n>` for a further private instance. */
  name: string;
  id: string;
  description: string;
  created: number;
  lastUsed: number;
  usageCount: number;
  inUse: boolean;
  size: number;
}

export interface AcquireOptions {
  id: string;
  target: string;
  sharing: CacheSharing;
  /** The starting point beyond the id (from's image and source, owner and mode), '' for none. */
  base: string;
  mode: number;
  uid: number;
  gid: number;
  /** Shown by `system df -v`. */
  description: string;
  /** Fills a new cache's directory (cache `from`). */
  init?: (dir: string) => Promise<void>;
  signal?: AbortSignal;
}

export interface HeldCache { dir: string; release(): void }

interface State { users: number; exclusive: boolean; waiters: (() => void)[] }

/** Private instances of one cache at most: a bound on what concurrent steps can make. */
const MAX_INSTANCES = 64;

export class CacheMounts {
  readonly root: string;
  private states = new Map<string, State>();
  private lock = new KeyedMutex();
  private swept = false;

  constructor(dataRoot: string) {
    this.root = path.join(dataRoot, 'builder', 'cache-mounts');
  }

  static key(id: string, base: string): string {
    return createHash('sha256').update(`cache-dir:${id}${base ? `\n${base}` : ''}`).digest('hex');
  }

  private state(name: string): State {
    let s = this.states.get(name);
    if (!s) { s = { users: 0, exclusive: false, waiters: [] }; this.states.set(name, s); }
    return s;
  }

  private async sweep(): Promise<void> {
    if (this.swept) return;
    this.swept = true;
    await fsp.mkdir(this.root, { recursive: true });
    for (const n of await fsp.readdir(this.root)) {
      if (n.startsWith('.new-') || n.startsWith('.old-')) await fsp.rm(path.join(this.root, n), { recursive: true, force: true }).catch(() => {});
    }
  }

  /** Waits until `ok()` holds for the state; resolves false when the build was cancelled. */
  private async waitFor(s: State, ok: () => boolean, signal?: AbortSignal): Promise<void> {
    // Each pass runs after a release, so the loop ends when the holders do (or the build ends).
    while (!ok()) {
      if (signal?.aborted) throw systemError('build cancelled: the client went away');
      await new Promise<void>((resolve) => {
        const done = () => { signal?.removeEventListener('abort', done); resolve(); };
        s.waiters.push(done);
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  }

  private wake(s: State): void {
    const w = s.waiters;
    s.waiters = [];
    for (const f of w) f();
  }

  async acquire(o: AcquireOptions): Promise<HeldCache> {
    await this.sweep();
    const key = CacheMounts.key(o.id, o.base);
    let name = key;
    if (o.sharing === 'private') {
      name = '';
      for (let n = 0; n < MAX_INSTANCES && !name; n++) {
        const cand = n === 0 ? key : `${key}.${n}`;
        const s = this.state(cand);
        if (s.users === 0 && !s.exclusive) name = cand;
      }
      if (!name) throw systemError(`cache mount ${o.id}: more than ${MAX_INSTANCES} private instances in use`);
    }
    const s = this.state(name);
    if (o.sharing === 'shared') await this.waitFor(s, () => !s.exclusive, o.signal);
    else await this.waitFor(s, () => !s.exclusive && s.users === 0, o.signal);
    // Claimed at once (no await between the check and here), then made or touched under the lock.
    s.users++;
    if (o.sharing !== 'shared') s.exclusive = true;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      s.users--;
      if (o.sharing !== 'shared') s.exclusive = false;
      this.wake(s);
    };
    try {
      const dir = await this.lock.run(name, () => this.ensure(name, o));
      return { dir, release };
    } catch (e) {
      release();
      throw e;
    }
  }

  /** The instance's data directory, made when missing; its use is recorded. */
  private async ensure(name: string, o: AcquireOptions): Promise<string> {
    const dir = path.join(this.root, name);
    const metaFile = path.join(dir, 'meta.json');
    const now = Date.now();
    const meta = await readJsonIfExists<Meta>(metaFile).catch(() => undefined);
    if (meta && (await fsp.stat(path.join(dir, 'data')).then((st) => st.isDirectory(), () => false))) {
      meta.lastUsed = now;
      meta.usageCount++;
      await writeJsonAtomic(metaFile, meta);
      return path.join(dir, 'data');
    }
    await fsp.rm(dir, { recursive: true, force: true });
    const tmp = path.join(this.root, `.new-${randomBytes(6).toString('hex')}`);
    try {
      const data = path.join(tmp, 'data');
      await fsp.mkdir(data, { recursive: true });
      if (o.init) await o.init(data);
      await fsp.chown(data, o.uid, o.gid);
      await fsp.chmod(data, o.mode);
      const m: Meta = { version: 1, id: o.id, target: o.target, description: o.description, created: now, lastUsed: now, usageCount: 1 };
      await writeJsonAtomic(path.join(tmp, 'meta.json'), m);
      await fsp.rename(tmp, dir);
    } catch (e) {
      await fsp.rm(tmp, { recursive: true, force: true }).catch(() => {});
      throw e;
    }
    return path.join(dir, 'data');
  }

  async list(withSize = true): Promise<CacheMountRecord[]> {
    await this.sweep();
    const out: CacheMountRecord[] = [];
    for (const name of (await fsp.readdir(this.root)).sort()) {
      if (name.startsWith('.')) continue;
      const m = await readJsonIfExists<Meta>(path.join(this.root, name, 'meta.json')).catch(() => undefined);
      if (!m) continue;
      const s = this.states.get(name);
      const size = withSize ? await dirSize(path.join(this.root, name, 'data')).catch(() => 0) : 0;
      out.push({ name, id: m.id, description: m.description, created: m.created, lastUsed: m.lastUsed, usageCount: m.usageCount, inUse: !!s && (s.users > 0 || s.exclusive), size });
    }
    return out;
  }

  /**
   * Deletes the caches no step uses that `select` picks (given the records oldest-used first);
   * returns what was deleted and the bytes freed.
   */
  async prune(select: (records: CacheMountRecord[]) => CacheMountRecord[]): Promise<{ deleted: CacheMountRecord[]; reclaimed: number }> {
    const all = (await this.list()).filter((r) => !r.inUse).sort((a, b) => a.lastUsed - b.lastUsed);
    const deleted: CacheMountRecord[] = [];
    let reclaimed = 0;
    for (const r of select(all)) {
      const gone = await this.lock.run(r.name, async () => {
        const s = this.states.get(r.name);
        if (s && (s.users > 0 || s.exclusive)) return false;
        const old = path.join(this.root, `.old-${randomBytes(6).toString('hex')}`);
        try { await fsp.rename(path.join(this.root, r.name), old); } catch (e) {
          log.warn('pruning a cache mount failed', { name: r.name, error: errorMessage(e) });
          return false;
        }
        await fsp.rm(old, { recursive: true, force: true });
        return true;
      });
      if (gone) { deleted.push(r); reclaimed += r.size; }
    }
    return { deleted, reclaimed };
  }
}
