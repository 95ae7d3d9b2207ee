// The build cache as `system df` and `builder prune` see it: two kinds of record, as BuildKit names
// them —
//   exec.cachemount  a RUN --mount=type=cache directory (cache-mounts.ts): its bytes are the
//                    cache's own, freed by pruning;
//   regular          a step of the step cache (cache.ts): which image a step made from its parent.
//                    Its size is that step's layer, which the image holds (Shared: true): pruning
//                    the entry makes the next build run the step again, and frees nothing itself.
// Pruning, as `docker builder prune`:
//   default          cache mounts no step uses, and entries whose image is gone
//   all              every entry and cache mount no step uses
//   filters          until / unused-for (last used before), id, type, description (substring),
//                    inuse, shared, private (BuildKit's); others are refused
//   keep-storage     deletes the least recently used cache mounts only until what is left fits
import type { ContextSnapshots } from './context-snapshots';
import type { Image } from '../engine/types';
import { invalid } from '../lib/errors';
import { timeOrDurationAgo } from '../lib/units';
import type { BuildCache, CacheEntryView } from './cache';
import type { CacheMounts, CacheMountRecord } from './cache-mounts';

export interface PruneRequest {
  all: boolean;
  keepStorage: number;
  filters: Map<string, string[]>;
}

export interface DfRecord {
  ID: string;
  Parent: string;
  Parents: string[] | null;
  Type: string;
  Description: string;
  InUse: boolean;
  Shared: boolean;
  Size: number;
  CreatedAt: string;
  LastUsedAt: string | null;
  UsageCount: number;
}

const FILTERS = ['until', 'unused-for', 'id', 'type', 'description', 'inuse', 'shared', 'private'];

function mountRecord(r: CacheMountRecord): DfRecord {
  return {
    ID: r.name.slice(0, 25), Parent: '', Parents: null, Type: 'exec.cachemount', Description: r.description, InUse: r.inUse, Shared: false,
    Size: r.size, CreatedAt: new Date(r.created).toISOString(), LastUsedAt: new Date(r.lastUsed).toISOString(), UsageCount: r.usageCount,
  };
}

function entryRecord(e: CacheEntryView, image: Image | undefined, parent: Image | undefined): DfRecord {
  const top = (image?.size ?? 0) - (parent?.size ?? 0);
  return {
    ID: e.key.slice(0, 25), Parent: e.parent ? e.parent.replace(/^sha256:/, '').slice(0, 25) : '', Parents: null, Type: 'regular',
    Description: e.text.split('\n')[0].slice(0, 200), InUse: false, Shared: true, Size: Math.max(0, top),
    CreatedAt: new Date(e.created).toISOString(), LastUsedAt: new Date(e.lastUsed).toISOString(), UsageCount: e.uses,
  };
}

/** The BuildCache array of GET /system/df. */
export async function buildCacheUsage(cache: BuildCache, mounts: CacheMounts, image: (id: string) => Promise<Image | undefined>, contexts?: ContextSnapshots): Promise<DfRecord[]> {
  const out: DfRecord[] = (await mounts.list()).map(mountRecord);
  // dray build's kept context files, as BuildKit lists its local sources.
  for (const c of await contexts?.usage() ?? []) {
    const at = new Date(c.used).toISOString();
    out.push({ ID: c.key.slice(0, 25), Parent: '', Parents: null, Type: 'source.local', Description: `local source for context (${c.files} files)`, InUse: false, Shared: false, Size: c.size, CreatedAt: at, LastUsedAt: at, UsageCount: 1 });
  }
  for (const e of await cache.entries()) {
    const img = await image(e.image);
    if (!img) continue;
    out.push(entryRecord(e, img, e.parent ? await image(e.parent) : undefined));
  }
  return out;
}

function matches(r: DfRecord, lastUsed: number, f: Map<string, string[]>): boolean {
  for (const k of f.keys()) if (!FILTERS.includes(k)) throw invalid(`invalid filter '${k}'`);
  const cut = (v: string) => { try { return timeOrDurationAgo(v); } catch (e) { throw invalid((e as Error).message); } };
  for (const v of [...(f.get('until') ?? []), ...(f.get('unused-for') ?? [])]) if (!(lastUsed < cut(v))) return false;
  const any = (k: string, pred: (v: string) => boolean) => { const vs = f.get(k); return !vs?.length || vs.some(pred); };
  const bool = (v: string) => v === 'true' || v === '1';
  return any('id', (v) => r.ID.startsWith(v))
    && any('type', (v) => r.Type === v)
    && any('description', (v) => r.Description.includes(v))
    && any('inuse', (v) => r.InUse === bool(v))
    && any('shared', (v) => r.Shared === bool(v))
    && any('private', (v) => r.Shared !== bool(v));
}

export async function pruneBuildCache(cache: BuildCache, mounts: CacheMounts, req: PruneRequest, image: (id: string) => Promise<Image | undefined>): Promise<{ CachesDeleted: string[] | null; SpaceReclaimed: number }> {
  for (const k of req.filters.keys()) if (!FILTERS.includes(k)) throw invalid(`invalid filter '${k}'`);
  const deleted: string[] = [];
  let reclaimed = 0;
  const r = await mounts.prune((records) => {
    let picked = records.filter((m) => matches(mountRecord(m), m.lastUsed, req.filters));
    if (req.keepStorage > 0) {
      // Oldest first until the caches left (picked or not) fit.
      let total = records.reduce((n, m) => n + m.size, 0);
      const keep: CacheMountRecord[] = [];
      for (const m of picked) { if (total <= req.keepStorage) break; keep.push(m); total -= m.size; }
      picked = keep;
    }
    return picked;
  });
  for (const m of r.deleted) deleted.push(m.name.slice(0, 25));
  reclaimed += r.reclaimed;
  const gone: string[] = [];
  for (const e of await cache.entries()) {
    const img = await image(e.image);
    const stale = !img;
    if (!stale && (!req.all || req.keepStorage > 0)) continue;
    if (!stale && !matches(entryRecord(e, img, undefined), e.lastUsed, req.filters)) continue;
    gone.push(e.key);
    if (!stale) deleted.push(e.key.slice(0, 25));
  }
  await cache.remove(gone);
  return { CachesDeleted: deleted.length ? deleted : null, SpaceReclaimed: reclaimed };
}

export function checkPruneFilters(f: Map<string, string[]>): void {
  for (const k of f.keys()) if (!FILTERS.includes(k)) throw invalid(`invalid filter '${k}'`);
}
