// `docker cp`: stat, read and write paths inside a container's mounted rootfs. Paths are resolved
// as the container would see them (symlinks followed inside the rootfs, never out of it).
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { spawnChild } from '../lib/spawn';
import type { ServerResponse } from 'node:http';
import { invalid, notFound, systemError } from '../lib/errors';
import { resolveInRoot } from '../lib/root-path';

/** `p` inside `root` as the container sees it; the last component's symlink only followed if asked. */
async function resolve(root: string, p: string, followLast: boolean): Promise<string> {
  if (followLast) return resolveInRoot(root, p);
  const norm = path.posix.normalize('/' + p);
  return path.join(await resolveInRoot(root, path.posix.dirname(norm)), path.posix.basename(norm));
}

// Go's os.FileMode type bits, which the docker CLI reads from the stat header.
const MODE_DIR = 0x80000000;
const MODE_SYMLINK = 0x08000000;

export async function archiveStat(root: string, p: string) {
  const host = await resolve(root, p, false);
  const st = await fsp.lstat(host).catch(() => undefined);
  if (!st) throw notFound(`Could not find the file ${p} in container`);
  let mode = st.mode & 0o7777;
  let linkTarget = '';
  if (st.isDirectory()) mode = (mode | MODE_DIR) >>> 0;
  if (st.isSymbolicLink()) {
    mode = (mode | MODE_SYMLINK) >>> 0;
    linkTarget = '/' + path.relative(root, await resolve(root, p, true));
  }
  return { name: path.posix.basename(p) || '/', size: st.size, mode, mtime: st.mtime.toISOString(), linkTarget };
}

export async function getArchive(root: string, p: string, res: ServerResponse): Promise<void> {
  const st = await archiveStat(root, p);
  const host = await resolve(root, p, p.endsWith('/'));
  const dir = path.dirname(host);
  const base = path.basename(host);
  res.writeHead(200, {
    'Content-Type': 'application/x-tar',
    'X-Docker-Container-Path-Stat': Buffer.from(JSON.stringify(st)).toString('base64'),
  });
  const name = path.posix.basename(path.posix.normalize('/' + p)) || '.';
  const args = ['-C', dir, '--numeric-owner', '-cf', '-'];
  // The archive names the entry as the caller did (a symlink's own name, not its target's).
  if (name !== base && name !== '.') args.push(`--transform=s|^${escapeSed(base)}|${escapeSed(name)}|`);
  args.push(base === '' ? '.' : base);
  await pipeTar(args, undefined, res);
}

export async function putArchive(root: string, p: string, body: NodeJS.ReadableStream, _o: { noOverwriteDirNonDir: boolean }): Promise<void> {
  const host = await resolve(root, p, true);
  const st = await fsp.stat(host).catch(() => undefined);
  if (!st) throw notFound(`Could not find the file ${p} in container`);
  if (!st.isDirectory()) throw invalid(`extraction point is not a directory`);
  await pipeTar(['-C', host, '--numeric-owner', '--same-owner', '-xf', '-'], body, undefined);
}

/** `docker export`: the whole root filesystem as one tar. */
export async function exportRootfs(root: string, res: ServerResponse): Promise<void> {
  res.writeHead(200, { 'Content-Type': 'application/x-tar' });
  await pipeTar(['-C', root, '--numeric-owner', '--xattrs', '-cf', '-', '.'], undefined, res);
}

function escapeSed(s: string): string { return s.replace(/[|\\&.*^$[\]]/g, '\\$&'); }

function pipeTar(args: string[], input: NodeJS.ReadableStream | undefined, out: NodeJS.WritableStream | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawnChild('tar', args, { stdio: [input ? 'pipe' : 'ignore', out ? 'pipe' : 'ignore', 'pipe'] });
    let err = '';
    p.stderr!.on('data', (b) => { err += b; });
    if (input) input.pipe(p.stdin!);
    if (out) p.stdout!.pipe(out);
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve() : reject(systemError(`tar: ${err.trim()}`))));
  });
}
