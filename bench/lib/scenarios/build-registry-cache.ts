// A build on an empty builder from a cache kept in a registry: what a CI machine does with a
// cache another one pushed. Each side builds once with its cache exported to its own Debian
// docker-registry on 127.0.0.1 (not timed), loses every image and its whole build cache (as a new
// machine has none), then builds again from that registry cache (timed). The steps are slow to
// run and quick to fetch, as compiling is: each RUN makes 8 MB and sleeps 0.3 s.
//
// Dray: `dray build --cache-to type=registry,ref=R,mode=max`, then `--cache-from type=registry,ref=R`
// (BuildKit's cache manifest). Docker: dockerd's BuildKit through Debian's docker.io CLI (20.10),
// whose docker driver cannot export a registry cache (that needs buildx's container driver):
// the cache is BuildKit's inline one (BUILDKIT_INLINE_CACHE=1, the image pushed), imported with
// `--cache-from R`. For a one-stage build the two hold the same layers. Both must hit every step.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { newRow } from '../model';
import { Scenario, abRounds, reps } from '../scenario';
import { CLI_DIR, dockerEnv, Engine } from '../engines';
import { run, Spawned } from '../proc';
import { startRegistry } from './registry';
import { BUILDKIT_CLI, removeAllButBusybox } from './build';

const CTX = path.join(CLI_DIR, 'build-registry-cache-ctx');
const WORK = '/tmp/bench-build-registry-cache';
const STEPS = 3;
const DOCKERFILE = `FROM busybox
${Array.from({ length: STEPS }, (_, i) => `RUN head -c 8000000 /dev/urandom > /f${i} && sleep 0.3`).join('\n')}
CMD ["sh"]
`;

/** Cold start of a builder: no image but busybox, no build cache. */
async function emptyBuilder(e: Engine): Promise<void> {
  await removeAllButBusybox(e);
  await e.apiOk('POST', '/build/prune?all=1', undefined, 60_000);
}

function ok(r: Spawned, what: string): Spawned {
  if (r.code !== 0) throw new Error(`${what}: exit ${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' | ').slice(0, 300)}`);
  return r;
}

/** One build on `e`'s side, through its own modern client. */
function build(e: Engine, args: string[]): Promise<Spawned> {
  // dockerd runs here with --bridge none: BuildKit's RUN steps need --network none.
  if (e.side === 'docker') return run(BUILDKIT_CLI, ['build', '--progress=plain', '--network', 'none', ...args, '.'], { cwd: CTX, env: { ...dockerEnv(e.host), DOCKER_BUILDKIT: '1' }, timeoutMs: 300_000 });
  return e.cli(['build', ...args, '.'], { cwd: CTX, timeoutMs: 300_000 });
}

/** Steps taken from the cache, as each side's output says it. */
function hits(e: Engine, r: Spawned): number {
  const out = r.stdout + r.stderr;
  return (e.side === 'docker' ? out.match(/^#\d+ CACHED$/gm) : out.match(/^ ---> Using cache$/gm))?.length ?? 0;
}

export const buildRegistryCache: Scenario = {
  id: 'build-registry-cache',
  title: 'build on an empty builder from a registry cache (dray build vs BuildKit)',
  async run(ctx) {
    const row = newRow('build-registry-cache', 'build from a registry cache, empty builder (vs BuildKit)', 'ms', [{ kind: 'ratio', max: 1.0 }]);
    row.note = `FROM busybox, ${STEPS} × RUN (8 MB, 0.3 s); Dray: dray build --cache-from type=registry (exported with --cache-to type=registry,mode=max); Docker: BuildKit (${BUILDKIT_CLI}, DOCKER_BUILDKIT=1) --cache-from an image pushed with its inline cache; each through its own docker-registry on 127.0.0.1; every step must come from the cache`;
    mkdirSync(CTX, { recursive: true });
    writeFileSync(path.join(CTX, 'Dockerfile'), DOCKERFILE);
    const regs = new Map<string, Awaited<ReturnType<typeof startRegistry>>>();
    try {
      for (const e of ctx.engines) regs.set(e.side, await startRegistry(path.join(WORK, e.side)));
      await abRounds(ctx, [row], reps(ctx, 5, 2), async (e, i) => {
        const ref = `${regs.get(e.side)!.host}/bench-cache:r${i}`;
        await emptyBuilder(e);
        if (e.side === 'docker') {
          ok(await build(e, ['--build-arg', 'BUILDKIT_INLINE_CACHE=1', '-t', ref]), 'BuildKit: build with an inline cache');
          ok(await e.docker(['push', ref], { timeoutMs: 300_000 }), `docker push ${ref}`);
        } else {
          ok(await build(e, ['--cache-to', `type=registry,ref=${ref},mode=max`, '-t', 'bench-cache-src']), 'dray build --cache-to');
        }
        await emptyBuilder(e);
        const args = e.side === 'docker' ? ['--cache-from', ref, '-t', 'bench-cache-dst'] : ['--cache-from', `type=registry,ref=${ref}`, '-t', 'bench-cache-dst'];
        const r = await build(e, args);
        const ms = ok(r, `${e.side}: build --cache-from ${ref}`).ms;
        const n = hits(e, r);
        if (n < STEPS) throw new Error(`${e.side}: ${n} of ${STEPS} RUN steps came from the registry cache`);
        return { [row.id]: ms };
      });
    } finally {
      for (const e of ctx.engines) await emptyBuilder(e).catch(() => {});
      for (const reg of regs.values()) await reg.stop().catch(() => {});
      rmSync(CTX, { recursive: true, force: true });
      rmSync(WORK, { recursive: true, force: true });
    }
    return [row];
  },
};
