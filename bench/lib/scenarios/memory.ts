// Idle daemon memory: the daemon alone with no containers (Dray: drayd; Docker: dockerd + containerd).
import { newRow } from '../model';
import { Scenario, removeAllContainers, reps, sleep } from '../scenario';
import { memoryOf } from '../procfs';
import { IDLE_GC_QUIET_MS } from '../../../src/lib/idle-gc';

export function idleRss(id: string, when: string): Scenario {
  return {
    id,
    title: `idle daemon RSS (${when})`,
    async run(ctx) {
      const n = reps(ctx, 5, 3);
      const row = newRow(id, `idle daemon RSS, ${when}`, 'MiB', [{ kind: 'abs', max: 60 }]);
      row.note = 'Dray: drayd; Docker: dockerd + containerd; no containers';
      const withCli = newRow(`${id}-cli`, '  (info) the same + the CLI processes kept waiting', 'MiB');
      withCli.note = 'Dray: + its warm CLI process while the dray CLI is in use (none before it is used, none 5 min after); Docker keeps none';
      const detail: Record<string, unknown[]> = { dray: [], docker: [] };
      for (const e of ctx.engines) await removeAllContainers(e).catch(() => undefined);
      // Idle as drayd counts it: it gives memory back once no request came for IDLE_GC_QUIET_MS.
      await sleep(IDLE_GC_QUIET_MS + 1000);
      for (let i = 0; i < n; i++) {
        for (const e of ctx.engines) {
          const m = memoryOf(e.daemonProcs());
          if (!m.procs.length) { row.errors = { ...row.errors, [e.side]: 'daemon process not found' }; continue; }
          const cli = memoryOf(e.cliProcs());
          (row.samples[e.side] ??= []).push(m.rssMiB);
          (withCli.samples[e.side] ??= []).push(m.rssMiB + cli.rssMiB);
          detail[e.side].push({ rssMiB: m.rssMiB, anonMiB: m.anonMiB, fileMiB: m.fileMiB, pssMiB: m.pssMiB, procs: m.procs, cli: { rssMiB: cli.rssMiB, pssMiB: cli.pssMiB, procs: cli.procs } });
        }
        await sleep(300);
      }
      row.extra = detail;
      return [row, withCli];
    },
  };
}
