// Where `run --rm` spends its time, daemon side only: the four Engine API calls a client makes,
// each timed on its own (no CLI): create, start, wait (until `true` has exited), delete.
import { newRow } from '../model';
import { Scenario, abRounds, reps } from '../scenario';
import { msSince, now } from '../stats';

export const runPhases: Scenario = {
  id: 'run-phases',
  title: 'run --rm broken into API calls (create, start, wait, delete)',
  async run(ctx) {
    const n = reps(ctx, 20, 5);
    const rows = {
      create: newRow('phase-create', '  (info) API: POST /containers/create', 'ms'),
      start: newRow('phase-start', '  (info) API: POST /containers/{id}/start', 'ms'),
      wait: newRow('phase-wait', '  (info) API: POST /containers/{id}/wait (true exits)', 'ms'),
      remove: newRow('phase-delete', '  (info) API: DELETE /containers/{id}', 'ms'),
    };
    await abRounds(ctx, Object.values(rows), n, async (e) => {
      let t = now();
      const c = await e.apiOk('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: { NetworkMode: 'none' } });
      const create = msSince(t);
      const id = c.json.Id as string;
      t = now();
      await e.apiOk('POST', `/containers/${id}/start`);
      const start = msSince(t);
      t = now();
      const w = await e.apiOk('POST', `/containers/${id}/wait`);
      const wait = msSince(t);
      if (w.json?.StatusCode !== 0) throw new Error(`wait: ${w.body.slice(0, 200)}`);
      t = now();
      await e.apiOk('DELETE', `/containers/${id}`);
      const remove = msSince(t);
      return { [rows.create.id]: create, [rows.start.id]: start, [rows.wait.id]: wait, [rows.remove.id]: remove };
    }, 1);
    return Object.values(rows);
  },
};
