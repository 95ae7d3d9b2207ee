// dray build --output (-o): what BuildKit's exporters write, made from the image the build
// produced. drayd builds as it always does; the CLI then asks for the result:
//   type=local,dest=DIR   the final stage's filesystem, extracted into DIR
//   type=tar,dest=FILE|-  the same filesystem as one tar
//   type=oci|docker       an image archive: `dray save`'s (GET /images/get), which is at once an OCI
//                         image layout and what `docker load` reads
// The filesystem comes from GET /dray/build/rootfs (api/build.ts), a Dray extension the docker CLI
// never calls. A file is written beside its destination and renamed into place, so a failed output
// leaves nothing; a new DIR likewise.
import { promises as fsp, createWriteStream } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { streamTar } from './local-tar';

export type OutputType = 'local' | 'tar' | 'oci' | 'docker';
export interface OutputSpec { type: OutputType; dest?: string }

const TYPES: OutputType[] = ['local', 'tar', 'oci', 'docker'];

/** buildx's --output grammar: `type=T,dest=D`, `DIR` (type=local) or `-` (type=tar on stdout). */
export function parseOutputSpec(v: string): OutputSpec {
  if (!v.includes('=')) {
    if (!v) throw new Error('empty output');
    return v === '-' ? { type: 'tar', dest: '-' } : { type: 'local', dest: v };
  }
  let type = '';
  let dest: string | undefined;
  for (const field of v.split(',')) {
    const eq = field.indexOf('=');
    if (eq < 0) throw new Error(`invalid field '${field}' must be a key=value pair`);
    const key = field.slice(0, eq).toLowerCase();
    const value = field.slice(eq + 1);
    switch (key) {
      case 'type': type = value; break;
      case 'dest': dest = value; break;
      default: throw new Error(`unknown key '${key}' in '${field}' (dray build --output knows type and dest)`);
    }
  }
  if (!type) throw new Error(`type is required in '${v}' (form: "type=<type>,dest=<path>")`);
  if (type === 'image' || type === 'registry') throw new Error(`output type "${type}" is not implemented in Dray: the built image is in the image store already; push it with dray push`);
  if (!TYPES.includes(type as OutputType)) throw new Error(`unknown output type "${type}" (dray build knows local, tar, oci and docker)`);
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

/** Writes `src` (a tar stream) as `o` says. `archive` opens the stream only when it is needed. */
export async function writeOutput(o: OutputSpec, archive: () => Promise<Readable>): Promise<void> {
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
