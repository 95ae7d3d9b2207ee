// cp between a container and the local filesystem, through the archive endpoints and GNU tar.
import * as path from 'node:path';
import { statSync } from 'node:fs';
import type { Command } from '../command';
import { StatusError } from '../command';
import { boolFlag } from '../flags';
import { run as runTool } from '../../lib/exec';
import { readAll } from '../../client/transport';
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
    if (src.container) {
      if (src.path === '') throw new StatusError(1, 'Error: Source path cannot be empty');
      const { stream, stat } = await client.containers.getArchive(src.container, src.path);
      if (args[1] === '-') { stream.pipe(process.stdout); await new Promise((r) => stream.on('end', r)); return; }
      const tar = await readAll(stream);
      const base = stat?.name ?? path.basename(src.path);
      let dest = dst.path;
      let exists = false;
      try { exists = statSync(dest).isDirectory(); } catch { exists = false; }
      const srcIsDir = stat ? (stat.mode & 0x80000000) !== 0 : false;
      if (exists) {
        await runTool('tar', ['-x', '-C', dest, ...(f.archive ? ['--same-owner'] : ['--no-same-owner']), '-f', '-'], { input: tar });
      } else {
        if (dest.endsWith('/') && !srcIsDir) throw new StatusError(1, `Error: destination directory "${dest}" must exist`);
        dest = dest.replace(/\/+$/, '');
        const parent = path.dirname(dest);
        // Docker renames the copied root to the destination's name.
        await runTool('tar', ['-x', '-C', parent, '--transform', `s,^${sedEscape(base)},${sedReplacement(path.basename(dest))},`, ...(f.archive ? ['--same-owner'] : ['--no-same-owner']), '-f', '-'], { input: tar });
      }
      if (!f.quiet && process.stderr.isTTY) process.stderr.write(`Successfully copied ${humanSize(tar.length)} to ${args[1]}\n`);
      return;
    }
    // Local → container.
    const container = dst.container!;
    let destDir = dst.path;
    let transform: string[] = [];
    let tar: Buffer;
    if (args[0] === '-') {
      tar = await readAll(process.stdin);
    } else {
      const localStat = (() => { try { return statSync(src.path); } catch { throw new StatusError(1, `lstat ${path.resolve(src.path)}: no such file or directory`); } })();
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
      void localStat;
      const r = await runToolBuffer('tar', ['-C', path.dirname(path.resolve(src.path)), ...transform, ...(f['follow-link'] ? ['-h'] : []), '-cf', '-', base]);
      tar = r;
    }
    await client.containers.putArchive(container, destDir, tar, { noOverwriteDirNonDir: true, copyUIDGID: f.archive });
    if (!f.quiet && process.stderr.isTTY) process.stderr.write(`Successfully copied ${humanSize(tar.length)} to ${args[1]}\n`);
  },
};

/** Runs a tool and returns stdout as bytes (lib/exec decodes to string, which would break tar). */
async function runToolBuffer(cmd: string, args: string[]): Promise<Buffer> {
  // require, not import(): the CLI bundle runs from a code cache (cli/loader.ts), where import() has no loader.
  const { spawn } = require('node:child_process') as typeof import('node:child_process');
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new StatusError(1, Buffer.concat(err).toString().trim() || `${cmd} exited with ${code}`))));
  });
}
