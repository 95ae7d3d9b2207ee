// Blobs being pulled, kept under <data-root>/image/partial/<hex> (see store/layout.ts): the bytes
// received so far, in order, appended as they arrive. A cut connection or a killed drayd leaves
// them there and the next pull of the same blob continues with `Range: bytes=<size>-`. Their digest
// can only be checked once complete, so a resumed blob is hashed again from the start (Node cannot
// save a hash's state) and a blob that then fails its check is thrown away. Untouched for a week,
// a partial is dropped at start-up.
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { hex } from '../../store/layout';

const MAX_AGE_MS = 7 * 24 * 3600 * 1000;

export class Partials {
  constructor(readonly dir: string) {}

  async init(): Promise<void> {
    await fsp.mkdir(this.dir, { recursive: true, mode: 0o700 });
    for (const n of await fsp.readdir(this.dir)) {
      const f = path.join(this.dir, n);
      const st = await fsp.stat(f).catch(() => undefined);
      if (!/^[a-f0-9]{64}$/.test(n) || !st?.isFile() || Date.now() - st.mtimeMs > MAX_AGE_MS) await fsp.rm(f, { recursive: true, force: true });
    }
  }

  path(digest: string): string { return path.join(this.dir, hex(digest)); }

  /** Bytes already here for `digest` (0 when none). */
  async size(digest: string): Promise<number> {
    return (await fsp.stat(this.path(digest)).catch(() => undefined))?.size ?? 0;
  }

  async remove(digest: string): Promise<void> { await fsp.rm(this.path(digest), { force: true }); }

  /** Takes a committed blob file back as a complete partial (a pull rolled back keeps its bytes). */
  async adopt(file: string, digest: string): Promise<void> {
    await fsp.rename(file, this.path(digest)).catch(() => undefined);
  }
}
