// The build context: the request body (a tar, maybe gzip/bzip2/xz; or a bare Dockerfile, as
// `docker build - < Dockerfile` sends) unpacked into a private temp directory under the image
// store's tmp/ (emptied when the daemon starts, so a crash leaves nothing behind), with
// .dockerignore applied on the daemon side too: clients that send raw tars get Docker's result.
import { promises as fsp, createWriteStream } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { run } from '../lib/exec';
import { invalid, notFound } from '../lib/errors';
import { tarMessage } from '../store/tar';
import { resolveInRoot } from '../lib/root-path';
import { IgnoreMatcher } from './dockerignore';

export interface BuildContext {
  /** Root of the unpacked context (ignored files already removed). */
  dir: string;
  dockerfile: string;
  dockerfileName: string;
  ignore: IgnoreMatcher;
  /** Scratch space of this build, inside the same temp directory. */
  scratch: string;
  cleanup(): Promise<void>;
}

const MAX_ENTRIES = 1_000_000;

export async function receiveContext(body: NodeJS.ReadableStream, tmpRoot: string, dockerfileParam: string | null): Promise<BuildContext> {
  const work = path.join(tmpRoot, `build-${randomBytes(6).toString('hex')}`);
  const dir = path.join(work, 'context');
  const scratch = path.join(work, 'scratch');
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  await fsp.mkdir(scratch, { recursive: true, mode: 0o700 });
  const cleanup = () => fsp.rm(work, { recursive: true, force: true });
  try {
    const archive = path.join(work, 'context.tar');
    await pipeline(body, createWriteStream(archive));
    let dockerfileName = dockerfileParam || 'Dockerfile';
    let dockerfile: string;
    if (await isArchive(archive)) {
      await completeTar(archive);
      const r = await run('tar', ['-x', '--no-same-owner', '-f', archive, '-C', dir], { allowFailure: true });
      if (r.code !== 0) throw invalid(`failed to read the build context: ${tarMessage(r.stderr) || `tar exit status ${r.code}`}`);
      dockerfile = await readDockerfile(dir, dockerfileName, !dockerfileParam);
    } else {
      // The body is the Dockerfile itself and the context is empty.
      dockerfile = await fsp.readFile(archive, 'utf8');
      dockerfileName = 'Dockerfile';
    }
    await fsp.rm(archive, { force: true });
    const ignoreText = await fsp.readFile(path.join(dir, '.dockerignore'), 'utf8').catch(() => '');
    const ignore = IgnoreMatcher.parse(ignoreText);
    if (!ignore.empty) await removeIgnored(dir, ignore);
    return { dir, dockerfile, dockerfileName, ignore, scratch, cleanup };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

/**
 * The docker CLI sends a context tar whose last block is unpadded and has no end-of-archive
 * marker when -f names a Dockerfile outside the context; Docker's own reader accepts that, GNU tar
 * does not. An uncompressed tar is completed here (extra zero blocks after a real end are harmless).
 */
async function completeTar(file: string): Promise<void> {
  const fh = await fsp.open(file, 'r+');
  try {
    const magic = Buffer.alloc(5);
    await fh.read(magic, 0, 5, 257);
    if (magic.toString('latin1') !== 'ustar') return;
    const { size } = await fh.stat();
    await fh.write(Buffer.alloc((512 - (size % 512)) % 512 + 1024), 0, undefined, size);
  } finally {
    await fh.close();
  }
}

/** Tar (by its ustar magic) or a compressed stream GNU tar can open. */
async function isArchive(file: string): Promise<boolean> {
  const fh = await fsp.open(file, 'r');
  try {
    const b = Buffer.alloc(512);
    const { bytesRead } = await fh.read(b, 0, 512, 0);
    if (bytesRead === 0) return false;
    if (b[0] === 0x1f && b[1] === 0x8b) return true; // gzip
    if (b.subarray(0, 3).toString('latin1') === 'BZh') return true;
    if (b.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return true; // xz
    if (bytesRead >= 262 && b.subarray(257, 262).toString('latin1') === 'ustar') return true;
    return false;
  } finally { await fh.close(); }
}

async function readDockerfile(dir: string, name: string, defaulted: boolean): Promise<string> {
  const rel = name.replace(/^\/+/, '');
  const tryRead = async (n: string) => {
    const p = await resolveInRoot(dir, n);
    const st = await fsp.stat(p).catch(() => undefined);
    return st?.isFile() ? fsp.readFile(p, 'utf8') : undefined;
  };
  let text = await tryRead(rel);
  // Docker falls back to "dockerfile" when the default name is absent.
  if (text === undefined && defaulted) text = await tryRead('dockerfile');
  if (text === undefined) throw notFound(`Cannot locate specified Dockerfile: ${name}`);
  return text;
}

/** Deletes what .dockerignore excludes; directories are walked only when a `!` could keep a child. */
async function removeIgnored(dir: string, ignore: IgnoreMatcher): Promise<void> {
  let seen = 0;
  const walk = async (abs: string, rel: string): Promise<void> => {
    for (const name of await fsp.readdir(abs)) {
      if (++seen > MAX_ENTRIES) throw invalid('build context has too many files');
      const p = path.join(abs, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = await fsp.lstat(p);
      const ignored = ignore.matches(r);
      if (st.isDirectory()) {
        if (ignored && !ignore.hasExclusions) { await fsp.rm(p, { recursive: true, force: true }); continue; }
        await walk(p, r);
        if (ignored && (await fsp.readdir(p)).length === 0) await fsp.rmdir(p);
      } else if (ignored) {
        await fsp.rm(p, { force: true });
      }
    }
  };
  await walk(dir, '');
}
