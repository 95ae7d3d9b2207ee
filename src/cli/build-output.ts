// dray build --output (-o): what BuildKit's exporters write, made from the image the build
// produced. drayd builds as it always does; the CLI then asks for the result:
//   type=local,dest=DIR   the final stage's filesystem, extracted into DIR
//   type=tar,dest=FILE|-  the same filesystem as one tar
//   type=oci|docker       an image archive: `dray save`'s (GET /images/get), which is at once an OCI
//                         image layout and what `docker load` reads
//   type=image[,name=REF[,push=true]]   the image in drayd's store (where every build puts it),
//                         tagged with the names (a comma list, quoted as buildx takes it:
//                         'type=image,"name=a:1,b:2"'), and with push=true pushed through drayd's
//                         push, its progress printed
//   type=registry,name=REF   the same as type=image,push=true
// The filesystem comes from GET /dray/build/rootfs (api/build.ts), a Dray extension the docker CLI
// never calls. A file is written beside its destination and renamed into place, so a failed output
// leaves nothing; a new DIR likewise.
import { promises as fsp, createWriteStream } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { streamTar } from './local-tar';
import type { DockerClient as Client } from '../client';
import { splitReference, ProgressPrinter, authFor } from './commands/pull-progress';
import { normalizeName } from './commands/images';

export type OutputType = 'local' | 'tar' | 'oci' | 'docker' | 'image' | 'registry';
export interface OutputSpec {
  type: OutputType;
  dest?: string;
  /** type=image|registry: the names to tag (and push). */
  names?: string[];
  push?: boolean;
}

const TYPES: OutputType[] = ['local', 'tar', 'oci', 'docker', 'image', 'registry'];

/**
 * Splits `v` at commas as Go's encoding/csv reads one record (what buildx parses --output with):
 * a field in double quotes may hold commas, and "" in it is one quote.
 */
export function csvFields(v: string): string[] {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (v[i] === '"') {
      i++;
      for (;;) {
        if (i >= v.length) throw new Error(`unterminated quote in '${v}'`);
        if (v[i] === '"') {
          if (v[i + 1] === '"') { field += '"'; i += 2; continue; }
          i++;
          break;
        }
        field += v[i++];
      }
      if (i < v.length && v[i] !== ',') throw new Error(`extraneous text after a quoted field in '${v}'`);
    } else {
      const end = v.indexOf(',', i);
      field = v.slice(i, end < 0 ? v.length : end);
      i = end < 0 ? v.length : end;
    }
    out.push(field);
    if (i >= v.length) return out;
    i++; // the comma
  }
}

/** buildx's --output grammar: `type=T,dest=D`, `DIR` (type=local) or `-` (type=tar on stdout). */
export function parseOutputSpec(v: string): OutputSpec {
  if (!v.includes('=')) {
    if (!v) throw new Error('empty output');
    return v === '-' ? { type: 'tar', dest: '-' } : { type: 'local', dest: v };
  }
  let type = '';
  let dest: string | undefined;
  let names: string[] | undefined;
  let push: boolean | undefined;
  for (const field of csvFields(v)) {
    const eq = field.indexOf('=');
    if (eq < 0) throw new Error(`invalid field '${field}' must be a key=value pair${names ? ' (several names go in quotes: \'type=image,"name=a:1,b:2"\')' : ''}`);
    const key = field.slice(0, eq).toLowerCase();
    const value = field.slice(eq + 1);
    switch (key) {
      case 'type': type = value; break;
      case 'dest': dest = value; break;
      case 'name': names = [...(names ?? []), ...value.split(',').map((n) => n.trim()).filter(Boolean)]; break;
      case 'push':
        if (value !== 'true' && value !== 'false') throw new Error(`invalid push value "${value}" (true or false)`);
        push = value === 'true';
        break;
      default: throw new Error(`unknown key '${key}' in '${field}' (dray build --output knows type, dest, and for type=image|registry name and push)`);
    }
  }
  if (!type) throw new Error(`type is required in '${v}' (form: "type=<type>,dest=<path>")`);
  if (!TYPES.includes(type as OutputType)) throw new Error(`unknown output type "${type}" (dray build knows local, tar, oci, docker, image and registry)`);
  if (type === 'image' || type === 'registry') {
    if (dest !== undefined) throw new Error(`dest is not a key of type=${type} (the image goes to drayd's store${type === 'registry' ? ' and the registry' : ''})`);
    if (type === 'registry' && push === false) throw new Error('type=registry always pushes (push=false is type=image)');
    if (type === 'registry' && !names?.length) throw new Error('name is required for type=registry: the image reference to push');
    return { type: type as OutputType, names: names ?? [], push: type === 'registry' || !!push };
  }
  if (names !== undefined || push !== undefined) throw new Error(`name and push are keys of type=image and type=registry, not of type=${type}`);
  if (dest === '') throw new Error(`dest is empty in '${v}'`);
  if (type === 'local' && (dest === undefined || dest === '-')) throw new Error('dest is required for type=local: a directory');
  if ((type === 'tar' || type === 'oci') && dest === undefined) throw new Error(`dest is required for type=${type}: a file, or - for stdout`);
  return { type: type as OutputType, dest };
}

/** Whether the output goes to stdout (the build's own text must then go to stderr). */
export const toStdout = (o: OutputSpec | undefined) => o?.dest === '-';

/** Refusals known before the build runs: a terminal as a tar's destination, a dest that is not a directory. */
export async function checkOutput(o: OutputSpec): Promise<void> {
  if (o.dest === '-' && process.stdout.isTTY) throw new Error(`refusing to write a type=${o.type} archive to a terminal: give dest=FILE or redirect`);
  if (!o.dest || o.dest === '-') return;
  const st = await fsp.stat(o.dest).catch(() => undefined);
  if (o.type === 'local') { if (st && !st.isDirectory()) throw new Error(`dest ${o.dest} is not a directory`); } else if (st?.isDirectory()) throw new Error(`dest ${o.dest} is a directory: type=${o.type} writes a file`);
  const parent = await fsp.stat(path.dirname(path.resolve(o.dest))).catch(() => undefined);
  if (!parent?.isDirectory()) throw new Error(`dest ${o.dest}: no such directory ${path.dirname(path.resolve(o.dest))}`);
}

const tmpName = (dest: string) => path.join(path.dirname(path.resolve(dest)), `.${path.basename(dest)}.dray-${randomBytes(4).toString('hex')}`);

/**
 * type=image|registry with push: each name pushed through drayd (POST /images/{name}/push, the
 * credentials `dray push` would send), its progress printed as `dray push` prints it.
 */
export async function pushOutput(client: Client, names: string[], o: { out: NodeJS.WritableStream; config?: string }): Promise<void> {
  const printer = new ProgressPrinter(o.out as NodeJS.WriteStream);
  for (const n of names) {
    const { repo, tag } = splitReference(n);
    const s = await client.images.push(normalizeName(repo), tag, authFor(n, o.config));
    for await (const m of s) printer.print(m);
  }
}

/** Writes `src` (a tar stream) as `o` says. `archive` opens the stream only when it is needed. */
export async function writeOutput(o: OutputSpec, archive: () => Promise<Readable>): Promise<void> {
  if (o.type === 'image' || o.type === 'registry') return; // the build tagged it in drayd's store; pushOutput pushes
  if (o.type === 'docker' && o.dest === undefined) return; // loaded already: the image is in drayd's store
  const src = await archive();
  if (o.dest === '-') { await pipeline(src, process.stdout, { end: false }); return; }
  const dest = o.dest!;
  if (o.type !== 'local') {
    const tmp = tmpName(dest);
    try {
      await pipeline(src, createWriteStream(tmp, { flags: 'wx', mode: 0o644 }));
      await fsp.rename(tmp, dest);
    } catch (e) {
      await fsp.rm(tmp, { force: true });
      throw e;
    }
    return;
  }
  // A directory that exists gets the files (as BuildKit's local exporter); a new one appears whole.
  const exists = await fsp.stat(dest).then(() => true, () => false);
  const dir = exists ? dest : tmpName(dest);
  if (!exists) await fsp.mkdir(dir, { mode: 0o755 });
  try {
    await extract(src, dir);
    if (!exists) await fsp.rename(dir, dest);
  } catch (e) {
    if (!exists) await fsp.rm(dir, { recursive: true, force: true });
    throw e;
  }
}

/** GNU tar (as `dray cp` uses it): no member outside `dir`, symlinks made last, owners kept when root. */
async function extract(src: Readable, dir: string): Promise<void> {
  try { await streamTar(['-C', dir, '--numeric-owner', '-xf', '-'], src).done; } catch (e) {
    throw new Error(`extracting the output into ${dir}: ${(e as Error).message}`);
  }
}
