// The container page's file browser: one directory's entries, and one file's bytes, read through
// the same root as `docker cp` (engine/archive.ts withCopyRoot: what the container sees, volumes
// included, every path resolved inside the root by the kernel, so a symlink the container planted
// cannot lead out of it). The Engine API's archive route answers a directory with a tar of its whole
// tree, far too much to show one level; and a file as a tar, which a browser cannot open.
import { fstatSync, lstatSync, readdirSync, createReadStream, readlinkSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import * as path from 'node:path';
import type { ContainerService } from '../engine/containers';
import { withCopyRoot } from '../engine/archive';
import { closeFd, entryPath, fdPath, cleanContainerPath, O_DIRECTORY, O_RDONLY } from '../lib/in-root';
import { invalid, notFound } from '../lib/errors';

/** Entries shown of one directory; beyond that the listing says it was cut. */
export const MAX_ENTRIES = 2000;

export interface Entry { name: string; type: 'dir' | 'file' | 'link' | 'other'; size: number; mode: number; mtime: string; target?: string }
export interface Listing { path: string; entries: Entry[]; truncated: boolean }

const missing = (p: string) => notFound(`Could not find the file ${p} in container`);
const isMissing = (e: any) => e?.code === 'ENOENT' || e?.code === 'ENOTDIR';

function kind(st: import('node:fs').Stats): Entry['type'] {
  return st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'link' : 'other';
}

export async function listDir(containers: ContainerService, id: string, p: string): Promise<Listing> {
  const c = containers.get(id);
  const clean = cleanContainerPath(p || '/');
  return withCopyRoot(containers.fs, c, async (root) => {
    let fd: number;
    try { fd = root.open(clean, O_DIRECTORY | O_RDONLY); } catch (e: any) {
      if (e?.code === 'ENOTDIR') throw invalid(`${clean} is not a directory`);
      throw isMissing(e) ? missing(clean) : e;
    }
    try {
      const names = readdirSync(fdPath(fd)).sort((a, b) => a.localeCompare(b));
      const entries: Entry[] = [];
      for (const name of names.slice(0, MAX_ENTRIES)) {
        let st;
        try { st = lstatSync(entryPath(fd, name)); } catch { continue; } // gone meanwhile
        const e: Entry = { name, type: kind(st), size: st.size, mode: st.mode & 0o7777, mtime: st.mtime.toISOString() };
        if (e.type === 'link') { try { e.target = readlinkSync(entryPath(fd, name)); } catch { /* gone */ } }
        entries.push(e);
      }
      return { path: clean, entries, truncated: names.length > MAX_ENTRIES };
    } finally { closeFd(fd); }
  });
}

/** One regular file, as an attachment named after it. */
export async function sendFile(containers: ContainerService, id: string, p: string, res: ServerResponse, headers: Record<string, string>): Promise<void> {
  const c = containers.get(id);
  const clean = cleanContainerPath(p);
  if (!p || clean === '/') throw invalid('missing path');
  await withCopyRoot(containers.fs, c, async (root) => {
    let fd: number;
    try { fd = root.open(clean, O_RDONLY); } catch (e) { throw isMissing(e) ? missing(clean) : e; }
    let handed = false;
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw invalid(`${clean} is not a regular file`);
      const name = path.posix.basename(clean).replace(/[^\w.+-]/g, '_') || 'file';
      res.writeHead(200, {
        ...headers,
        'Content-Type': 'application/octet-stream', 'Content-Length': st.size, 'Cache-Control': 'no-store',
        'Content-Disposition': `attachment; filename="${name}"; filename*=UTF-8''${encodeURIComponent(path.posix.basename(clean))}`,
      });
      handed = true;
      // The stream closes the fd; the copy root is held until the last byte is out.
      await new Promise<void>((resolve) => {
        const s = createReadStream('', { fd, autoClose: true });
        s.on('error', () => { res.destroy(); resolve(); });
        res.on('close', () => { s.destroy(); resolve(); });
        s.pipe(res);
      });
    } finally { if (!handed) closeFd(fd); }
  });
}
