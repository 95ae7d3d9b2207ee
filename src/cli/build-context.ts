// The build context as the docker CLI sends it to the legacy builder: the context directory as a tar
// (docker's archive.TarWithOptions: lexical walk order, uid/gid 0, permission bits kept, hard links
// as link entries, sockets skipped) with .dockerignore applied client-side — the Dockerfile and
// .dockerignore are always sent — plus the helpers for a Dockerfile outside the context and for a
// context read from stdin.
import { promises as fsp, Stats } from 'node:fs';
import * as path from 'node:path';
import { randomBytes, createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { Readable } from 'node:stream';
import type * as TarStream from 'tar-stream';
import { IgnoreMatcher, cleanPath } from '../builder/dockerignore';
import { frame } from '../builder/named-contexts';
import { recycledFileStream } from '../lib/recycled-buffers';
import type { Manifest, ManifestEntry } from '../builder/context-snapshots';

export class ContextError extends Error {}

/**
 * tar-stream is loaded from node_modules when a build runs rather than bundled: with its
 * dependencies it is ~100kB that every dray command would otherwise parse at startup (node_modules
 * ships with dray; node-unix-socket is loaded the same way).
 */
export function tarStream(): typeof TarStream {
  const load = module.require.bind(module);
  return load('tar-stream');
}

/** .dockerignore lines as docker's ReadDockerignore sees them (BOM dropped); [] without the file. */
export async function readDockerignore(dir: string): Promise<string[]> {
  let text: string;
  try { text = await fsp.readFile(path.join(dir, '.dockerignore'), 'utf8'); } catch (e: any) {
    if (e?.code === 'ENOENT') return [];
    throw e;
  }
  return text.replace(/^\uFEFF/, '').split(/\r?\n/);
}

export interface ContextFilter {
  matcher: IgnoreMatcher;
  /** Cleaned texts of the `!` patterns: an ignored directory is still walked when one starts with it. */
  exclusions: string[];
}

/**
 * The matcher of docker's TrimBuildFilesFromExcludes: the patterns of .dockerignore, plus
 * `!.dockerignore` and `!<dockerfile>` when those would be ignored (they are always sent).
 */
export function contextFilter(lines: string[], relDockerfile: string, dockerfileFromStdin = false): ContextFilter {
  const all = lines.filter((l) => l.trim() && !l.trim().startsWith('#'));
  let m = new IgnoreMatcher(all);
  if (m.matches('.dockerignore')) { all.push('!.dockerignore'); m = new IgnoreMatcher(all); }
  const df = dockerfileFromStdin ? 'Dockerfile' : relDockerfile.split(path.sep).join('/');
  if (m.matches(df)) { all.push(`!${df}`); m = new IgnoreMatcher(all); }
  const exclusions: string[] = [];
  for (const l of all) {
    const t = l.trim();
    if (!t.startsWith('!')) continue;
    let p = cleanPath(t.slice(1).trim());
    if (p.length > 1 && p.startsWith('/')) p = p.slice(1);
    exclusions.push(p);
  }
  return { matcher: m, exclusions };
}

/** Whether an ignored directory must still be walked (docker: some `!pattern` starts with "dir/"). */
function mustWalk(f: ContextFilter, rel: string): boolean {
  if (!f.matcher.hasExclusions) return false;
  const dirSlash = `${rel}/`;
  return f.exclusions.some((p) => `${p}/`.startsWith(dirSlash));
}

const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** Entries of the context in tar order, with ignore rules applied (no I/O beyond lstat/readdir). */
export async function* walkContext(dir: string, filter: ContextFilter): AsyncGenerator<{ rel: string; abs: string; st: Stats }> {
  async function* walk(absDir: string, relDir: string): AsyncGenerator<{ rel: string; abs: string; st: Stats }> {
    const names = (await fsp.readdir(absDir)).sort(byteOrder);
    for (const n of names) {
      const abs = path.join(absDir, n);
      const rel = relDir ? `${relDir}/${n}` : n;
      let st: Stats;
      try { st = await fsp.lstat(abs); } catch (e: any) {
        if (e?.code === 'ENOENT') continue;
        throw new ContextError(`error checking context: can't stat '${abs}'`);
      }
      if (filter.matcher.matches(rel)) {
        if (st.isDirectory() && mustWalk(filter, rel)) yield* walk(abs, rel);
        continue;
      }
      yield { rel, abs, st };
      if (st.isDirectory()) yield* walk(abs, rel);
    }
  }
  yield* walk(dir, '');
}

type Header = Partial<TarStream.Header> & { name: string } & Record<string, any>;

function headerFor(rel: string, st: Stats): Header | undefined {
  const base = { name: rel, mode: st.mode & 0o7777, uid: 0, gid: 0, mtime: new Date(Math.floor(st.mtimeMs / 1000) * 1000) };
  if (st.isFile()) return { ...base, type: 'file', size: st.size };
  if (st.isDirectory()) return { ...base, name: `${rel}/`, type: 'directory' };
  if (st.isSymbolicLink()) return { ...base, type: 'symlink' };
  if (st.isFIFO()) return { ...base, type: 'fifo' };
  if (st.isCharacterDevice()) return { ...base, type: 'character-device', devmajor: Math.floor(st.rdev / 256) & 0xfff, devminor: (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00) };
  if (st.isBlockDevice()) return { ...base, type: 'block-device', devmajor: Math.floor(st.rdev / 256) & 0xfff, devminor: (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00) };
  return undefined; // sockets: docker skips them
}

/** Adds one entry and resolves once the pack has taken it (so big contexts stream with backpressure). */
function addEntry(pack: TarStream.Pack, h: Header, body?: Buffer | Readable): Promise<void> {
  // tar-stream turns a 0 mode into 0644; the file-type bits keep a real 0000 (they are masked off).
  if (h.mode === 0) h.mode = h.type === 'directory' ? 0o40000 : 0o100000;
  return new Promise((resolve, reject) => {
    if (body === undefined && h.type === 'file') body = Buffer.alloc(0);
    if (body === undefined) {
      pack.entry(h as any, (e) => (e ? reject(e) : resolve()));
      return;
    }
    if (Buffer.isBuffer(body)) {
      pack.entry(h as any, body, (e) => (e ? reject(e) : resolve()));
      return;
    }
    const src: Readable = body;
    const sink: any = pack.entry(h as any, (e) => (e ? reject(e) : resolve()));
    src.on('error', (e) => { sink.destroy(e); reject(e); });
    src.on('data', (c: Buffer) => { if (!sink.write(c)) { src.pause(); sink.once('drain', () => src.resume()); } });
    src.on('end', () => sink.end());
  });
}

/** Extra entries docker's AddDockerfileToBuildContext puts in: the Dockerfile under a random name. */
export interface ExtraDockerfile { name: string; content: Buffer }

export function randomDockerfileName(): string { return `.dockerfile.${randomBytes(10).toString('hex')}`; }

/**
 * Tars the context directory. With `extra`, the Dockerfile is added under extra.name and that name
 * is appended to .dockerignore (created if absent), as docker does for a Dockerfile from outside.
 */
export function tarContext(dir: string, filter: ContextFilter, extra?: ExtraDockerfile): TarStream.Pack {
  const pack = tarStream().pack();
  (async () => {
    const seen = new Map<string, string>();
    let sawIgnore = false;
    for await (const { rel, abs, st } of walkContext(dir, filter)) {
      const h = headerFor(rel, st);
      if (!h) continue;
      if (h.type === 'symlink') h.linkname = await fsp.readlink(abs);
      if (h.type === 'file' && st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        const first = seen.get(key);
        if (first !== undefined) { await addEntry(pack, { ...h, type: 'link', linkname: first, size: 0 }); continue; }
        seen.set(key, rel);
      }
      if (h.type === 'file' && extra && rel === '.dockerignore') {
        sawIgnore = true;
        const content = Buffer.concat([await readOrFail(abs), Buffer.from(`\n${extra.name}\n`)]);
        await addEntry(pack, { ...h, size: content.length }, content);
        continue;
      }
      if (h.type === 'file') await addFile(pack, h, abs, st);
      else await addEntry(pack, h);
    }
    if (extra) {
      const now = new Date(Math.floor(Date.now() / 1000) * 1000);
      await addEntry(pack, { name: extra.name, mode: 0o600, uid: 0, gid: 0, mtime: now, type: 'file', size: extra.content.length }, extra.content);
      if (!sawIgnore) {
        const c = Buffer.from(`.dockerignore\n${extra.name}\n`);
        await addEntry(pack, { name: '.dockerignore', mode: 0o600, uid: 0, gid: 0, mtime: now, type: 'file', size: c.length }, c);
      }
    }
    pack.finalize();
  })().catch((e) => pack.destroy(e));
  return pack;
}

/** A file's entry with its data: small ones read whole, big ones streamed. */
async function addFile(pack: TarStream.Pack, h: Header, abs: string, st: Stats): Promise<void> {
  if (st.size === 0) return addEntry(pack, h);
  if (st.size <= 1 << 20) {
    const data = await readOrFail(abs);
    return addEntry(pack, { ...h, size: data.length }, data);
  }
  // 1 MiB reads: each chunk crosses tar-stream, the upload counter and the socket (64 KiB: 16× the
  // hops), into buffers the HTTP client gives back once written (lib/recycled-buffers.ts).
  return addEntry(pack, h, recycledFileStream(abs, st.size, 1 << 20, noPermission(abs)));
}

/** docker's message for a context file it may not read; other errors as they are. */
const noPermission = (abs: string) => (e: NodeJS.ErrnoException): Error =>
  e?.code === 'EACCES' ? new ContextError(`error checking context: no permission to read from '${abs}'`) : e;

async function readOrFail(abs: string): Promise<Buffer> {
  try { return await fsp.readFile(abs); } catch (e: any) { throw noPermission(abs)(e); }
}

/** A tar containing only "Dockerfile" (docker's GetContextFromReader for a bare Dockerfile on stdin). */
export function dockerfileOnlyTar(content: Buffer): TarStream.Pack {
  const pack = tarStream().pack();
  const now = new Date(Math.floor(Date.now() / 1000) * 1000);
  const mode = 0o666 & ~process.umask();
  pack.entry({ name: 'Dockerfile', mode, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, mtime: now, type: 'file', size: content.length }, content);
  pack.finalize();
  return pack;
}

/** docker's build.IsArchive: a compressed stream, or a first block that is a valid tar header. */
export function isArchive(head: Buffer): boolean {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return true;
  if (head.length >= 3 && head.subarray(0, 3).toString('latin1') === 'BZh') return true;
  if (head.length >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return true;
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return true; // zstd
  if (head.length < 512) return false;
  const stored = parseInt(head.subarray(148, 156).toString('latin1').replace(/[\0 ]+$/g, '').trim(), 8);
  if (!Number.isFinite(stored)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : head[i];
  return sum === stored;
}

export interface LocalContext { contextDir: string; relDockerfile: string; outsideDockerfile?: string }

/** docker's GetContextFromLocalDir: the context directory and the Dockerfile relative to it. */
export async function localContext(specified: string, dockerfileName: string | undefined): Promise<LocalContext> {
  const abs = path.resolve(specified);
  let contextDir: string;
  try { contextDir = await fsp.realpath(abs); } catch (e: any) {
    if (e?.code === 'ENOENT') throw new ContextError(`unable to prepare context: path "${specified}" not found`);
    throw new ContextError(`unable to prepare context: unable to evaluate symlinks in context path: ${e?.message ?? e}`);
  }
  const st = await fsp.lstat(contextDir);
  if (!st.isDirectory()) throw new ContextError(`unable to prepare context: context must be a directory: ${contextDir}`);
  let absDockerfile: string;
  if (!dockerfileName || dockerfileName === '-') {
    absDockerfile = path.join(contextDir, 'Dockerfile');
    if (!dockerfileName && !(await exists(absDockerfile)) && (await exists(path.join(contextDir, 'dockerfile')))) absDockerfile = path.join(contextDir, 'dockerfile');
  } else absDockerfile = path.resolve(dockerfileName);
  if (!(await exists(absDockerfile))) throw new ContextError(`unable to prepare context: Cannot locate Dockerfile: "${absDockerfile}"`);
  const relDockerfile = path.relative(contextDir, absDockerfile) || '.';
  const outside = relDockerfile.startsWith(`..${path.sep}`) ? absDockerfile : undefined;
  return { contextDir, relDockerfile, outsideDockerfile: outside };
}

async function exists(p: string): Promise<boolean> {
  try { await fsp.lstat(p); return true; } catch { return false; }
}

/**
 * How close to the walk's start a file's ctime may be and still be trusted by drayd next time
 * (builder/context-snapshots.ts): a write within the file system clock's tick of our stat could
 * leave every stat field as it was. Files changed this recently are sent every time.
 */
export const RACY_MS = 1000;

/** The stat fields that any write or metadata change moves (ctime cannot be set by a user). */
function statKey(st: Stats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mode}:${st.uid}:${st.gid}:${st.mtimeMs}:${st.ctimeMs}`;
}

/** Which context a manifest describes, for drayd: this host's name and the directory. */
export function contextKey(dir: string): string {
  return createHash('sha256').update(`${hostname()}\0${dir}`).digest('hex');
}

/**
 * `size`: the bytes the whole context's tar (tarContext) would have been, which is what `Sending
 * build context` reports, as the docker CLI's line does: the context's size, not the upload's.
 */
export interface IncrementalContext { key: string; body: Readable; size: number; sent: number; total: number }

const pad512 = (n: number) => Math.ceil(n / 512) * 512;

/** A pax record as tar-stream writes it: "<len> <key>=<value>\n", len counting itself. */
function paxRecordBytes(kv: string): number {
  const len = Buffer.byteLength(` ${kv}\n`);
  let digits = String(len).length;
  if (len + digits >= 10 ** digits) digits++;
  return len + digits;
}

/** The bytes tar-stream's pack gives an entry without its data: one header, or a pax one first. */
function headerBytes(h: Header): number {
  let name = h.name;
  let prefix = '';
  let fits = Buffer.byteLength(name) === name.length;
  while (fits && Buffer.byteLength(name) > 100) {
    const i = name.indexOf('/');
    if (i === -1) { fits = false; break; }
    prefix += prefix ? `/${name.slice(0, i)}` : name.slice(0, i);
    name = name.slice(i + 1);
  }
  if (fits && (Buffer.byteLength(name) > 100 || Buffer.byteLength(prefix) > 155)) fits = false;
  if (h.linkname && Buffer.byteLength(h.linkname) > 100) fits = false;
  if (fits) return 512;
  const pax = paxRecordBytes(`path=${h.name}`) + (h.linkname ? paxRecordBytes(`linkpath=${h.linkname}`) : 0);
  return 512 + pad512(pax) + 512;
}

/**
 * dray build's incremental context (builder/context-snapshots.ts): the manifest of `dir` (tar
 * metadata and stat keys, no data), the files `need` says drayd lacks, and the body of the build
 * request: the manifest framed, then a tar of those files alone.
 */
export async function incrementalContext(dir: string, filter: ContextFilter, need: (key: string, m: Manifest) => Promise<number[]>): Promise<IncrementalContext> {
  const started = Date.now();
  const entries: ManifestEntry[] = [];
  const files = new Map<number, { abs: string; st: Stats }>();
  const seen = new Map<string, string>();
  let size = 1024; // the end-of-archive blocks
  for await (const { rel, abs, st } of walkContext(dir, filter)) {
    const h = headerFor(rel, st);
    if (!h) continue;
    const base = { p: rel, m: st.mode & 0o7777, mt: Math.floor(st.mtimeMs / 1000) };
    if (h.type === 'symlink') h.linkname = await fsp.readlink(abs);
    if (h.type === 'file') {
      if (st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        const first = seen.get(key);
        if (first !== undefined) {
          size += headerBytes({ ...h, type: 'link', linkname: first });
          entries.push({ ...base, t: 'h', l: first });
          continue;
        }
        seen.set(key, rel);
      }
      size += headerBytes(h) + pad512(st.size);
      files.set(entries.length, { abs, st });
      entries.push({ ...base, t: 'f', s: st.size, k: statKey(st), ...(st.ctimeMs >= started - RACY_MS ? { r: 1 as const } : {}) });
      continue;
    }
    size += headerBytes(h);
    if (h.type === 'directory') entries.push({ ...base, t: 'd' });
    else if (h.type === 'symlink') entries.push({ ...base, t: 'l', l: h.linkname });
    else entries.push({ ...base, t: 'o' });
  }
  const key = contextKey(dir);
  const wanted = await need(key, { version: 1, entries });
  for (const i of wanted) if (entries[i]?.t === 'f') entries[i].x = 1;
  const manifest = Buffer.from(JSON.stringify({ version: 1, entries }));
  const framed = frame((async function* () { yield manifest; })());
  // Nothing to send (a rebuild with nothing changed): the end-of-archive blocks alone.
  if (!wanted.length) return { key, body: Readable.from(concat(framed, [Buffer.alloc(1024)])), size, sent: 0, total: files.size };
  const pack = tarStream().pack();
  (async () => {
    for (const i of wanted) {
      const f = files.get(i);
      if (!f) continue;
      await addFile(pack, headerFor(entries[i].p, f.st)!, f.abs, f.st);
    }
    pack.finalize();
  })().catch((e) => pack.destroy(e));
  return { key, body: Readable.from(concat(framed, pack as unknown as AsyncIterable<Buffer>)), size, sent: wanted.length, total: files.size };
}

async function* concat(...parts: (AsyncIterable<Buffer> | Iterable<Buffer>)[]): AsyncGenerator<Buffer> {
  for (const p of parts) for await (const c of p) yield c;
}
