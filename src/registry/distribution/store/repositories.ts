// Repositories: which blobs and manifests each one holds, its tags, and the referrers index, all as
// small link files over the shared content store (layout.ts). A link is written only after what it
// points at is stored, so a reader that finds a link finds its target (until GC, which removes
// only what no link of a manifest reaches).
import { StorageDriver, baseName, isNotFound } from '../storage/driver';
import { Digest, parseDigest, tryParseDigest } from '../names';
import { REPOSITORIES, layout } from './layout';

export interface Revision { digest: string; mediaType: string }

/** An entry of the referrers index: the referring manifest's descriptor. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export class Repositories {
  constructor(readonly driver: StorageDriver) {}

  private async exists(p: string): Promise<boolean> {
    try { await this.driver.stat(p); return true; } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  private async read(p: string): Promise<string | undefined> {
    try { return (await this.driver.getContent(p)).toString('utf8'); } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  private async remove(p: string): Promise<boolean> {
    try { await this.driver.delete(p); return true; } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  private async children(p: string): Promise<string[]> {
    try { return (await this.driver.list(p)).map(baseName); } catch (e) {
      if (isNotFound(e)) return [];
      throw e;
    }
  }

  repositoryExists(name: string): Promise<boolean> { return this.exists(layout.repo(name)); }

  // blobs of a repository

  hasLayer(name: string, d: Digest): Promise<boolean> { return this.exists(layout.layerLink(name, d)); }

  async linkLayer(name: string, d: Digest): Promise<void> {
    if (!(await this.hasLayer(name, d))) await this.driver.putContent(layout.layerLink(name, d), d.text);
  }

  unlinkLayer(name: string, d: Digest): Promise<boolean> {
    return this.remove(layout.layerLink(name, d).replace(/\/link$/, ''));
  }

  async listLayers(name: string): Promise<Digest[]> {
    const out: Digest[] = [];
    for (const alg of await this.children(layout.layersDir(name))) {
      for (const hex of await this.children(`${layout.layersDir(name)}/${alg}`)) {
        const d = tryParseDigest(`${alg}:${hex}`);
        if (d) out.push(d);
      }
    }
    return out;
  }

  // manifests

  async getRevision(name: string, d: Digest): Promise<Revision | undefined> {
    const s = await this.read(layout.revisionLink(name, d));
    if (s === undefined) return undefined;
    try {
      const r = JSON.parse(s) as Revision;
      if (typeof r.mediaType === 'string') return { digest: d.text, mediaType: r.mediaType };
    } catch { /* a link of another shape: the digest alone */ }
    return { digest: d.text, mediaType: '' };
  }

  async putRevision(name: string, d: Digest, mediaType: string): Promise<void> {
    await this.driver.putContent(layout.revisionLink(name, d), JSON.stringify({ digest: d.text, mediaType }));
  }

  deleteRevision(name: string, d: Digest): Promise<boolean> {
    return this.remove(layout.revisionDir(name, d));
  }

  /** The repository's manifests, with the time each was (last) pushed. */
  async listRevisions(name: string): Promise<{ digest: Digest; modTime: Date }[]> {
    const out: { digest: Digest; modTime: Date }[] = [];
    const root = layout.revisionsDir(name);
    for (const alg of await this.children(root)) {
      for (const hex of await this.children(`${root}/${alg}`)) {
        const d = tryParseDigest(`${alg}:${hex}`);
        if (!d) continue;
        try {
          out.push({ digest: d, modTime: (await this.driver.stat(layout.revisionLink(name, d))).modTime });
        } catch (e) {
          if (!isNotFound(e)) throw e; // deleted while we listed
        }
      }
    }
    return out;
  }

  // tags

  async resolveTag(name: string, tag: string): Promise<Digest | undefined> {
    const s = await this.read(layout.tagLink(name, tag));
    return s === undefined ? undefined : tryParseDigest(s.trim());
  }

  async putTag(name: string, tag: string, d: Digest): Promise<void> {
    await this.driver.putContent(layout.tagLink(name, tag), d.text);
  }

  deleteTag(name: string, tag: string): Promise<boolean> { return this.remove(layout.tagDir(name, tag)); }

  /** Tags in lexical (byte) order, or undefined when the repository does not exist. */
  async listTags(name: string): Promise<string[] | undefined> {
    let names: string[];
    try { names = (await this.driver.list(layout.tagsDir(name))).map(baseName); } catch (e) {
      if (!isNotFound(e)) throw e;
      return (await this.repositoryExists(name)) ? [] : undefined;
    }
    return names.sort(byteOrder);
  }

  /** Every tag with the digest it points at. */
  async tagMap(name: string): Promise<Map<string, Digest>> {
    const out = new Map<string, Digest>();
    for (const tag of (await this.listTags(name)) ?? []) {
      const d = await this.resolveTag(name, tag);
      if (d) out.set(tag, d);
    }
    return out;
  }

  // referrers

  async putReferrer(name: string, subject: Digest, desc: Descriptor): Promise<void> {
    await this.driver.putContent(layout.referrerLink(name, subject, parseDigest(desc.digest)), JSON.stringify(desc));
  }

  deleteReferrer(name: string, subject: Digest, d: Digest): Promise<boolean> {
    return this.remove(layout.referrerDir(name, subject, d));
  }

  async listReferrers(name: string, subject: Digest): Promise<Descriptor[]> {
    const out: Descriptor[] = [];
    const root = layout.referrersDir(name, subject);
    for (const alg of await this.children(root)) {
      for (const hex of await this.children(`${root}/${alg}`)) {
        const d = tryParseDigest(`${alg}:${hex}`);
        if (!d) continue;
        const s = await this.read(layout.referrerLink(name, subject, d));
        if (s === undefined) continue;
        try { out.push(JSON.parse(s) as Descriptor); } catch { /* torn by nothing: links are written whole */ }
      }
    }
    return out.sort((a, b) => byteOrder(a.digest, b.digest));
  }

  // the catalog

  /** Every repository name (one that has held a manifest or a blob), in lexical order. */
  async listRepositories(): Promise<string[]> {
    const out: string[] = [];
    const visit = async (dir: string, name: string): Promise<void> => {
      const kids = await this.children(dir);
      if (name && kids.some((k) => k === '_manifests' || k === '_layers')) out.push(name);
      for (const k of kids) {
        if (k.startsWith('_')) continue;
        await visit(`${dir}/${k}`, name ? `${name}/${k}` : k);
      }
    };
    await visit(REPOSITORIES, '');
    return out.sort(byteOrder);
  }
}

export const byteOrder = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
