// The warm CLI: drayd keeps a CLI process waiting (src/daemon/cli-pool.ts), the `dray` launcher
// (native/launch.c) hands it each command with the caller's stdio, cwd, umask and environment.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, writeFileSync, statSync, existsSync, rmSync, appendFileSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { once } from 'node:events';
import { TestDaemon, drayLauncher, sleep } from '../helpers/daemon';

let d: TestDaemon;
before(async () => {
  // Short idle and burst times, so the test sees the pool shrink and sleep.
  d = new TestDaemon([], undefined, { DRAY_CLI_IDLE_MS: '4000', DRAY_CLI_BURST_MS: '1500' });
  await d.start();
  await d.bootstrapBusybox();
});
after(async () => {
  const leaks = await d.stop();
  assert.deepEqual(leaks, []);
});

/** poll(2) on x86-64, ppoll(2) on arm64: the call a waiting process blocks in. */
const POLL = process.arch === 'arm64' ? 73 : 7;
/** Processes of ours already handed a command (they may take a moment to exit). */
const taken = new Set<number>();

/**
 * The waiting process, once drayd has (re)started it, it blocks in poll() and the socket is there;
 * the only one, so the next command is sure to go to it (a burst's second has left).
 */
async function waitingPid(daemon: TestDaemon): Promise<number> {
  // Asleep after the short idle time: a dray command wakes it.
  if (!daemon.cliWorkerPids().some((p) => !taken.has(p) && alive(p))) assert.equal(daemon.dray(['version']).code, 0);
  for (let i = 0; i < 200; i++) {
    const pids = daemon.cliWorkerPids().filter((p) => !taken.has(p) && alive(p));
    if (pids.length === 1) {
      try { if (readFileSync(`/proc/${pids[0]}/syscall`, 'utf8').startsWith(`${POLL} `) && existsSync(daemon.cliSocket)) return pids[0]; } catch { /* gone */ }
    }
    await sleep(50);
  }
  throw new Error('no waiting CLI process');
}
function alive(pid: number): boolean {
  try { return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8')); } catch { return false; }
}

test('drayd keeps no CLI process until the dray CLI is used, and none after it is left unused', async () => {
  assert.deepEqual(d.cliWorkerPids(), []);
  assert.ok(!existsSync(d.cliSocket));
  // The docker CLI does not wake it: only dray's commands gain from it.
  assert.equal(d.docker(['ps', '-q']).code, 0);
  await sleep(300);
  assert.deepEqual(d.cliWorkerPids(), []);
  // This one runs cold and wakes the pool.
  assert.equal(d.dray(['ps', '-q']).code, 0);
  const w = await waitingPid(d);
  assert.ok(existsSync(d.cliSocket));
  for (let i = 0; i < 100 && alive(w); i++) await sleep(100);
  assert.ok(!alive(w), 'the pool sleeps after its idle time');
  assert.ok(!existsSync(d.cliSocket));
  assert.equal(d.dray(['ps', '-q']).code, 0);
  await waitingPid(d);
});

test('a waiting process takes the command, and drayd starts the next one', async () => {
  const w = await waitingPid(d);
  taken.add(w);
  const r = d.dray(['ps', '--format', '{{.Names}}']);
  assert.equal(r.code, 0, r.stderr);
  for (let i = 0; i < 50 && alive(w); i++) await sleep(20);
  assert.ok(!alive(w), 'the waiting process ran the command and exited');
  const next = await waitingPid(d);
  assert.notEqual(next, w);
  assert.equal(statSync(d.cliSocket).mode & 0o777, 0o600, 'only root may hand it commands');
  // It started at nice 19 in a session of its own, so that with autogroup scheduling its
  // scheduling group was at 19 too; ready, both are back at 0.
  const stat = readFileSync(`/proc/${next}/stat`, 'utf8').split(') ')[1].split(' ');
  assert.equal(Number(stat[3]), next, 'a session of its own');
  assert.equal(Number(stat[16]), 0, 'nice 0 once ready');
  if (existsSync(`/proc/${next}/autogroup`)) {
    const group = readFileSync(`/proc/${next}/autogroup`, 'utf8');
    assert.match(group, / nice 0$/m);
    assert.notEqual(group.split(' ')[0], readFileSync(`/proc/${d.proc!.pid}/autogroup`, 'utf8').split(' ')[0]);
  }
});

test('a dray that found no process ready, or two commands in a row, make drayd keep a second one until commands pause', async () => {
  const waitingNow = () => d.cliWorkerPids().filter((p) => !taken.has(p) && alive(p));
  const w = await waitingPid(d);
  taken.add(w);
  assert.equal(d.dray(['ps', '-q']).code, 0);
  await waitingPid(d);
  for (let i = 0; i < 100 && waitingNow().length > 1; i++) await sleep(50);
  assert.equal(waitingNow().length, 1);
  // As a dray that found none ready: started cold, its request says it did not come from a waiting one.
  const cold = spawnSync(drayLauncher, ['ps', '-q'], { env: { ...d.env, DRAY_CLI_SOCKET: '' }, encoding: 'utf8' });
  assert.equal(cold.status, 0, cold.stderr);
  for (let i = 0; i < 100 && waitingNow().length < 2; i++) await sleep(50);
  assert.equal(waitingNow().length, 2, 'a second process waits during the burst');
  for (let i = 0; i < 100 && waitingNow().length > 1; i++) await sleep(50);
  assert.equal(waitingNow().length, 1, 'back to one after the burst');

  // Two commands taken within a second of each other, both by waiting processes, start one too.
  const a = await waitingPid(d);
  taken.add(a);
  const t0 = Date.now();
  assert.equal(d.dray(['ps', '-q']).code, 0);
  const b = await waitingPid(d);
  taken.add(b);
  assert.equal(d.dray(['ps', '-q']).code, 0);
  assert.ok(Date.now() - t0 < 1000, 'the second command came within a second');
  for (let i = 0; i < 50 && alive(b); i++) await sleep(20);
  assert.ok(!alive(b), 'the second command was taken by a waiting process');
  for (let i = 0; i < 100 && waitingNow().length < 2; i++) await sleep(50);
  assert.equal(waitingNow().length, 2);
  for (let i = 0; i < 100 && waitingNow().length > 1; i++) await sleep(50);
});

test('stdin, stdout, stderr and the exit status are the caller\'s own', async () => {
  const r = d.dray(['run', '--rm', '-i', 'busybox', 'sh', '-c', 'cat; echo err >&2; exit 5'], 'from stdin\n');
  assert.deepEqual(r, { code: 5, stdout: 'from stdin\n', stderr: 'err\n' });
  const bad = d.dray(['nosuchcommand']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /unknown command: dray nosuchcommand/);
});

test('the working directory, environment and umask are the caller\'s', async () => {
  const dir = mkdtempSync('/tmp/dray-warm-');
  try {
    writeFileSync(path.join(dir, 'env.list'), 'FROM_FILE=relative\n');
    const r = spawnSync('sh', ['-c', `umask 077 && exec ${drayLauncher} run --rm --env-file env.list -e FROM_ENV busybox sh -c 'echo $FROM_FILE $FROM_ENV'`],
      { cwd: dir, env: { ...d.env, FROM_ENV: 'caller' }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'relative caller\n');
    const s = spawnSync('sh', ['-c', `umask 077 && exec ${drayLauncher} image save -o out.tar busybox`], { cwd: dir, env: d.env, encoding: 'utf8' });
    assert.equal(s.status, 0, s.stderr);
    assert.equal(statSync(path.join(dir, 'out.tar')).mode & 0o777, 0o600);
    // An environment larger than a socket buffer still arrives whole, in the waiting process.
    const w = await waitingPid(d);
    taken.add(w);
    const big: Record<string, string> = {};
    for (let i = 0; i < 8; i++) big[`BIG_${i}`] = String(i).repeat(100_000);
    const e = spawnSync(drayLauncher, ['run', '--rm', '-e', 'BIG_7', 'busybox', 'sh', '-c', 'echo ${#BIG_7}'], { env: { ...d.env, ...big }, encoding: 'utf8' });
    assert.equal(e.status, 0, e.stderr);
    assert.equal(e.stdout, '100000\n');
    for (let i = 0; i < 50 && alive(w); i++) await sleep(20);
    assert.ok(!alive(w), 'the waiting process ran it');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('signals to dray reach the command; one that ends it ends dray the same way', async () => {
  const c = spawn(drayLauncher, ['run', '--rm', 'busybox', 'sh', '-c', 'trap "echo got TERM; exit 3" TERM; echo ready; sleep 30 & wait'], { env: d.env });
  let out = '';
  c.stdout.on('data', (b) => { out += b; });
  for (let i = 0; i < 100 && !out.includes('ready'); i++) await sleep(50);
  assert.equal(out, 'ready\n');
  c.kill('SIGTERM');
  const [code] = await once(c, 'exit');
  assert.equal(code, 3);
  assert.equal(out, 'ready\ngot TERM\n');

  const id = d.dray(['run', '-d', 'busybox', 'sh', '-c', 'echo line; sleep 30']).stdout.trim();
  const f = spawn(drayLauncher, ['logs', '-f', id], { env: d.env });
  let logs = '';
  f.stdout.on('data', (b) => { logs += b; });
  for (let i = 0; i < 100 && !logs.includes('line'); i++) await sleep(50);
  f.kill('SIGINT');
  const [fcode, fsig] = await once(f, 'exit');
  assert.deepEqual([fcode, fsig], [null, 'SIGINT']);
  assert.equal(d.dray(['rm', '-f', id]).code, 0);
});

test('another build of dray is turned away and runs the CLI itself; a rebuilt one replaces the waiting process', async () => {
  // A copy of dist/ is another build: its own bundle file.
  const dist = mkdtempSync('/tmp/dray-warm-dist-');
  const other = new TestDaemon([], path.join(dist, 'drayd.js'));
  try {
    for (const f of ['dray', 'dray.js', 'dray-main.js', 'drayd.js', 'dray_sys.node']) copyFileSync(path.join(path.dirname(drayLauncher), f), path.join(dist, f));
    const w = await waitingPid(d);
    const r = spawnSync(path.join(dist, 'dray'), ['version', '--format', '{{.Client.Version}}'], { env: d.env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '0.1.0\n');
    assert.ok(alive(w), 'the waiting process refused the other build and waits on');

    // A daemon of the copied build: its waiting process runs the copy. Changing the copy's bundle
    // makes that process out of date; it leaves, and drayd starts one that loads the new bundle.
    await other.start();
    assert.equal(spawnSync(path.join(dist, 'dray'), ['ps'], { env: other.env }).status, 0);
    const ow = await waitingPid(other);
    appendFileSync(path.join(dist, 'dray-main.js'), '\n// rebuilt\n');
    const again = spawnSync(path.join(dist, 'dray'), ['version', '--format', '{{.Client.Version}}'], { env: other.env, encoding: 'utf8' });
    assert.equal(again.status, 0, again.stderr);
    for (let i = 0; i < 50 && alive(ow); i++) await sleep(20);
    assert.ok(!alive(ow), 'the out-of-date process left');
    const fresh = await waitingPid(other);
    taken.add(fresh);
    const served = spawnSync(path.join(dist, 'dray'), ['version', '--format', '{{.Client.Version}}'], { env: other.env, encoding: 'utf8' });
    assert.equal(served.status, 0);
    for (let i = 0; i < 50 && alive(fresh); i++) await sleep(20);
    assert.ok(!alive(fresh), 'the new process serves the rebuilt launcher');
  } finally {
    const leaks = await other.stop();
    rmSync(dist, { recursive: true, force: true });
    assert.deepEqual(leaks, []);
  }
});

test('no daemon, or DRAY_CLI_SOCKET="": dray runs the CLI itself', () => {
  for (const sock of ['/tmp/dray-no-such-dir/cli.sock', '']) {
    const r = spawnSync(drayLauncher, ['--version'], { env: { ...d.env, DRAY_CLI_SOCKET: sock }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^Dray version /);
  }
});

test('the waiting process dies with drayd, even killed; a restarted drayd listens again', async () => {
  const w = await waitingPid(d);
  await d.killDaemon();
  for (let i = 0; i < 50 && alive(w); i++) await sleep(20);
  assert.ok(!alive(w), 'no waiting process outlives drayd');
  // The stale socket file answers nothing: dray runs the CLI itself meanwhile.
  assert.ok(existsSync(d.cliSocket));
  const r = spawnSync(drayLauncher, ['--version'], { env: d.env, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  await d.start();
  assert.ok(!existsSync(d.cliSocket), 'a restarted drayd removes the socket left behind');
  assert.equal(d.dray(['version']).code, 0);
  const w2 = await waitingPid(d);
  taken.add(w2);
  assert.equal(d.dray(['ps', '-q']).code, 0);
  for (let i = 0; i < 50 && alive(w2); i++) await sleep(20);
  assert.ok(!alive(w2));
});
