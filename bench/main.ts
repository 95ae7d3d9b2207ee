// bench/run: Dray against Debian's docker.io engine, side by side. See bench/README.md.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import { scenarios } from './lib/scenarios';
import type { Ctx, Scenario } from './lib/scenario';
import { removeAllContainers, pool } from './lib/scenario';
import { Engine, CLI_DIR, REPO, startDocker, startDray, bootstrapDray, shareBusybox, importBusybox, tail } from './lib/engines';
import { prepareFloor, FLOOR_DIR, Floor } from './lib/floor';
import { floorRatio, ratio, Row, verdicts } from './lib/model';
import { renderErrors, renderTable } from './lib/table';
import { machineFacts, gitSha } from './lib/facts';
import { summarize } from './lib/stats';
import { allProcs } from './lib/procfs';
import { run } from './lib/proc';

const USAGE = `usage: bench/run [--quick] [--only <id>[,<id>…]] [--no-docker] [--list]
  --quick       fewer repetitions (a smoke run)
  --only ids    only these scenarios (ids from --list, comma-separated; idle-rss always runs)
  --no-docker   Dray only (do not install or start Docker)
  --list        list scenario ids and exit`;

interface Opts { quick: boolean; only?: string[]; noDocker: boolean; list: boolean }

function parseArgs(argv: string[]): Opts {
  const o: Opts = { quick: false, noDocker: false, list: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') o.quick = true;
    else if (a === '--no-docker') o.noDocker = true;
    else if (a === '--list') o.list = true;
    else if (a === '--only') o.only = (argv[++i] ?? '').split(',').filter(Boolean);
    else if (a.startsWith('--only=')) o.only = a.slice(7).split(',').filter(Boolean);
    else if (a === '-h' || a === '--help') { console.log(USAGE); process.exit(0); }
    else { console.error(`unknown argument: ${a}\n${USAGE}`); process.exit(2); }
  }
  if (o.only && !o.only.length) { console.error(`--only needs scenario ids\n${USAGE}`); process.exit(2); }
  return o;
}

const OUR_DIRS = ['/tmp/bench-dray', '/tmp/bench-docker', FLOOR_DIR, CLI_DIR];
const logLines: string[] = [];
const t0 = Date.now();
function log(msg: string): void {
  const line = `[bench ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}`;
  logLines.push(line);
  process.stderr.write(line + '\n');
}

function selected(only: string[] | undefined): Scenario[] {
  if (!only) return scenarios;
  const unknown = only.filter((o) => !scenarios.some((s) => s.id === o));
  if (unknown.length) { console.error(`unknown scenario ${unknown.join(', ')}; bench/run --list shows them`); process.exit(2); }
  return scenarios.filter((s) => s.id === 'idle-rss' || only.includes(s.id));
}

function benchMounts(): string[] {
  return readFileSync('/proc/mounts', 'utf8').split('\n').filter((l) => l.includes('bench-'));
}

/** Leftovers of an earlier run: refuse if something still uses them, else remove. */
function clearStale(): void {
  for (const d of OUR_DIRS) {
    if (!existsSync(d)) continue;
    const users = allProcs().filter((p) => p.pid !== process.pid && p.cmdline.includes(d + '/'));
    if (users.length) throw new Error(`${d} is in use by ${users.map((p) => `${p.comm}(${p.pid})`).join(', ')}: another bench run? Stop it first.`);
    if (benchMounts().some((l) => l.split(' ')[1]?.startsWith(d))) throw new Error(`${d} has mounts left from an earlier run (grep bench- /proc/mounts); unmount them first`);
    rmSync(d, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.list) { for (const s of scenarios) console.log(`${s.id.padEnd(20)} ${s.title}`); return 0; }
  if (process.getuid?.() !== 0) { console.error('bench/run needs root (it starts container engines)'); return 1; }
  const chosen = selected(opts.only);
  clearStale();
  mkdirSync(path.join(CLI_DIR, 'docker-config'), { recursive: true });

  const setup: Record<string, string> = {};
  const notes: string[] = [];
  let dray: Engine | undefined;
  let docker: Engine | undefined;
  let floor: Floor | undefined;
  let cleaned: Promise<string[]> | undefined;
  const cleanup = () => (cleaned ??= cleanUp(dray, docker));
  let interrupted = false;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (interrupted) return;
      interrupted = true;
      log(`${sig}: cleaning up`);
      cleanup().finally(() => process.exit(130));
    });
  }

  try {
    const facts = await machineFacts();
    const git = await gitSha();
    const stripped = facts.nodeEnvStripped as string[];
    if (stripped.length) log(`${stripped.join(', ')} is set here; removed from the environment of dray, drayd and node (it costs every Node.js start-up ~50 ms, and nothing here uses TLS)`);
    log(`${facts.nproc} cpus, ${facts.memTotalMiB} MiB, kernel ${facts.kernel}, git ${git.sha}${git.dirty ? ' (dirty)' : ''}${opts.quick ? ', --quick' : ''}`);

    if (opts.noDocker) setup.docker = 'skipped (--no-docker)';
    else {
      try { docker = await startDocker(log); setup.docker = 'ok'; } catch (e) {
        setup.docker = (e as Error).message;
        log(`Docker unavailable, continuing with a Dray-only table: ${setup.docker}`);
      }
    }
    try {
      dray = await startDray(log);
      await bootstrapDray(dray, notes);
      setup.dray = 'ok';
      log('busybox:latest bootstrapped on Dray');
    } catch (e) {
      setup.dray = (e as Error).message;
      log(`Dray unavailable: ${setup.dray}`);
      if (dray) { await dray.stop(log).then((l) => notes.push(...l)); dray = undefined; }
    }
    if (docker) {
      try {
        if (dray) { await shareBusybox(dray, docker, notes); log('same busybox given to Docker (dray save → docker load)'); }
        else await importBusybox(docker, notes);
      } catch (e) {
        setup.docker = `could not load busybox: ${(e as Error).message}`;
        log(`Docker unusable: ${setup.docker}`);
        notes.push(...await docker.stop(log));
        docker = undefined;
      }
    }
    try { floor = await prepareFloor(); setup.floor = 'ok'; } catch (e) {
      setup.floor = (e as Error).message;
      log(`no crun floor: ${setup.floor}`);
    }
    for (const n of notes) log(`note: ${n}`);
    const engines = [dray, docker].filter((e): e is Engine => !!e);
    if (!engines.length) { log('neither Dray nor Docker could run; nothing to measure'); return 1; }

    const ctx: Ctx = { engines, dray, docker, floor, quick: opts.quick, log };
    const rows: Row[] = [];
    const timings: Record<string, { seconds: number; loadavgAtStart: number[] }> = {};
    for (const s of chosen) {
      if (interrupted) await new Promise(() => undefined); // the signal handler cleans up and exits
      const ts = Date.now();
      const load = os.loadavg().map((x) => Math.round(x * 100) / 100);
      log(`▶ ${s.id}: ${s.title} (load ${load[0]})`);
      try {
        rows.push(...await s.run(ctx));
      } catch (e) {
        log(`  ${s.id} failed: ${(e as Error).message}`);
        rows.push({ id: s.id, label: s.title, unit: 'ms', samples: {}, na: `failed: ${(e as Error).message.slice(0, 120)}` });
      }
      timings[s.id] = { seconds: (Date.now() - ts) / 1000, loadavgAtStart: load };
    }

    if (interrupted) await new Promise(() => undefined);
    const dockerNote = docker ? undefined : 'n/a (no Docker)';
    const table = renderTable(rows, dockerNote);
    console.log(`\nDray vs Docker — ${new Date().toISOString()} — git ${git.sha}${git.dirty ? '+dirty' : ''} — ${facts.nproc} cpus, kernel ${facts.kernel}${opts.quick ? ' — QUICK' : ''}`);
    const peak = Math.max(...Object.values(timings).map((t) => t.loadavgAtStart[0]), os.loadavg()[0]);
    if (peak > (facts.nproc as number) / 2) console.log(`note: the host was busy (1-minute load average up to ${peak.toFixed(1)} on ${facts.nproc} cpus): absolute times are inflated; the interleaved ratios less so`);
    if (!docker) console.log(`Docker: ${setup.docker}`);
    if (!dray) console.log(`Dray: ${setup.dray}`);
    console.log(table);
    const errs = renderErrors(rows);
    if (errs) console.log(`\nerrors and notes:\n${errs}`);

    const leaks = await cleanup();
    const file = writeResults({ opts, facts, git, setup, notes, timings, rows, leaks });
    console.log(`\nresults: ${path.relative(process.cwd(), file)}`);
    return 0;
  } finally {
    const leaks = await cleanup();
    if (leaks.length) console.log(`\nclean-up found:\n${leaks.map((l) => `  ${l}`).join('\n')}`);
  }
}

function writeResults(r: { opts: Opts; facts: unknown; git: { sha: string; dirty: boolean; dist?: string }; setup: unknown; notes: string[]; timings: unknown; rows: Row[]; leaks: string[] }): string {
  const dir = path.join(REPO, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/:/g, '').replace(/\.\d+Z$/, 'Z');
  const file = path.join(dir, `${stamp}-${r.git.sha}.json`);
  const rows = r.rows.map((row) => ({
    ...row,
    summary: Object.fromEntries(Object.entries(row.samples).map(([k, v]) => [k, summarize(v ?? [])])),
    ratio: ratio(row),
    floorRatio: floorRatio(row),
    verdicts: verdicts(row),
  }));
  writeFileSync(file, JSON.stringify({
    schema: 1, date: new Date().toISOString(), git: r.git, argv: process.argv.slice(2), quick: r.opts.quick,
    facts: r.facts, setup: r.setup, notes: r.notes, scenarios: r.timings, rows, cleanup: r.leaks, log: logLines,
  }, null, 2) + '\n');
  return file;
}

/** Removes every container and image, stops both daemons by PID, checks mounts, removes /tmp/bench-*. */
async function cleanUp(dray: Engine | undefined, docker: Engine | undefined): Promise<string[]> {
  const leaks: string[] = [];
  for (const e of [dray, docker]) {
    if (!e) continue;
    try {
      await removeAllContainers(e);
      const imgs = await e.apiOk('GET', '/images/json?all=1');
      await pool<string, void>((imgs.json ?? []).map((i: any) => i.Id as string), 2, async (id) => {
        const r = await e.api('DELETE', `/images/${id}?force=1`, undefined, 60_000);
        if (r.status !== 200 && r.status !== 404) leaks.push(`${e.side}: could not remove image ${id.slice(7, 19)}: HTTP ${r.status} ${r.body.slice(0, 150)}`);
      });
    } catch (err) { leaks.push(`${e.side}: removing containers/images: ${(err as Error).message}`); }
    try { leaks.push(...await e.stop(log)); } catch (err) { leaks.push(`${e.side}: stop: ${(err as Error).message}`); }
    log(`${e.title} stopped (pid ${e.pid}); log tail: ${tail(path.join(e.root, e.side === 'dray' ? 'drayd.log' : 'dockerd.log'), 1)}`);
  }
  // the floor: any crun container left in its private state dir
  const floorState = path.join(FLOOR_DIR, 'state');
  if (existsSync(floorState)) {
    const l = await run('crun', ['--root', floorState, 'list', '-q'], { timeoutMs: 10_000 }).catch(() => undefined);
    for (const id of (l?.stdout ?? '').split('\n').filter(Boolean)) {
      leaks.push(`crun floor container ${id} left; deleted`);
      await run('crun', ['--root', floorState, 'delete', '-f', id], { timeoutMs: 10_000 }).catch(() => undefined);
    }
  }
  const mounts = benchMounts();
  for (const m of mounts) leaks.push(`still mounted: ${m}`);
  for (const d of OUR_DIRS) {
    if (!existsSync(d)) continue;
    if (mounts.some((m) => m.split(' ')[1]?.startsWith(d))) { leaks.push(`${d} not removed: it still has mounts`); continue; }
    try { rmSync(d, { recursive: true, force: true }); } catch (err) { leaks.push(`rm ${d}: ${(err as Error).message}`); }
  }
  log(mounts.length ? `clean-up: ${mounts.length} bench- mounts remain` : 'clean-up: no bench- mounts; /tmp/bench-* removed');
  return leaks;
}

main().then((code) => process.exit(code), (e) => { console.error(e instanceof Error ? e.stack : e); process.exit(1); });
