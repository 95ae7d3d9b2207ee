// Client-side costs: CLI start-up, and API round trips through the docker CLI.
import { newRow, Row } from '../model';
import { Scenario, ab, reps, setError, timed } from '../scenario';
import { run } from '../proc';
import { DOCKER_CLI, DRAY_CLI, nodeEnv } from '../engines';

/**
 * `dray --version` vs `docker --version`: process start to exit, no daemon request. As a user
 * runs it: `dray`, the launcher, with drayd's warm CLI awake because dray was just used (a
 * `dray version` first, since --version asks drayd nothing). The cold row is the same launcher
 * told to run the CLI itself (DRAY_CLI_SOCKET=""): Node.js's start-up, against `node -e 0`.
 */
export const cliStartup: Scenario = {
  id: 'cli-startup',
  title: 'CLI start-up (--version)',
  async run(ctx) {
    const n = reps(ctx, 20, 5);
    const row = newRow('cli-startup', 'CLI start-up: dray --version | docker --version', 'ms', [{ kind: 'abs', max: 60 }]);
    row.note = 'dray through drayd\'s warm CLI (src/daemon/cli-pool.ts)';
    const cold = newRow('cli-startup-cold', '  (info) the same, dray running the CLI itself', 'ms');
    cold.note = 'floor: `node -e 0`, the bare Node.js start-up any JS CLI pays';
    const dray = ctx.engines.find((e) => e.side === 'dray');
    const warmEnv = nodeEnv({ DOCKER_HOST: dray?.host, DRAY_CLI_SOCKET: `${dray?.root}/run/cli.sock` });
    if (dray) await dray.cli(['version']).catch(() => undefined);
    await ab(ctx, row, n, (e) => e.side === 'dray'
      ? timed(run(DRAY_CLI, ['--version'], { env: warmEnv }), 'dray --version')
      : timed(run(DOCKER_CLI, ['--version']), 'docker --version'));
    await ab(ctx, cold, n, (e) => e.side === 'dray'
      ? timed(run(DRAY_CLI, ['--version'], { env: nodeEnv({ DRAY_CLI_SOCKET: '' }) }), 'dray --version (cold)')
      : timed(run(DOCKER_CLI, ['--version']), 'docker --version'), 1, async () => {
      try { (cold.samples.floor ??= []).push(await timed(run(process.execPath, ['-e', '0'], { env: nodeEnv() }), 'node -e 0')); } catch (e) { setError(cold, 'floor', e); }
    });
    return [row, cold];
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
