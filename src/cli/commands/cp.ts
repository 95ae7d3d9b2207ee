// cp between a container and the local filesystem, through the archive endpoints and GNU tar.
import * as path from 'node:path';
import { statSync } from 'node:fs';
import type { Command } from '../command';
import { StatusError } from '../command';
import { boolFlag } from '../flags';
import { Readable, Transform } from 'node:stream';
import { streamTar } from '../local-tar';
import { ApiError } from '../../client';
import { humanSize } from '../../lib/units';

/** "ctr:/path" → {container, path}; local paths (incl. "./a:b" and absolute ones) stay local. */
export function splitCpArg(a: string): { container?: string; path: string } {
  if (a.startsWith('/') || a.startsWith('.')) return { path: a };
  const i = a.indexOf(':');
  if (i <= 0) return { path: a };
  return { container: a.slice(0, i), path: a.slice(i + 1) };
}

const sedEscape = (s: string) => s.replace(/[\\,&.*^$[\]]/g, '\\$&');
/** The replacement side of a tar --transform: only \, & and the delimiter are special. */
const sedReplacement = (s: string) => s.replace(/[\\,&]/g, '\\$&');

export const cp: Command = {
  usage: `[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-
	dray cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH`,
  description: `Copy files/folders between a container and the local filesystem

Use '-' as the source to read a tar archive from stdin
and extract it to a directory destination in a container.
Use '-' as the destination to stream a tar archive of a
container source to stdout.`,
  aliases: ['dray container cp', 'dray cp'],
  flags: [
    boolFlag('archive', 'a', 'Archive mode (copy all uid/gid information)'),
    boolFlag('follow-link', 'L', 'Always follow symbol link in SRC_PATH'),
    boolFlag('quiet', 'q', 'Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached'),
  ],
  args: { exact: 2 },
  async run(ctx, f, args) {
    const src = splitCpArg(args[0]);
    const dst = splitCpArg(args[1]);
    if (src.container && dst.container) throw new StatusError(1, 'copying between containers is not supported');
    if (!src.container && !dst.container) throw new StatusError(1, 'must specify at least one container source');
    const client = ctx.client();
    const owners = f.archive ? ['--same-owner'] : ['--no-same-owner'];
    if (src.container) {
      if (src.path === '') throw new StatusError(1, 'Error: Source path cannot be empty');
      const { stream, stat } = await client.containers.getArchive(src.container, src.path);
      if (args[1] === '-') { stream.pipe(process.stdout); await new Promise((r) => stream.on('end', r)); return; }
      const base = stat?.name ?? path.basename(src.path);
      let dest = dst.path;
      let exists = false;
      try { exists = statSync(dest).isDirectory(); } catch { exists = false; }
      const srcIsDir = stat ? (stat.mode & 0x80000000) !== 0 : false;
      let tarArgs: string[];
      if (exists) {
        tarArgs = ['-x', '-C', dest, ...owners, '-f', '-'];
      } else {
        if (dest.endsWith('/') && !srcIsDir) throw new StatusError(1, `Error: destination directory "${dest}" must exist`);
        dest = dest.replace(/\/+$/, '');
        // Docker renames the copied root to the destination's name.
        tarArgs = ['-x', '-C', path.dirname(dest), '--transform', `s,^${sedEscape(base)},${sedReplacement(path.basename(dest))},`, ...owners, '-f', '-'];
      }
      // The archive goes into tar as it arrives: nothing of it is held in memory.
      const bytes = await streamTar(tarArgs, stream).done;
      if (!f.quiet && process.stderr.isTTY) process.stderr.write(`Successfully copied ${humanSize(bytes)} to ${args[1]}\n`);
      return;
    }
    // Local → container.
    const container = dst.container!;
    let destDir = dst.path;
    let transform: string[] = [];
    let body: Readable;
    let made: Promise<number> | undefined;
    if (args[0] === '-') {
      body = process.stdin;
    } else {
      try { statSync(src.path); } catch { throw new StatusError(1, `lstat ${path.resolve(src.path)}: no such file or directory`); }
      let destExistsDir = false;
      try {
        const st = await client.containers.statPath(container, dst.path);
        destExistsDir = (st.mode & 0x80000000) !== 0;
      } catch (e) {
        if (!(e instanceof ApiError && e.status === 404)) throw e;
      }
      const base = path.basename(path.resolve(src.path));
      if (!destExistsDir) {
        if (dst.path.endsWith('/')) throw new StatusError(1, `Error response from daemon: Could not find the file ${dst.path} in container ${container}`);
        destDir = path.posix.dirname(dst.path) || '/';
        transform = ['--transform', `s,^${sedEscape(base)},${sedReplacement(path.posix.basename(dst.path))},`];
      }
      // Uploaded while tar makes it: the daemon unpacks the first files before the last are read.
      const t = streamTar(['-C', path.dirname(path.resolve(src.path)), ...transform, ...(f['follow-link'] ? ['-h'] : []), '-cf', '-', base]);
      body = t.output;
      made = t.done;
    }
    let sent = 0;
    const counted = body.pipe(new Transform({ transform(b: Buffer, _e, cb) { sent += b.length; cb(null, b); } }));
    await Promise.all([client.containers.putArchive(container, destDir, counted, { noOverwriteDirNonDir: true, copyUIDGID: f.archive }), made]);
    if (!f.quiet && process.stderr.isTTY) process.stderr.write(`Successfully copied ${humanSize(sent)} to ${args[1]}\n`);
  },
};

