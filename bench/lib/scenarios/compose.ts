// Compose: a 5-service project brought up and down by each side's compose, `dray compose` against
// drayd and Debian's docker-compose 1.29 against Docker (both from their own CLI, in the project's
// directory, with -p bench-compose):
//
//   db      busybox, a named volume, a healthcheck (test -f /data/ready, every 250 ms) that
//           api and worker wait for (condition: service_healthy)
//   api     built from a Dockerfile (FROM busybox, RUN echo …), depends on db healthy
//   web     busybox, depends on api
//   worker  busybox, depends on db healthy
//   cache   busybox
//   all on one user network `app`; each service's shell traps SIGTERM, so stops are immediate
//
// One round on one side: cold `up -d` (no containers, network, volume or built image: all made,
// the image built with the legacy builder), the same `up -d` again (nothing changed: nothing may
// be touched), `ps`, `down`. Between rounds the volume and the built image are removed through
// the API (not timed). Rounds interleave A B A B.
import { mkdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import * as path from 'node:path';
import { newRow } from '../model';
import { Scenario, abRounds, reps, timed, removeAllContainers, sleep } from '../scenario';
import { CLI_DIR, dockerEnv, Engine } from '../engines';
import { run } from '../proc';

const DIR = path.join(CLI_DIR, 'compose-project');
const PROJECT = 'bench-compose';
const IMAGE = 'bench-compose-api:latest';
const DOCKER_COMPOSE = ['/usr/bin/docker-compose', '/usr/local/bin/docker-compose'].find((f) => existsSync(f));

const SH = (before: string) => `["sh", "-c", "trap 'exit 0' TERM; ${before}sleep 3600 & wait"]`;
const COMPOSE = `x-svc: &svc
  image: busybox
  command: ${SH('')}
  networks: [app]
services:
  db:
    <<: *svc
    command: ${SH('touch /data/ready; ')}
    volumes: [data:/data]
    healthcheck: {test: ["CMD", "test", "-f", "/data/ready"], interval: 250ms, timeout: 5s, retries: 40}
  api:
    <<: *svc
    image: ${IMAGE}
    build: ./api
    depends_on: {db: {condition: service_healthy}}
  web:
    <<: *svc
    depends_on: [api]
  worker:
    <<: *svc
    depends_on: {db: {condition: service_healthy}}
  cache:
    <<: *svc
volumes:
  data: {}
networks:
  app: {}
`;

function makeProject(): void {
  mkdirSync(path.join(DIR, 'api'), { recursive: true });
  writeFileSync(path.join(DIR, 'docker-compose.yml'), COMPOSE);
  writeFileSync(path.join(DIR, 'api', 'Dockerfile'), 'FROM busybox\nRUN echo api > /api.txt\nCMD ["sleep", "3600"]\n');
}

/** The side's compose: `dray compose` for Dray, docker-compose 1.29 for Docker. */
function composeCli(e: Engine, args: string[]) {
  if (e.side === 'dray') return e.cli(['compose', '-p', PROJECT, ...args], { cwd: DIR, timeoutMs: 120_000 });
  if (!DOCKER_COMPOSE) throw new Error('docker-compose is not installed (apt-get install docker-compose)');
  return run(DOCKER_COMPOSE, ['-p', PROJECT, ...args], { cwd: DIR, env: { ...dockerEnv(e.host), DOCKER_BUILDKIT: '0', COMPOSE_DOCKER_CLI_BUILD: '0' }, timeoutMs: 120_000 });
}

/** What a cold round must not find: the project's containers, network, volume, built image. */
async function clean(e: Engine): Promise<void> {
  await removeAllContainers(e);
  for (const n of [`${PROJECT}_app`, `${PROJECT}_default`]) await e.api('DELETE', `/networks/${n}`).catch(() => undefined);
  for (let i = 0; i < 20; i++) {
    const r = await e.api('DELETE', `/volumes/${PROJECT}_data?force=1`);
    if (r.status === 204 || r.status === 404) break;
    await sleep(100);
  }
  const r = await e.api('DELETE', `/images/${encodeURIComponent(IMAGE)}?force=1`, undefined, 60_000);
  if (r.status !== 200 && r.status !== 404) throw new Error(`DELETE image ${IMAGE}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
}

async function running(e: Engine): Promise<number> {
  const f = encodeURIComponent(JSON.stringify({ label: [`com.docker.compose.project=${PROJECT}`] }));
  return ((await e.apiOk('GET', `/containers/json?filters=${f}`)).json ?? []).length;
}

export const composeScenario: Scenario = {
  id: 'compose',
  title: 'compose: a 5-service project (dray compose vs docker-compose 1.29)',
  async run(ctx) {
    const rounds = reps(ctx, 5, 2);
    const cold = newRow('compose-up-cold', 'compose up -d, cold (5 services: 1 built, 1 healthcheck waited on, volume, network)', 'ms', [{ kind: 'ratio', max: 0.25 }]);
    const noop = newRow('compose-up-noop', 'compose up -d again, nothing changed', 'ms', [{ kind: 'ratio', max: 0.25 }, { kind: 'abs', max: 50 }]);
    const ps = newRow('compose-ps', 'compose ps', 'ms', [{ kind: 'ratio', max: 0.25 }]);
    const down = newRow('compose-down', 'compose down', 'ms', [{ kind: 'ratio', max: 0.25 }]);
    cold.note = `Dray: dray compose; Docker: Debian's docker-compose ${DOCKER_COMPOSE ? '1.29' : '(missing)'} (legacy builder); healthcheck every 250 ms`;
    makeProject();
    try {
      await abRounds(ctx, [cold, noop, ps, down], rounds, async (e) => {
        await clean(e);
        const up = await timed(composeCli(e, ['up', '-d']), `${e.side} compose up -d (cold)`);
        const n = await running(e);
        if (n !== 5) throw new Error(`${e.side}: ${n} of 5 containers running after up -d`);
        const again = await timed(composeCli(e, ['up', '-d']), `${e.side} compose up -d (no-op)`);
        const list = await timed(composeCli(e, ['ps']), `${e.side} compose ps`);
        const gone = await timed(composeCli(e, ['down']), `${e.side} compose down`);
        if (await running(e)) throw new Error(`${e.side}: containers left after down`);
        return { [cold.id]: up, [noop.id]: again, [ps.id]: list, [down.id]: gone };
      }, 1);
    } finally {
      for (const e of ctx.engines) await clean(e).catch((err) => ctx.log(`  ${e.title}: compose clean-up: ${(err as Error).message}`));
      rmSync(DIR, { recursive: true, force: true });
    }
    return [cold, noop, ps, down];
  },
};
