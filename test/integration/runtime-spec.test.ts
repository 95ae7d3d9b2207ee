// buildSpec against the real crun: a busybox rootfs, one bundle per container, Docker's defaults
// checked from inside. Needs root, crun and busybox-static.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, copyFileSync, symlinkSync, writeFileSync, rmSync, readdirSync, existsSync, rmdirSync } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { buildSpec, specToJson, SpecInput, findInit } from '../../src/runtime/spec';
import { prepareCgroups, cgroupPids, cgroupStats } from '../../src/runtime/cgroups';
import { resolveUser } from '../../src/runtime/user';
import { daemonRlimits } from '../../src/runtime/rlimits';
import { run } from '../../src/lib/exec';

const CRUN = '/usr/bin/crun';
const BUSYBOX = '/bin/busybox';
const skip = process.getuid?.() !== 0 || !existsSync(CRUN) || !existsSync(BUSYBOX) ? 'needs root, crun and busybox' : false;

let work: string;
let rootfs: string;

before(async () => {
  if (skip) return;
  await prepareCgroups();
  work = mkdtempSync('/tmp/dray-spec-it-');
  rootfs = path.join(work, 'rootfs');
  mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
  mkdirSync(path.join(rootfs, 'etc'));
  copyFileSync(BUSYBOX, path.join(rootfs, 'bin/busybox'));
  // Relative links: `busybox --install -s` would point them at the host's path.
  const applets = spawnSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).stdout.split('\n').filter((a) => a && a !== 'busybox');
  for (const a of applets) symlinkSync('busybox', path.join(rootfs, 'bin', a));
  writeFileSync(path.join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n');
  writeFileSync(path.join(rootfs, 'etc/group'), 'root:x:0:\nwheel:x:10:app\napp:x:1000:\n');
});

after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function cgroupLeaves(id: string): string[] {
  const out: string[] = [];
  for (const h of readdirSync('/sys/fs/cgroup')) {
    const p = path.join('/sys/fs/cgroup', h, 'dray', id);
    if (existsSync(p)) out.push(p);
  }
  return out;
}

interface Ctr { id: string; bundle: string; spec: ReturnType<typeof buildSpec> }

function prepare(o: Partial<SpecInput>, args: string[]): Ctr {
  const id = `dray-spec-it-${process.pid}-${randomBytes(4).toString('hex')}`;
  const bundle = path.join(work, id);
  mkdirSync(bundle);
  const spec = buildSpec({
    id, rootfs, args, env: [], cwd: '/', user: { uid: 0, gid: 0, additionalGids: [0] }, tty: false,
    hostname: 'spec-test', network: { mode: 'none' }, mounts: [], cgroupsPath: `/dray/${id}`, ...o,
  });
  writeFileSync(path.join(bundle, 'config.json'), specToJson(spec));
  return { id, bundle, spec };
}

async function cleanup(c: Ctr): Promise<void> {
  await run(CRUN, ['delete', '-f', c.id], { allowFailure: true, timeoutMs: 10_000 });
  rmSync(c.bundle, { recursive: true, force: true });
  const left = cgroupLeaves(c.id);
  // Remove them anyway so a failure leaves nothing on the host, then fail.
  for (const p of left) try { rmdirSync(p); } catch { /* busy: reported below */ }
  assert.deepEqual(left, [], 'crun delete left cgroup leaves behind');
}

/** `crun run` in the foreground: the container's exit code and output. */
async function runCtr(args: string[], o: Partial<SpecInput> = {}) {
  const c = prepare(o, args);
  try {
    const r = await run(CRUN, ['run', '--bundle', c.bundle, c.id], { allowFailure: true, timeoutMs: 30_000 });
    return { code: r.code, out: r.stdout.trim(), err: r.stderr.trim() };
  } finally {
    await cleanup(c);
  }
}

test('exit code propagates', { skip }, async () => {
  assert.equal((await runCtr(['sh', '-c', 'exit 3'])).code, 3);
  assert.equal((await runCtr(['true'])).code, 0);
});

test('hostname and environment', { skip }, async () => {
  const r = await runCtr(['sh', '-c', 'hostname; echo $HOSTNAME; echo $PATH']);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(r.out.split('\n'), ['spec-test', 'spec-test', '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
});

test('user from the rootfs passwd, with its groups', { skip }, async () => {
  const user = await resolveUser(rootfs, 'app');
  const r = await runCtr(['sh', '-c', 'id -u; id -g; id -G'], { user });
  assert.equal(r.code, 0, r.err);
  const [uid, gid, groups] = r.out.split('\n');
  assert.equal(uid, '1000');
  assert.equal(gid, '1000');
  assert.deepEqual(groups.split(' ').sort(), ['10', '1000']);
});

test('Docker\'s 14 default capabilities; none effective for a non-root user', { skip }, async () => {
  const r = await runCtr(['sh', '-c', 'grep CapEff /proc/self/status']);
  assert.equal(r.out, 'CapEff:\t00000000a80425fb');
  const nr = await runCtr(['sh', '-c', 'grep -E "CapEff|CapBnd" /proc/self/status'], { user: { uid: 1000, gid: 1000, additionalGids: [1000] } });
  assert.equal(nr.out, 'CapEff:\t0000000000000000\nCapBnd:\t00000000a80425fb');
});

test('masked and read-only /proc paths', { skip }, async () => {
  // /proc/kcore does not exist on every kernel; /proc/timer_list has content on the host.
  const r = await runCtr(['sh', '-c', 'cat /proc/kcore 2>/dev/null | wc -c; wc -c < /proc/timer_list']);
  assert.deepEqual(r.out.split('\n'), ['0', '0']);
  const w = await runCtr(['sh', '-c', 'echo x > /proc/sys/kernel/domainname']);
  assert.notEqual(w.code, 0);
  assert.match(w.err, /Read-only file system/);
});

test('a 32 MiB memory limit kills a 64 MiB allocation (137)', { skip }, async () => {
  // busybox tail holds its whole input when it has no newline: a 64 MiB allocation.
  const cmd = ['sh', '-c', 'head -c 67108864 /dev/zero | tail > /dev/null'];
  assert.equal((await runCtr(cmd)).code, 0, 'without a limit the allocation succeeds');
  assert.equal((await runCtr(cmd, { resources: { memory: 32 * 1024 * 1024 } })).code, 137);
});

test('rlimits: nofile within the daemon\'s limit', { skip }, async () => {
  const hard = daemonRlimits().get('nofile')!.hard;
  const r = await runCtr(['sh', '-c', 'ulimit -n']);
  assert.equal(r.code, 0, r.err);
  assert.equal(Number(r.out), Math.min(1048576, hard));
  const u = await runCtr(['sh', '-c', 'ulimit -n'], { ulimits: [{ Name: 'nofile', Soft: 512, Hard: 1024 }] });
  assert.equal(u.out, '512');
});

test('pids limit and read-only rootfs are enforced', { skip }, async () => {
  const p = await runCtr(['sh', '-c', 'cat /sys/fs/cgroup/pids/pids.max'], { resources: { pidsLimit: 7 } });
  assert.equal(p.out, '7');
  const ro = await runCtr(['sh', '-c', 'touch /x'], { readonlyRootfs: true });
  assert.notEqual(ro.code, 0);
  assert.match(ro.err, /Read-only file system/);
});

test('--init runs the program under the bind-mounted init', { skip: skip || (!findInit() && 'no init installed') }, async () => {
  const r = await runCtr(['sh', '-c', 'tr "\\0" " " < /proc/1/cmdline; echo; exit 5'], { init: true });
  assert.equal(r.code, 5);
  assert.match(r.out, /^\/sbin\/docker-init -- sh -c/);
});

test('cgroupPids and cgroupStats see a running container', { skip }, async () => {
  const c = prepare({ resources: { memory: 64 * 1024 * 1024, pidsLimit: 50 } }, ['sleep', '30']);
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const p = spawn(CRUN, ['run', '-d', '--bundle', c.bundle, c.id], { stdio: 'ignore' });
      p.on('error', reject);
      p.on('exit', resolve);
    });
    assert.equal(code, 0);
    const state = JSON.parse((await run(CRUN, ['state', c.id])).stdout);
    assert.deepEqual(cgroupPids(`/dray/${c.id}`), [state.pid]);
    const s = await cgroupStats(`/dray/${c.id}`);
    assert.ok((s.memory.usage ?? 0) > 0);
    assert.equal(s.memory.limit, 64 * 1024 * 1024);
    assert.equal(s.pids.current, 1);
    assert.equal(s.pids.limit, 50);
    assert.ok((s.cpu.totalUsage ?? 0) > 0);
    assert.ok((s.cpu.systemCpuUsage ?? 0) > 0);
  } finally {
    await cleanup(c);
  }
  assert.deepEqual(cgroupPids(`/dray/${c.id}`), []);
});

test('prepareCgroups is idempotent and leaves cgroup2 without controllers', { skip }, async () => {
  const lines = await prepareCgroups();
  assert.ok(lines.length > 0);
  if (existsSync('/sys/fs/cgroup/unified/cgroup.controllers')) {
    assert.equal(spawnSync('cat', ['/sys/fs/cgroup/unified/cgroup.controllers'], { encoding: 'utf8' }).stdout.trim(), '');
  }
});
