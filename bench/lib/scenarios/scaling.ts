// Scaling: `ps -a`, `run --rm` and `images` latency as the store grows to 500 containers (created,
// not started, to save memory) and 200 images (tags of busybox, one in ten a commit with its own id).
import { newRow, Row } from '../model';
import { Ctx, Scenario, abRounds, pool, removeAllContainers, removeImagesTagged, reps } from '../scenario';
import type { Engine } from '../engines';

const LEVELS: { containers: number; images: number }[] = [
  { containers: 0, images: 0 },
  { containers: 100, images: 40 },
  { containers: 500, images: 200 },
];
const IMG = 'bench-img';

interface Fill { containers: string[]; images: number; commitFailed?: string }

async function grow(e: Engine, f: Fill, containers: number, images: number): Promise<void> {
  const need = Array.from({ length: Math.max(0, containers - f.containers.length) }, (_, i) => i);
  const made = await pool(need, 4, async () => (await e.apiOk('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'] })).json.Id as string);
  f.containers.push(...made);
  for (let j = f.images; j < images; j++) {
    if (j % 10 === 0 && !f.commitFailed && f.containers.length) {
      const q = new URLSearchParams({ container: f.containers[0], repo: IMG, tag: `c${j}`, changes: `LABEL bench.image=${j}` });
      const r = await e.api('POST', `/commit?${q}`, {});
      if (r.status === 201 || r.status === 200) continue;
      f.commitFailed = `commit: HTTP ${r.status} ${r.body.slice(0, 200)}`;
    }
    await e.apiOk('POST', `/images/busybox/tag?repo=${IMG}&tag=t${j}`);
  }
  f.images = images;
}

export const scaling: Scenario = {
  id: 'scaling',
  title: 'ps -a / run --rm / images with 0, 100, 500 containers',
  async run(ctx: Ctx) {
    const n = reps(ctx, 10, 3);
    const fills: Record<string, Fill> = {};
    for (const e of ctx.engines) {
      await removeAllContainers(e);
      await removeImagesTagged(e, IMG);
      fills[e.side] = { containers: [], images: 0 };
    }
    const rows: Row[] = [];
    try {
      for (const L of LEVELS) {
        const at = `@ ${L.containers} ctrs / ${L.images + 1} imgs`;
        const ps = newRow(`scale-ps-${L.containers}`, `ps -a ${at}`, 'ms');
        const runRm = newRow(`scale-run-${L.containers}`, `run --rm busybox true ${at}`, 'ms');
        const images = newRow(`scale-images-${L.containers}`, `images ${at}`, 'ms');
        ctx.log(`  filling to ${L.containers} containers and ${L.images} extra images`);
        for (const e of ctx.engines) {
          try { await grow(e, fills[e.side], L.containers, L.images); } catch (err) {
            for (const r of [ps, runRm, images]) (r.errors ??= {})[e.side] = `fill: ${(err as Error).message}`;
          }
        }
        const live = ctx.engines.filter((e) => !ps.errors?.[e.side]);
        await abRounds({ ...ctx, engines: live }, [ps, runRm, images], n, async (e) => {
          const out: Record<string, number> = {};
          for (const [row, args] of [[ps, ['ps', '-a']], [runRm, ['run', '--rm', '--network', 'none', 'busybox', 'true']], [images, ['images']]] as const) {
            const r = await e.cli([...args]);
            if (r.code !== 0) throw new Error(`${args.join(' ')}: exit ${r.code}: ${r.stderr.trim().slice(0, 200)}`);
            out[row.id] = r.ms;
          }
          return out;
        }, 1);
        rows.push(ps, runRm, images);
      }
    } finally {
      for (const e of ctx.engines) {
        await removeAllContainers(e).catch(() => undefined);
        await removeImagesTagged(e, IMG).catch(() => undefined);
      }
    }
    const failed = Object.entries(fills).filter(([, f]) => f.commitFailed).map(([s, f]) => `${s}: ${f.commitFailed}`);
    if (failed.length && rows[0]) rows[0].note = `commits failed, tags only — ${failed.join('; ')}`;
    return rows;
  },
};
