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

/**
 * Dray only: what the default bridge adds to `run --rm` (netavark set-up and tear-down: veth,
 * address, routes, firewall). `dray run --rm busybox true` with no --network (the default bridge)
 * against the same with `--network none`, alternately. The info row is the median of the paired
 * differences (bridge − none of the same pair).
 */
export const runRmBridge: Scenario = {
  id: 'run-rm-bridge',
  title: 'run --rm busybox true: default bridge vs --network none (Dray only)',
  async run(ctx) {
    const n = reps(ctx, 20, 5);
    const bridge = newRow('run-rm-bridge', 'run --rm busybox true on the default bridge (dray CLI)', 'ms');
    const none = newRow('run-rm-bridge-none', '  same, --network none (dray CLI)', 'ms');
    const share = newRow('run-rm-bridge-share', '  (info) the bridge\'s share: bridge − none, paired', 'ms');
    const rows = [bridge, none, share];
    const dray = ctx.dray;
    if (!dray) { for (const r of rows) setError(r, 'dray', 'no Dray in this run'); return rows; }
    const BRIDGE = ['run', '--rm', 'busybox', 'true'];
    try {
      // one check (and warm-up) that the default really is a bridge: eth0 has an IPv4 address
      const chk = await dray.cli(['run', '--rm', 'busybox', 'sh', '-c', 'ip -4 -o addr show eth0'], { timeoutMs: 60_000 });
      if (chk.code !== 0 || !/inet \d/.test(chk.stdout)) throw new Error(`the default network gave no eth0 address: exit ${chk.code}: ${(chk.stdout + chk.stderr).trim().slice(0, 200)}`);
      bridge.extra = { eth0: chk.stdout.trim() };
      await timed(dray.cli(RUN_RM), 'dray run --rm --network none (warm-up)');
      for (let i = 0; i < n; i++) {
        // alternate which goes first, so neither always follows the other's tear-down
        const first = i % 2 === 0;
        const a = first ? await timed(dray.cli(BRIDGE), 'dray run --rm (bridge)') : undefined;
        const b = await timed(dray.cli(RUN_RM), 'dray run --rm --network none');
        const c = a ?? await timed(dray.cli(BRIDGE), 'dray run --rm (bridge)');
        (bridge.samples.dray ??= []).push(c);
        (none.samples.dray ??= []).push(b);
        (share.samples.dray ??= []).push(c - b);
      }
    } catch (e) {
      for (const r of rows) setError(r, 'dray', e);
      ctx.log(`  run-rm-bridge: ${(e as Error).message}`);
    }
    return rows;
  },
};
