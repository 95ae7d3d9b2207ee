// The builder's use of containers: a RUN step runs in a real container (create, attach, start,
// wait) and COPY/ADD/WORKDIR write into the mounted rootfs of a container that never starts. The
// container's upper directory then becomes the step's layer. Containers are removed here in every
// outcome the caller asks for, and a mount never outlives the call that made it.
import { StringDecoder } from 'node:string_decoder';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { ImageService } from '../engine/images';
import type { ContainerService } from '../engine/containers';
import type { DistributionService } from '../engine/distribution';
import type { ContainerConfig, Image } from '../engine/types';
import { errorMessage } from '../lib/errors';
import { log } from '../lib/log';
import { run } from '../lib/exec';

export interface BuilderBackend {
  images: ImageService;
  containers: ContainerService;
  /** Pulls a FROM image that is not here. */
  distribution: DistributionService;
}

/** How long to wait for the output of an exited step to drain from conmon. */
const DRAIN_MS = 5_000;

export async function createStepContainer(be: BuilderBackend, image: Image, config: ContainerConfig, argv: string[], networkMode: string): Promise<string> {
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
    HostConfig: { NetworkMode: networkMode },
  } as never, undefined, { scratch: true });
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

/** Mounts the container's rootfs for `fn` and unmounts it whatever happens. */
export async function withRootfs<T>(be: BuilderBackend, id: string, image: Image, fn: (rootfs: string) => Promise<T>): Promise<T> {
  const rootfs = await be.containers.fs.mount(id, await be.images.lowerDirs(image), { volatile: true });
  try {
    return await fn(rootfs);
  } finally {
    await be.containers.fs.unmount(id);
  }
}

/** A throw-away container over `image` whose mounted rootfs `fn` reads (COPY --from). */
export async function withImageRootfs<T>(be: BuilderBackend, image: Image, fn: (rootfs: string) => Promise<T>): Promise<T> {
  const id = await createStepContainer(be, image, {}, ['/bin/sh', '-c', '#(nop) COPY --from source'], 'none');
  try {
    return await withRootfs(be, id, image, fn);
  } finally {
    await removeContainer(be, id);
  }
}

/** Files the runtime bind-mounts over; when the image lacks them, crun leaves empty stand-ins. */
const MOUNT_TARGETS = ['etc/hosts', 'etc/hostname', 'etc/resolv.conf'];

/**
 * Drops from a RUN container's upper directory the empty mount-point files the runtime created
 * (a RUN cannot write them: they are bind mounts), so layers hold only what the command made, as
 * with Docker.
 */
export async function pruneMountTargets(be: BuilderBackend, id: string, image: Image): Promise<void> {
  const upper = be.containers.fs.upper(id);
  const lowers = await be.images.lowerDirs(image);
  for (const rel of MOUNT_TARGETS) {
    const p = path.join(upper, rel);
    const st = await fsp.lstat(p).catch(() => undefined);
    if (!st || !st.isFile() || st.size !== 0) continue;
    let inImage = false;
    for (const l of lowers) if (await fsp.lstat(path.join(l, rel)).then(() => true, () => false)) { inImage = true; break; }
    if (!inImage) await fsp.rm(p, { force: true });
  }
  // Creating those files copied /etc up; with nothing else changed there, the copy goes too.
  const etc = path.join(upper, 'etc');
  const st = await fsp.lstat(etc).catch(() => undefined);
  if (!st?.isDirectory() || (await fsp.readdir(etc)).length) return;
  const lower = await firstStat(lowers, 'etc');
  if (!lower?.isDirectory() || lower.mode !== st.mode || lower.uid !== st.uid || lower.gid !== st.gid) return;
  const opaque = await run('getfattr', ['-h', '--only-values', '-n', 'trusted.overlay.opaque', etc], { allowFailure: true });
  if (opaque.code === 0 && opaque.stdout.trim() === 'y') return;
  await fsp.rmdir(etc).catch(() => {});
}

async function firstStat(lowers: string[], rel: string) {
  for (const l of lowers) {
    const st = await fsp.lstat(path.join(l, rel)).catch(() => undefined);
    if (st) return st;
  }
  return undefined;
}
