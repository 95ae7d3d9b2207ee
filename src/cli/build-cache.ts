// dray build --cache-to / --cache-from: the build's step cache carried to another data root.
//
// type=local,dest=DIR[,mode=min|max] and type=local,src=DIR: DIR holds
//   images.tar    the images the cached steps made (`dray save`'s archive, by ID: no tags)
//   cache.json    {"version": 1, "entries": {key: {parent, text, sourceHash, sources, image}}}
// Export: after the build, the entries of the final image and its parents (mode=min, the default)
// or of every stage's (mode=max). Import: before the build, the archive is loaded and the entries
// whose images are then present are added, so a build there hits them. Both files are written
// beside their names and renamed into place.
//
// type=registry,ref=REF[,mode=min|max][,ignore-error=true] and type=registry,ref=REF: the same
// entries and images, pushed to and pulled from a registry by drayd (builder/registry-cache.ts
// draws the layout) with the credentials a push would use. As BuildKit does, a cache that cannot
// be imported is a warning and a cold build; one that cannot be exported fails the command after
// the build (unless ignore-error=true).
import { promises as fsp, createReadStream } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { DockerClient as Client } from '../client';
import { writeOutput } from './build-output';
import { authFor, ProgressPrinter } from './commands/pull-progress';

export type CacheToSpec = { type: 'local'; dest: string; mode: 'min' | 'max' } | { type: 'registry'; ref: string; mode: 'min' | 'max'; ignoreError: boolean };
export type CacheFromSpec = { src: string } | { image: string } | { registry: string };

function fields(v: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const f of v.split(',')) {
    const eq = f.indexOf('=');
    if (eq < 0) throw new Error(`invalid field '${f}' must be a key=value pair`);
    m.set(f.slice(0, eq).toLowerCase(), f.slice(eq + 1));
  }
  return m;
}

function checkType(type: string | undefined): 'local' | 'registry' {
  if (type === 'local' || type === 'registry') return type;
  if (type === 'inline' || type === 'gha' || type === 's3' || type === 'azblob') throw new Error(`cache type "${type}" is not implemented in Dray (type=local and type=registry are)`);
  throw new Error(type ? `unknown cache type "${type}" (dray build knows type=local and type=registry)` : 'type is required (form: "type=local,dest=DIR" or "type=registry,ref=REF")');
}

function checkRef(ref: string | undefined): string {
  if (!ref) throw new Error('ref is required for type=registry: an image reference, REGISTRY/REPOSITORY:TAG');
  if (ref.includes('@')) throw new Error(`ref ${ref}: a digest reference names no place to write; give a tag`);
  return ref;
}

export function parseCacheTo(v: string): CacheToSpec {
  const m = fields(v);
  const type = checkType(m.get('type'));
  const mode = m.get('mode') ?? 'min';
  if (mode !== 'min' && mode !== 'max') throw new Error(`invalid mode "${mode}" (min or max)`);
  if (type === 'registry') {
    for (const k of m.keys()) if (!['type', 'ref', 'mode', 'ignore-error'].includes(k)) throw new Error(`unknown key '${k}' (dray build --cache-to type=registry knows ref, mode and ignore-error)`);
    const ie = m.get('ignore-error') ?? 'false';
    if (ie !== 'true' && ie !== 'false') throw new Error(`invalid ignore-error "${ie}" (true or false)`);
    return { type, ref: checkRef(m.get('ref')), mode, ignoreError: ie === 'true' };
  }
  const dest = m.get('dest');
  if (!dest) throw new Error('dest is required for type=local: a directory');
  for (const k of m.keys()) if (!['type', 'dest', 'mode'].includes(k)) throw new Error(`unknown key '${k}' (dray build --cache-to type=local knows dest and mode)`);
  return { type, dest, mode };
}

/** --cache-from: type=local,src=DIR, type=registry,ref=REF, or (as the legacy builder takes) an image name. */
export function parseCacheFrom(v: string): CacheFromSpec {
  if (!v.includes('=')) return { image: v };
  const m = fields(v);
  if (!m.has('type') && m.has('ref')) return { image: m.get('ref')! };
  if (checkType(m.get('type')) === 'registry') {
    for (const k of m.keys()) if (!['type', 'ref'].includes(k)) throw new Error(`unknown key '${k}' (dray build --cache-from type=registry knows ref)`);
    const ref = m.get('ref');
    if (!ref) throw new Error('ref is required for type=registry: an image reference, REGISTRY/REPOSITORY:TAG');
    return { registry: ref };
  }
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
export async function exportCache(client: Client, spec: CacheToSpec & { type: 'local' }, tips: string[]): Promise<void> {
  const doc = await client.images.buildCacheExport(tips);
  await fsp.mkdir(spec.dest, { recursive: true });
  if (doc.images.length) await writeOutput({ type: 'docker', dest: path.join(spec.dest, 'images.tar') }, () => client.images.save(doc.images));
  const tmp = path.join(spec.dest, `.cache.json.dray-${randomBytes(4).toString('hex')}`);
  await fsp.writeFile(tmp, JSON.stringify({ version: 1, entries: doc.entries }) + '\n');
  await fsp.rename(tmp, path.join(spec.dest, 'cache.json'));
}

/** The flag's value as a message names it. */
export const describeCacheTo = (c: CacheToSpec) => (c.type === 'local' ? `type=local,dest=${c.dest}` : `type=registry,ref=${c.ref}`);

/**
 * Before the build: pulls the cache REF names. Any failure (no such ref, an unreachable
 * registry, something that is not a Dray cache) is returned as a warning: the build goes on cold.
 */
export async function importRegistryCache(client: Client, ref: string, o: { out: NodeJS.WriteStream | { write(s: string): unknown }; config?: string }): Promise<string | undefined> {
  try {
    const printer = new ProgressPrinter(o.out as NodeJS.WriteStream);
    for await (const m of await client.images.buildCacheFromRegistry(ref, authFor(ref, o.config))) {
      if (m.aux?.Missing) return `${m.aux.Missing}`;
      printer.print(m);
    }
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/** After the build: pushes the cache of `tips` to REF, printing the push's progress. */
export async function exportRegistryCache(client: Client, spec: CacheToSpec & { type: 'registry' }, tips: string[], o: { out: NodeJS.WriteStream | { write(s: string): unknown }; config?: string }): Promise<void> {
  const printer = new ProgressPrinter(o.out as NodeJS.WriteStream);
  for await (const m of await client.images.buildCacheToRegistry(spec.ref, tips, authFor(spec.ref, o.config))) printer.print(m);
}
