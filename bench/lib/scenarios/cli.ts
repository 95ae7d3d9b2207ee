// Client-side costs: CLI start-up, and API round trips through the docker CLI.
import { newRow, Row } from '../model';
import { Scenario, ab, reps, setError, timed } from '../scenario';
import { run } from '../proc';
import { DOCKER_CLI, DRAY_JS, nodeEnv } from '../engines';

/** `dray --version` vs `docker --version`: process start to exit, no daemon involved. */
export const cliStartup: Scenario = {
  id: 'cli-startup',
  title: 'CLI start-up (--version)',
  async run(ctx) {
    const n = reps(ctx, 20, 5);
    const row = newRow('cli-startup', 'CLI start-up: dray --version | docker --version', 'ms', [{ kind: 'abs', max: 60 }]);
    row.note = 'floor: `node -e 0`, the bare Node.js start-up any JS CLI pays';
    await ab(ctx, row, n, (e) => e.side === 'dray'
      ? timed(run(process.execPath, [DRAY_JS, '--version'], { env: nodeEnv() }), 'dray --version')
      : timed(run(DOCKER_CLI, ['--version']), 'docker --version'), 1, async () => {
      try { (row.samples.floor ??= []).push(await timed(run(process.execPath, ['-e', '0'], { env: nodeEnv() }), 'node -e 0')); } catch (e) { setError(row, 'floor', e); }
    });
    return [row];
  },
};

/** `images`, `ps -a`, `version` through the real docker CLI against each daemon. */
export const cliRoundtrip: Scenario = {
  id: 'cli-roundtrip',
  title: 'docker CLI round trips: images, ps -a, version',
  async run(ctx) {
    const n = reps(ctx, 20, 5);
    const rows: Row[] = [];
    for (const args of [['images'], ['ps', '-a'], ['version']]) {
      const row = newRow(`rt-${args[0]}`, `docker ${args.join(' ')} (docker CLI → each)`, 'ms', [{ kind: 'ratio', max: 1.0 }]);
      await ab(ctx, row, n, (e) => timed(e.docker(args), `docker CLI → ${e.side}: ${args.join(' ')}`));
      rows.push(row);
    }
    return rows;
  },
};
