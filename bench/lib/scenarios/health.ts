// The cost of healthchecks: 50 containers each probed every second (`CMD true`), and the daemon's
// CPU over a window once all are healthy, against the same 50 without a healthcheck. CPU is given
// as milliseconds of CPU per second of wall time (10 ms/s = 1% of one core), from /proc/<pid>/stat.
import { readFileSync } from 'node:fs';
import { newRow } from '../model';
import { Scenario, abRounds, pool, removeAllContainers, reps, sleep } from '../scenario';
import type { Engine } from '../engines';
import type { ProcInfo } from '../procfs';

const N = 50;
const INTERVAL_NS = 1e9;
const TICK_MS = 1000 / 100; // USER_HZ

/** CPU time of processes so far, in ms: their own, and their own plus their reaped children's. */
function cpuMs(procs: ProcInfo[]): { self: number; withChildren: number } {
  let self = 0;
  let children = 0;
  for (const p of procs) {
    try {
      const s = readFileSync(`/proc/${p.pid}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      // fields 14-17 of stat (utime, stime, cutime, cstime) are 11-14 after the command name
      self += (Number(f[11]) + Number(f[12])) * TICK_MS;
      children += (Number(f[13]) + Number(f[14])) * TICK_MS;
    } catch { /* gone */ }
  }
  return { self, withChildren: self + children };
}

async function startAll(e: Engine, healthcheck: boolean): Promise<string[]> {
  return pool(Array.from({ length: N }, (_, i) => i), 4, async () => {
    const body: Record<string, unknown> = { Image: 'busybox', Cmd: ['sleep', '3600'], HostConfig: { NetworkMode: 'none' } };
    if (healthcheck) body.Healthcheck = { Test: ['CMD', 'true'], Interval: INTERVAL_NS, Timeout: 10 * INTERVAL_NS, Retries: 3 };
    const c = await e.apiOk('POST', '/containers/create', body);
    await e.apiOk('POST', `/containers/${c.json.Id}/start`);
    return c.json.Id as string;
  });
}

async function allHealthy(e: Engine, ids: string[], timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const list = (await e.apiOk('GET', '/containers/json')).json ?? [];
    const healthy = list.filter((c: any) => / \(healthy\)$/.test(c.Status)).length;
    if (healthy === ids.length) return;
    if (Date.now() > end) throw new Error(`${healthy} of ${ids.length} containers healthy after ${timeoutMs / 1000} s`);
    await sleep(500);
  }
}

/** Daemon and engine CPU over `ms` of wall time, in ms per second; and the probes that ended meanwhile. */
async function measure(e: Engine, ms: number): Promise<{ daemon: number; engine: number; probes: number }> {
  const t0 = Date.now();
  const d0 = cpuMs(e.daemonProcs());
  const e0 = cpuMs(e.engineProcs());
  await sleep(ms);
  const d1 = cpuMs(e.daemonProcs());
  const e1 = cpuMs(e.engineProcs());
  const t1 = Date.now();
  const secs = (t1 - t0) / 1000;
  const filters = encodeURIComponent(JSON.stringify({ event: ['exec_die'] }));
  const ev = await e.apiOk('GET', `/events?since=${(t0 / 1000).toFixed(3)}&until=${(t1 / 1000).toFixed(3)}&filters=${filters}`);
  const probes = ev.body.toString().split('\n').filter((l: string) => l.trim()).length;
  return { daemon: (d1.self - d0.self) / secs, engine: (e1.withChildren - e0.withChildren) / secs, probes: probes / secs };
}

export const healthScenario: Scenario = {
  id: 'health',
  title: `${N} containers probed every second: daemon CPU`,
  async run(ctx) {
    const rounds = reps(ctx, 2, 1);
    const windowMs = reps(ctx, 10_000, 5_000);
    const probed = newRow('health-cpu-50', `daemon CPU, ${N} containers each probed every 1 s (ms CPU per s)`, 'ms', [{ kind: 'abs', max: 50 }]);
    probed.note = '10 ms/s = 1% of one core; Dray: drayd; Docker: dockerd + containerd';
    const idle = newRow('health-cpu-50-none', `  (info) the same ${N} without a healthcheck`, 'ms');
    const engine = newRow('health-cpu-50-engine', '  (info) the whole engine with the probes, incl. the runtime processes', 'ms');
    engine.note = 'Dray: drayd + conmon + the `tini -s crun exec` of each probe; Docker: dockerd + containerd + shims + their `runc exec`';
    const rate = newRow('health-probes-per-s', '  (info) probes completed per second', 'req/s');
    await abRounds(ctx, [probed, idle, engine, rate], rounds, async (e, i) => {
      const out: Record<string, number> = {};
      try {
        if (i === 0) {
          await startAll(e, false);
          await sleep(2000);
          out[idle.id] = (await measure(e, windowMs)).daemon;
          await removeAllContainers(e);
        }
        const ids = await startAll(e, true);
        await allHealthy(e, ids, 60_000);
        const m = await measure(e, windowMs);
        out[probed.id] = m.daemon;
        out[engine.id] = m.engine;
        out[rate.id] = m.probes;
        if (m.probes < N * 0.8) ctx.log(`  ${e.title}: only ${m.probes.toFixed(1)} probes/s for ${N} containers at 1 s`);
        return out;
      } finally {
        await removeAllContainers(e).catch(() => undefined);
      }
    });
    return [probed, idle, engine, rate];
  },
};
