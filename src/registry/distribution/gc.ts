// Garbage collection while the registry serves, with no lock and no read-only window.
//
// Mark: note the time t0, then read every repository's manifests (optionally dropping untagged
// ones first) and mark each manifest and everything it references. Sweep: a blob is garbage if
// nothing marked it AND it was neither written nor used since t0 - delay. The delay (default 1 h)
// covers pushes in flight: a client uploads its layers first and the manifest that references
// them last, so a blob may be unreferenced for as long as a push takes. Everything that relies on
// an existing blob records a use first and checks existence second (blobs.ts): a manifest PUT for
// each blob it names, a HEAD before a skipped upload, a mount, an upload of a blob already stored.
//
// Taking a blob away is a move into trash/, then a second look at its time of use: a request that
// used the blob between GC's first look and the move shows there (the move keeps the file's time;
// S3 keeps the `used` marker in place), and the blob goes back. A request that comes after the
// move finds no blob and answers as for any unknown blob (the client uploads it again). So GC
// never removes a blob a request has been told exists, and never waits for anything.
import { randomBytes } from 'node:crypto';
import { log } from '../../lib/log';
import { errorMessage } from '../../lib/errors';
import { isNotFound, baseName } from './storage/driver';
import { Digest, tryParseDigest } from './names';
import { manifestReferences, isIndexType } from './manifest';
import { TRASH, layout } from './store/layout';
import { fileTime } from './store/blobs';
import type { Registry } from './registry';

export interface GcOptions {
  /** Blobs written or used within this long before the mark began are kept. */
  delayMs: number;
  /** Also delete manifests no tag reaches (directly, through an index, or as a referrer). */
  deleteUntagged: boolean;
  /** Report what would be deleted; change nothing. */
  dryRun?: boolean;
}

export interface GcReport {
  startedAt: string;
  durationMs: number;
  repositories: number;
  manifests: number;
  manifestsDeleted: number;
  blobs: number;
  marked: number;
  blobsDeleted: number;
  bytesFreed: number;
  /** blobs taken to the trash and put back because a request used them meanwhile */
  restored: number;
  dryRun: boolean;
  deleted: string[];
}

interface Rev { digest: Digest; modTime: number; mediaType: string; refs?: ReturnType<typeof manifestReferences> }

export async function collectGarbage(reg: Registry, opts: GcOptions): Promise<GcReport> {
  const t0 = Date.now();
  const cutoff = t0 - opts.delayMs;
  const run = `${t0}-${randomBytes(4).toString('hex')}`;
  const report: GcReport = {
    startedAt: new Date(t0).toISOString(), durationMs: 0, repositories: 0, manifests: 0, manifestsDeleted: 0,
    blobs: 0, marked: 0, blobsDeleted: 0, bytesFreed: 0, restored: 0, dryRun: !!opts.dryRun, deleted: [],
  };
  if (!opts.dryRun) await restoreTrash(reg);

  // mark
  const marked = new Set<string>();
  for (const name of await reg.repos.listRepositories()) {
    report.repositories++;
    const revs: Rev[] = [];
    for (const r of await reg.repos.listRevisions(name)) {
      const rev = await reg.repos.getRevision(name, r.digest);
      if (!rev) continue;
      const body = await reg.blobs.get(r.digest);
      // a revision whose content is missing references nothing we could know of
      const refs = body ? manifestReferences(body, rev.mediaType) : undefined;
      if (body && !refs) throw new Error(`gc: manifest ${r.digest.text} of ${name} cannot be read; nothing was deleted`);
      revs.push({ digest: r.digest, modTime: fileTime(r.modTime), mediaType: rev.mediaType, refs });
    }
    report.manifests += revs.length;
    let keep = revs;
    if (opts.deleteUntagged) {
      keep = await keptRevisions(reg, name, revs, cutoff);
      const kept = new Set(keep.map((r) => r.digest.text));
      for (const r of revs) {
        if (kept.has(r.digest.text)) continue;
        report.manifestsDeleted++;
        if (opts.dryRun) continue;
        if (r.refs?.subject) await reg.repos.deleteReferrer(name, r.refs.subject, r.digest);
        await reg.repos.deleteRevision(name, r.digest);
        log.info('gc: untagged manifest deleted', { repository: name, digest: r.digest.text });
      }
    }
    for (const r of keep) {
      marked.add(r.digest.text);
      for (const d of r.refs?.blobs ?? []) marked.add(d.text);
      for (const d of r.refs?.manifests ?? []) marked.add(d.text);
    }
  }
  report.marked = marked.size;

  // sweep
  const candidates: { digest: Digest; size: number }[] = [];
  for await (const { digest, info } of reg.blobs.walk()) {
    report.blobs++;
    if (marked.has(digest.text) || fileTime(info.modTime) >= cutoff) continue;
    const used = await reg.blobs.lastUsed(digest);
    if (used !== undefined && used >= cutoff) continue;
    candidates.push({ digest, size: info.size });
  }
  for (const c of candidates) {
    if (opts.dryRun) { report.blobsDeleted++; report.bytesFreed += c.size; report.deleted.push(c.digest.text); continue; }
    try {
      if (await sweepOne(reg, run, c.digest, cutoff)) {
        report.blobsDeleted++;
        report.bytesFreed += c.size;
        report.deleted.push(c.digest.text);
      } else report.restored++;
    } catch (e) {
      log.warn('gc: could not remove blob', { digest: c.digest.text, error: errorMessage(e) });
    }
  }
  if (!opts.dryRun) await reg.driver.delete(`${TRASH}/${run}`).catch(() => {});
  report.durationMs = Date.now() - t0;
  return report;
}

/** Removes one unreferenced blob; false when a request used it meanwhile and it was put back. */
async function sweepOne(reg: Registry, run: string, d: Digest, cutoff: number): Promise<boolean> {
  const trash = layout.trash(run, d);
  try { await reg.driver.move(layout.blobData(d), trash); } catch (e) {
    if (isNotFound(e)) return true; // gone already (another GC)
    throw e;
  }
  const used = await reg.blobs.lastUsed(d, trash);
  if (used !== undefined && used >= cutoff) {
    await reg.driver.move(trash, layout.blobData(d));
    log.info('gc: blob used during collection, kept', { digest: d.text });
    return false;
  }
  reg.blobs.forget(d);
  await reg.driver.delete(trash);
  // Only the marker: the directory may already hold the same blob uploaded again since the move.
  await reg.driver.delete(layout.blobUsed(d)).catch(() => {});
  log.debug('gc: blob deleted', { digest: d.text });
  return true;
}

/** Puts back what an interrupted GC left in the trash: it is judged again by this run. */
async function restoreTrash(reg: Registry): Promise<void> {
  for await (const f of reg.driver.walk(TRASH)) {
    const m = /^([a-z0-9]+)-([a-f0-9]+)$/.exec(baseName(f.path));
    const d = m && tryParseDigest(`${m[1]}:${m[2]}`);
    if (!d) continue;
    try {
      if (await reg.blobs.stat(d)) await reg.driver.delete(f.path);
      else await reg.driver.move(f.path, layout.blobData(d));
    } catch (e) {
      if (!isNotFound(e)) throw e; // another GC is at it
    }
  }
}

/**
 * The manifests of a repository that stay when untagged ones go: tagged ones, what a kept index
 * lists, referrers of a kept manifest, and anything pushed within the delay (an index's children
 * are pushed before the index that tags them).
 */
async function keptRevisions(reg: Registry, name: string, revs: Rev[], cutoff: number): Promise<Rev[]> {
  const by = new Map(revs.map((r) => [r.digest.text, r]));
  const keep = new Set<string>();
  for (const d of (await reg.repos.tagMap(name)).values()) if (by.has(d.text)) keep.add(d.text);
  for (const r of revs) if (r.modTime >= cutoff) keep.add(r.digest.text);
  for (let changed = true; changed;) {
    changed = false;
    for (const r of revs) {
      const k = keep.has(r.digest.text);
      if (k && isIndexType(r.refs?.mediaType ?? r.mediaType)) {
        for (const c of r.refs?.manifests ?? []) if (by.has(c.text) && !keep.has(c.text)) { keep.add(c.text); changed = true; }
      }
      if (!k && r.refs?.subject && keep.has(r.refs.subject.text)) { keep.add(r.digest.text); changed = true; }
    }
  }
  return revs.filter((r) => keep.has(r.digest.text));
}
