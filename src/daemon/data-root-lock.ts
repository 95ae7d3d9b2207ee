// One drayd per data root. Two daemons on one store would both reconcile, both sweep "leftovers"
// the other is writing, and both run netavark on the same networks. A flock on a file in the data
// root says who owns it: the kernel drops the lock when its process dies, however it dies, so a
// crash leaves nothing stale behind. The lock file holds the owner's pid, for the message.
import { closeSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { nativeAddon } from '../lib/native';
import { log } from '../lib/log';

const LOCK_FILE = '.drayd.lock';
/** A drayd stopping (it lets exits finish, up to 5 s) still holds the lock: how long to wait for it. */
const WAIT_MS = 10_000;

/** Takes the data root's lock, waiting a little for a drayd that is shutting down; throws when another holds it. */
export async function lockDataRoot(dataRoot: string): Promise<void> {
  const a = nativeAddon();
  if (!a) { log.warn('no native addon: nothing keeps a second drayd off this data root', { dataRoot }); return; }
  mkdirSync(dataRoot, { recursive: true });
  const file = path.join(dataRoot, LOCK_FILE);
  const fd = openSync(file, 'a+', 0o600);
  for (const start = Date.now(); !a.tryLock(fd);) {
    if (Date.now() - start > WAIT_MS) {
      closeSync(fd);
      const pid = (() => { try { return readFileSync(file, 'utf8').trim(); } catch { return ''; } })();
      throw new Error(`the data root ${dataRoot} is in use by another drayd${pid ? ` (pid ${pid})` : ''}: stop it first, or give this one another --data-root`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  ftruncateSync(fd, 0);
  writeSync(fd, `${process.pid}\n`, 0);
  // The fd stays open for the daemon's life: closing it would release the lock.
}
