// docker cp in and out of a running container: a source tree as users copy them (2,000 files of
// 4 KiB in 40 directories, ~8 MiB, and one file of 8 MiB), copied into an empty directory of the
// container and back out into an empty host directory, through each engine's own CLI. No sync
// between copies: on this VM's ext4 (mounted with discard) a sync right after deleting a tree made
// 10,000 creations take 8 s instead of 0.2–1.4 s, for GNU tar alone as for both engines. On Dray every path is resolved in the container's
// root at the moment it is used (src/engine/archive.ts), so this row is what that safety costs.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { newRow } from '../model';
import { Scenario, abRounds, cliOk, removeAllContainers, reps, timed } from '../scenario';

const TREE = '/tmp/bench-cli/cp-tree';
const OUT = '/tmp/bench-cli/cp-out';

function makeTree(): void {
  rmSync(TREE, { recursive: true, force: true });
  const body = randomBytes(4 * 1024);
  for (let d = 0; d < 40; d++) {
    const dir = path.join(TREE, 'src', `d${d}`);
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < 50; f++) writeFileSync(path.join(dir, `f${f}`), body);
  }
  writeFileSync(path.join(TREE, 'src', 'big'), randomBytes(8 * 1024 * 1024));
}

export const cpScenario: Scenario = {
  id: 'cp',
  title: 'docker cp of a 2,001-file tree in and out',
  async run(ctx) {
    const rounds = reps(ctx, 4, 2);
    const cpIn = newRow('cp-in', 'cp of 2,001 files (16 MiB) into a container', 'ms', [{ kind: 'ratio', max: 1.0 }]);
    const cpOut = newRow('cp-out', 'cp of the same tree out of it', 'ms', [{ kind: 'ratio', max: 1.0 }]);
    makeTree();
    try {
      await abRounds(ctx, [cpIn, cpOut], rounds, async (e) => {
        try {
          const id = (await cliOk(e, ['run', '-d', '--network', 'none', 'busybox', 'sleep', '600'])).stdout.trim();
          await cliOk(e, ['exec', id, 'mkdir', '/dst']);
          const inMs = await timed(e.cli(['cp', path.join(TREE, 'src'), `${id}:/dst/`], { timeoutMs: 300_000 }), `${e.side} cp in`);
          rmSync(OUT, { recursive: true, force: true });
          mkdirSync(OUT, { recursive: true });
          const outMs = await timed(e.cli(['cp', `${id}:/dst/src`, OUT], { timeoutMs: 300_000 }), `${e.side} cp out`);
          return { [cpIn.id]: inMs, [cpOut.id]: outMs };
        } finally {
          await removeAllContainers(e).catch(() => undefined);
        }
      }, 1);
    } finally {
      rmSync(TREE, { recursive: true, force: true });
      rmSync(OUT, { recursive: true, force: true });
    }
    return [cpIn, cpOut];
  },
};
