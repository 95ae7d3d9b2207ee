// Image metadata and the tag store (see layout.ts for where they live).
// Lifecycle of an image: config blob committed → layers present → images/<id>.json written → tags
// set. An images/<id>.json whose config blob or layers are missing is ignored (and removed) by the
// image service's init; a tag pointing at an unknown image is dropped.
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { StoreLayout, hex } from './layout';
import { readJsonIfExists, writeJsonAtomic, sweepTempFiles } from '../lib/atomic';
import { byBytes } from '../lib/compare';

export interface ImageMeta {
  parent: string;
  lastTagTime?: string;
}

export class MetadataStore {
  /** Full reference string ("docker.io/library/busybox:latest" or "…@sha256:…") → image ID. */
  refs = new Map<string, string>();

  constructor(private layout: StoreLayout) {}

  async init(): Promise<void> {
    await fsp.mkdir(this.layout.imagesDir, { recursive: true });
    await sweepTempFiles(this.layout.imagesDir);
    await sweepTempFiles(this.layout.root);
    const f = await readJsonIfExists<{ refs?: Record<string, string> }>(this.layout.repositoriesFile);
    this.refs = new Map(Object.entries(f?.refs ?? {}));
  }

  async listImageIds(): Promise<string[]> {
    return (await fsp.readdir(this.layout.imagesDir)).filter((n) => /^[a-f0-9]{64}\.json$/.test(n)).map((n) => `sha256:${n.slice(0, 64)}`);
  }

  async readMeta(id: string): Promise<ImageMeta | undefined> {
    return readJsonIfExists<ImageMeta>(this.layout.imageMeta(id)).catch(() => undefined);
  }

  writeMeta(id: string, meta: ImageMeta): Promise<void> {
    return writeJsonAtomic(this.layout.imageMeta(id), meta);
  }

  async deleteMeta(id: string): Promise<void> {
    await fsp.rm(this.layout.imageMeta(id), { force: true });
  }

  async saveRefs(): Promise<void> {
    const sorted = Object.fromEntries([...this.refs.entries()].sort(([a], [b]) => byBytes(a, b)));
    await writeJsonAtomic(this.layout.repositoriesFile, { refs: sorted });
  }

  refsOf(id: string): string[] {
    return [...this.refs.entries()].filter(([, v]) => v === id).map(([k]) => k);
  }

  path(id: string): string { hex(id); return path.join(this.layout.imagesDir, `${hex(id)}.json`); }
}
