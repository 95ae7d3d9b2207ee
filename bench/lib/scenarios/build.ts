// docker build with the legacy builder, through the real docker CLI against each engine
// (DOCKER_BUILDKIT=0 docker build -q -t bench-build .): cold, fully cached, one file changed.
// The -bk rows anchor Dray against BuildKit, the builder users compare with: Docker's side is the
// same dockerd driven by Debian's docker.io CLI (/usr/bin/docker, 20.10) with DOCKER_BUILDKIT=1,
// Dray's side its own `dray build`, each the engine's own client (both send only changed context
// files), in the same rounds; plus a two-independent-stage build and a cache-mount install.
//
// The context (made once, under /tmp/bench-cli/build-ctx, removed with it):
//   Dockerfile   FROM busybox; 5 × RUN echo N > /sN; COPY big /data/big; COPY late.txt /late.txt; CMD ["sh"]
//   big          50 MB of random bytes (incompressible: the context upload and the layer are real)
//   late.txt     a few bytes; rewritten for the one-file-changed build
//
// One round on one engine: every image but busybox removed (API, not timed), late.txt reset,
// then three timed builds: cold (--no-cache), again (fully cached: must give the same image id),
// late.txt changed (only the last COPY and CMD miss). Then, images removed again, an info build:
// cold with --network none (Docker runs here with --bridge none, so its RUN steps get no network
// either way; Dray's join the default bridge unless told otherwise). Rounds interleave A B A B.
// The two-stage build has an info row beside it with its floor: the stages' RUN command twice at
// once, in containers (run --rm) and as plain processes on the host.
import { createWriteStream, mkdirSync, writeFileSync, existsSync, rmSync, symlinkSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { once } from 'node:events';
import { newRow } from '../model';
import { Scenario, abRounds, reps, timed, sleep, setError } from '../scenario';
import { CLI_DIR, dockerEnv, Engine } from '../engines';
import { run, Spawned } from '../proc';

export const BUILD_CTX = path.join(CLI_DIR, 'build-ctx');
export const BUILD_TAG = 'bench-build';
const BIG_BYTES = 50 * 1000 * 1000;

const DOCKERFILE = `FROM busybox
RUN echo 1 > /s1
RUN echo 2 > /s2
RUN echo 3 > /s3
RUN echo 4 > /s4
RUN echo 5 > /s5
COPY big /data/big
COPY late.txt /late.txt
CMD ["sh"]
`;

async function makeContext(): Promise<void> {
  mkdirSync(BUILD_CTX, { recursive: true });
  writeFileSync(path.join(BUILD_CTX, 'Dockerfile'), DOCKERFILE);
  writeFileSync(path.join(BUILD_CTX, 'late.txt'), 'late 0\n');
  const big = path.join(BUILD_CTX, 'big');
  if (existsSync(big)) return;
  const out = createWriteStream(big);
  const chunk = 1 << 20;
  for (let left = BIG_BYTES; left > 0; left -= chunk) {
    if (!out.write(randomBytes(Math.min(chunk, left)))) await once(out, 'drain');
  }
  out.end();
  await once(out, 'close');
}

/** Removes every image but busybox (through the API, not timed). Children first: a few passes. */
export async function removeAllButBusybox(e: Engine): Promise<void> {
  const bb = (await e.apiOk('GET', '/images/busybox/json')).json?.Id as string;
  for (let pass = 0; pass < 6; pass++) {
    const list = await e.apiOk('GET', '/images/json?all=1');
    const ids = ((list.json ?? []) as any[]).map((i) => i.Id as string).filter((id) => id !== bb);
    if (!ids.length) return;
    for (const id of ids) {
      // 409: a child still refers to it (removed in this pass; retried in the next)
      const r = await e.api('DELETE', `/images/${id}?force=1`, undefined, 60_000);
      if (r.status !== 200 && r.status !== 404 && r.status !== 409) throw new Error(`DELETE image ${id.slice(7, 19)}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
    }
    await sleep(50);
  }
  const left = ((await e.apiOk('GET', '/images/json?all=1')).json ?? []).filter((i: any) => i.Id !== bb);
  if (left.length) throw new Error(`${left.length} images would not go away`);
}

/** The BuildKit anchor's client: Debian's docker.io CLI (20.10), which drives dockerd's BuildKit. */
export const BUILDKIT_CLI = '/usr/bin/docker';

/**
 * One timed `DOCKER_BUILDKIT=0 docker build -q [flags] -t bench-build .` in the context dir: ms and
 * image id. `buildkit`: Docker's side through BUILDKIT_CLI with DOCKER_BUILDKIT=1 instead; `dray`:
 * Dray's side through its own CLI (`dray build -q`, whose incremental context sends only the
 * files drayd lacks, as BuildKit's client does).
 */
async function build(e: Engine, flags: string[], dir = BUILD_CTX, buildkit = false, dray = false): Promise<{ ms: number; id: string }> {
  // dockerd runs here with --bridge none: BuildKit's RUN steps then fail ("network bridge not
  // found") unless they have no network, which these builds do not need.
  const args = ['build', '-q', ...flags, ...(buildkit && !flags.includes('--network') ? ['--network', 'none'] : []), '-t', BUILD_TAG, '.'];
  const what = `${buildkit ? 'BuildKit' : dray ? 'dray CLI' : 'docker CLI'} → ${e.side}: build ${flags.join(' ')}`.trimEnd();
  const env = { ...dockerEnv(e.host), DOCKER_BUILDKIT: buildkit ? '1' : '0' };
  const r = buildkit ? await run(BUILDKIT_CLI, args, { cwd: dir, env, timeoutMs: 300_000 })
    : dray ? await e.cli(args, { cwd: dir, timeoutMs: 300_000 })
    : await e.docker(args, { cwd: dir, env, timeoutMs: 300_000 });
  const ms = await timed(Promise.resolve(r), what);
  const id = /sha256:[0-9a-f]{64}/.exec(r.stdout)?.[0];
  if (!id) throw new Error(`${what}: -q printed no image id: ${r.stdout.trim().slice(0, 200)}`);
  return { ms, id };
}

// A dependency install through a cache mount (RUN --mount=type=cache): each requirement is
// "downloaded" (2 MB from /dev/urandom and 0.1 s) into the cache unless it is there, then copied
// into the image. The first build installs N; the timed one adds one requirement, so its RUN runs
// again and downloads only the new one. Docker's legacy builder has no RUN --mount (it needs
// BuildKit): the Docker side is n/a until a BuildKit client drives it.
const CM_CTX = path.join(CLI_DIR, 'build-cachemount-ctx');
const CM_REQS = 10;
const CM_DOCKERFILE = `FROM busybox
COPY reqs.txt /reqs.txt
RUN --mount=type=cache,target=/cache mkdir -p /deps && for r in $(cat /reqs.txt); do if [ ! -f /cache/$r ]; then head -c 2000000 /dev/urandom > /cache/$r && sleep 0.1; fi; cp /cache/$r /deps/; done
`;

async function cacheMountRows(ctx: Parameters<Scenario['run']>[0]): Promise<ReturnType<typeof newRow>[]> {
  const first = newRow('build-cachemount-first', '  (info) build with a cache mount, first install', 'ms');
  const added = newRow('build-cachemount-added', 'build with a cache mount, one requirement added', 'ms');
  added.note = `RUN --mount=type=cache: ${CM_REQS} requirements of 2 MB "downloaded" (0.1 s each) into the cache, then one more; the second build's RUN fetches only the new one. Dray through the docker CLI (legacy API); Docker's side is BuildKit (${BUILDKIT_CLI}, DOCKER_BUILDKIT=1): the legacy builder has no RUN --mount`;
  mkdirSync(CM_CTX, { recursive: true });
  writeFileSync(path.join(CM_CTX, 'Dockerfile'), CM_DOCKERFILE);
  const reqs = (n: number, tag: string) => writeFileSync(path.join(CM_CTX, 'reqs.txt'), Array.from({ length: n }, (_, i) => `req-${tag}-${i}`).join('\n') + '\n');
  try {
    // Interleaved; each round starts with no build cache (and so no cache mount) on its side.
    await abRounds(ctx, [first, added], reps(ctx, 3, 1), async (e, i) => {
      await removeAllButBusybox(e);
      await e.apiOk('POST', '/build/prune?all=1', undefined, 60_000);
      const tag = `${i}-${process.hrtime.bigint()}`;
      const bk = e.side === 'docker';
      reqs(CM_REQS, tag);
      const a = await build(e, [], CM_CTX, bk);
      reqs(CM_REQS + 1, tag);
      const b = await build(e, [], CM_CTX, bk);
      return { [first.id]: a.ms, [added.id]: b.ms };
    });
  } finally {
    for (const e of ctx.engines) {
      await removeAllButBusybox(e).catch(() => {});
      await e.api('POST', '/build/prune?all=1', undefined, 60_000).catch(() => {});
    }
    rmSync(CM_CTX, { recursive: true, force: true });
  }
  return [first, added];
}

// Two independent stages and a final one that takes from both: BuildKit runs the two side by
// side, and so does Dray's builder (parallel stages). Each stage makes 24 MB of random bytes and
// checksums them twice: CPU and disk, no network. Cold (--no-cache) on both sides.
const MS_CTX = path.join(CLI_DIR, 'build-multistage-ctx');
const MS_RUN = 'head -c 24000000 /dev/urandom > /blob && md5sum /blob > /sum && sha256sum /blob >> /sum && rm /blob';
const MS_DOCKERFILE = `FROM busybox AS one
RUN ${MS_RUN}
FROM busybox AS two
RUN ${MS_RUN}
FROM busybox
COPY --from=one /sum /one.sum
COPY --from=two /sum /two.sum
`;
// The floor under the two stages: their RUN command twice at once, no builder. Each engine runs
// it in two `run --rm busybox sh -c` side by side (Docker's with --network none, as its build
// steps); the floor is the same two commands as busybox sh processes on the host, its applets
// first in PATH (the host's head and md5sum are GNU's), each in a directory of its own.
const MS_FLOOR_DIR = path.join(CLI_DIR, 'build-multistage-floor');

async function twoAtOnce(one: (i: number) => Promise<Spawned>, what: string): Promise<number> {
  const t0 = performance.now();
  const rs = await Promise.all([0, 1].map(one));
  for (const r of rs) if (r.code !== 0) throw new Error(`${what}: exit ${r.code}: ${r.stderr.trim().slice(0, 300)}`);
  return performance.now() - t0;
}

function hostTwice(): Promise<number> {
  return twoAtOnce((i) => {
    const dir = path.join(MS_FLOOR_DIR, `job${i}`);
    mkdirSync(dir, { recursive: true });
    const cmd = MS_RUN.replaceAll('/blob', `${dir}/blob`).replaceAll('/sum', `${dir}/sum`);
    return run(path.join(MS_FLOOR_DIR, 'bin', 'sh'), ['-c', cmd], { env: { PATH: path.join(MS_FLOOR_DIR, 'bin') }, timeoutMs: 120_000 });
  }, 'busybox sh on the host');
}

async function multiStageRows(ctx: Parameters<Scenario['run']>[0]): Promise<ReturnType<typeof newRow>[]> {
  const row = newRow('build-bk-multistage', 'build, two independent stages, cold (vs BuildKit)', 'ms', [{ kind: 'ratio', max: 0.7 }]);
  row.note = `FROM busybox ×2 stages (24 MB urandom, md5sum + sha256sum each), a final stage COPY --from both; --no-cache. Dray through the docker CLI (legacy API); Docker's side is BuildKit (${BUILDKIT_CLI}, DOCKER_BUILDKIT=1)`;
  const floor = newRow('build-bk-multistage-floor', '  (info) the two stages\' RUN side by side: run --rm ×2 | floor: busybox sh ×2 on the host', 'ms');
  floor.note = `the multistage row's RUN command twice at once, in the same rounds: Dray \`dray run --rm busybox sh -c …\` ×2, Docker \`docker run --rm --network none busybox sh -c …\` ×2; floor: the two commands as busybox sh processes on the host (no container, no builder)`;
  mkdirSync(MS_CTX, { recursive: true });
  writeFileSync(path.join(MS_CTX, 'Dockerfile'), MS_DOCKERFILE);
  let hostOk = true;
  try {
    const bb = ['/bin/busybox', '/usr/bin/busybox'].find(existsSync);
    if (!bb) throw new Error('no /bin/busybox (apt-get install busybox-static)');
    mkdirSync(path.join(MS_FLOOR_DIR, 'bin'), { recursive: true });
    for (const a of ['sh', 'head', 'md5sum', 'sha256sum', 'rm']) symlinkSync(bb, path.join(MS_FLOOR_DIR, 'bin', a));
  } catch (e) { hostOk = false; setError(floor, 'floor', e); }
  try {
    await abRounds(ctx, [row, floor], reps(ctx, 3, 1), async (e) => {
      await removeAllButBusybox(e);
      const b = (await build(e, ['--no-cache'], MS_CTX, e.side === 'docker')).ms;
      const runArgs = ['run', '--rm', ...(e.side === 'docker' ? ['--network', 'none'] : []), 'busybox', 'sh', '-c', MS_RUN];
      const r = await twoAtOnce(() => (e.side === 'dray' ? e.cli(runArgs, { timeoutMs: 120_000 }) : e.docker(runArgs, { timeoutMs: 120_000 })), `${e.side}: run --rm`);
      return { [row.id]: b, [floor.id]: r };
    }, 1, async () => {
      if (!hostOk) return;
      try { (floor.samples.floor ??= []).push(await hostTwice()); } catch (e) { hostOk = false; setError(floor, 'floor', e); }
    });
  } finally {
    for (const e of ctx.engines) await removeAllButBusybox(e).catch(() => {});
    rmSync(MS_CTX, { recursive: true, force: true });
    rmSync(MS_FLOOR_DIR, { recursive: true, force: true });
  }
  return [row, floor];
}

export const buildScenario: Scenario = {
  id: 'build',
  title: 'docker build (docker CLI → each; Docker also through BuildKit)',
  async run(ctx) {
    const rounds = reps(ctx, 5, 2);
    const cold = newRow('build-cold', 'build, cold (--no-cache; docker CLI → each)', 'ms', [{ kind: 'ratio', max: 1.0 }]);
    const cached = newRow('build-cached', 'build, fully cached', 'ms', [{ kind: 'ratio', max: 0.5 }]);
    const incr = newRow('build-incremental', 'build, late.txt changed (last COPY)', 'ms', [{ kind: 'ratio', max: 0.5 }]);
    const nonet = newRow('build-cold-nonet', '  (info) build, cold, --network none', 'ms');
    // The same builds through each engine's own modern client, in the same rounds: Docker's side
    // through BuildKit, Dray's through `dray build` (one builder, but its client sends only the
    // context files drayd lacks, as BuildKit's does; the docker CLI's legacy path sends all).
    const bkCold = newRow('build-bk-cold', 'build, cold (vs BuildKit)', 'ms', [{ kind: 'ratio', max: 1.0 }]);
    const bkCached = newRow('build-bk-cached', 'build, fully cached (vs BuildKit)', 'ms', [{ kind: 'ratio', max: 0.5 }]);
    const bkIncr = newRow('build-bk-incremental', 'build, late.txt changed (vs BuildKit)', 'ms', [{ kind: 'ratio', max: 0.5 }]);
    bkCold.note = `Docker's side: dockerd's BuildKit through Debian's docker.io CLI (${BUILDKIT_CLI}, DOCKER_BUILDKIT=1 docker build -q), its build cache pruned at each round, its RUN steps with --network none (dockerd runs here with --bridge none, and BuildKit then finds no network); Dray's side: dray build -q (its own CLI; incremental context), its build cache and kept context files pruned at each round the same way (default bridge)`;
    cold.note = 'context: FROM busybox, 5 × RUN, COPY of 50 MB random, COPY late.txt; DOCKER_BUILDKIT=0 docker build -q';
    // does a container on the default network (what RUN steps get) have an eth0 on each side?
    const eth0: Record<string, boolean | string> = {};
    for (const e of ctx.engines) {
      const r = await e.docker(['run', '--rm', 'busybox', 'cat', '/proc/net/dev'], { timeoutMs: 60_000 }).catch((err) => ({ code: -1, stdout: '', stderr: (err as Error).message }));
      eth0[e.side] = r.code === 0 ? /\beth0:/.test(r.stdout) : `could not tell: ${r.stderr.trim().slice(0, 100)}`;
    }
    nonet.extra = { defaultNetworkHasEth0: eth0 };
    nonet.note = `the same cold build with --network none on both sides: the RUN steps without a network. Does a container on the default network get an eth0? ${Object.entries(eth0).map(([k, v]) => `${k}: ${v}`).join(', ')} (Docker runs here with --bridge none)`;
    let bkFailed = false;
    const buildkitRound = async (e: Engine, i: number): Promise<Record<string, number>> => {
      const bkSide = e.side === 'docker';
      const who = bkSide ? 'BuildKit' : 'dray CLI';
      await removeAllButBusybox(e);
      await e.apiOk('POST', '/build/prune?all=1', undefined, 60_000);
      writeFileSync(late, 'late 0\n');
      const bc = await build(e, ['--no-cache'], BUILD_CTX, bkSide, !bkSide);
      const bk = await build(e, [], BUILD_CTX, bkSide, !bkSide);
      if (bk.id !== bc.id) ctx.log(`  ${who}: the cached rebuild gave ${bk.id.slice(7, 19)}, not the cold build's ${bc.id.slice(7, 19)}`);
      writeFileSync(late, `late bk ${i} ${process.hrtime.bigint()}\n`);
      const bn = await build(e, [], BUILD_CTX, bkSide, !bkSide);
      if (bn.id === bk.id) throw new Error(`changing late.txt gave the same image ${bn.id.slice(7, 19)}`);
      return { [bkCold.id]: bc.ms, [bkCached.id]: bk.ms, [bkIncr.id]: bn.ms };
    };
    const cacheMisses: Record<string, number> = {};
    await makeContext();
    const late = path.join(BUILD_CTX, 'late.txt');
    try {
      await abRounds(ctx, [cold, cached, incr, nonet, bkCold, bkCached, bkIncr], rounds, async (e, i) => {
        await removeAllButBusybox(e);
        writeFileSync(late, 'late 0\n');
        const c = await build(e, ['--no-cache']);
        const k = await build(e, []);
        // a "fully cached" build that made another image was not fully cached: say so
        if (k.id !== c.id) {
          cacheMisses[e.side] = (cacheMisses[e.side] ?? 0) + 1;
          ctx.log(`  ${e.title}: the cached rebuild gave ${k.id.slice(7, 19)}, not the cold build's ${c.id.slice(7, 19)}`);
        }
        writeFileSync(late, `late ${e.side} ${i} ${process.hrtime.bigint()}\n`);
        const n = await build(e, []);
        if (n.id === k.id) throw new Error(`${e.side}: changing late.txt gave the same image ${n.id.slice(7, 19)}`);
        await removeAllButBusybox(e);
        writeFileSync(late, 'late 0\n');
        const x = await build(e, ['--no-cache', '--network', 'none']);
        const out: Record<string, number> = { [cold.id]: c.ms, [cached.id]: k.ms, [incr.id]: n.ms, [nonet.id]: x.ms };
        if (bkFailed) return out;
        try {
          return { ...out, ...await buildkitRound(e, i) };
        } catch (err) {
          // BuildKit failing must not cost the legacy rows their Docker samples.
          if (e.side === 'dray') throw err;
          bkFailed = true;
          for (const r of [bkCold, bkCached, bkIncr]) setError(r, 'docker', err);
          ctx.log(`  BuildKit: ${(err as Error).message}`);
          return out;
        }
      }, 1);
      cached.extra = { cachedRebuildsWithAnotherImageId: cacheMisses };
      if (Object.keys(cacheMisses).length) cached.note = `cached rebuild gave a different image id than the cold build (rounds per side, warm-up included): ${JSON.stringify(cacheMisses)}`;
    } finally {
      for (const e of ctx.engines) await removeAllButBusybox(e).catch((err) => ctx.log(`  ${e.title}: clean-up of build images: ${(err as Error).message}`));
      rmSync(BUILD_CTX, { recursive: true, force: true });
    }
    return [cold, cached, incr, nonet, bkCold, bkCached, bkIncr, ...await multiStageRows(ctx), ...await cacheMountRows(ctx)];
  },
};
