// Crash safety, proven: drayd is killed with SIGKILL at a random moment during a random operation
// (pull and push included, against Debian's docker-registry on 127.0.0.1), restarted, and the
// whole host is checked after every round. Bounded and seeded, so a failure
// can be replayed: DRAY_FAULT_SEED=<seed> DRAY_FAULT_ROUNDS=<n> (the default run is 30 rounds, ~30 s;
// `npm run test:faults` runs 60).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { TestDaemon, sleep, drayLauncher } from '../helpers/daemon';
import { Registry } from '../helpers/registry-client';

const SEED = Number(process.env.DRAY_FAULT_SEED ?? 20261206);
const ROUNDS = Number(process.env.DRAY_FAULT_ROUNDS ?? 30);

/** mulberry32: a small seeded generator, so a round's choices replay. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = rng(SEED);
const pick = <T,>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];

const d = new TestDaemon();
const work = mkdtempSync('/tmp/dray-faults-');
const reg = new Registry(path.join(work, 'registry'));
/** An image with a 24 MB layer in the registry, for pulls a kill can land inside of. */
let bigRef = '';
let bigId = '';
const BIG_BYTES = 24_000_000;
let keeper = '';
let keeperPid = 0;
let keeperPort = 0;
let n = 0;

/** The dray CLI, synchronously: for set-up and checks, while drayd is up. */
function cli(args: string[]) {
  return d.dray(args);
}

/** The dray CLI without blocking this process, so drayd can be killed while it runs. */
function cliAsync(args: string[]): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    const c = spawn(drayLauncher, args, { env: d.env, stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    c.stdout.on('data', (b) => { out += b; });
    const t = setTimeout(() => c.kill('SIGKILL'), 60_000);
    c.on('close', (code) => { clearTimeout(t); resolve({ code, stdout: out }); });
  });
}

before(async () => {
  await d.start();
  await d.bootstrapBusybox();
  writeFileSync(path.join(work, 'Dockerfile'), 'FROM busybox\nRUN echo one > /one\nRUN sleep 0.3; echo two > /two\nCOPY f /f\n');
  writeFileSync(path.join(work, 'f'), 'x'.repeat(200_000));
  assert.equal(cli(['save', 'busybox', '-o', path.join(work, 'busybox.tar')]).code, 0);
  await reg.start();
  const bigDir = path.join(work, 'big');
  spawnSync('mkdir', ['-p', bigDir]);
  writeFileSync(path.join(bigDir, 'Dockerfile'), 'FROM busybox\nCOPY big /big\n');
  writeFileSync(path.join(bigDir, 'big'), randomBytes(BIG_BYTES));
  bigRef = `${reg.host}/fault/big:1`;
  const b = cli(['build', '-q', '-t', bigRef, bigDir]);
  assert.equal(b.code, 0, b.stderr);
  bigId = b.stdout.trim();
  const p = cli(['push', bigRef]);
  assert.equal(p.code, 0, p.stderr);
  // A container that must live through every kill: a published port, a named volume, a log that grows.
  const r = cli(['run', '-d', '--name', 'keeper', '-p', '127.0.0.1::80', '-v', 'keepvol:/data', 'busybox', 'sh', '-c',
    'echo hello > /www/index.html 2>/dev/null || (mkdir -p /www && echo hello > /www/index.html); httpd -p 80 -h /www; while true; do date >> /data/ticks; echo tick; sleep 0.2; done']);
  assert.equal(r.code, 0, r.stderr);
  keeper = r.stdout.trim();
  const ins = (await d.api('GET', `/containers/${keeper}/json`)).json;
  keeperPid = ins.State.Pid;
  keeperPort = Number(ins.NetworkSettings.Ports['80/tcp'][0].HostPort);
});

after(async () => {
  // User networks have bridges of their own, which TestDaemon.stop() does not look for.
  if (d.proc && d.proc.exitCode === null) {
    for (const c of (await d.api('GET', '/containers/json?all=1')).json ?? []) await d.api('DELETE', `/containers/${c.Id}?force=1`);
    for (const nw of (await d.api('GET', '/networks')).json ?? []) if (!['bridge', 'host', 'none'].includes(nw.Name)) await d.api('DELETE', `/networks/${nw.Id}`);
  }
  const leaks = await d.stop();
  await reg.stop();
  rmSync(work, { recursive: true, force: true });
  assert.deepEqual(leaks, [], 'nothing may be left behind');
});

/** One operation, started and left running: the kill lands somewhere inside it. */
type Op = { name: string; run: () => Promise<unknown>; check?: () => Promise<void> };

function ops(): Op[] {
  const i = ++n;
  const name = `f${i}`;
  const c = cliAsync;
  return [
    { name: 'create', run: () => c(['create', '--name', name, 'busybox', 'true']) },
    { name: 'run -d with port and volume', run: () => c(['run', '-d', '--name', name, '-p', '127.0.0.1::80', '-v', `vol${i}:/v`, 'busybox', 'sleep', '600']) },
    { name: 'run --rm', run: () => c(['run', '--rm', 'busybox', 'sh', '-c', 'echo hi; sleep 0.2']) },
    { name: 'start/stop', run: async () => { await c(['create', '--name', name, 'busybox', 'sleep', '600']); await c(['start', name]); return c(['stop', '-t', '0', name]); } },
    {
      name: 'rm -f', run: async () => { await c(['run', '-d', '--name', name, 'busybox', 'sleep', '600']); return c(['rm', '-f', name]); },
      check: async () => {
        // All there or all gone.
        const r = await d.api('GET', `/containers/${name}/json`);
        assert.ok(r.status === 200 || r.status === 404, `rm -f left ${name} answering ${r.status}`);
      },
    },
    {
      name: 'build', run: () => c(['build', '-q', '-t', `built:${i}`, work]),
      check: async () => {
        // A tag exists only on a complete image: one that runs.
        const r = await d.api('GET', `/images/built:${i}/json`);
        if (r.status === 404) return;
        assert.equal(r.status, 200);
        const run = cli(['run', '--rm', `built:${i}`, 'cat', '/one', '/two']);
        assert.equal(run.stdout, 'one\ntwo\n', `built:${i} is tagged but incomplete: ${run.stderr}`);
      },
    },
    { name: 'commit', run: () => c(['commit', 'keeper', `committed:${i}`]) },
    { name: 'tag/rmi', run: async () => { await c(['tag', 'busybox', `tagged:${i}`]); return c(['rmi', `tagged:${i}`]); } },
    { name: 'load', run: () => c(['load', '-i', path.join(work, 'busybox.tar')]) },
    { name: 'save', run: () => c(['save', 'busybox', '-o', path.join(work, `s${i}.tar`)]) },
    { name: 'volume create/rm', run: async () => { await c(['volume', 'create', `v${i}`]); return c(['volume', 'rm', `v${i}`]); } },
    {
      name: 'network create/connect/disconnect/rm', run: async () => {
        await c(['network', 'create', `n${i}`]);
        await c(['network', 'connect', `n${i}`, 'keeper']);
        await c(['network', 'disconnect', `n${i}`, 'keeper']);
        return c(['network', 'rm', `n${i}`]);
      },
    },
    { name: 'prune', run: () => c(['container', 'prune', '-f']) },
    { name: 'exec', run: () => c(['exec', 'keeper', 'sh', '-c', 'echo exec >> /data/exec; sleep 0.2']) },
    {
      name: 'pull', run: async () => { await c(['rmi', '-f', bigRef]); return c(['pull', bigRef]); },
      check: async () => {
        // No half image: the tag names the whole image, or is absent; and the next pull completes it.
        const r = await d.api('GET', `/images/${encodeURIComponent(bigRef)}/json`);
        if (r.status === 200) assert.equal(r.json.Id, bigId, 'a pulled tag names another image');
        else assert.equal(r.status, 404);
        const again = cli(['pull', bigRef]);
        assert.equal(again.code, 0, `the pull after the restart failed: ${again.stderr}`);
        const run = cli(['run', '--rm', bigRef, 'sh', '-c', 'wc -c < /big']);
        assert.equal(run.stdout.trim(), String(BIG_BYTES), `the pulled image is not whole: ${run.stderr}`);
      },
    },
    {
      name: 'push', run: async () => { await c(['commit', 'keeper', `${reg.host}/fault/p${i}:1`]); return c(['push', `${reg.host}/fault/p${i}:1`]); },
      check: async () => {
        // Whatever the registry was left with, pushing again completes it, and it pulls back whole.
        const ref = `${reg.host}/fault/p${i}:1`;
        if ((await d.api('GET', `/images/${encodeURIComponent(ref)}/json`)).status !== 200) return;
        const again = cli(['push', ref]);
        assert.equal(again.code, 0, `the push after the restart failed: ${again.stderr}`);
        const man = await fetch(`http://${reg.host}/v2/fault/p${i}/manifests/1`, { headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
        assert.equal(man.status, 200);
        for (const l of ((await man.json()) as any).layers) {
          const h = await fetch(`http://${reg.host}/v2/fault/p${i}/blobs/${l.digest}`, { method: 'HEAD' });
          assert.equal(h.status, 200, `the registry lacks layer ${l.digest} of a pushed manifest`);
        }
      },
    },
  ];
}

/** drayd's files of state (*.json) and temporary files (*.tmp) under `dir`; content (layers, container file systems, volumes) is not looked into. */
function stateFilesUnder(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (['diff', 'fs', '_data', 'tmp', 'trash', 'ingest'].includes(e.name)) continue;
      stateFilesUnder(p, out);
    } else if (e.name.endsWith('.tmp') || (e.name.endsWith('.json') && !p.includes('/blobs/'))) out.push(p);
  }
  return out;
}

/** Everything a user and the host would notice after a crash and restart. */
async function checkHost(round: string): Promise<void> {
  assert.equal((await d.api('GET', '/_ping')).status, 200, `${round}: drayd does not answer`);
  const cs = (await d.api('GET', '/containers/json?all=1')).json as any[];
  const firstLook = new Map<string, any>();
  for (const c of cs) {
    const r = await d.api('GET', `/containers/${c.Id}/json`);
    assert.equal(r.status, 200, `${round}: container ${c.Id} is listed but does not inspect`);
    firstLook.set(c.Id, r.json);
  }
  /** A container inspected again; one that went since is fine only if it was a --rm one (its exit after the restart removes it). */
  const inspectAgain = async (id: string) => {
    const r = await d.api('GET', `/containers/${id}/json`);
    if (r.status === 404) { assert.equal(firstLook.get(id)?.HostConfig?.AutoRemove, true, `${round}: container ${id} went away during the checks`); return undefined; }
    return r.json;
  };
  for (const i of (await d.api('GET', '/images/json')).json as any[]) assert.equal((await d.api('GET', `/images/${i.Id}/json`)).status, 200, `${round}: image ${i.Id} does not inspect`);
  for (const v of (await d.api('GET', '/volumes')).json.Volumes ?? []) assert.equal((await d.api('GET', `/volumes/${v.Name}`)).status, 200, `${round}: volume ${v.Name} does not inspect`);
  const nets = (await d.api('GET', '/networks')).json as any[];
  for (const nw of nets) assert.equal((await d.api('GET', `/networks/${nw.Id}`)).status, 200, `${round}: network ${nw.Name} does not inspect`);

  // The keeper lives on, the same process, its log still growing, its port still answering.
  const k = (await d.api('GET', `/containers/${keeper}/json`)).json;
  assert.equal(k.State.Running, true, `${round}: the keeper stopped`);
  assert.equal(k.State.Pid, keeperPid, `${round}: the keeper has another pid`);
  const ticks = () => (cli(['logs', keeper]).stdout.match(/tick/g) ?? []).length;
  const t1 = ticks();
  await sleep(500);
  assert.ok(ticks() > t1, `${round}: the keeper's log stopped growing`);
  const curl = spawnSync('curl', ['-s', '--max-time', '5', `http://127.0.0.1:${keeperPort}/index.html`], { encoding: 'utf8' });
  assert.equal(curl.stdout, 'hello\n', `${round}: the keeper's published port does not answer`);

  // Running containers and what the host holds for them agree.
  const running = cs.filter((c) => c.State === 'running').map((c) => c.Id as string);
  const ids = new Set(cs.map((c) => c.Id as string));
  for (const m of d.mounts()) {
    const id = /containers\/([0-9a-f]{64})\/fs\/merged/.exec(m)?.[1];
    if (id) assert.ok(running.includes(id), `${round}: a mount of container ${id} that is not running: ${m}`);
  }
  for (const pid of d.conmonPids()) {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    const id = /-c\0([0-9a-f]{64})/.exec(cmd)?.[1];
    if (id && !/--exec/.test(cmd)) assert.ok(running.includes(id), `${round}: conmon ${pid} for ${id}, which is not running`);
  }
  for (const ns of existsSync('/run/netns') ? readdirSync('/run/netns') : []) {
    if (!ns.startsWith('dray-')) continue;
    const owner = running.find((id) => ns === `dray-${id.slice(0, 12)}`);
    const ours = [...ids].some((id) => ns === `dray-${id.slice(0, 12)}`);
    if (ours) assert.ok(owner, `${round}: netns ${ns} of a container that is not running`);
  }
  // Networks and containers agree on who is attached where.
  for (const nw of nets) {
    const full = (await d.api('GET', `/networks/${nw.Id}`)).json;
    for (const cid of Object.keys(full.Containers ?? {})) {
      const c = await inspectAgain(cid);
      if (!c) continue;
      assert.ok(c?.NetworkSettings?.Networks?.[full.Name], `${round}: network ${full.Name} lists ${cid.slice(0, 12)}, which does not show it`);
    }
  }
  for (const c of cs) {
    const full = await inspectAgain(c.Id);
    if (!full?.State.Running) continue;
    for (const name of Object.keys(full.NetworkSettings.Networks ?? {})) {
      if (['host', 'none'].includes(name)) continue;
      const nw = (await d.api('GET', `/networks/${name}`)).json;
      assert.ok(nw?.Containers?.[c.Id], `${round}: ${c.Id.slice(0, 12)} shows network ${name}, which does not list it`);
    }
  }
  // Every file of state parses, and no temporary file outlives a restart.
  for (const f of stateFilesUnder(d.dataRoot)) {
    assert.ok(!f.endsWith('.tmp'), `${round}: a temporary file survived the restart: ${f}`);
    assert.doesNotThrow(() => JSON.parse(readFileSync(f, 'utf8')), `${round}: ${f} does not parse`);
  }
  // No layer directory outlives every image that uses it.
  const layersDir = path.join(d.dataRoot, 'image', 'layers');
  const used = new Set<string>();
  for (const i of (await d.api('GET', '/images/json?all=1')).json as any[]) {
    for (const l of (await d.api('GET', `/images/${i.Id}/json`)).json.RootFS.Layers ?? []) used.add(String(l).slice(7));
  }
  for (const l of readdirSync(layersDir)) {
    if (/^[0-9a-f]{64}$/.test(l) && statSync(path.join(layersDir, l)).isDirectory()) assert.ok(used.has(l), `${round}: layer ${l.slice(0, 12)} is used by no image`);
  }
  // An interrupted commit does not leave its container paused.
  assert.equal(k.State.Paused, false, `${round}: the keeper was left paused`);
}

test(`drayd killed at random moments of random operations restarts consistent (seed ${SEED}, ${ROUNDS} rounds)`, async (t) => {
  for (let r = 0; r < ROUNDS; r++) {
    const op = pick(ops());
    const delay = Math.floor(rand() * 400);
    const round = `round ${r} (seed ${SEED}): ${op.name}, killed after ${delay} ms`;
    t.diagnostic(round);
    const running = op.run().catch(() => undefined);
    await sleep(delay);
    await d.killDaemon();
    await running;
    await d.start();
    await checkHost(round);
    await op.check?.();
  }
});
