// The builder's use of containers: a RUN step runs in a real container (create, attach, start,
// wait), whose upper directory then becomes the step's layer. What runs nothing needs no
// container: COPY/ADD/WORKDIR write into a writable view of the image (ImageService.openScratch),
// and what only reads an image (COPY --from, RUN --mount from a stage) a read-only one (openView).
// Containers are removed here in every outcome the caller asks for, and a mount never outlives the
// call that made it.
import { StringDecoder } from 'node:string_decoder';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { ImageService } from '../engine/images';
import type { ContainerService } from '../engine/containers';
import type { DistributionService } from '../engine/distribution';
import type { ContainerConfig, Image } from '../engine/types';
import type { HostMount } from '../engine/container-record';
import { errorMessage } from '../lib/errors';
import { log } from '../lib/log';
import { upperAttrs } from '../store/tar';

export interface BuilderBackend {
  images: ImageService;
  containers: ContainerService;
  /** Pulls a FROM image that is not here. */
  distribution: DistributionService;
}

/** How long to wait for the output of an exited step to drain from conmon. */
const DRAIN_MS = 5_000;

/** What a RUN step's --mount and secret flags add to its container. */
export interface StepExtras {
  mounts?: HostMount[];
  tmpfs?: Record<string, string>;
  /** Environment kept out of the container's record (secrets). */
  ephemeralEnv?: string[];
  /** --add-host entries, checked and written to /etc/hosts as for `docker run`. */
  extraHosts?: string[];
}

export async function createStepContainer(be: BuilderBackend, image: Image, config: ContainerConfig, argv: string[], networkMode: string, extras: StepExtras = {}): Promise<string> {
  const { Id } = await be.containers.create({
    Image: image.id,
    Cmd: argv,
    // [""] resets the image's ENTRYPOINT: a step runs exactly argv.
    Entrypoint: [''],
    Env: config.Env ?? [],
    WorkingDir: config.WorkingDir ?? '',
    User: config.User ?? '',
    AttachStdout: true,
    AttachStderr: true,
    HostConfig: {
      NetworkMode: networkMode,
      ...(extras.mounts?.length ? { Mounts: extras.mounts } : {}),
      ...(extras.tmpfs && Object.keys(extras.tmpfs).length ? { Tmpfs: extras.tmpfs } : {}),
      ...(extras.extraHosts?.length ? { ExtraHosts: extras.extraHosts } : {}),
    },
  } as never, undefined, { scratch: true, ephemeralEnv: extras.ephemeralEnv });
  return Id;
}

export async function removeContainer(be: BuilderBackend, id: string): Promise<void> {
  await be.containers.remove(id, { force: true, volumes: true }).catch((e) => log.warn('removing build container failed', { id, error: errorMessage(e) }));
}

/**
 * Starts the container, streams its stdout and stderr to `output` while it runs, and resolves
 * with its exit code. `abort` kills it (client gone).
 */
export async function runToExit(be: BuilderBackend, id: string, output: (text: string) => void, abort: AbortSignal): Promise<number> {
  const { waitForStart } = await be.containers.attach(id);
  const exited = be.containers.wait(id, 'next-exit');
  const decoders = { 1: new StringDecoder('utf8'), 2: new StringDecoder('utf8') };
  const drained = (waitForStart ?? Promise.resolve(undefined)).then((conn) => new Promise<void>((resolve) => {
    if (!conn) { resolve(); return; }
    conn.on('data', (s, payload) => { const t = decoders[s].write(payload); if (t) output(t); });
    conn.on('end', () => resolve());
    // The socket normally ends with the process; this bounds the wait if it does not.
    void exited.then(() => setTimeout(() => { conn.close(); resolve(); }, DRAIN_MS).unref());
  }), () => undefined);
  const onAbort = () => { void be.containers.kill(id, 'SIGKILL').catch(() => {}); };
  abort.addEventListener('abort', onAbort, { once: true });
  try {
    await be.containers.start(id);
    const { StatusCode } = await exited;
    await drained;
    for (const d of Object.values(decoders)) { const t = d.end(); if (t) output(t); }
    return StatusCode;
  } finally {
    abort.removeEventListener('abort', onAbort);
  }
}

/** `image`'s file system, read-only, while `fn` reads it (COPY --from, a --chown name's lookup). */
export async function withImageRootfs<T>(be: Pick<BuilderBackend, 'images'>, image: Image, fn: (rootfs: string) => Promise<T>): Promise<T> {
  const view = await be.images.openView(image);
  try {
    return await fn(view.rootfs);
  } finally {
    await view.close();
  }
}

/** Files the runtime bind-mounts over; when the image lacks them, crun leaves empty stand-ins. */
const MOUNT_TARGETS = ['/etc/hosts', '/etc/hostname', '/etc/resolv.conf'];

/**
 * Drops from a RUN container's upper directory the mount points the runtime created (a RUN cannot
 * write them: they are mounts): the empty files and directories of /etc/hosts and friends and of
 * every --mount target, and the parents made or copied up for them when nothing else changed
 * there. Layers then hold only what the command made, as with Docker and BuildKit (its "stubs").
 */
export async function pruneMountTargets(be: BuilderBackend, id: string, image: Image, targets: string[] = []): Promise<void> {
  const upper = be.containers.fs.upper(id);
  const lowers = await be.images.lowerDirs(image);
  const done = new Set<string>();
  // Deepest first, so a directory is looked at after what the runtime made inside it.
  const all = [...MOUNT_TARGETS, ...targets].map((t) => t.replace(/^\/+/, '')).filter(Boolean);
  const chains = new Set<string>();
  for (const t of all) for (let r = t; r && r !== '.'; r = path.posix.dirname(r)) chains.add(r);
  const ordered = [...chains].sort((a, b) => b.split('/').length - a.split('/').length || (a < b ? -1 : 1));
  for (const rel of ordered) {
    if (done.has(rel)) continue;
    done.add(rel);
    const p = path.join(upper, rel);
    const st = await fsp.lstat(p).catch(() => undefined);
    if (!st) continue;
    const lower = await firstStat(lowers, rel);
    if (!lower) {
      // Made for a mount: an empty file or directory nothing else wrote to.
      if (st.isFile() && st.size === 0) await fsp.rm(p, { force: true });
      else if (st.isDirectory() && (await fsp.readdir(p)).length === 0) await fsp.rmdir(p).catch(() => {});
      continue;
    }
    // In the image: a directory copied up only because a mount point was made in it goes again.
    if (!st.isDirectory() || !lower.isDirectory() || (await fsp.readdir(p)).length) continue;
    if (lower.mode !== st.mode || lower.uid !== st.uid || lower.gid !== st.gid) continue;
    if ((await upperAttrs(p)).opaque.size) continue;
    await fsp.rmdir(p).catch(() => {});
  }
}

async function firstStat(lowers: string[], rel: string) {
  for (const l of lowers) {
    const st = await fsp.lstat(path.join(l, rel)).catch(() => undefined);
    if (st) return st;
    // A whiteout or opaque directory above would hide lower ones; layers of a built image rarely
    // delete a mount point's parent, and the check stays conservative (keep when unsure).
  }
  return undefined;
}
