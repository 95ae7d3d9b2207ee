// Build secrets (RUN --mount=type=secret): values the client sends with the build request, kept
// in drayd's memory for the build's lifetime only. They never enter the context, a layer, the
// image's history or config, the build cache's keys, or a file on the disk:
//
//   - `dray build --secret` sends them ahead of the context in the request body (see
//     `readSecretsPrefix`): not a request header, whose size the server bounds and which proxies log;
//   - a step that mounts one as a file gets it from a tmpfs made for the build (below), bind-mounted
//     read-only on the target; the mount point the runtime made in the step's upper directory is
//     removed before the layer is taken (workers.ts, pruneMountTargets);
//   - `env=` puts the value in the step's environment through ContainerService's in-memory
//     environment (never its record); the runtime's config.json in the exec root has it while the
//     step runs, and goes with the step's container;
//   - at the end of the build the tmpfs is unmounted and the buffers are zeroed.
//
//   <execRoot>/builder/secrets-<random>/   tmpfs, mode 0700, one per build that mounts a secret file
//       <n>                                one file per mount (each has its own mode and owner)
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { invalid, errorMessage } from '../lib/errors';
import { log } from '../lib/log';
import { run } from '../lib/exec';
import { nativeAddon } from '../lib/native';
import { unmount } from '../lib/mount';

/** What the secrets prefix of a request may hold at most (BuildKit's limit is 500 KiB a secret). */
export const MAX_SECRETS_BYTES = 4 << 20;
const MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8;

/** Header naming the length of the JSON document `{"<id>": "<base64 value>"}` that starts the body. */
export const SECRETS_HEADER = 'x-dray-build-secrets';

export class BuildSecrets {
  private dir?: string;
  private n = 0;

  constructor(private values: Map<string, Buffer>, private runRoot: string) {}

  has(id: string): boolean { return this.values.has(id); }

  value(id: string): Buffer | undefined { return this.values.get(id); }

  /** A file holding secret `id` with the given mode and owner, on this build's tmpfs. */
  async file(id: string, mode: number, uid: number, gid: number): Promise<string> {
    const v = this.values.get(id);
    if (!v) throw invalid(`secret ${id}: not found`);
    const dir = await this.tmpfs();
    const f = path.join(dir, String(++this.n));
    await fsp.writeFile(f, v, { mode: 0o600, flag: 'wx' });
    await fsp.chown(f, uid, gid);
    await fsp.chmod(f, mode);
    return f;
  }

  private async tmpfs(): Promise<string> {
    if (this.dir) return this.dir;
    const dir = path.join(this.runRoot, `secrets-${randomBytes(6).toString('hex')}`);
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    let total = 0;
    for (const v of this.values.values()) total += v.length;
    // Room for one copy per mount of every secret; a step that needs more fails on ENOSPC.
    const size = Math.max(1 << 20, total * 8 + (64 << 10));
    const data = `size=${size},mode=0700`;
    try {
      const s = nativeAddon();
      if (s) await s.mount('tmpfs', dir, 'tmpfs', MS_NOSUID | MS_NODEV | MS_NOEXEC, data);
      else await run('mount', ['-t', 'tmpfs', '-o', `nosuid,nodev,noexec,${data}`, 'tmpfs', dir]);
    } catch (e) {
      await fsp.rmdir(dir).catch(() => {});
      throw e;
    }
    this.dir = dir;
    return dir;
  }

  /** Unmounts the tmpfs and forgets the values. */
  async close(): Promise<void> {
    for (const v of this.values.values()) v.fill(0);
    this.values.clear();
    const dir = this.dir;
    this.dir = undefined;
    if (!dir) return;
    try {
      await unmount(dir, { lazy: true });
      await fsp.rmdir(dir);
    } catch (e) {
      log.warn('removing the build secrets tmpfs failed', { dir, error: errorMessage(e) });
    }
  }
}

/** At daemon start: secret file systems a crash left mounted are unmounted and removed. */
export async function sweepSecretMounts(runRoot: string): Promise<void> {
  let names: string[];
  try { names = await fsp.readdir(runRoot); } catch { return; }
  for (const n of names) {
    // ssh-*: a crashed build's agent relay sockets (ssh-agents.ts), dead with that drayd.
    if (n.startsWith('ssh-')) { await fsp.rm(path.join(runRoot, n), { recursive: true, force: true }).catch(() => {}); continue; }
    if (!n.startsWith('secrets-')) continue;
    const dir = path.join(runRoot, n);
    await unmount(dir, { lazy: true }).catch(() => false);
    await fsp.rm(dir, { recursive: true, force: true }).catch((e) => log.warn('removing a stale build secrets directory failed', { dir, error: errorMessage(e) }));
  }
}

/**
 * Splits the secrets document off the front of a request body: `length` bytes of JSON, then the
 * context. Returns the secrets and the rest of the body as a stream.
 */
export async function readSecretsPrefix(body: NodeJS.ReadableStream, length: number): Promise<{ secrets: Map<string, Buffer>; rest: AsyncIterable<Buffer> }> {
  if (!Number.isInteger(length) || length < 0 || length > MAX_SECRETS_BYTES) throw invalid(`invalid ${SECRETS_HEADER} header: the secrets must be at most ${MAX_SECRETS_BYTES} bytes`);
  const it = (body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const parts: Buffer[] = [];
  let got = 0;
  let extra: Buffer | undefined;
  while (got < length) {
    const r = await it.next();
    if (r.done) throw invalid('the request body ended inside the build secrets');
    const b = r.value as Buffer;
    const take = Math.min(b.length, length - got);
    parts.push(b.subarray(0, take));
    got += take;
    if (take < b.length) extra = b.subarray(take);
  }
  const doc = Buffer.concat(parts);
  const secrets = new Map<string, Buffer>();
  try {
    const j = length ? JSON.parse(doc.toString('utf8')) : {};
    if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new Error('not an object');
    for (const [id, v] of Object.entries(j)) {
      if (typeof v !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(id)) throw new Error(`bad entry ${id}`);
      secrets.set(id, Buffer.from(v, 'base64'));
    }
  } catch (e) {
    throw invalid(`invalid build secrets in the request: ${errorMessage(e)}`);
  } finally {
    doc.fill(0);
    for (const p of parts) p.fill(0);
  }
  async function* rest(): AsyncGenerator<Buffer> {
    if (extra?.length) yield extra;
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value as Buffer;
  }
  return { secrets, rest: rest() };
}
