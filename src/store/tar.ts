// Tar helpers for layers: compression detection, unpacking with GNU tar (which can mknod, chown
// and set xattrs, which Node cannot) plus translation of OCI whiteouts to overlayfs ones, and the
// reverse: an overlay upper directory to a layer tar (tar-stream, deterministic order).
import { spawnChild } from '../lib/spawn';
import { createReadStream, promises as fsp, Stats } from 'node:fs';
import { createGunzip, createZstdDecompress } from 'node:zlib';
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { PassThrough, Readable, Transform, Writable } from 'node:stream';
import * as tarStream from 'tar-stream';
import { run } from '../lib/exec';
import { nativeAddon } from '../lib/native';
import { recycledFileStream } from '../lib/recycled-buffers';
import { invalid, systemError, errorMessage } from '../lib/errors';

/** GNU tar's stderr as one message: its "tar: " prefixes and the closing summary line dropped. */
export function tarMessage(stderr: string): string {
  return stderr.split('\n').map((l) => l.replace(/^tar: /, '').trim())
    .filter((l) => l && !/^Exiting with failure status/.test(l)).join('; ');
}

/**
 * Why tar stopped, as the engine's error: the host's (a full or read-only disk: 500) or the
 * layer's (400). On a full tmpfs, write() first returns short and tar reports only "Wrote only N
 * of M bytes", without the errno that the next write would have given.
 */
function tarFailure(stderr: string, code: number | null): Error {
  const msg = tarMessage(stderr) || `tar exit status ${code}`;
  if (/Wrote only \d+ of \d+ bytes/.test(stderr) && !/No space left/.test(stderr)) return systemError(`failed to register layer: ${msg}: no space left on device`);
  return (/No space left|Read-only file system|Disk quota/.test(stderr) ? systemError : invalid)(`invalid layer: ${msg}`);
}

export type Compression = 'none' | 'gzip' | 'zstd';

export const MEDIA_TYPES: Record<Compression, string> = {
  none: 'application/vnd.oci.image.layer.v1.tar',
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
};

export function detectCompression(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

export async function fileCompression(file: string): Promise<Compression> {
  const fh = await fsp.open(file, 'r');
  try {
    const buf = Buffer.alloc(4);
    const { bytesRead } = await fh.read(buf, 0, 4, 0);
    return detectCompression(buf.subarray(0, bytesRead));
  } finally { await fh.close(); }
}

/** A stream of the file's uncompressed bytes (gzip and zstd by zlib). */
export async function openDecompressed(file: string): Promise<Readable> {
  const c = await fileCompression(file);
  const src = createReadStream(file);
  return c === 'none' ? src : decompressing(src, c);
}

/**
 * `src` decompressed as it flows; an error of either side is the result's. Output comes in 256 KiB
 * chunks, not zlib's 16 KiB: each chunk costs a trip through the tar parser, the DiffID hash and a
 * write to GNU tar, and at 16 KiB that per-chunk cost (and the garbage) took 2.5× the time of
 * inflating a 100 MB layer.
 */
export function decompressing(src: Readable, c: Exclude<Compression, 'none'>): Readable {
  // A few chunks of slack on the way out, so inflating the next one overlaps the parsing of this one.
  const chunkSize = 256 * 1024;
  const highWaterMark = 4 * chunkSize;
  // (highWaterMark reaches the underlying Transform; @types/node does not list it.)
  const opts = { chunkSize, highWaterMark } as { chunkSize: number };
  const z = c === 'gzip' ? createGunzip(opts) : createZstdDecompress(opts);
  src.on('error', (e) => z.destroy(e));
  return src.pipe(z);
}

/**
 * `<tool> -dcq` over a file or a stream (bzip2, xz: no zlib in Node for them), as a stream of
 * its output. A missing tool or a failed run is the stream's error; `fail` makes the latter's
 * error from "<tool>: <stderr or exit status>", `what` names the input in the former's message.
 */
export function decompressWithTool(tool: string, input: string | Readable, what: string, fail: (detail: string) => Error): Readable {
  const fromFile = typeof input === 'string';
  const child = spawnChild(tool, fromFile ? ['-dcq', input] : ['-dcq'], { stdio: [fromFile ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  const out = new PassThrough();
  let err = '';
  child.stderr!.on('data', (b) => { err += b; });
  child.on('error', (e: any) => out.destroy(e?.code === 'ENOENT' ? systemError(`${tool}-compressed ${what} need the ${tool} tool, which is not installed`) : e));
  if (!fromFile) {
    input.on('error', (e) => { child.kill(); out.destroy(e); });
    child.stdin!.on('error', () => { /* the tool exited early; its status says why */ });
    input.pipe(child.stdin!);
  }
  child.stdout!.pipe(out, { end: false });
  child.on('close', (code) => {
    if (code === 0) out.end();
    else out.destroy(fail(`${tool}: ${err.trim() || `exit status ${code}`}`));
  });
  return out;
}

/** Normalises a member name: no leading "./" or "/", no trailing "/". */
export function cleanName(name: string): string {
  let n = name.replace(/^(\.\/|\/)+/, '').replace(/\/+$/, '');
  if (n === '.') n = '';
  return n;
}

function hasDotDot(n: string): boolean {
  return n.split('/').some((c) => c === '..');
}

/** Joins `rel` under `root`, refusing any existing symlink on the way (never escapes `root`). */
async function safeParent(root: string, rel: string): Promise<string> {
  const parts = rel.split('/').filter(Boolean);
  let cur = root;
  for (const p of parts.slice(0, -1)) {
    cur = path.join(cur, p);
    const st = await fsp.lstat(cur);
    if (!st.isDirectory()) throw invalid(`invalid layer: ${rel}: parent is not a directory`);
  }
  return cur;
}

export interface UnpackResult { diffId: string; size: number }

/**
 * Unpacks the uncompressed tar `src` into `dir` (which must exist and be empty) with GNU tar,
 * then turns OCI whiteouts into overlayfs whiteouts. Whiteout names are collected while the same
 * bytes stream through tar-stream, so the tree is never walked. Resolves with the DiffID (sha256
 * of the tar) and the size of the layer's content.
 */
export async function unpackLayer(src: Readable, dir: string): Promise<UnpackResult> {
  const hash = createHash('sha256');
  const whiteouts: string[] = [];
  const opaques: string[] = [];
  // AUFS' own bookkeeping (.wh..wh.plnk, .wh..wh.aufs): not content, dropped as moby drops it.
  const aufsMeta: string[] = [];
  let size = 0;

  // 1 MiB records (-b 2048), assembled from short pipe reads (-B): tar's default 10 KiB records
  // cost a system call each on both sides of the pipe, half of what extracting spent in the kernel.
  const tar = spawnChild('tar', ['-x', '-b', '2048', '-B', '--numeric-owner', '--same-owner', '--same-permissions', '--xattrs', '--xattrs-include=*', '-C', dir, '-f', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
  let tarErr = '';
  tar.stderr!.on('data', (b) => { tarErr += b; });
  const tarDone = new Promise<void>((resolve, reject) => {
    tar.on('error', reject);
    tar.on('close', (code) => (code === 0 ? resolve() : reject(tarFailure(tarErr, code))));
  });
  tar.stdin!.on('error', () => { /* reported by tarDone */ });

  const extract = tarStream.extract();
  extract.on('entry', (h, stream, next) => {
    // A refused entry ends the extract with next(err), which destroys this stream with the same
    // error: extract's own 'error' reports it.
    stream.on('error', () => {});
    const name = cleanName(h.name);
    const base = path.posix.basename(name);
    if (base.startsWith('.wh.')) {
      // ".wh.", ".wh.." and ".wh..." would name the layer's own directory or its parent: no
      // container of such an image could start, and the parent is outside the layer.
      const target = base.slice(4);
      if (hasDotDot(name) || target === '' || target === '.' || target === '..') { next(invalid(`invalid layer: whiteout "${h.name}" does not name a file in its directory`)); return; }
      if (base === '.wh..wh..opq') opaques.push(path.posix.dirname(name));
      else if (target.startsWith('.wh.')) aufsMeta.push(name);
      else whiteouts.push(name);
    } else if (h.type === 'file' || h.type === 'contiguous-file') {
      size += h.size ?? 0;
    }
    stream.on('end', () => next());
    stream.resume();
  });
  const parsed = new Promise<void>((resolve, reject) => {
    extract.on('finish', resolve);
    extract.on('error', (e: Error) => reject(e instanceof Error && 'kind' in e ? e : invalid(`invalid layer: ${e.message}`)));
  });

  const tap = new Transform({ highWaterMark: 1024 * 1024, transform(chunk: Buffer, _e, cb) { hash.update(chunk); cb(null, chunk); } });
  const fed = new Promise<void>((resolve, reject) => {
    src.on('error', reject);
    tap.on('error', reject);
    tap.on('end', resolve);
  });
  tap.pipe(tar.stdin!);
  tap.pipe(extract);
  src.pipe(tap);

  try {
    await Promise.all([fed, parsed, tarDone]);
  } catch (e) {
    tar.kill('SIGKILL');
    src.destroy();
    throw e instanceof Error && 'kind' in e ? e : systemError(`failed to unpack layer: ${errorMessage(e)}`);
  }

  for (const m of aufsMeta) {
    await fsp.rm(path.join(await safeParent(dir, m), path.posix.basename(m)), { recursive: true, force: true });
  }
  for (const w of whiteouts) {
    const parent = await safeParent(dir, w);
    const target = path.join(parent, path.posix.basename(w).slice(4));
    await fsp.rm(path.join(parent, path.posix.basename(w)), { force: true });
    await fsp.rm(target, { recursive: true, force: true });
    await run('mknod', ['-m', '0', target, 'c', '0', '0']);
  }
  const opaqueDirs: string[] = [];
  for (const o of opaques) {
    const rel = o === '.' ? '' : o;
    const d = rel ? path.join(await safeParent(dir, rel), path.posix.basename(rel)) : dir;
    const st = await fsp.lstat(d).catch(() => undefined);
    if (!st?.isDirectory()) throw invalid(`invalid layer: opaque whiteout in ${o}, which is not a directory`);
    await fsp.rm(path.join(d, '.wh..wh..opq'), { force: true });
    opaqueDirs.push(d);
  }
  for (let i = 0; i < opaqueDirs.length; i += 200) {
    await run('setfattr', ['-h', '-n', 'trusted.overlay.opaque', '-v', 'y', ...opaqueDirs.slice(i, i + 200)]);
  }
  return { diffId: 'sha256:' + hash.digest('hex'), size };
}

/**
 * The extended attributes under `root`: the directories (absolute paths) that carry
 * trusted.overlay.opaque=y, and whether any entry carries an extended attribute other than
 * overlayfs' own (trusted.overlay.*), which the layer tar does not carry.
 */
export async function upperAttrs(root: string): Promise<{ opaque: Set<string>; foreign: boolean }> {
  // The walk in the addon spares a process start per build step; getfattr where it cannot run.
  const found = await nativeAddon()?.xattrTree(root).catch(() => undefined);
  if (found) {
    const opaque = new Set<string>();
    let foreign = false;
    for (const [p, name, value] of found) {
      if (name === 'trusted.overlay.opaque') { if (value.toString('latin1') === 'y') opaque.add(path.resolve(p)); }
      else if (!name.startsWith('trusted.overlay.')) foreign = true;
    }
    return { opaque, foreign };
  }
  const r = await run('getfattr', ['-R', '--absolute-names', '-h', '-m', '.', '-d', root], { allowFailure: true });
  const opaque = new Set<string>();
  let foreign = false;
  let cur: string | undefined;
  for (const line of r.stdout.split('\n')) {
    if (line.startsWith('# file: ')) { cur = unescapeOctal(line.slice(8)); continue; }
    const l = line.trim();
    if (!cur || !l) continue;
    if (/^trusted\.overlay\.opaque="?y"?$/.test(l)) opaque.add(path.resolve(cur));
    else if (!l.startsWith('trusted.overlay.')) foreign = true;
  }
  return { opaque, foreign };
}

function unescapeOctal(s: string): string {
  if (!s.includes('\\')) return s;
  const bytes: number[] = [];
  const raw = Buffer.from(s, 'utf8');
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0x5c && i + 3 < raw.length + 0 && /^[0-7]{3}$/.test(raw.subarray(i + 1, i + 4).toString())) {
      bytes.push(parseInt(raw.subarray(i + 1, i + 4).toString(), 8));
      i += 3;
    } else bytes.push(raw[i]);
  }
  return Buffer.from(bytes).toString('utf8');
}

export const isWhiteoutDevice = (st: Stats): boolean => st.isCharacterDevice() && st.rdev === 0;

const major = (rdev: number) => Number((BigInt(rdev) >> 8n) & 0xfffn) | Number((BigInt(rdev) >> 32n) & ~0xfffn);
const minor = (rdev: number) => Number(BigInt(rdev) & 0xffn) | Number((BigInt(rdev) >> 12n) & ~0xffn);

/** Entries of `dir` sorted by name (byte order), with lstat. */
async function sortedEntries(dir: string): Promise<{ name: string; st: Stats }[]> {
  const names = (await fsp.readdir(dir)).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return Promise.all(names.map(async (name) => ({ name, st: await fsp.lstat(path.join(dir, name)) })));
}

/**
 * Writes the overlay upper directory `upper` as an OCI layer tar to `pack`: whiteout devices
 * become `.wh.<name>`, opaque directories get a `.wh..wh..opq` entry; depth-first in byte order,
 * so the same tree always gives the same bytes. Ends the pack. `owners` translates the owner of
 * each entry (a remapped container's host IDs back to its own, lib/idmap.ts outOf). Resolves with
 * the bytes of file content written (a layer's size, counted as unpackLayer counts it) and whether
 * the tar says all the directory holds (`faithful`: no extended attribute the tar leaves out, no
 * file whose name reads as a whiteout; known only with `faithfulness` or when getfattr ran).
 */
export async function writeDiffTar(upper: string, pack: tarStream.Pack, owners?: OwnerMap, o: { faithfulness?: boolean } = {}): Promise<{ size: number; faithful: boolean }> {
  // Only directories below the top carry the opaque mark: an upper with no directory (a COPY of
  // files, a RUN that wrote one) spares the getfattr process (~3 ms a step), unless the caller
  // must know whether the tar is the whole of the directory.
  const top = await fsp.readdir(upper, { withFileTypes: true });
  const attrs = o.faithfulness || top.some((d) => d.isDirectory()) ? await upperAttrs(upper) : { opaque: new Set<string>(), foreign: false };
  const opaque = attrs.opaque;
  // A file named .wh.* would be read back from the tar as a whiteout.
  let whiteoutNamed = false;
  const links = new Map<string, string>();
  let size = 0;
  const entry = (h: Partial<tarStream.Header> & { name: string }, body?: Readable | Buffer) => new Promise<void>((resolve, reject) => {
    if (!body || Buffer.isBuffer(body)) { pack.entry(h, body ?? Buffer.alloc(0), (e) => (e ? reject(e) : resolve())); return; }
    const w = pack.entry(h, (e) => (e ? reject(e) : resolve()));
    body.on('error', reject);
    body.pipe(w as unknown as Writable);
  });
  const walk = async (abs: string, rel: string): Promise<void> => {
    for (const { name, st } of await sortedEntries(abs)) {
      const p = path.join(abs, name);
      const r = rel ? `${rel}/${name}` : name;
      const base = { mode: st.mode & 0o7777, ...(owners ? owners(st.uid, st.gid) : { uid: st.uid, gid: st.gid }), mtime: st.mtime };
      if (isWhiteoutDevice(st)) {
        await entry({ ...base, name: rel ? `${rel}/.wh.${name}` : `.wh.${name}`, type: 'file', mode: 0o644, size: 0 });
      } else if (st.isDirectory()) {
        await entry({ ...base, name: r + '/', type: 'directory' });
        if (opaque.has(path.resolve(p))) await entry({ ...base, name: `${r}/.wh..wh..opq`, type: 'file', mode: 0o644, size: 0 });
        await walk(p, r);
      } else if (st.isSymbolicLink()) {
        await entry({ ...base, name: r, type: 'symlink', linkname: await fsp.readlink(p) });
      } else if (st.isFile()) {
        if (name.startsWith('.wh.')) whiteoutNamed = true;
        const key = `${st.dev}:${st.ino}`;
        if (st.nlink > 1 && links.has(key)) { await entry({ ...base, name: r, type: 'link', linkname: links.get(key)! }); continue; }
        if (st.nlink > 1) links.set(key, r);
        size += st.size;
        // 1 MiB reads, not 64 KiB: each chunk costs a trip through the packer, the hash and the
        // blob's write; a 50 MB COPY's layer went from ~130 to ~80 ms. Into recycled buffers,
        // which the blob's write gives back (lib/recycled-buffers.ts: fresh ones fault in).
        await entry({ ...base, name: r, type: 'file', size: st.size }, st.size ? recycledFileStream(p, st.size) : undefined);
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        await entry({ ...base, name: r, type: st.isCharacterDevice() ? 'character-device' : 'block-device', devmajor: major(st.rdev), devminor: minor(st.rdev) });
      } else if (st.isFIFO()) {
        await entry({ ...base, name: r, type: 'fifo' });
      }
      // sockets are not archived (as in Docker)
    }
  };
  try {
    await walk(upper, '');
    pack.finalize();
    return { size, faithful: !attrs.foreign && !whiteoutNamed };
  } catch (e) {
    pack.destroy(e as Error);
    throw e;
  }
}

/** A translation of file owners between a container's IDs and the host's (lib/idmap.ts). */
export type OwnerMap = (uid: number, gid: number) => { uid: number; gid: number };

/**
 * The tar stream `src` with every entry's owner translated by `owners` (what a remapped
 * container's files are in its own IDs); everything else passes as it came.
 */
export function mapTarOwners(src: Readable, owners: OwnerMap): Readable {
  const extract = tarStream.extract();
  const pack = tarStream.pack();
  extract.on('entry', (h, stream, next) => {
    const o = owners(h.uid ?? 0, h.gid ?? 0);
    const pax = h.pax ? Object.fromEntries(Object.entries(h.pax).filter(([k]) => k !== 'uid' && k !== 'gid' && k !== 'uname' && k !== 'gname')) : undefined;
    const header = { ...h, uid: o.uid, gid: o.gid, uname: '', gname: '', pax: pax && Object.keys(pax).length ? pax : undefined };
    const done = (e?: Error | null) => (e ? pack.destroy(e) : next());
    if (h.type === 'file' || h.type === 'contiguous-file') {
      stream.pipe(pack.entry(header, done) as unknown as Writable);
    } else {
      stream.resume();
      pack.entry(header, done);
    }
  });
  extract.on('finish', () => pack.finalize());
  extract.on('error', (e: Error) => pack.destroy(e));
  src.on('error', (e: Error) => pack.destroy(e));
  src.pipe(extract as unknown as Writable);
  return pack as unknown as Readable;
}
