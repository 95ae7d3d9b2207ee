// Deleting a directory tree without making the caller wait for it: one rename into a trash
// directory on the same file system takes the tree out of its place atomically (what a restart
// sees is either the whole tree or nothing), and the unlinks run afterwards, one tree at a time.
// A crash leaves at most some trash, which the next daemon empties. The unlinks are GNU rm's: a
// container's tree can be deeper than any path Node.js can name (rm walks it by directory fds),
// and Node's recursive rm then fails with ENAMETOOLONG and leaves it behind for good.
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { log } from './log';
import { errorMessage } from './errors';
import { run } from './exec';

/** Deletes the tree at `p` (gone or missing once this resolves), however deep it is. */
export async function removeTree(p: string): Promise<void> {
  await run('rm', ['-rf', '--', p]);
}

export class Trash {
  private emptying: Promise<void> = Promise.resolve();

  /** `dir` must be on the same file system as everything given to take(). */
  constructor(readonly dir: string) {}

  /** Creates the directory and starts emptying what an earlier daemon left in it. */
  async init(): Promise<void> {
    await fsp.mkdir(this.dir, { recursive: true });
    for (const name of await fsp.readdir(this.dir)) this.later(path.join(this.dir, name));
  }

  /**
   * Takes `p` away (gone once this resolves; a missing `p` is fine) and deletes it in the
   * background. Where it cannot be renamed into the trash (another file system), deletes it here.
   */
  async take(p: string): Promise<void> {
    const dest = path.join(this.dir, `${path.basename(p)}.${randomBytes(4).toString('hex')}`);
    try {
      await fsp.rename(p, dest);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EXDEV') throw e;
      await removeTree(p);
      return;
    }
    this.later(dest);
  }

  /** Resolves once everything taken so far is deleted. */
  drained(): Promise<void> { return this.emptying; }

  private later(p: string): void {
    this.emptying = this.emptying.then(() => removeTree(p))
      .catch((e) => log.warn('emptying the trash failed', { path: p, error: errorMessage(e) }));
  }
}
