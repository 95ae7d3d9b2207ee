// The real docker CLI (/usr/local/bin/docker) against drayd: outputs and exit codes as with Docker.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { TestDaemon } from '../helpers/daemon';

const d = new TestDaemon();

before(async () => {
  await d.start();
  await d.bootstrapBusybox();
});

after(async () => {
  const leaks = await d.stop();
  assert.deepEqual(leaks, []);
});

test('version and info show the daemon', () => {
  const v = d.docker(['version', '--format', '{{.Server.Version}} {{.Server.APIVersion}}']);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout.trim(), /^\S+-dray 1\.\d+$/);
  const i = d.docker(['info', '--format', '{{.Driver}} {{.DockerRootDir}}']);
  assert.equal(i.code, 0, i.stderr);
  assert.equal(i.stdout.trim(), `overlay2 ${d.dataRoot}`);
});

test('run returns the container exit code and output', () => {
  const a = d.docker(['run', '--rm', 'busybox', 'echo', 'hello']);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(a.stdout, 'hello\n');
  const b = d.docker(['run', '--rm', 'busybox', 'sh', '-c', 'echo oops >&2; exit 3']);
  assert.equal(b.code, 3);
  assert.equal(b.stderr, 'oops\n');
  assert.equal(d.docker(['ps', '-aq']).stdout, '', '--rm removed it');
  // stdin that ends at once still reaches the container (the client closes it before start).
  const c = d.docker(['run', '-i', '--rm', 'busybox', 'cat'], '');
  assert.equal(c.code, 0);
  const e = d.docker(['run', '-i', '--rm', 'busybox', 'sh', '-c', 'cat; echo end'], 'piped\n');
  assert.equal(e.stdout, 'piped\nend\n');
});

test('run of a missing command exits 127, of a missing image 125', () => {
  const a = d.docker(['run', '--rm', 'busybox', 'nosuchcommand']);
  assert.equal(a.code, 127);
  assert.match(a.stderr, /executable file not found in \$PATH/);
  const b = d.docker(['run', '--rm', 'nosuchimage']);
  assert.equal(b.code, 125);
  assert.match(b.stderr, /Unable to find image 'nosuchimage:latest' locally/);
  const c = d.docker(['run', '--rm', 'Bad:Ref']);
  assert.equal(c.code, 125);
  assert.match(c.stderr, /invalid reference format/);
});

test('the detached lifecycle: ps, exec, logs, inspect, stop, rm', () => {
  const r = d.docker(['run', '-d', '--name', 'web', '-e', 'GREETING=hi', 'busybox', 'sh', '-c', 'echo started; exec sleep 600']);
  assert.equal(r.code, 0, r.stderr);
  const id = r.stdout.trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  const ps = d.docker(['ps', '--format', '{{.Names}} {{.Image}} {{.Command}}']);
  assert.equal(ps.stdout.trim(), 'web busybox "sh -c \'echo started…"');
  const ex = d.docker(['exec', 'web', 'sh', '-c', 'echo $GREETING; exit 4']);
  assert.equal(ex.stdout, 'hi\n');
  assert.equal(ex.code, 4);
  assert.equal(d.docker(['exec', 'web', 'nosuch']).code, 127);
  assert.equal(d.docker(['exec', '-u', 'nobody9', 'web', 'true']).code, 126, 'an unknown user cannot run it');
  assert.equal(d.docker(['logs', 'web']).stdout, 'started\n');
  assert.equal(d.docker(['inspect', '-f', '{{.State.Running}} {{.Name}}', 'web']).stdout.trim(), 'true /web');
  const rm = d.docker(['rm', 'web']);
  assert.equal(rm.code, 1);
  assert.match(rm.stderr, /You cannot remove a running container/);
  const stop = d.docker(['stop', '-t', '1', 'web']);
  assert.equal(stop.code, 0, stop.stderr);
  assert.equal(stop.stdout.trim(), 'web');
  assert.equal(d.docker(['inspect', '-f', '{{.State.ExitCode}}', 'web']).stdout.trim(), '137', 'sleep as PID 1 ignores SIGTERM');
  assert.equal(d.docker(['rm', 'web']).code, 0);
  const gone = d.docker(['inspect', 'web']);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /No such object: web|No such container: web/);
});

test('-it gives a real terminal', () => {
  // script(1) supplies the terminal the docker CLI needs for -t.
  const r = spawnSync('script', ['-qec', 'stty cols 100 rows 30; docker run -it --rm busybox sh -c "tty; stty size"', '/dev/null'], { env: d.env, encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /\/dev\/pts\/\d+/);
  assert.match(r.stdout, /^30 100\r?$/m, 'the terminal starts at the client\'s size');
  assert.equal(d.docker(['run', '-d', '--name', 'tt', 'busybox', 'sleep', '60']).code, 0);
  const e = spawnSync('script', ['-qec', 'stty cols 90 rows 20; docker exec -it tt stty size', '/dev/null'], { env: d.env, encoding: 'utf8', timeout: 30_000 });
  assert.match(e.stdout, /^(\^@)*20 90\r?$/m);
  assert.equal(d.docker(['rm', '-f', 'tt']).code, 0);
});

test('cp in both directions', () => {
  const dir = mkdtempSync('/tmp/dray-cp-');
  try {
    assert.equal(d.docker(['create', '--name', 'cpt', 'busybox', 'true']).code, 0);
    writeFileSync(path.join(dir, 'in.txt'), 'payload\n');
    const a = d.docker(['cp', path.join(dir, 'in.txt'), 'cpt:/tmp/in.txt']);
    assert.equal(a.code, 0, a.stderr);
    const b = d.docker(['cp', 'cpt:/tmp/in.txt', path.join(dir, 'out.txt')]);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(readFileSync(path.join(dir, 'out.txt'), 'utf8'), 'payload\n');
    assert.equal(d.docker(['rm', 'cpt']).code, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('images, tag, rmi and events', () => {
  const since = Math.floor(Date.now() / 1000) - 1;
  const imgs = d.docker(['images', '--format', '{{.Repository}}:{{.Tag}}']);
  assert.match(imgs.stdout, /^busybox:latest$/m);
  assert.equal(d.docker(['tag', 'busybox', 'mybox:1']).code, 0);
  const rmi = d.docker(['rmi', 'mybox:1']);
  assert.equal(rmi.code, 0, rmi.stderr);
  assert.match(rmi.stdout, /Untagged: mybox:1/);
  assert.equal(d.docker(['run', '--rm', 'busybox', 'true']).code, 0);
  const ev = d.docker(['events', '--since', String(since), '--until', String(Math.floor(Date.now() / 1000) + 1), '--filter', 'type=container', '--format', '{{.Action}}']);
  const actions = ev.stdout.trim().split('\n');
  for (const a of ['create', 'start', 'die', 'destroy']) assert.ok(actions.includes(a), `event ${a} in ${actions}`);
});

test('docker build (legacy builder) with a Dockerfile outside the context', () => {
  const dir = mkdtempSync('/tmp/dray-ctx-');
  try {
    writeFileSync(path.join(dir, 'f.txt'), 'from the context\n');
    const df = path.join(mkdtempSync('/tmp/dray-df-'), 'Dockerfile');
    writeFileSync(df, 'FROM busybox\nCOPY f.txt /f.txt\nCMD ["cat", "/f.txt"]\n');
    const b = d.docker(['build', '-q', '-f', df, '-t', 'outside:1', dir]);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stdout.trim(), /^sha256:[0-9a-f]{64}$/);
    assert.equal(d.docker(['run', '--rm', 'outside:1']).stdout, 'from the context\n');
    rmSync(path.dirname(df), { recursive: true, force: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
