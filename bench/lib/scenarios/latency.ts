// Container start latency: `run --rm busybox true` end to end, against `crun run` as the floor.
import { newRow, Row } from '../model';
import { Ctx, Scenario, ab, reps, setError, timed } from '../scenario';
import { crunTrue } from '../floor';

// Docker runs here with --bridge none, so both engines start containers without a network.
const RUN_RM = ['run', '--rm', '--network', 'none', 'busybox', 'true'];

/** One floor sample after each A B pair (A B F A B F …), so all three see the same host noise. */
function floorSampler(ctx: Ctx, row: Row): (i: number) => Promise<void> {
  if (!ctx.floor) setError(row, 'floor', 'no crun floor (see the set-up log)');
  return async () => {
    if (!ctx.floor || row.errors?.floor) return;
    try { (row.samples.floor ??= []).push(await crunTrue(ctx.floor)); } catch (e) { setError(row, 'floor', e); }
  };
}

/** `dray run --rm busybox true` vs `docker run --rm busybox true`, each CLI against its own daemon. */
export const runRm: Scenario = {
  id: 'run-rm',
  title: 'run --rm busybox true (own CLI)',
  async run(ctx) {
    const n = reps(ctx, 20, 5);
    const row = newRow('run-rm', 'run --rm busybox true (dray CLI | docker CLI)', 'ms', [{ kind: 'ratio', max: 0.25 }, { kind: 'floor', max: 10 }]);
    row.note = 'floor: `crun run` of /bin/true on a prepared bundle';
    await ab(ctx, row, n, (e) => timed(e.cli(RUN_RM), `${e.side} run --rm`), 1, floorSampler(ctx, row));
    return [row];
  },
};

/** The same through the real docker CLI: docker → drayd vs docker → dockerd (daemons only differ). */
export const runRmDockerCli: Scenario = {
  id: 'run-rm-docker-cli',
  title: 'run --rm busybox true (docker CLI against both)',
  async run(ctx) {
    const n = reps(ctx, 20, 5);
    const row = newRow('run-rm-docker-cli', 'run --rm busybox true (docker CLI → each)', 'ms', [{ kind: 'ratio', max: 0.25 }]);
    await ab(ctx, row, n, (e) => timed(e.docker(RUN_RM), `docker CLI → ${e.side}: run --rm`), 1, floorSampler(ctx, row));
    return [row];
  },
};
