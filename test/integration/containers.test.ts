// The container lifecycle through the Engine API against a real drayd with real containers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { existsSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { TestDaemon, demux, sleep } from '../helpers/daemon';

const d = new TestDaemon();

before(async () => {
  await d.start();
  await d.bootstrapBusybox();
});

after(async () => {
  const leaks = await d.stop();
  assert.deepEqual(leaks, [], 'nothing may be left behind');
});

async function waitExit(id: string): Promise<number> {
  const r = await d.api('POST', `/containers/${id}/wait`);
  assert.equal(r.status, 200, r.body.toString());
  return r.json.StatusCode;
}

async function logs(id: string, q = 'stdout=1&stderr=1') {
  const r = await d.api('GET', `/containers/${id}/logs?${q}`);
  assert.equal(r.status, 200, r.body.toString());
  return demux(r.body);
}

/** Hijacks POST `p` like the docker CLI does; resolves with everything read until EOF. */
function hijack(p: string, input?: string): { ready: Promise<void>; done: Promise<Buffer> } {
  const sock = net.connect(d.socket);
  let readyResolve!: () => void;
  const ready = new Promise<void>((r) => (readyResolve = r));
  const done = new Promise<Buffer>((resolve, reject) => {
    let buf = Buffer.alloc(0);
    let headerDone = false;
    sock.on('data', (c) => {
      buf = Buffer.concat([buf, c]);
      if (!headerDone) {
        const i = buf.indexOf('\r\n\r\n');
        if (i >= 0) {
          const head = buf.subarray(0, i).toString();
          if (!head.startsWith('HTTP/1.1 101')) reject(new Error(head));
          buf = buf.subarray(i + 4);
          headerDone = true;
          readyResolve();
          if (input !== undefined) sock.end(input);
        }
      }
    });
    sock.on('end', () => resolve(buf));
    sock.on('error', reject);
  });
  sock.write(`POST ${p} HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`);
  return { ready, done };
}

test('an attach that fails after the connection was hijacked closes it (the client is not left hanging)', async () => {
  const id = await d.runDetached(['sleep', '60']);
  try {
    // Without conmon's attach socket the daemon cannot join the container's streams.
    rmSync(path.join(d.execRoot, 'socks', id), { recursive: true, force: true });
    const { ready, done } = hijack(`/containers/${id}/attach?stream=1&stdout=1&stderr=1`);
    await ready;
    const closed = await Promise.race([done.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 10_000).unref())]);
    assert.ok(closed, 'the hijacked connection is closed');
  } finally {
    await d.api('DELETE', `/containers/${id}?force=1`);
  }
});

test('a container runs, its exit code and both output streams are kept', async () => {
  const id = await d.runDetached(['sh', '-c', 'echo out; echo err >&2; exit 3']);
  assert.equal(await waitExit(id), 3);
  const l = await logs(id);
  assert.equal(l.stdout, 'out\n');
  assert.equal(l.stderr, 'err\n');
  const i = await d.api('GET', `/containers/${id}/json`);
  assert.equal(i.json.State.Status, 'exited');
  assert.equal(i.json.State.ExitCode, 3);
  assert.equal(i.json.Dray, undefined, 'private bookkeeping is not served');
  assert.equal(i.json.Config.Hostname, id.slice(0, 12));
});

/** crun's state directory and the container's cgroup leaves (every hierarchy) that exist. */
function runtimeTraces(id: string): string[] {
  const out = existsSync(`/run/crun/${id}`) ? [`/run/crun/${id}`] : [];
  for (const h of readdirSync('/sys/fs/cgroup')) {
    const leaf = path.join('/sys/fs/cgroup', h, 'dray', id);
    if (existsSync(leaf)) out.push(leaf);
  }
  return out;
}

test('start, exit and forced removal leave no runtime state: crun state and cgroups go', async () => {
  // A created container is started (crun's exec.fifo released) and runs its process.
  const id = await d.runDetached(['sh', '-c', 'echo started']);
  assert.equal(await waitExit(id), 0);
  assert.equal((await logs(id)).stdout, 'started\n');
  assert.deepEqual(runtimeTraces(id), [], 'a stopped container keeps no crun state or cgroup');
  // Started again: the same shortcuts work a second time.
  assert.equal((await d.api('POST', `/containers/${id}/start`)).status, 204);
  assert.equal(await waitExit(id), 0);
  assert.equal((await logs(id)).stdout, 'started\nstarted\n');
  assert.deepEqual(runtimeTraces(id), []);
  // A running container removed by force: its init is alive, so crun kills and deletes it.
  const live = await d.runDetached(['sleep', '60']);
  assert.ok(runtimeTraces(live).length > 1, 'a running container has crun state and cgroups');
  assert.equal((await d.api('DELETE', `/containers/${live}?force=1`)).status, 204);
  assert.deepEqual(runtimeTraces(live), []);
});

/** The options of the overlay mounted at a container's rootfs, or undefined when none is. */
function rootfsMountOptions(id: string): string | undefined {
  const merged = path.join(d.dataRoot, 'containers', id, 'fs', 'merged');
  const line = readFileSync('/proc/self/mounts', 'utf8').split('\n').find((l) => l.split(' ')[1] === merged);
  return line?.split(' ')[3];
}

/** The arguments of the conmon that monitors container `id`. */
function conmonArgs(id: string): string[] {
  for (const pid of d.conmonPids()) {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (args[args.indexOf('-c') + 1] === id) return args;
  }
  throw new Error(`no conmon for ${id}`);
}

test('a --rm container\'s rootfs is mounted volatile and its log not synced at exit (both die with it), a kept one\'s are', async () => {
  const kept = await d.runDetached(['sleep', '60']);
  const gone = await d.runDetached(['sleep', '60'], { HostConfig: { AutoRemove: true } });
  try {
    assert.ok(rootfsMountOptions(kept), 'a running container has its rootfs mounted');
    assert.doesNotMatch(rootfsMountOptions(kept)!, /(^|,)(fsync=)?volatile(,|$)/);
    assert.match(rootfsMountOptions(gone) ?? '', /(^|,)(fsync=)?volatile(,|$)/);
    assert.ok(!conmonArgs(kept).includes('--no-sync-log'));
    assert.ok(conmonArgs(gone).includes('--no-sync-log'));
  } finally {
    assert.equal((await d.api('DELETE', `/containers/${kept}?force=1`)).status, 204);
    assert.equal((await d.api('POST', `/containers/${gone}/kill`)).status, 204);
  }
  const w = await d.api('POST', `/containers/${gone}/wait?condition=removed`);
  assert.ok(w.status === 200 || w.status === 404, w.body.toString());
  assert.equal((await d.api('GET', `/containers/${gone}/json`)).status, 404);
  assert.equal(rootfsMountOptions(gone), undefined);
  // Its directory left at once, by a rename into the trash, which is emptied in the background.
  assert.ok(!existsSync(path.join(d.dataRoot, 'containers', gone)));
  const trash = path.join(d.dataRoot, 'trash');
  for (let i = 0; i < 50 && readdirSync(trash).length; i++) await sleep(100);
  assert.deepEqual(readdirSync(trash), []);
});

test('crun runs from a sealed in-memory copy of itself (no re-copy per run), which cannot be written', async () => {
  const link = path.join(d.execRoot, 'runtimes', 'crun');
  const id = await d.runDetached(['sleep', '60']);
  try {
    const args = conmonArgs(id);
    assert.equal(args[args.indexOf('-r') + 1], link, 'conmon is given the sealed copy');
  } finally {
    assert.equal((await d.api('DELETE', `/containers/${id}?force=1`)).status, 204);
  }
  assert.match(readlinkSync(link), /^\/proc\/\d+\/fd\/\d+$/);
  assert.equal(readlinkSync(readlinkSync(link)), '/memfd:crun (deleted)');
  assert.throws(() => writeFileSync(link, 'x'), { code: 'EPERM' });
  assert.match(execFileSync(link, ['--version'], { encoding: 'utf8' }), /^crun version /);
});

test('a start that fails while the bundle is prepared ends the conmon waiting for it: no monitor, mount or bundle left', async () => {
  const c = await d.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], User: 'nosuchuser' });
  assert.equal(c.status, 201, c.body.toString());
  const id = c.json.Id;
  const s = await d.api('POST', `/containers/${id}/start`);
  assert.equal(s.status, 400, s.body.toString());
  assert.match(s.json.message, /unable to find user nosuchuser/);
  for (let i = 0; i < 20 && d.conmonPids().length; i++) await sleep(50);
  assert.deepEqual(d.conmonPids(), [], 'the held conmon is gone');
  assert.equal(rootfsMountOptions(id), undefined);
  assert.ok(!existsSync(path.join(d.execRoot, 'containers', id)), 'no bundle left');
  assert.equal((await d.api('GET', `/containers/${id}/json`)).json.State.Status, 'created');
  assert.equal((await d.api('DELETE', `/containers/${id}`)).status, 204);
});

test('attach before start receives all output, stdin reaches the container', async () => {
  const c = await d.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['sh', '-c', 'read x; echo got:$x; echo bye >&2'], OpenStdin: true, StdinOnce: true, AttachStdin: true });
  assert.equal(c.status, 201);
  const id = c.json.Id;
  const h = hijack(`/v1.43/containers/${id}/attach?stream=1&stdin=1&stdout=1&stderr=1`, 'hello\n');
  await h.ready;
  assert.equal((await d.api('POST', `/containers/${id}/start`)).status, 204);
  const out = demux(await h.done);
  assert.equal(out.stdout, 'got:hello\n');
  assert.equal(out.stderr, 'bye\n');
  assert.equal(await waitExit(id), 0);
});

test('stop sends SIGTERM, then SIGKILL after the timeout (137)', async () => {
  const id = await d.runDetached(['sh', '-c', 'trap "" TERM; while true; do sleep 1; done']);
  const t0 = Date.now();
  const r = await d.api('POST', `/containers/${id}/stop?t=1`);
  assert.equal(r.status, 204);
  assert.ok(Date.now() - t0 >= 900, 'waited for the timeout');
  const i = await d.api('GET', `/containers/${id}/json`);
  assert.equal(i.json.State.ExitCode, 137);
  assert.equal((await d.api('POST', `/containers/${id}/stop`)).status, 304, 'stop of a stopped container is 304');
});

test('names are unique; a running container is not removed without force', async () => {
  const id = await d.runDetached(['sleep', '60'], {});
  const n1 = await d.api('POST', '/containers/create?name=taken', { Image: 'busybox', Cmd: ['true'] });
  assert.equal(n1.status, 201);
  const n2 = await d.api('POST', '/containers/create?name=taken', { Image: 'busybox', Cmd: ['true'] });
  assert.equal(n2.status, 409);
  assert.match(n2.json.message, /^Conflict\. The container name "\/taken" is already in use by container "[0-9a-f]{64}"/);
  const rm = await d.api('DELETE', `/containers/${id}`);
  assert.equal(rm.status, 409);
  assert.match(rm.json.message, /You cannot remove a running container/);
  assert.equal((await d.api('DELETE', `/containers/${id}?force=1`)).status, 204);
  assert.equal((await d.api('GET', `/containers/${id}/json`)).status, 404);
  assert.equal((await d.api('DELETE', '/containers/taken')).status, 204);
});

test('bad input gets Docker errors and leaves nothing behind', async () => {
  const before = readdirSync(path.join(d.dataRoot, 'containers')).length;
  const a = await d.api('POST', '/containers/create?name=bad%20name', { Image: 'busybox' });
  assert.equal(a.status, 400);
  assert.match(a.json.message, /Invalid container name/);
  const b = await d.api('POST', '/containers/create', { Image: 'nosuchimage:1' });
  assert.equal(b.status, 404);
  assert.match(b.json.message, /No such image: nosuchimage:1/);
  const c = await d.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: { Memory: 1000 } });
  assert.equal(c.status, 400);
  assert.equal((await d.api('GET', '/containers/nosuch/json')).json.message, 'No such container: nosuch');
  // A command that does not exist: start fails like Docker's, state is kept, nothing is mounted.
  const e = await d.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['/no/such/cmd'] });
  const s = await d.api('POST', `/containers/${e.json.Id}/start`);
  assert.equal(s.status, 500);
  assert.match(s.json.message, /executable file not found in \$PATH/);
  assert.equal((await d.api('GET', `/containers/${e.json.Id}/json`)).json.State.ExitCode, 127);
  assert.deepEqual(d.mounts(), []);
  assert.equal(existsSync(path.join(d.execRoot, 'containers', e.json.Id)), false, 'bundle removed');
  await d.api('DELETE', `/containers/${e.json.Id}`);
  assert.equal(readdirSync(path.join(d.dataRoot, 'containers')).length, before);
});

test('exec runs in the container with its exit code; a missing command is 127', async () => {
  const id = await d.runDetached(['sleep', '60']);
  const e = await d.api('POST', `/containers/${id}/exec`, { Cmd: ['sh', '-c', 'echo $HOSTNAME; exit 5'], AttachStdout: true, AttachStderr: true });
  assert.equal(e.status, 201);
  const h = hijack(`/exec/${e.json.Id}/start`);
  const out = demux(await h.done);
  assert.equal(out.stdout, id.slice(0, 12) + '\n');
  const ins = await d.api('GET', `/exec/${e.json.Id}/json`);
  assert.equal(ins.json.ExitCode, 5);
  assert.equal(ins.json.Running, false);
  const m = await d.api('POST', `/containers/${id}/exec`, { Cmd: ['nosuchcmd'], AttachStdout: true, AttachStderr: true });
  await hijack(`/exec/${m.json.Id}/start`).done;
  assert.equal((await d.api('GET', `/exec/${m.json.Id}/json`)).json.ExitCode, 127);
  await d.api('DELETE', `/containers/${id}?force=1`);
});

test('an exec resize sent before the process runs waits for it, as dockerd\'s does; after its exit it is refused', async () => {
  const id = await d.runDetached(['sleep', '60']);
  const e = await d.api('POST', `/containers/${id}/exec`, { Cmd: ['sh', '-c', 'sleep 1; stty size'], Tty: true, AttachStdout: true });
  assert.equal(e.status, 201);
  // The docker CLI's first resize can come before the session runs: it must not fail then.
  let settled = false;
  const rz = d.api('POST', `/exec/${e.json.Id}/resize?h=21&w=77`).finally(() => { settled = true; });
  await sleep(300);
  assert.equal(settled, false, 'the resize waits for the start');
  const h = hijack(`/exec/${e.json.Id}/start`);
  assert.equal((await rz).status, 200);
  assert.match((await h.done).toString(), /^21 77\r?$/m, 'the size it asked for reached the terminal');
  const late = await d.api('POST', `/exec/${e.json.Id}/resize?h=30&w=90`);
  assert.equal(late.status, 409);
  await d.api('DELETE', `/containers/${id}?force=1`);
});

test('containers and their logs survive a daemon restart; an exit while it was down is recorded', async () => {
  const id = await d.runDetached(['sh', '-c', 'echo before; sleep 2; echo after; exit 7']);
  await sleep(300);
  await d.stopDaemon();
  const conmons = d.conmonPids();
  assert.ok(conmons.length >= 1, 'conmon outlives the daemon');
  await sleep(2500);
  await d.start();
  const i = await d.api('GET', `/containers/${id}/json`);
  assert.equal(i.json.State.Running, false);
  assert.equal(i.json.State.ExitCode, 7);
  assert.equal((await logs(id)).stdout, 'before\nafter\n');
  const id2 = await d.runDetached(['sleep', '60']);
  await d.stopDaemon();
  await d.start();
  const j = await d.api('GET', `/containers/${id2}/json`);
  assert.equal(j.json.State.Running, true, 'still running after restart');
  const k = await d.api('POST', `/containers/${id2}/kill`);
  assert.equal(k.status, 204);
  assert.equal(await waitExit(id2), 137);
  assert.deepEqual(d.mounts(), []);
});

test('restart policy on-failure:2 runs a failing container three times', async () => {
  const id = await d.runDetached(['sh', '-c', 'echo run; exit 1'], { HostConfig: { RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 2 } } });
  for (let i = 0; i < 60; i++) {
    const j = await d.api('GET', `/containers/${id}/json`);
    if (j.json.RestartCount === 2 && !j.json.State.Running && !j.json.State.Restarting) break;
    await sleep(100);
  }
  const j = await d.api('GET', `/containers/${id}/json`);
  assert.equal(j.json.RestartCount, 2);
  assert.equal((await logs(id)).stdout, 'run\nrun\nrun\n');
});

test('logs: tail, since, timestamps', async () => {
  const id = await d.runDetached(['sh', '-c', 'for i in 1 2 3 4 5; do echo line$i; done; sleep 1.2; echo late']);
  assert.equal(await waitExit(id), 0);
  assert.equal((await logs(id, 'stdout=1&tail=2')).stdout, 'line5\nlate\n');
  const all = await logs(id, 'stdout=1&timestamps=1');
  const lines = all.stdout.trim().split('\n');
  assert.equal(lines.length, 6);
  assert.match(lines[0], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z line1$/);
  const lateTs = Date.parse(lines[5].split(' ')[0]) / 1000;
  assert.equal((await logs(id, `stdout=1&since=${(lateTs - 0.5).toFixed(3)}`)).stdout, 'late\n');
  assert.equal((await logs(id, 'stderr=1')).stdout, '');
});

test('pause, top, rename, archive and changes', async () => {
  const id = await d.runDetached(['sh', '-c', 'echo data > /tmp/f; rm /etc/group; sleep 60']);
  await sleep(300);
  const top = await d.api('GET', `/containers/${id}/top`);
  assert.equal(top.status, 200);
  assert.ok(top.json.Processes.some((p: string[]) => p.join(' ').includes('sleep 60')));
  assert.equal((await d.api('POST', `/containers/${id}/pause`)).status, 204);
  assert.equal((await d.api('GET', `/containers/${id}/json`)).json.State.Status, 'paused');
  assert.equal((await d.api('POST', `/containers/${id}/unpause`)).status, 204);
  assert.equal((await d.api('POST', `/containers/${id}/rename?name=renamed`)).status, 204);
  assert.equal((await d.api('GET', '/containers/renamed/json')).json.Id, id);
  const head = await d.api('HEAD', `/containers/${id}/archive?path=/tmp/f`);
  const st = JSON.parse(Buffer.from(String(head.headers['x-docker-container-path-stat']), 'base64').toString());
  assert.equal(st.name, 'f');
  assert.equal(st.size, 5);
  const tar = await d.api('GET', `/containers/${id}/archive?path=/tmp/f`);
  assert.ok(tar.body.includes(Buffer.from('data\n')));
  const ch = await d.api('GET', `/containers/${id}/changes`);
  const kinds = Object.fromEntries(ch.json.map((c: any) => [c.Path, c.Kind]));
  assert.equal(kinds['/tmp/f'], 1);
  assert.equal(kinds['/etc/group'], 2);
  await d.api('DELETE', `/containers/${id}?force=1`);
});

test('a daemon killed with SIGKILL restarts consistent: running containers, networks and volumes kept', async () => {
  const id = await d.runDetached(['sh', '-c', 'echo up; sleep 60'], { HostConfig: { NetworkMode: 'bridge', Binds: ['crashvol:/data'] } });
  const created = await d.api('POST', '/containers/create?name=never-started', { Image: 'busybox', Cmd: ['true'] });
  await d.killDaemon();
  await d.start();
  const i = await d.api('GET', `/containers/${id}/json`);
  assert.equal(i.json.State.Running, true);
  assert.ok(i.json.NetworkSettings.IPAddress, 'keeps its address');
  assert.equal((await d.api('GET', '/volumes/crashvol')).status, 200);
  assert.equal((await d.api('GET', `/containers/${created.json.Id}/json`)).json.State.Status, 'created');
  const e = await d.api('POST', `/containers/${id}/exec`, { Cmd: ['true'] });
  assert.equal(e.status, 201, 'exec works after the restart');
  assert.equal((await d.api('POST', `/containers/${id}/stop?t=1`)).status, 204);
  assert.equal((await d.api('GET', `/containers/${id}/json`)).json.State.Running, false);
  for (const c of [id, created.json.Id]) assert.equal((await d.api('DELETE', `/containers/${c}?v=1`)).status, 204);
  assert.equal((await d.api('DELETE', '/volumes/crashvol')).status, 204);
  assert.deepEqual(d.mounts(), []);
});
