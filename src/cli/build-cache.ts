// dray build --cache-to type=local,dest=DIR[,mode=min|max] and --cache-from type=local,src=DIR:
// the build's step cache carried to another data root. DIR holds
//   images.tar    the images the cached steps made (`dray save`'s archive, by ID: no tags)
//   cache.json    {"version": 1, "entries": {key: {parent, text, sourceHash, sources, image}}}
// Export: after the build, the entries of the final image and its parents (mode=min, the default)
// or of every stage's (mode=max). Import: before the build, the archive is loaded and the entries
// whose images are then present are added, so a build there hits them. Both files are written
// beside their names and renamed into place.
import { promises as fsp, createReadStream } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { DockerClient as Client } from '../client';
import { writeOutput } from './build-output';

export interface CacheToSpec { dest: string; mode: 'min' | 'max' }
export type CacheFromSpec = { src: string } | { image: string };

function fields(v: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const f of v.split(',')) {
    const eq = f.indexOf('=');
    if (eq < 0) throw new Error(`invalid field '${f}' must be a key=value pair`);
    m.set(f.slice(0, eq).toLowerCase(), f.slice(eq + 1));
  }
  return m;
}

function checkType(type: string | undefined): void {
  if (type === 'local') return;
  if (type === 'registry' || type === 'inline' || type === 'gha' || type === 's3' || type === 'azblob') throw new Error(`cache type "${type}" is not implemented in Dray (type=local is)`);
  throw new Error(type ? `unknown cache type "${type}" (dray build knows type=local)` : 'type is required (form: "type=local,dest=DIR")');
}

export function parseCacheTo(v: string): CacheToSpec {
  const m = fields(v);
  checkType(m.get('type'));
  const dest = m.get('dest');
  if (!dest) throw new Error('dest is required for type=local: a directory');
  const mode = m.get('mode') ?? 'min';
  if (mode !== 'min' && mode !== 'max') throw new Error(`invalid mode "${mode}" (min or max)`);
  for (const k of m.keys()) if (!['type', 'dest', 'mode'].includes(k)) throw new Error(`unknown key '${k}' (dray build --cache-to knows type, dest and mode)`);
  return { dest, mode };
}

/** --cache-from: type=local,src=DIR, or (as the legacy builder takes) an image name. */
export function parseCacheFrom(v: string): CacheFromSpec {
  if (!v.includes('=')) return { image: v };
  const m = fields(v);
  if (!m.has('type') && m.has('ref')) return { image: m.get('ref')! };
  checkType(m.get('type'));
  const src = m.get('src');
  if (!src) throw new Error('src is required for type=local: a directory --cache-to wrote');
  for (const k of m.keys()) if (!['type', 'src', 'digest'].includes(k)) throw new Error(`unknown key '${k}' (dray build --cache-from knows type and src)`);
  return { src };
}

/** Before the build: loads DIR's images and adds its entries. */
export async function importCache(client: Client, spec: { src: string }): Promise<void> {
  const tar = path.join(spec.src, 'images.tar');
  let doc: unknown;
  try {
    doc = JSON.parse(await fsp.readFile(path.join(spec.src, 'cache.json'), 'utf8'));
    if (Object.keys((doc as any)?.entries ?? {}).length) await fsp.access(tar);
  } catch (e: any) {
    throw new Error(`${spec.src} holds no build cache (cache.json and images.tar, as --cache-to writes them): ${e.code === 'ENOENT' ? 'no such file or directory' : e.message}`);
  }
  // Checked first: a bad export loads no image.
  await client.images.buildCacheImport(doc, true);
  const entries = (doc as any)?.entries;
  if (entries && typeof entries === 'object' && !Object.keys(entries).length) return;
  const s = await client.images.load(createReadStream(tar), true);
  for await (const m of s) if (m.error || m.errorDetail) throw new Error(`loading ${tar}: ${m.errorDetail?.message ?? m.error}`);
  await client.images.buildCacheImport(doc);
}

/** After the build: writes the cache of `tips` to DIR. */
export async function exportCache(client: Client, spec: CacheToSpec, tips: string[]): Promise<void> {
  const doc = await client.images.buildCacheExport(tips);
  await fsp.mkdir(spec.dest, { recursive: true });
  if (doc.images.length) await writeOutput({ type: 'docker', dest: path.join(spec.dest, 'images.tar') }, () => client.images.save(doc.images));
  const tmp = path.join(spec.dest, `.cache.json.dray-${randomBytes(4).toString('hex')}`);
  await fsp.writeFile(tmp, JSON.stringify({ version: 1, entries: doc.entries }) + '\n');
  await fsp.rename(tmp, path.join(spec.dest, 'cache.json'));
}
