// drayd --userns-remap default: containers run in a user namespace whose root is the first ID of
// the `dray` user's subordinate ranges; image layers are shared through idmapped mounts
// (src/runtime/userns.ts), and what a container writes belongs on the host to the mapped IDs.
// The `dray` user stays after the test, as Docker's dockremap does: it is system configuration.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { TestDaemon, sleep } from '../helpers/daemon';

const d = new TestDaemon(['--userns-remap', 'default']);
// The remapped root must pass through the test's directory to reach the root file systems
// (mkdtemp makes it 0700; drayd refuses to start under such a directory, as dockerd does).
chmodSync(d.dir, 0o711);
let hostRoot = 0;
let hostGroup = 0;
const binds = path.join(d.dir, 'binds');

function subordinateStart(file: string, name: string): number {
  const line = readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  assert.ok(line, `${file} has a range for ${name}`);
  assert.equal(line!.split(':')[2], '65536');
  return Number(line!.split(':')[1]);
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function curl(port: number): Promise<string> {
  for (let i = 0; i < 30; i++) {
    const r = spawnSync('curl', ['-s', '-m', '2', `http://127.0.0.1:${port}/`], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout) return r.stdout;
    await sleep(150);
  }
  return '';
}

const ok = (r: { code: number; stdout: string; stderr: string }) => { assert.equal(r.code, 0, r.stderr); return r.stdout; };

before(async () => {
  await d.start();
  await d.bootstrapBusybox();
  hostRoot = subordinateStart('/etc/subuid', 'dray');
  hostGroup = subordinateStart('/etc/subgid', 'dray');
  mkdirSync(binds, { mode: 0o777 });
  chmodSync(binds, 0o777);
});

after(async () => {
  assert.deepEqual(await d.stop(), []);
});

test('the dray user exists with its ranges, and docker info names userns', () => {
  assert.match(readFileSync('/etc/passwd', 'utf8'), /^dray:x:\d+:\d+:/m);
  const info = JSON.parse(ok(d.docker(['info', '--format', '{{json .SecurityOptions}}'])));
  assert.ok(info.includes('name=userns'), JSON.stringify(info));
});

test('container root is the mapped user: id, uid_map, image files seen as root, layers not chowned', () => {
  const out = ok(d.docker(['run', '--rm', 'busybox', 'sh', '-c', 'id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; stat -c "%u %g" /bin/busybox /; touch /made && echo wrote']));
  const lines = out.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '));
  assert.deepEqual(lines, ['0', '0', `0 ${hostRoot} 65536`, `0 ${hostGroup} 65536`, '0 0', '0 0', 'wrote']);
  // The shared layer keeps its own owners on the host (no per-mapping copy).
  const layers = path.join(d.dataRoot, 'image', 'layers');
  const found = spawnSync('find', [layers, '-path', '*/diff/bin/busybox'], { encoding: 'utf8' }).stdout.trim().split('\n')[0];
  assert.ok(found, 'busybox in a layer');
  assert.equal(statSync(found).uid, 0);
});

test('files the container makes in a bind mount and a named volume belong to the mapped root on the host', () => {
  const vol = `uv${Date.now()}`;
  ok(d.docker(['run', '--rm', '-v', `${binds}:/b`, '-v', `${vol}:/v`, 'busybox', 'sh', '-c', 'echo b > /b/from-container; echo v > /v/in-volume; stat -c "%u" /v']));
  const f = statSync(path.join(binds, 'from-container'));
  assert.equal(f.uid, hostRoot);
  assert.equal(f.gid, hostGroup);
  const mountpoint = ok(d.docker(['volume', 'inspect', '-f', '{{.Mountpoint}}', vol])).trim();
  assert.equal(statSync(mountpoint).uid, hostRoot, 'a new volume belongs to the mapped root');
  assert.equal(statSync(path.join(mountpoint, 'in-volume')).uid, hostRoot);
  ok(d.docker(['volume', 'rm', vol]));
});

test('a network namespace of its own (--network none) takes the default sysctls within the mapping', () => {
  const out = ok(d.docker(['run', '--rm', '--network', 'none', 'busybox', 'sh', '-c', 'cat /proc/sys/net/ipv4/ping_group_range /proc/sys/net/ipv4/ip_unprivileged_port_start; id -u']));
  assert.deepEqual(out.trim().split(/\s+/), ['0', '65535', '0', '0']);
});

test('the container\'s root has its capabilities over its own network: ping, NET_ADMIN, names on a user network', () => {
  ok(d.docker(['network', 'create', '--subnet', `10.${d.subnetByte}.9.0/24`, 'unet']));
  try {
    ok(d.docker(['run', '-d', '--network', 'unet', '--name', 'peer', 'busybox', 'sh', '-c', 'echo pong | nc -l -p 7000; sleep 60']));
    const out = d.docker(['run', '--rm', '--network', 'unet', '--cap-add', 'NET_ADMIN', 'busybox', 'sh', '-c',
      'ping -c1 -W3 peer >/dev/null && echo ping-ok; ip addr add 10.99.99.1/32 dev lo && echo admin-ok; echo hi | nc -w 3 peer 7000']);
    assert.equal(out.code, 0, out.stderr);
    assert.deepEqual(out.stdout.trim().split('\n'), ['ping-ok', 'admin-ok', 'pong']);
    ok(d.docker(['rm', '-f', 'peer']));
  } finally {
    d.docker(['rm', '-f', 'peer']);
    d.docker(['network', 'rm', 'unet']);
  }
});

test('--userns=host runs with the host root', () => {
  const out = ok(d.docker(['run', '--rm', '--userns=host', '-v', `${binds}:/b`, 'busybox', 'sh', '-c', 'cat /proc/self/uid_map; touch /b/from-host-ns']));
  assert.deepEqual(out.trim().split(/\s+/), ['0', '0', '4294967295']);
  assert.equal(statSync(path.join(binds, 'from-host-ns')).uid, 0);
});

test('privileged, host network and host PID need --userns=host, as dockerd says', () => {
  const priv = d.docker(['run', '--rm', '--privileged', 'busybox', 'true']);
  assert.equal(priv.code, 125);
  assert.match(priv.stderr, /privileged mode is incompatible with user namespaces\.  You must run the container in the host namespace when running privileged mode/);
  assert.match(d.docker(['create', '--network', 'host', 'busybox']).stderr, /cannot share the host's network namespace when user namespaces are enabled/);
  assert.match(d.docker(['create', '--pid', 'host', 'busybox']).stderr, /cannot share the host PID namespace when user namespaces are enabled/);
  assert.match(d.docker(['create', '--userns', 'nope', 'busybox']).stderr, /invalid USER mode/);
  const id = ok(d.docker(['create', '--privileged', '--userns=host', 'busybox', 'true'])).trim();
  ok(d.docker(['rm', id]));
});

test('a published low port answers on 127.0.0.1, exec runs in the user namespace, and both survive a drayd restart', async () => {
  const port = await freePort();
  const id = ok(d.docker(['run', '-d', '--name', 'web', '-p', `127.0.0.1:${port}:80`, 'busybox', 'sh', '-c',
    'mkdir -p /www && echo hello-remapped > /www/index.html && exec httpd -f -p 80 -h /www'])).trim();
  assert.equal((await curl(port)).trim(), 'hello-remapped', 'a remapped root binds port 80 and the port answers');
  const exec = () => ok(d.docker(['exec', 'web', 'sh', '-c', 'id -u; cat /proc/self/uid_map'])).trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '));
  assert.deepEqual(exec(), ['0', `0 ${hostRoot} 65536`]);
  const pid = Number(ok(d.docker(['inspect', '-f', '{{.State.Pid}}', id])).trim());
  assert.equal(statSync(`/proc/${pid}`).uid, hostRoot, 'the container process runs as the mapped uid on the host');

  await d.stopDaemon();
  await d.start();
  assert.equal(ok(d.docker(['inspect', '-f', '{{.State.Running}} {{.State.Pid}}', id])).trim(), `true ${pid}`);
  assert.equal((await curl(port)).trim(), 'hello-remapped');
  assert.deepEqual(exec(), ['0', `0 ${hostRoot} 65536`]);
  // Started again by the new drayd: its root file system is mounted idmapped anew.
  ok(d.docker(['restart', '-t', '1', 'web']));
  assert.equal((await curl(port)).trim(), 'hello-remapped');
  assert.deepEqual(exec(), ['0', `0 ${hostRoot} 65536`]);
  ok(d.docker(['rm', '-f', 'web']));
});

test('commit, cp and export carry the IDs the container sees, not the host\'s', () => {
  const id = ok(d.docker(['run', '-d', 'busybox', 'sh', '-c', 'echo c > /by-root; mkdir /owned; chown 1000:1000 /owned; exec sleep 60'])).trim();
  for (let i = 0; i < 50 && d.docker(['exec', id, 'test', '-d', '/owned']).code !== 0; i++) spawnSync('sleep', ['0.1']);
  // In the upper directory, the host IDs.
  const upper = ok(d.docker(['inspect', '-f', '{{.GraphDriver.Data.UpperDir}}', id])).trim();
  assert.equal(statSync(path.join(upper, 'by-root')).uid, hostRoot);
  assert.equal(statSync(path.join(upper, 'owned')).uid, hostRoot + 1000);

  // docker cp in: the archive's root-owned file is the container's root's.
  const src = path.join(d.dir, 'cp-in.txt');
  writeFileSync(src, 'in\n');
  ok(d.docker(['cp', src, `${id}:/cp-in.txt`]));
  assert.equal(ok(d.docker(['exec', id, 'stat', '-c', '%u %g', '/cp-in.txt'])).trim(), '0 0');
  assert.equal(statSync(path.join(upper, 'cp-in.txt')).uid, hostRoot);

  // docker cp out and export: tar headers in the container's IDs.
  const listing = (tarFile: string) => spawnSync('tar', ['-tvf', tarFile, '--numeric-owner'], { encoding: 'utf8' }).stdout;
  const cpOut = path.join(d.dir, 'cp-out.tar');
  writeFileSync(cpOut, spawnSync('/usr/local/bin/docker', ['cp', `${id}:/owned`, '-'], { env: d.env }).stdout);
  assert.match(listing(cpOut), /^d\S+ 1000\/1000 .* owned\/?$/m);
  const exp = path.join(d.dir, 'export.tar');
  ok(d.docker(['export', '-o', exp, id]));
  const exported = listing(exp);
  assert.match(exported, /^-\S+ 0\/0 .* \.\/by-root$/m);
  assert.match(exported, /^d\S+ 1000\/1000 .* \.\/owned\/$/m);
  assert.match(exported, /^-\S+ 0\/0 .* \.\/bin\/busybox$/m);

  // commit: the layer holds 0 and 1000, as seen from a container outside the user namespace.
  ok(d.docker(['commit', id, 'remapped-commit']));
  const seen = ok(d.docker(['run', '--rm', '--userns=host', 'remapped-commit', 'stat', '-c', '%u %n', '/by-root', '/owned', '/cp-in.txt'])).trim();
  assert.deepEqual(seen.split('\n'), ['0 /by-root', '1000 /owned', '0 /cp-in.txt']);
  ok(d.docker(['rm', '-f', id]));
  ok(d.docker(['rmi', 'remapped-commit']));
});

test('a build\'s COPY, COPY --chown, COPY --from and WORKDIR layers hold the IDs the image names, not the mapping\'s', () => {
  const ctx = path.join(d.dir, 'copy-ctx');
  mkdirSync(ctx);
  writeFileSync(path.join(ctx, 'f'), 'f\n');
  writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox AS src\nRUN mkdir /s && echo s > /s/x && chown -R 1000:1000 /s\nFROM busybox\nCOPY f /f\nCOPY --chown=1000:1001 f /g\nCOPY --from=src /s /s\nWORKDIR /w/deep\n');
  const id = ok(d.dray(['build', '-q', ctx])).trim();
  const seen = ok(d.docker(['run', '--rm', id, 'stat', '-c', '%u %g %n', '/f', '/g', '/s/x', '/w/deep'])).trim().split('\n');
  assert.deepEqual(seen, ['0 0 /f', '1000 1001 /g', '0 0 /s/x', '0 0 /w/deep']);
  // On the host, the stored layers carry those IDs as they are (a container sees them shifted).
  const layers = path.join(d.dataRoot, 'image', 'layers');
  const stored = (p: string) => spawnSync('find', [layers, '-path', `*/diff${p}`, '-printf', '%U %G\n'], { encoding: 'utf8' }).stdout.trim();
  assert.equal(stored('/f'), '0 0');
  assert.equal(stored('/g'), '1000 1001');
  assert.equal(stored('/w/deep'), '0 0');
  ok(d.docker(['rmi', id]));
});

// Where idmapped mounts are missing, dockerd's way: a copy of each layer with shifted owners.
// DRAY_USERNS_LAYERS=copy asks drayd for it on this host, which has idmapped mounts.
test('without idmapped mounts: each layer a remapped container uses is copied once with shifted owners, and goes with its image', async () => {
  const c = new TestDaemon(['--userns-remap', 'default'], undefined, { DRAY_USERNS_LAYERS: 'copy' });
  chmodSync(c.dir, 0o711);
  try {
    await c.start();
    await c.bootstrapBusybox();
    assert.match(c.log, /"layers":"copy"/);
    // A setuid file and one owned by another user in a layer of the image: both must survive the shift.
    const ctx = path.join(c.dir, 'ctx');
    mkdirSync(ctx);
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox\nRUN touch /suid && chmod 4755 /suid && mkdir /u1000 && chown 1000:1000 /u1000\n');
    ok(c.dray(['build', '-q', '-t', 'copied', ctx]));
    const out = ok(c.docker(['run', '--rm', 'copied', 'sh', '-c', 'id -u; cat /proc/self/uid_map; stat -c "%u %g %a %n" /bin/busybox /suid /u1000; touch /made && echo wrote']));
    const lines = out.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '));
    assert.deepEqual(lines, ['0', `0 ${hostRoot} 65536`, '0 0 755 /bin/busybox', '0 0 4755 /suid', '1000 1000 755 /u1000', 'wrote']);
    // On the host: the layer as stored, and beside it its copy in the mapping's IDs.
    const layers = path.join(c.dataRoot, 'image', 'layers');
    const find = (p: string) => spawnSync('find', [layers, '-path', p], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean);
    const stored = find('*/diff/bin/busybox');
    const copies = find('*/remap-*/bin/busybox');
    assert.equal(stored.length, 1);
    assert.equal(copies.length, 1, 'one copy for the one mapping');
    assert.equal(statSync(stored[0]).uid, 0);
    assert.equal(statSync(copies[0]).uid, hostRoot);
    const suid = find('*/remap-*/suid');
    assert.equal(suid.length, 1);
    assert.equal(statSync(suid[0]).uid, hostRoot);
    assert.equal(statSync(suid[0]).mode & 0o7777, 0o4755, 'the setuid bit survives the shift');
    // A second container reuses the copies; --userns=host sees the stored layers.
    ok(c.docker(['run', '--rm', 'copied', 'true']));
    assert.equal(find('*/remap-*/bin/busybox').length, 1);
    assert.equal(ok(c.docker(['run', '--rm', '--userns=host', 'copied', 'stat', '-c', '%u', '/suid'])).trim(), '0');
    // The copies go with their layers; no temporary directory is left.
    ok(c.docker(['rmi', 'copied']));
    assert.equal(find('*/remap-*/suid').length, 0);
    assert.deepEqual(readdirSync(layers).filter((n) => n.startsWith('.tmp-')), []);
  } finally {
    assert.deepEqual(await c.stop(), []);
  }
});
