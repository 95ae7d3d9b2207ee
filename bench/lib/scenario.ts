// The scenario contract and the helpers every scenario uses. A scenario is one function from a
// context to rows; adding one is writing that function and listing it in scenarios/index.ts.
import type { Engine, Log } from './engines';
import type { Floor } from './floor';
import type { Row, Side } from './model';
import type { Spawned, SpawnOpts } from './proc';
import { pool, sleep } from './proc';

export interface Ctx {
  /** the engines present in this run, Dray first (either may be missing) */
  engines: Engine[];
  dray?: Engine;
  docker?: Engine;
  floor?: Floor;
  quick: boolean;
  log: Log;
}

export interface Scenario {
  /** matched by --only (as are row ids and their prefixes) */
  id: string;
  title: string;
  run(ctx: Ctx): Promise<Row[]>;
}

/** Repetitions: `full` normally, `quick` with --quick. */
export function reps(ctx: Ctx, full: number, quick: number): number {
  return ctx.quick ? quick : full;
}

function errText(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ').slice(0, 400);
}

export function setError(row: Row, side: Side | 'floor', e: unknown): void {
  row.errors ??= {};
  row.errors[side] ??= errText(e);
}

function push(row: Row, side: Side | 'floor', v: number | number[]): void {
  (row.samples[side] ??= []).push(...(Array.isArray(v) ? v : [v]));
}

/**
 * Interleaved sampling, A B A B: for i in 0..n, one round on Dray then one on Docker. A round
 * returns values keyed by row id. A side that fails is recorded on every row and sampled no more.
 * `warmup` rounds run first and are discarded.
 */
export async function abRounds(ctx: Ctx, rows: Row[], n: number, round: (e: Engine, i: number) => Promise<Record<string, number | number[]>>, warmup = 0, after?: (i: number) => Promise<void>): Promise<void> {
  const failed = new Set<Side>();
  const once = async (e: Engine, i: number, keep: boolean) => {
    if (failed.has(e.side)) return;
    try {
      const got = await round(e, i);
      if (keep) for (const r of rows) if (got[r.id] !== undefined) push(r, e.side, got[r.id]);
    } catch (err) {
      failed.add(e.side);
      for (const r of rows) setError(r, e.side, err);
      ctx.log(`  ${e.title}: ${errText(err)}`);
    }
  };
  for (let w = 0; w < warmup; w++) for (const e of ctx.engines) await once(e, -1 - w, false);
  for (let i = 0; i < n; i++) {
    for (const e of ctx.engines) await once(e, i, true);
    if (after) await after(i);
  }
}

/** abRounds for one row and one number per round. */
export function ab(ctx: Ctx, row: Row, n: number, sample: (e: Engine, i: number) => Promise<number>, warmup = 1, after?: (i: number) => Promise<void>): Promise<void> {
  return abRounds(ctx, [row], n, async (e, i) => ({ [row.id]: await sample(e, i) }), warmup, after);
}

/** Runs a CLI (the engine's own, or the docker CLI) and returns its time; a non-zero exit throws. */
export async function timed(p: Promise<Spawned>, what: string): Promise<number> {
  const r = await p;
  if (r.code !== 0) throw new Error(`${what}: exit ${r.code}${r.signal ? ` (${r.signal})` : ''}: ${r.stderr.trim().split('\n').slice(-2).join(' | ').slice(0, 300)}`);
  return r.ms;
}

export async function cliOk(e: Engine, args: string[], opts?: SpawnOpts): Promise<Spawned> {
  const r = await e.cli(args, opts);
  if (r.code !== 0) throw new Error(`${e.side === 'dray' ? 'dray' : 'docker'} ${args.slice(0, 4).join(' ')}: exit ${r.code}: ${r.stderr.trim().split('\n').slice(-2).join(' | ').slice(0, 300)}`);
  return r;
}

/** Force-removes every container of an engine (through the API; not timed). */
export async function removeAllContainers(e: Engine): Promise<number> {
  const list = await e.apiOk('GET', '/containers/json?all=1');
  const ids: string[] = (list.json ?? []).map((c: any) => c.Id);
  await pool(ids, 4, async (id) => {
    const r = await e.api('DELETE', `/containers/${id}?force=1&v=1`, undefined, 60_000);
    if (r.status !== 204 && r.status !== 404) throw new Error(`DELETE container ${id.slice(0, 12)}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
  });
  return ids.length;
}

/** Removes images whose every tag starts with `prefix` (force), leaving busybox. */
export async function removeImagesTagged(e: Engine, prefix: string): Promise<void> {
  const list = await e.apiOk('GET', '/images/json');
  const refs: string[] = [];
  for (const img of list.json ?? []) for (const t of img.RepoTags ?? []) if (t.startsWith(prefix)) refs.push(t);
  await pool(refs, 4, async (ref) => {
    const r = await e.api('DELETE', `/images/${encodeURIComponent(ref)}?force=1`, undefined, 60_000);
    if (r.status !== 200 && r.status !== 404) throw new Error(`DELETE image ${ref}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
  });
}

export { sleep, pool };
