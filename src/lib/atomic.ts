// Every write of state goes through here: temp file in the same directory, fsync, rename, fsync of
// the directory. A reader sees the old file or the new one, never a torn one, even after a crash.
import { promises as fsp, constants, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await fsp.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => {});
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  try {
    await fsp.rename(tmp, file);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  await fsyncDir(dir);
}

/**
 * Temp file and rename, without the fsyncs: for files derived from state and written again
 * whenever they are needed (a container's /etc/hosts, /etc/hostname, /etc/resolv.conf at each
 * start). Readers still never see a torn file, and a killed daemon loses nothing (the page cache
 * outlives it); only a machine crash can lose the write, and the next start writes it anew.
 */
export async function writeDerivedFile(file: string, data: string | Uint8Array, mode = 0o644, tmpDir = path.dirname(file)): Promise<void> {
  // tmpDir (same file system) for a directory whose readers take every file in it for one of theirs.
  const tmp = path.join(tmpDir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  await fsp.writeFile(tmp, data, { mode, flag: 'wx' });
  try {
    await fsp.rename(tmp, file);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
}

export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(value, null, 1) + '\n');
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try { await fh.sync(); } finally { await fh.close(); }
}

export async function readJson<T>(file: string): Promise<T> {
  return JSON.parse(await fsp.readFile(file, 'utf8')) as T;
}

export async function readJsonIfExists<T>(file: string): Promise<T | undefined> {
  try {
    return await readJson<T>(file);
  } catch (e: any) {
    if (e?.code === 'ENOENT') return undefined;
    throw e;
  }
}

export function readJsonSyncIfExists<T>(file: string): T | undefined {
  try { return JSON.parse(readFileSync(file, 'utf8')) as T; } catch (e: any) {
    if (e?.code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Removes temp files a crash left behind by writeFileAtomic in `dir` (not recursive). */
export async function sweepTempFiles(dir: string): Promise<void> {
  let names: string[] = [];
  try { names = await fsp.readdir(dir); } catch { return; }
  await Promise.all(names.filter((n) => n.startsWith('.') && n.endsWith('.tmp')).map((n) => fsp.rm(path.join(dir, n), { force: true })));
}

/** Renames `src` to `dest`; false (nothing moved) when they are on different file systems. */
export async function renameSameFs(src: string, dest: string): Promise<boolean> {
  try {
    await fsp.rename(src, dest);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EXDEV') return false;
    throw e;
  }
}
