// The physical floor for container start: `crun run` on a prepared bundle (busybox rootfs in a
// plain directory, no overlay, no monitor, no daemon), its own --root for state.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { run, runOk } from './proc';
import { busyboxRootfs } from './engines';

export const FLOOR_DIR = '/tmp/bench-crun';

export interface Floor { bundle: string; state: string; seq: number }

export async function prepareFloor(): Promise<Floor> {
  const bundle = path.join(FLOOR_DIR, 'bundle');
  const state = path.join(FLOOR_DIR, 'state');
  mkdirSync(path.join(bundle, 'rootfs'), { recursive: true });
  mkdirSync(state, { recursive: true });
  await busyboxRootfs(path.join(bundle, 'rootfs'));
  await runOk('crun', ['spec'], { cwd: bundle });
  const spec = JSON.parse(readFileSync(path.join(bundle, 'config.json'), 'utf8'));
  spec.process.terminal = false;
  spec.process.args = ['/bin/true'];
  spec.root = { path: 'rootfs', readonly: true };
  writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec, null, 2));
  const f: Floor = { bundle, state, seq: 0 };
  const r = await crunTrue(f); // one warm-up, and a check that it works at all
  if (r === undefined) throw new Error('crun run failed');
  return f;
}

/** One `crun run` of /bin/true; the milliseconds, or an exception with crun's stderr. */
export async function crunTrue(f: Floor): Promise<number> {
  const id = `bench-floor-${process.pid}-${f.seq++}`;
  const r = await run('crun', ['--root', f.state, 'run', '-b', f.bundle, id], { timeoutMs: 30_000 });
  if (r.code !== 0) {
    await run('crun', ['--root', f.state, 'delete', '-f', id], { timeoutMs: 10_000 }).catch(() => undefined);
    const hint = /hybrid mode/.test(r.stderr) ? ' (hugetlb is still on cgroup2: mount it as v1, see HOST-STACK.md "cgroups")' : '';
    throw new Error(`crun run: exit ${r.code}: ${r.stderr.trim().slice(0, 300)}${hint}`);
  }
  return r.ms;
}
