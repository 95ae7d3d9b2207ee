// Daemon-wide no-new-privileges (daemon.json and the flag), --cgroup-parent, --cgroupns and
// --device-cgroup-rule, each checked where it acts: inside the container and in the host's cgroups.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { TestDaemon, sleep } from '../helpers/daemon';

const d = new TestDaemon();
const tag = `drt${Math.random().toString(36).slice(2, 8)}`;
const parent = `/${tag}-parent`;

const ok = (r: { code: number; stdout: string; stderr: string }) => { assert.equal(r.code, 0, r.stderr); return r.stdout; };
const noNewPrivs = (status: string) => /^NoNewPrivs:\s*(\d)$/m.exec(status)?.[1];

/** The cgroup hierarchies' directories of the test's parent (crun leaves the parent, as runc does). */
function parentDirs(): string[] {
  const out: string[] = [];
  for (const h of readdirSync('/sys/fs/cgroup')) {
    const p = path.join('/sys/fs/cgroup', h, parent);
    if (existsSync(p)) out.push(p);
  }
  return out;
}

before(async () => {
  // daemon.json's key (the flag is the second daemon's, below).
  const cfg = path.join(d.dir, 'nnp.json');
  writeFileSync(cfg, JSON.stringify({ 'no-new-privileges': true }));
  d.extraArgs.push('--config-file', cfg);
  await d.start();
  await d.bootstrapBusybox();
});

after(async () => {
  assert.deepEqual(await d.stop(), []);
  for (let i = 0; i < 20 && parentDirs().length; i++) {
    for (const p of parentDirs()) { try { rmdirSync(p); } catch { /* a leaf still going */ } }
    if (parentDirs().length) await sleep(100);
  }
  assert.deepEqual(parentDirs(), [], 'the test parent cgroups are removed');
});

test('daemon.json no-new-privileges: every container and its execs have NoNewPrivs, --security-opt no-new-privileges=false opts out', () => {
  assert.equal(noNewPrivs(ok(d.docker(['run', '--rm', 'busybox', 'cat', '/proc/self/status']))), '1');
  assert.equal(noNewPrivs(ok(d.docker(['run', '--rm', '--security-opt', 'no-new-privileges=false', 'busybox', 'cat', '/proc/self/status']))), '0');
  const id = ok(d.docker(['run', '-d', 'busybox', 'sleep', '60'])).trim();
  assert.equal(noNewPrivs(ok(d.docker(['exec', id, 'cat', '/proc/self/status']))), '1', 'an exec has its container\'s no-new-privileges');
  ok(d.docker(['rm', '-f', id]));
  const off = ok(d.docker(['run', '-d', '--security-opt', 'no-new-privileges=false', 'busybox', 'sleep', '60'])).trim();
  assert.equal(noNewPrivs(ok(d.docker(['exec', off, 'cat', '/proc/self/status']))), '0');
  ok(d.docker(['rm', '-f', off]));
});

test('the --no-new-privileges flag does the same', async () => {
  const d2 = new TestDaemon(['--no-new-privileges']);
  try {
    await d2.start();
    await d2.bootstrapBusybox();
    assert.equal(noNewPrivs(ok(d2.docker(['run', '--rm', 'busybox', 'cat', '/proc/self/status']))), '1');
  } finally {
    assert.deepEqual(await d2.stop(), []);
  }
});

test('--cgroup-parent puts the container\'s cgroup under it: /proc/self/cgroup, limits, stats and top follow', () => {
  // In the host's cgroup namespace the container sees its full path.
  const inside = ok(d.docker(['run', '--rm', '--cgroupns', 'host', '--cgroup-parent', parent, 'busybox', 'cat', '/proc/self/cgroup']));
  assert.match(inside, new RegExp(`^\\d+:memory:${parent}/[0-9a-f]{64}$`, 'm'));
  assert.match(inside, new RegExp(`^\\d+:pids:${parent}/[0-9a-f]{64}$`, 'm'));
  // In its own (the default), the root; the host sees where it is.
  const own = ok(d.docker(['run', '--rm', '--cgroup-parent', parent, 'busybox', 'cat', '/proc/self/cgroup']));
  assert.match(own, /^\d+:memory:\/$/m);

  const id = ok(d.docker(['run', '-d', '--cgroup-parent', parent, '-m', '64m', 'busybox', 'sleep', '60'])).trim();
  const pid = Number(ok(d.docker(['inspect', '-f', '{{.State.Pid}}', id])).trim());
  assert.match(readFileSync(`/proc/${pid}/cgroup`, 'utf8'), new RegExp(`^\\d+:memory:${parent}/${id}$`, 'm'));
  assert.equal(readFileSync(`/sys/fs/cgroup/memory${parent}/${id}/memory.limit_in_bytes`, 'utf8').trim(), String(64 * 1024 * 1024));
  assert.equal(ok(d.docker(['inspect', '-f', '{{.HostConfig.CgroupParent}}', id])).trim(), parent);
  assert.match(ok(d.docker(['top', id])), /sleep 60/);
  assert.match(ok(d.docker(['stats', '--no-stream', '--format', '{{.MemUsage}}', id])), /\/ 64MiB/);
  ok(d.docker(['rm', '-f', id]));
  assert.ok(!existsSync(`/sys/fs/cgroup/memory${parent}/${id}`), 'the container\'s own cgroup goes with it');

  // A relative parent is taken from the hierarchies' root.
  const rel = ok(d.docker(['run', '--rm', '--cgroupns', 'host', '--cgroup-parent', parent.slice(1), 'busybox', 'cat', '/proc/self/cgroup']));
  assert.match(rel, new RegExp(`^\\d+:memory:${parent}/[0-9a-f]{64}$`, 'm'));
});

test('--device-cgroup-rule allows a device the default rules deny, with Docker\'s errors for bad rules', async () => {
  // Major 42 has no driver here: the device cgroup says EPERM, an allowed open finds no device (ENXIO).
  const denied = d.docker(['run', '--rm', 'busybox', 'sh', '-c', 'mknod /tmp/dev42 c 42 0 && cat /tmp/dev42']);
  assert.notEqual(denied.code, 0);
  assert.match(denied.stderr, /cat: can't open '\/tmp\/dev42': Operation not permitted/);
  const allowed = d.docker(['run', '--rm', '--device-cgroup-rule', 'c 42:* rwm', 'busybox', 'sh', '-c', 'mknod /tmp/dev42 c 42 0 && cat /tmp/dev42']);
  assert.match(allowed.stderr, /cat: can't open '\/tmp\/dev42': No such device or address/);
  // Only what the rule says: read, not write.
  const readOnly = d.docker(['run', '--rm', '--device-cgroup-rule', 'c 42:0 r', 'busybox', 'sh', '-c', 'mknod /tmp/dev42 c 42 0; cat /tmp/dev42; echo x > /tmp/dev42']);
  assert.match(readOnly.stderr, /cat: can't open '\/tmp\/dev42': No such device or address/);
  assert.match(readOnly.stderr, /can't create \/tmp\/dev42: Operation not permitted/);
  const id = ok(d.docker(['create', '--device-cgroup-rule', 'c 42:0 r', 'busybox', 'true'])).trim();
  assert.equal(ok(d.docker(['inspect', '-f', '{{json .HostConfig.DeviceCgroupRules}}', id])).trim(), '["c 42:0 r"]');
  ok(d.docker(['rm', id]));

  for (const [rule, msg] of [
    ['c 1:3 rwmx', "invalid device cgroup rule format: 'c 1:3 rwmx'"],
    ['x 1:3 rwm', "invalid device cgroup rule format: 'x 1:3 rwm'"],
    ['c 1 rwm', "invalid device cgroup rule format: 'c 1 rwm'"],
    ['c 99999999999999999999:3 r', "invalid major value in device cgroup rule format: 'c 99999999999999999999:3 r'"],
  ]) {
    const r = await d.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: { DeviceCgroupRules: [rule] } });
    assert.equal(r.status, 400, rule);
    assert.equal(r.json.message, msg);
  }
  const ns = await d.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: { CgroupnsMode: 'shared' } });
  assert.equal(ns.status, 400);
  assert.equal(ns.json.message, 'invalid cgroup namespace mode: shared');
  const list = await d.api('GET', '/containers/json?all=1');
  assert.equal(list.json.length, 0, 'a refused create made no container');
});
