// The warm CLI: drayd keeps a CLI process waiting (src/daemon/cli-pool.ts), a zygote that keeps a
// forked spare ready (native/warm.c); the `dray` launcher (native/launch.c) hands the spare each
// command with the caller's stdio, cwd, umask and environment.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, writeFileSync, statSync, existsSync, rmSync, appendFileSync, readFileSync, readlinkSync, realpathSync, symlinkSync } from 'node:fs';
import * as path from 'node:path';
import { once } from 'node:events';
import { TestDaemon, drayLauncher, sleep } from '../helpers/daemon';

let d: TestDaemon;
before(async () => {
  // A short idle time, so the test sees the pool sleep.
  d = new TestDaemon([], undefined, { DRAY_CLI_IDLE_MS: '4000' });
  await d.start();
  await d.bootstrapBusybox();
});
after(async () => {
  const leaks = await d.stop();
  assert.deepEqual(leaks, []);
});

/** poll(2) on x86-64, ppoll(2) on arm64: the call a waiting process blocks in. */
const POLL = process.arch === 'arm64' ? 73 : 7;
/** The spares a zygote keeps ready (native/warm.c). */
const SPARES = 3;

/** The zygote: the waiting process drayd started (its parent is drayd). */
function zygotePid(daemon: TestDaemon): number | undefined {
  return daemon.cliWorkerPids().find((p) => ppid(p) === daemon.proc?.pid && alive(p));
}

/**
 * The spares ready for the next command, once all are: the zygote's children blocked in poll()
 * while the socket is there (a spare that took a command never is again).
 */
async function readySpares(daemon: TestDaemon): Promise<number[]> {
  // Asleep after the short idle time: a dray command wakes it.
  if (zygotePid(daemon) === undefined) assert.equal(daemon.dray(['version']).code, 0);
  // Up to 30 s: the zygote and its spares get ready at nice 19, so a busy host (the rest of the
  // suite) delays them; with two CPU hogs running they were not ready after 10 s.
  for (let i = 0; i < 600; i++) {
    const z = zygotePid(daemon);
    const spares = daemon.cliWorkerPids().filter((p) => ppid(p) === z && alive(p) && inPoll(p));
    if (z !== undefined && spares.length === SPARES && existsSync(daemon.cliSocket)) return spares;
    await sleep(50);
  }
  const z = zygotePid(daemon);
  const kids = daemon.cliWorkerPids().map((p) => `${p} (parent ${ppid(p)}, ${alive(p) ? 'alive' : 'gone'}, syscall ${(() => { try { return readFileSync(`/proc/${p}/syscall`, 'utf8').split(' ')[0]; } catch { return '-'; } })()})`);
  throw new Error(`no waiting CLI process: zygote ${z}, socket ${existsSync(daemon.cliSocket) ? 'there' : 'missing'}, CLI processes: ${kids.join(', ') || 'none'}; drayd's log ends: ${daemon.log.slice(-1500)}`);
}

/** The one of `spares` that took the command just run: it has exited, the others wait on. */
async function ranIt(spares: number[]): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const gone = spares.filter((p) => !alive(p));
    if (gone.length) {
      assert.equal(gone.length, 1, 'one spare took the command');
      return gone[0];
    }
    await sleep(20);
  }
  throw new Error('no spare took the command');
}
function inPoll(pid: number): boolean {
  try { return readFileSync(`/proc/${pid}/syscall`, 'utf8').startsWith(`${POLL} `); } catch { return false; }
}
function ppid(pid: number): number | undefined {
  try { return Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]); } catch { return undefined; }
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
  const z = zygotePid(d);
  const spares = await readySpares(d);
  assert.ok(existsSync(d.cliSocket));
  for (let i = 0; i < 100 && [z!, ...spares].some(alive); i++) await sleep(100);
  assert.ok(![z!, ...spares].some(alive), 'the pool sleeps after its idle time');
  assert.ok(!existsSync(d.cliSocket));
  assert.equal(d.dray(['ps', '-q']).code, 0);
  await readySpares(d);
});

test('a spare takes the command and the zygote forks another; the zygote runs none itself', async () => {
  const before = await readySpares(d);
  const z = zygotePid(d);
  const r = d.dray(['ps', '--format', '{{.Names}}']);
  assert.equal(r.code, 0, r.stderr);
  const w = await ranIt(before);
  const after = await readySpares(d);
  const next = after.find((p) => !before.includes(p))!;
  assert.ok(next !== undefined && next !== w, 'the zygote forked a spare in its place');
  assert.equal(zygotePid(d), z, 'the same zygote');
  assert.equal(statSync(d.cliSocket).mode & 0o777, 0o600, 'only root may hand it commands');
  // The zygote stays at nice 19, in a session of its own whose scheduling group is at 19 too (with
  // autogroup scheduling a nice value ranks threads only within a session); a ready spare is back
  // at 0, in a session and group of its own.
  const stat = (p: number) => readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ');
  const group = (p: number) => readFileSync(`/proc/${p}/autogroup`, 'utf8');
  assert.equal(Number(stat(z!)[16]), 19, 'the zygote at nice 19');
  assert.equal(Number(stat(next)[3]), next, 'a session of its own');
  assert.equal(Number(stat(next)[16]), 0, 'nice 0 once ready');
  if (existsSync(`/proc/${next}/autogroup`)) {
    assert.match(group(z!), / nice 19$/m);
    assert.match(group(next), / nice 0$/m);
    const ids = [next, z!, d.proc!.pid!].map((p) => group(p).split(' ')[0]);
    assert.equal(new Set(ids).size, 3, 'spare, zygote and drayd in groups of their own');
  }
});

test('commands at once each run in a forked process of their own, none started cold', async () => {
  await readySpares(d);
  const z = zygotePid(d)!;
  const dir = mkdtempSync('/tmp/dray-warm-cwd-');
  try {
    const runs = [0, 1, 2].map(() => spawn(drayLauncher, ['run', '--rm', 'busybox', 'sleep', '2'], { env: d.env, stdio: 'ignore', cwd: dir }));
    // Each command's process is a child of the zygote (a cold one would be the launcher's own),
    // in the caller's working directory (a spare still in the zygote's).
    const commands = () => d.cliWorkerPids().filter((p) => {
      try { return ppid(p) === z && alive(p) && readlinkSync(`/proc/${p}/cwd`) === dir; } catch { return false; }
    });
    let most = 0;
    for (let i = 0; i < 60 && most < 3; i++) {
      most = Math.max(most, commands().length);
      await sleep(50);
    }
    const codes = await Promise.all(runs.map((c) => once(c, 'exit').then(([code]) => code)));
    assert.deepEqual(codes, [0, 0, 0]);
    assert.equal(most, 3, 'three commands ran in forked processes at once');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('stdin, stdout, stderr and the exit status are the caller\'s own', async () => {
  const r = d.dray(['run', '--rm', '-i', 'busybox', 'sh', '-c', 'cat; echo err >&2; exit 5'], 'from stdin\n');
  assert.deepEqual(r, { code: 5, stdout: 'from stdin\n', stderr: 'err\n' });
  const bad = d.dray(['nosuchcommand']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /unknown command: dray nosuchcommand/);
});

// The spare's process.stderr was made before the fork, on a pipe to drayd: a terminal on the
// caller's side must still look like one (docker cp's "Successfully copied", progress bars).
test('a terminal on the caller\'s stderr is a terminal to the command', async () => {
  await readySpares(d);
  const id = d.dray(['run', '-d', '--network', 'none', 'busybox', 'sleep', '60']).stdout.trim();
  try {
    const r = spawnSync('script', ['-qc', `${drayLauncher} cp /etc/hostname ${id}:/tmp/`, '/dev/null'], { env: d.env, encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Successfully copied .* to [0-9a-f]+:\/tmp\//);
    const piped = d.dray(['cp', '/etc/hostname', `${id}:/tmp/`]);
    assert.equal(piped.stderr, '', 'told a pipe it was a terminal');
  } finally { d.dray(['rm', '-f', id]); }
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
    const spares = await readySpares(d);
    const big: Record<string, string> = {};
    for (let i = 0; i < 8; i++) big[`BIG_${i}`] = String(i).repeat(100_000);
    const e = spawnSync(drayLauncher, ['run', '--rm', '-e', 'BIG_7', 'busybox', 'sh', '-c', 'echo ${#BIG_7}'], { env: { ...d.env, ...big }, encoding: 'utf8' });
    assert.equal(e.status, 0, e.stderr);
    assert.equal(e.stdout, '100000\n');
    await ranIt(spares);
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
    // The build's Node.js is a link; the copy's shebangs still name the original dist/node.
    symlinkSync(realpathSync(path.join(path.dirname(drayLauncher), 'node')), path.join(dist, 'node'));
    const spares = await readySpares(d);
    const r = spawnSync(path.join(dist, 'dray'), ['version', '--format', '{{.Client.Version}}'], { env: d.env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '0.1.0\n');
    assert.ok(spares.every(alive), 'the spares refused the other build and wait on');

    // A daemon of the copied build: its waiting process runs the copy. Changing the copy's bundle
    // makes that process out of date; it leaves, and drayd starts one that loads the new bundle.
    await other.start();
    assert.equal(spawnSync(path.join(dist, 'dray'), ['ps'], { env: other.env }).status, 0);
    const oz = zygotePid(other);
    const ow = await readySpares(other);
    appendFileSync(path.join(dist, 'dray-main.js'), '\n// rebuilt\n');
    const again = spawnSync(path.join(dist, 'dray'), ['version', '--format', '{{.Client.Version}}'], { env: other.env, encoding: 'utf8' });
    assert.equal(again.status, 0, again.stderr);
    for (let i = 0; i < 50 && [oz!, ...ow].some(alive); i++) await sleep(20);
    assert.ok(![oz!, ...ow].some(alive), 'the out-of-date zygote left, and its spares with it');
    const fresh = await readySpares(other);
    const served = spawnSync(path.join(dist, 'dray'), ['version', '--format', '{{.Client.Version}}'], { env: other.env, encoding: 'utf8' });
    assert.equal(served.status, 0);
    await ranIt(fresh);
  } finally {
    const leaks = await other.stop();
    rmSync(dist, { recursive: true, force: true });
    assert.deepEqual(leaks, []);
  }
});

test('dray daemon start, run by a spare, starts a drayd and waits for it on its own -H, not DOCKER_HOST', async () => {
  await readySpares(d);
  const dir = mkdtempSync('/tmp/dray-warm-daemon-');
  const sock = `unix://${dir}/d.sock`;
  const bridge = `drwd${process.pid % 100000}`;
  writeFileSync(path.join(dir, 'daemon.json'), JSON.stringify({ bridge, bip: '10.251.0.1/24', 'cli-workers': 0 }));
  const pidfile = path.join(dir, 'pid');
  try {
    // d.env points DOCKER_HOST at the test's drayd, which answers at once.
    const r = spawnSync(drayLauncher, ['daemon', 'start', '-H', sock, '--data-root', path.join(dir, 'data'), '--exec-root', path.join(dir, 'run'),
      '--config-file', path.join(dir, 'daemon.json'), '--log-file', path.join(dir, 'log'), '--pidfile', pidfile], { env: d.env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    // drayd writes its pid file once it listens: there when the command says it started.
    const pid = Number(readFileSync(pidfile, 'utf8'));
    assert.equal(r.stdout, `drayd started (pid ${pid}), listening on ${sock}\n`);
    const v = spawnSync(drayLauncher, ['-H', sock, 'version', '--format', '{{.Server.Version}}'], { env: d.env, encoding: 'utf8' });
    assert.equal(v.status, 0, v.stderr);
    const stop = spawnSync(drayLauncher, ['daemon', 'stop', '--pidfile', pidfile], { env: d.env, encoding: 'utf8' });
    assert.equal(stop.status, 0, stop.stderr);
    for (let i = 0; i < 100 && alive(pid); i++) await sleep(50);
    assert.ok(!alive(pid), 'drayd stopped');
  } finally {
    // A drayd that writes its pid file only now (the failure this test is for) is ended all the same.
    for (let i = 0; i < 40 && !existsSync(pidfile); i++) await sleep(50);
    try { process.kill(Number(readFileSync(pidfile, 'utf8')), 'SIGKILL'); } catch { /* stopped */ }
    assert.notEqual(spawnSync('ip', ['link', 'show', bridge]).status, 0, 'no bridge left');
    rmSync(dir, { recursive: true, force: true });
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
  const z = zygotePid(d);
  const spares = await readySpares(d);
  await d.killDaemon();
  for (let i = 0; i < 50 && [z!, ...spares].some(alive); i++) await sleep(20);
  assert.ok(![z!, ...spares].some(alive), 'no waiting process outlives drayd');
  // The stale socket file answers nothing: dray runs the CLI itself meanwhile.
  assert.ok(existsSync(d.cliSocket));
  const r = spawnSync(drayLauncher, ['--version'], { env: d.env, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  await d.start();
  assert.ok(!existsSync(d.cliSocket), 'a restarted drayd removes the socket left behind');
  assert.equal(d.dray(['version']).code, 0);
  const again = await readySpares(d);
  assert.equal(d.dray(['ps', '-q']).code, 0);
  await ranIt(again);
});
