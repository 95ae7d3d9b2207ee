// Many detached containers: 50 `run -d busybox sleep 3600` serially and from 8 concurrent clients,
// with `ps`, memory and `rm -f` of all 50 measured while they run.
import { newRow } from '../model';
import { Ctx, Scenario, abRounds, cliOk, pool, removeAllContainers, reps, sleep } from '../scenario';
import type { Engine } from '../engines';
import { msSince, now } from '../stats';
import { memoryOf } from '../procfs';

const N = 50;
// Docker runs here with --bridge none, so both engines start containers without a network.
const RUN_D = ['run', '-d', '--network', 'none', 'busybox', 'sleep', '3600'];

async function startMany(e: Engine, concurrency: number): Promise<{ ms: number; ids: string[] }> {
  const t0 = now();
  const ids = await pool(Array.from({ length: N }, (_, i) => i), concurrency, async () => (await cliOk(e, RUN_D)).stdout.trim());
  const ms = msSince(t0);
  if (ids.some((id) => !/^[0-9a-f]{12,64}$/.test(id))) throw new Error(`run -d printed something other than an id: ${JSON.stringify(ids.find((id) => !/^[0-9a-f]{12,64}$/.test(id)))}`);
  return { ms, ids };
}

async function running(e: Engine): Promise<number> {
  return ((await e.apiOk('GET', '/containers/json')).json ?? []).length;
}

export const runDetachedSerial: Scenario = {
  id: 'run-d-serial',
  title: `${N} × run -d, then ps, memory and rm -f with ${N} running`,
  async run(ctx: Ctx) {
    const rounds = reps(ctx, 3, 1);
    const psN = reps(ctx, 5, 3);
    const start = newRow('run-d-serial', `${N} × run -d busybox sleep 3600, serial (total)`, 'ms', [{ kind: 'ratio', max: 0.25 }]);
    const ps = newRow('ps-50', `ps with ${N} running`, 'ms', [{ kind: 'ratio', max: 0.5 }]);
    const mem = newRow('mem-50', `engine RSS with ${N} running (daemon + monitors)`, 'MiB', [{ kind: 'ratio', max: 0.25 }]);
    const rm = newRow('rm-f-50', `rm -f of all ${N} (one command)`, 'ms', [{ kind: 'ratio', max: 0.5 }]);
    mem.note = 'Dray: drayd + every conmon; Docker: dockerd + containerd + every containerd-shim';
    const memCli = newRow('mem-50-cli', '  (info) the same + the CLI processes kept waiting', 'MiB');
    memCli.note = "Dray: + drayd's warm CLI process; Docker keeps none";
    const memDetail: Record<string, unknown[]> = { dray: [], docker: [] };
    await abRounds(ctx, [start, ps, mem, memCli, rm], rounds, async (e) => {
      await removeAllContainers(e);
      try {
        const { ms, ids } = await startMany(e, 1);
        const up = await running(e);
        if (up !== N) throw new Error(`${up} of ${N} containers running after run -d`);
        const psMs: number[] = [];
        for (let i = 0; i < psN; i++) {
          const r = await cliOk(e, ['ps']);
          const lines = r.stdout.trim().split('\n').length - 1;
          if (lines !== N) throw new Error(`ps listed ${lines} containers, expected ${N}`);
          psMs.push(r.ms);
        }
        await sleep(1000); // let the monitors settle before reading their memory
        const m = memoryOf(e.engineProcs());
        const cli = memoryOf(e.cliProcs());
        memDetail[e.side].push({ rssMiB: m.rssMiB, pssMiB: m.pssMiB, processes: m.procs.length, cliRssMiB: cli.rssMiB, cliPssMiB: cli.pssMiB });
        const r = await cliOk(e, ['rm', '-f', ...ids], { timeoutMs: 180_000 });
        const left = ((await e.apiOk('GET', '/containers/json?all=1')).json ?? []).length;
        if (left) throw new Error(`${left} containers left after rm -f`);
        return { [start.id]: ms, [ps.id]: psMs, [mem.id]: m.rssMiB, [memCli.id]: m.rssMiB + cli.rssMiB, [rm.id]: r.ms };
      } finally {
        await removeAllContainers(e).catch(() => undefined);
      }
    });
    mem.extra = memDetail;
    return [start, ps, mem, memCli, rm];
  },
};

export const runDetachedParallel: Scenario = {
  id: 'run-d-parallel',
  title: `${N} × run -d from 8 concurrent clients`,
  async run(ctx: Ctx) {
    const rounds = reps(ctx, 3, 1);
    const row = newRow('run-d-parallel', `${N} × run -d, 8 concurrent clients (total)`, 'ms', [{ kind: 'ratio', max: 0.35 }]);
    await abRounds(ctx, [row], rounds, async (e) => {
      await removeAllContainers(e);
      try {
        const { ms } = await startMany(e, 8);
        const up = await running(e);
        if (up !== N) throw new Error(`${up} of ${N} containers running after run -d`);
        return { [row.id]: ms };
      } finally {
        await removeAllContainers(e).catch(() => undefined);
      }
    });
    return [row];
  },
};
