// Where blobs came from and went to, per blob (<data-root>/image/distribution/<hex>.json, see
// store/layout.ts): [{registry, repository}]. A push to a registry that already holds the blob in
// another repository mounts it from there (POST …/blobs/uploads/?mount=<digest>&from=<repo>)
// instead of uploading it, and one that holds it in the same repository is told nothing new.
// For layers stored uncompressed, the compressed blob a push made (and the registry now holds) is
// recorded by DiffID too, so the next push of the same layer does not compress it again.
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { readJsonIfExists, writeJsonAtomic, sweepTempFiles } from '../../lib/atomic';
import { KeyedMutex } from '../../lib/lock';
import { hex } from '../../store/layout';

export interface BlobSource { registry: string; repository: string }

interface Record_ {
  sources: BlobSource[];
  /** For a DiffID: the compressed blob pushed for it. */
  pushedAs?: { digest: string; size: number; mediaType: string };
}

const MAX_SOURCES = 16;

export class Sources {
  private readonly lock = new KeyedMutex();
  constructor(readonly dir: string) {}

  async init(): Promise<void> {
    await fsp.mkdir(this.dir, { recursive: true });
    await sweepTempFiles(this.dir);
  }

  private file(digest: string): string { return path.join(this.dir, `${hex(digest)}.json`); }

  async get(digest: string): Promise<BlobSource[]> {
    return (await readJsonIfExists<Record_>(this.file(digest)).catch(() => undefined))?.sources ?? [];
  }

  async add(digest: string, s: BlobSource): Promise<void> {
    await this.lock.run(digest, async () => {
      const cur = (await readJsonIfExists<Record_>(this.file(digest)).catch(() => undefined)) ?? { sources: [] };
      const rest = cur.sources.filter((x) => !(x.registry === s.registry && x.repository === s.repository));
      // most recent first, bounded
      const next = { ...cur, sources: [s, ...rest].slice(0, MAX_SOURCES) };
      if (JSON.stringify(next) !== JSON.stringify(cur)) await writeJsonAtomic(this.file(digest), next);
    });
  }

  async pushedAs(diffId: string): Promise<Record_['pushedAs']> {
    return (await readJsonIfExists<Record_>(this.file(diffId)).catch(() => undefined))?.pushedAs;
  }

  async setPushedAs(diffId: string, blob: NonNullable<Record_['pushedAs']>): Promise<void> {
    await this.lock.run(diffId, async () => {
      const cur = (await readJsonIfExists<Record_>(this.file(diffId)).catch(() => undefined)) ?? { sources: [] };
      await writeJsonAtomic(this.file(diffId), { ...cur, pushedAs: blob });
    });
  }

  async forget(digest: string): Promise<void> {
    await fsp.rm(this.file(digest), { force: true });
  }
}
