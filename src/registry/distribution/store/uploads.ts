// Blob uploads, as containerd ingests content: the bytes accumulate under an upload id
// (uploads/<id>/data), hashed as they stream in, and become a blob only when the client names the
// digest, the digest matches, and the data is durable: then one move puts it under its digest
// (blobs.ts). Until then nothing of it is visible anywhere a pull could look. An upload that stops
// (a client killed mid-PATCH) keeps what arrived, for a resume; one that nobody touches for the
// timeout is purged.
//
// A chunk (PATCH) is written and closed, not synced: the data must be durable before it becomes a
// blob, not before the next chunk. Its answer does not wait for the disk; a sync started behind it
// lets the disk catch up while the next chunk arrives, and the commit waits for those and syncs
// once more before the move (so a chunked upload waits for one flush of its tail, not one per
// chunk). A crash in between loses at most the tail of an upload, which the next request finds by
// the stored size and the re-read hash.
//
// Each upload's hash lives in memory between requests. A request for an upload whose hash this
// process does not have (it restarted, or another registry process shares the storage) re-reads
// what is stored, so the digest is always of the bytes actually kept.
import { randomUUID } from 'node:crypto';
import { StorageDriver, baseName, isNotFound } from '../storage/driver';
import { Digest } from '../names';
import { StreamHash, streamHash } from '../../../lib/stream-hash';
import { regError } from '../errors';
import { KeyedMutex } from '../../../lib/lock';
import { UPLOADS, layout } from './layout';
import { BlobStore, fileTime } from './blobs';
import type { Repositories } from './repositories';

export interface UploadInfo { id: string; repository: string; started: string }
export interface UploadStatus extends UploadInfo { size: number }

interface HashState {
  hash: StreamHash;
  size: number;
  /** the bytes stored were synced by this process (their last writer committed) */
  durable: boolean;
}

const ID = /^[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$/;
const unknownUpload = (id: string) => regError('BLOB_UPLOAD_UNKNOWN', { uuid: id });

export interface CommitResult { digest: Digest; size: number; deduplicated: boolean }

export class Uploads {
  private states = new Map<string, HashState>();
  /** Uploads with a request in flight here: never purged under it. */
  private active = new Set<string>();
  private lock = new KeyedMutex();
  /**
   * Per upload, the sync started after its last chunk, one after another: the disk catches up
   * while the next chunk arrives, and the commit's own sync has little left to wait for. A
   * failure is kept for the commit to report (a later sync, on a descriptor opened after the
   * failed write-back, would not see it).
   */
  private syncsAhead = new Map<string, { done: Promise<void>; failed?: unknown }>();

  constructor(private driver: StorageDriver, private blobs: BlobStore, private repos: Repositories) {}

  get inProgress(): number { return this.active.size; }

  async start(repository: string): Promise<UploadStatus> {
    const info: UploadInfo = { id: randomUUID(), repository, started: new Date().toISOString() };
    await this.driver.putContent(layout.uploadInfo(info.id), JSON.stringify(info));
    return { ...info, size: 0 };
  }

  async status(repository: string, id: string): Promise<UploadStatus> {
    if (!ID.test(id)) throw unknownUpload(id);
    let info: UploadInfo;
    try { info = JSON.parse((await this.driver.getContent(layout.uploadInfo(id))).toString('utf8')); } catch (e) {
      if (isNotFound(e) || e instanceof SyntaxError) throw unknownUpload(id);
      throw e;
    }
    // An upload belongs to the repository it was started in (and the access that was checked there).
    if (info.repository !== repository) throw unknownUpload(id);
    let size = 0;
    try { size = (await this.driver.stat(layout.uploadData(id))).size; } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    return { ...info, size };
  }

  /**
   * Appends a request body. `start` (from Content-Range) must be where the upload stands, or the
   * chunk is refused with 416 and the upload is unchanged.
   */
  append(repository: string, id: string, body: AsyncIterable<Buffer>, start?: number): Promise<UploadStatus> {
    return this.locked(id, async () => {
      const st = await this.status(repository, id);
      if (start !== undefined && start !== st.size) {
        throw regError('RANGE_INVALID', { uploaded: st.size, start }, { message: `chunk starts at ${start}, the upload has ${st.size} bytes` })
          .withHeader('Range', rangeHeader(st.size));
      }
      const size = await this.write(id, body, true, false);
      this.syncAhead(id);
      return { ...st, size };
    });
  }

  /** The final PUT: the last chunk if any, then verify against `digest` and commit. */
  complete(repository: string, id: string, digest: Digest, body?: AsyncIterable<Buffer>, start?: number): Promise<CommitResult> {
    return this.locked(id, async () => {
      const st = await this.status(repository, id);
      if (start !== undefined && start !== st.size) {
        throw regError('RANGE_INVALID', { uploaded: st.size, start }).withHeader('Range', rangeHeader(st.size));
      }
      if (body) await this.write(id, body, true, true);
      // Done or failed, the upload is over (distribution's behaviour: one that failed verification
      // is gone, and the client starts again).
      try {
        return await this.commit(repository, id, digest);
      } finally {
        await this.remove(id);
      }
    });
  }

  /** A whole blob in one request (POST with ?digest=, or a pull-through fetch). */
  async ingest(repository: string, digest: Digest, body: AsyncIterable<Buffer>): Promise<CommitResult> {
    const id = randomUUID();
    return this.locked(id, async () => {
      try {
        await this.write(id, body, false, true);
        return await this.commit(repository, id, digest);
      } finally {
        await this.remove(id);
      }
    });
  }

  cancel(repository: string, id: string): Promise<void> {
    return this.locked(id, async () => {
      await this.status(repository, id);
      await this.remove(id);
    });
  }

  /** Removes uploads idle for longer than `maxAgeMs`; returns how many. */
  async purge(maxAgeMs: number): Promise<number> {
    let ids: string[];
    try { ids = (await this.driver.list(UPLOADS)).map(baseName); } catch (e) {
      if (isNotFound(e)) return 0;
      throw e;
    }
    const now = Date.now();
    let n = 0;
    for (const id of ids) {
      if (this.active.has(id)) continue;
      let newest = 0;
      // (an id with neither file is debris of a crash: newest stays 0 and it goes)
      for (const p of [layout.uploadInfo(id), layout.uploadData(id)]) {
        try { newest = Math.max(newest, fileTime((await this.driver.stat(p)).modTime)); } catch (e) {
          if (!isNotFound(e)) throw e;
        }
      }
      if (now - newest <= maxAgeMs || this.active.has(id)) continue;
      await this.remove(id);
      n++;
    }
    return n;
  }

  private async locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    return this.lock.run(id, async () => {
      this.active.add(id);
      try { return await fn(); } finally { this.active.delete(id); }
    });
  }

  /**
   * Streams `body` onto the upload's data, hashing as it goes; returns the new size. `durable`:
   * the data is synced before this returns (the last write before a commit), else only closed.
   */
  private async write(id: string, body: AsyncIterable<Buffer>, append: boolean, durable: boolean): Promise<number> {
    const w = await this.driver.writer(layout.uploadData(id), append);
    let st = this.states.get(id);
    if (!st || st.size !== w.size) {
      this.states.delete(id);
      st = { hash: await this.hashStored(id, 'sha256', w.size), size: w.size, durable: false };
    }
    let ok = false;
    let writeFailed = false;
    try {
      for await (const chunk of body) {
        try { await w.write(chunk); } catch (e) { writeFailed = true; throw e; }
        st.hash.update(chunk);
        st.size += chunk.length;
        const r = st.hash.ready();
        if (r) await r;
      }
      ok = true;
    } finally {
      // Kept even when the client went away: what arrived stays for a resume.
      try {
        if (durable && ok) await w.commit(); else await w.close();
        st.durable = durable && ok;
      } catch (e) {
        writeFailed = true;
        if (ok) throw e;
      }
      // After a failed write the hash may cover bytes the file lacks: the next request re-reads.
      if (writeFailed || st.hash.failed) this.states.delete(id);
      else this.states.set(id, st);
    }
    return st.size;
  }

  /** A hash of the first `size` bytes stored for the upload. */
  private async hashStored(id: string, algorithm: string, size: number): Promise<StreamHash> {
    const h = streamHash(algorithm);
    if (size === 0) return h;
    let left = size;
    for await (const c of await this.driver.reader(layout.uploadData(id), 0)) {
      const b = c as Buffer;
      h.update(left < b.length ? b.subarray(0, left) : b);
      left -= b.length;
      const r = h.ready();
      if (r) await r;
      if (left <= 0) break;
    }
    return h;
  }

  private async commit(repository: string, id: string, digest: Digest): Promise<CommitResult> {
    const data = layout.uploadData(id);
    let size = 0;
    try { size = (await this.driver.stat(data)).size; } catch (e) {
      if (!isNotFound(e)) throw e;
      await this.driver.putContent(data, ''); // an empty blob: POST then PUT with no body
    }
    const st = this.states.get(id);
    const actual = digest.algorithm === 'sha256' && st && st.size === size
      ? await st.hash.hex()
      : await (await this.hashStored(id, digest.algorithm, size)).hex();
    if (actual !== digest.hex) {
      throw regError('DIGEST_INVALID', { expected: digest.text, actual: `${digest.algorithm}:${actual}`, size });
    }
    // What chunks left closed but not synced (or another process wrote) is made durable before
    // it becomes the blob.
    const ahead = this.syncsAhead.get(id);
    if (ahead) {
      await ahead.done;
      if (ahead.failed) throw ahead.failed;
    }
    if (!(st && st.size === size && st.durable) && this.driver.sync) await this.driver.sync(data);
    const stored = await this.blobs.commitFrom(data, digest);
    await this.repos.linkLayer(repository, digest);
    return { digest, size, deduplicated: !stored };
  }

  private syncAhead(id: string): void {
    if (!this.driver.sync) return;
    const prev = this.syncsAhead.get(id);
    const entry: { done: Promise<void>; failed?: unknown } = { done: Promise.resolve(), failed: prev?.failed };
    const data = layout.uploadData(id);
    entry.done = (prev?.done ?? Promise.resolve()).then(() => this.driver.sync!(data)).catch((e) => { entry.failed ??= e; });
    this.syncsAhead.set(id, entry);
  }

  private async remove(id: string): Promise<void> {
    this.states.delete(id);
    this.syncsAhead.delete(id);
    try { await this.driver.delete(layout.uploadDir(id)); } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }
}

/** The Range header of an upload's status: distribution's "0-<last byte>" ("0-0" when empty). */
export function rangeHeader(size: number): string {
  return `0-${Math.max(0, size - 1)}`;
}
