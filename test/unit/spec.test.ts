import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildSpec, specToJson, SpecInput, DEFAULT_PATH, findInit } from '../../src/runtime/spec';
import { DEFAULT_CAPABILITIES, capabilityMask, tweakCapabilities, daemonCapabilities } from '../../src/runtime/caps';
import { daemonRlimits, RLIM_INFINITY } from '../../src/runtime/rlimits';

const ID = 'a'.repeat(64);
function input(o: Partial<SpecInput> = {}): SpecInput {
  return {
    id: ID, rootfs: '/tmp/rootfs', args: ['sh'], env: [], cwd: '', user: { uid: 0, gid: 0, additionalGids: [0] },
    tty: false, hostname: 'abc123', network: { mode: 'none' }, mounts: [], cgroupsPath: `/dray/${ID}`, ...o,
  };
}
const mount = (s: ReturnType<typeof buildSpec>, dest: string) => s.mounts.find((m) => m.destination === dest);

test('Docker defaults: namespaces, capabilities, masked and read-only paths, root, terminal', () => {
  const s = buildSpec(input());
  assert.deepEqual(s.linux.namespaces.map((n) => n.type).sort(), ['cgroup', 'ipc', 'mount', 'network', 'pid', 'uts']);
  assert.deepEqual(s.process.capabilities.bounding, [...DEFAULT_CAPABILITIES]);
  assert.deepEqual(s.process.capabilities.effective, [...DEFAULT_CAPABILITIES]);
  assert.deepEqual(s.process.capabilities.permitted, [...DEFAULT_CAPABILITIES]);
  assert.equal(s.process.capabilities.inheritable, undefined);
  assert.equal(s.process.capabilities.ambient, undefined);
  assert.equal(capabilityMask(s.process.capabilities.effective), '00000000a80425fb');
  assert.ok(s.linux.maskedPaths.includes('/proc/kcore') && s.linux.maskedPaths.includes('/sys/devices/virtual/powercap'));
  assert.deepEqual(s.linux.readonlyPaths, ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']);
  assert.deepEqual(s.root, { path: '/tmp/rootfs', readonly: false });
  assert.equal(s.process.terminal, false);
  assert.equal(s.process.cwd, '/');
  assert.equal(s.hostname, 'abc123');
  assert.equal(s.linux.cgroupsPath, `/dray/${ID}`);
  assert.equal(s.process.noNewPrivileges, false);
  assert.ok(s.linux.seccomp && s.linux.seccomp.syscalls!.length > 0);
  assert.equal(s.linux.resources.devices[0].allow, false);
  assert.ok(s.linux.resources.devices.some((d) => d.allow && d.major === 1 && d.minor === 3));
});

test('default mounts', () => {
  const s = buildSpec(input());
  assert.deepEqual(s.mounts.map((m) => m.destination), ['/proc', '/dev', '/dev/pts', '/sys', '/sys/fs/cgroup', '/dev/mqueue', '/dev/shm']);
  assert.deepEqual(mount(s, '/dev')!.options, ['nosuid', 'strictatime', 'mode=755', 'size=65536k']);
  assert.ok(mount(s, '/dev/pts')!.options!.includes('ptmxmode=0666'));
  assert.ok(mount(s, '/sys')!.options!.includes('ro'));
  assert.equal(mount(s, '/sys/fs/cgroup')!.type, 'cgroup');
  assert.ok(mount(s, '/sys/fs/cgroup')!.options!.includes('ro'));
  assert.ok(mount(s, '/dev/shm')!.options!.includes(`size=${64 * 1024 * 1024}`));
  assert.ok(mount(buildSpec(input({ shmSize: 1 << 20 })), '/dev/shm')!.options!.includes('size=1048576'));
});

test('env: PATH and HOSTNAME added when missing, TERM with a tty, user values win', () => {
  assert.deepEqual(buildSpec(input()).process.env, [`PATH=${DEFAULT_PATH}`, 'HOSTNAME=abc123']);
  const s = buildSpec(input({ tty: true, env: ['PATH=/x', 'FOO=bar', 'HOSTNAME=h'] }));
  assert.deepEqual(s.process.env, ['PATH=/x', 'HOSTNAME=h', 'TERM=xterm', 'FOO=bar']);
  assert.equal(s.process.terminal, true);
});

test('user mounts: sorted by depth, override defaults, binds get rbind and rprivate', () => {
  const s = buildSpec(input({
    mounts: [
      { destination: '/data/sub', source: '/tmp/a', type: 'bind', options: ['ro'] },
      { destination: '/data', source: '/tmp/b', type: 'bind', options: ['rbind', 'rw'] },
      { destination: '/dev/shm', source: 'tmpfs', type: 'tmpfs', options: ['size=1m'] },
      { destination: '/etc/hosts', source: '/tmp/hosts', type: 'bind', options: ['rbind', 'rshared'] },
    ],
  }));
  const dests = s.mounts.map((m) => m.destination);
  assert.equal(dests.filter((d) => d === '/dev/shm').length, 1);
  assert.ok(dests.indexOf('/data') < dests.indexOf('/data/sub'));
  assert.deepEqual(mount(s, '/data/sub')!.options, ['rbind', 'ro', 'rprivate']);
  assert.deepEqual(mount(s, '/dev/shm')!.options, ['size=1m']);
  assert.equal(s.linux.rootfsPropagation, 'shared');
});

test('host namespaces are left out; a network path is joined', () => {
  const s = buildSpec(input({ network: { mode: 'host' }, pid: 'host', ipc: 'host', uts: 'host' }));
  assert.deepEqual(s.linux.namespaces.map((n) => n.type).sort(), ['cgroup', 'mount']);
  assert.equal(s.hostname, undefined);
  assert.equal(mount(s, '/dev/shm')!.source, '/dev/shm');
  assert.equal(s.linux.sysctl, undefined);
  const p = buildSpec(input({ network: { mode: 'path', path: '/run/netns/dray-x' } }));
  assert.deepEqual(p.linux.namespaces.find((n) => n.type === 'network'), { type: 'network', path: '/run/netns/dray-x' });
  assert.equal(p.linux.sysctl!['net.ipv4.ip_unprivileged_port_start'], '0');
});

test('privileged: every capability the daemon holds, no seccomp, no masks, host devices, rw /sys', () => {
  const s = buildSpec(input({ privileged: true }));
  assert.deepEqual(new Set(s.process.capabilities.bounding), daemonCapabilities().bounding);
  assert.equal(s.linux.seccomp, undefined);
  assert.deepEqual(s.linux.maskedPaths, []);
  assert.deepEqual(s.linux.readonlyPaths, []);
  assert.ok(s.linux.devices.some((d) => d.path === '/dev/null' && d.type === 'c' && d.major === 1 && d.minor === 3));
  assert.deepEqual(s.linux.resources.devices, [{ allow: true, access: 'rwm' }]);
  assert.ok(!mount(s, '/sys')!.options!.includes('ro'));
});

test('capabilities: add, drop, ALL, unknown names', () => {
  assert.deepEqual(tweakCapabilities(['net_admin'], ['CAP_CHOWN', 'mknod']).sort(),
    [...DEFAULT_CAPABILITIES.filter((c) => c !== 'CAP_CHOWN' && c !== 'CAP_MKNOD'), 'CAP_NET_ADMIN'].sort());
  assert.deepEqual(tweakCapabilities(['NET_ADMIN'], ['ALL']), ['CAP_NET_ADMIN']);
  assert.ok(tweakCapabilities(['ALL'], ['sys_admin']).includes('CAP_SYS_PTRACE'));
  assert.ok(!tweakCapabilities(['ALL'], ['sys_admin']).includes('CAP_SYS_ADMIN'));
  assert.throws(() => tweakCapabilities(['FOO'], []), { message: 'unknown capability: "CAP_FOO"' });
  const s = buildSpec(input({ capAdd: ['SYS_ADMIN'] }));
  assert.ok(s.linux.seccomp!.syscalls!.some((r) => r.action === 'SCMP_ACT_ALLOW' && r.names.includes('bpf')));
});

test('security options', () => {
  assert.equal(buildSpec(input({ securityOpt: ['seccomp=unconfined'] })).linux.seccomp, undefined);
  assert.equal(buildSpec(input({ securityOpt: ['no-new-privileges'] })).process.noNewPrivileges, true);
  assert.equal(buildSpec(input({ securityOpt: ['no-new-privileges:true'] })).process.noNewPrivileges, true);
  assert.equal(buildSpec(input({ noNewPrivileges: true })).process.noNewPrivileges, true);
  assert.ok(buildSpec(input({ securityOpt: ['apparmor=unconfined', 'label=disable'] })).linux.seccomp);
  assert.deepEqual(buildSpec(input({ securityOpt: ['systempaths=unconfined'] })).linux.maskedPaths, []);
  assert.throws(() => buildSpec(input({ securityOpt: ['bogus=1'] })), /invalid --security-opt 2/);
});

test('resources', () => {
  const s = buildSpec(input({ resources: { memory: 32 << 20, cpuShares: 512, nanoCpus: 5e8, pidsLimit: 10, cpusetCpus: '0' } }));
  assert.equal(s.linux.resources.memory!.limit, 32 << 20);
  assert.equal(s.linux.resources.cpu!.shares, 512);
  assert.equal(s.linux.resources.cpu!.quota, 50000);
  assert.equal(s.linux.resources.cpu!.period, 100000);
  assert.equal(s.linux.resources.cpu!.cpus, '0');
  assert.deepEqual(s.linux.resources.pids, { limit: 10 });
  assert.throws(() => buildSpec(input({ resources: { memory: 1 << 20 } })), /Minimum memory limit allowed is 6MB/);
  assert.throws(() => buildSpec(input({ resources: { memorySwap: 64 << 20 } })), /always set the Memory limit/);
  assert.throws(() => buildSpec(input({ resources: { nanoCpus: 1e9, cpuQuota: 5000 } })), /Conflicting options/);
  assert.throws(() => buildSpec(input({ resources: { cpusetCpus: '0-999' } })), /Requested CPUs are not available/);
  assert.equal(buildSpec(input({ resources: { pidsLimit: -1 } })).linux.resources.pids, undefined);
});

test('rlimits: nofile capped to the daemon hard limit; user ulimits checked', () => {
  const host = daemonRlimits().get('nofile')!;
  const s = buildSpec(input());
  const nofile = s.process.rlimits.find((r) => r.type === 'RLIMIT_NOFILE')!;
  assert.equal(nofile.hard, Math.min(1048576, host.hard));
  assert.equal(nofile.soft, nofile.hard);
  const u = buildSpec(input({ ulimits: [{ Name: 'nofile', Soft: 100, Hard: 200 }, { Name: 'nproc', Soft: 50, Hard: 50 }] }));
  assert.deepEqual(u.process.rlimits.find((r) => r.type === 'RLIMIT_NOFILE'), { type: 'RLIMIT_NOFILE', soft: 100, hard: 200 });
  assert.deepEqual(u.process.rlimits.find((r) => r.type === 'RLIMIT_NPROC'), { type: 'RLIMIT_NPROC', soft: 50, hard: 50 });
  assert.throws(() => buildSpec(input({ ulimits: [{ Name: 'nofiles', Soft: 1, Hard: 1 }] })), /invalid ulimit type: nofiles/);
  assert.throws(() => buildSpec(input({ ulimits: [{ Name: 'nofile', Soft: 10, Hard: 5 }] })), /soft limit must be less than or equal/);
  if (!daemonCapabilities().effective.has('CAP_SYS_RESOURCE') && host.hard < RLIM_INFINITY) {
    assert.throws(() => buildSpec(input({ ulimits: [{ Name: 'nofile', Soft: 1024, Hard: host.hard + 1 }] })),
      (e: any) => e.kind === 'InvalidParameter' && /exceeds the daemon's own hard limit/.test(e.message));
  }
});

test('specToJson writes unlimited rlimits as 2^64-1', () => {
  const core = daemonRlimits().get('core');
  if (core && core.hard < RLIM_INFINITY && !daemonCapabilities().effective.has('CAP_SYS_RESOURCE')) return;
  const s = buildSpec(input({ ulimits: [{ Name: 'core', Soft: -1, Hard: -1 }] }));
  const text = specToJson(s);
  assert.match(text, /"type": "RLIMIT_CORE",\s*"soft": 18446744073709551615,\s*"hard": 18446744073709551615/);
  assert.deepEqual(JSON.parse(text).process.args, ['sh']);
});

test('sysctls are checked against the namespaces', () => {
  assert.equal(buildSpec(input({ sysctls: { 'net.core.somaxconn': '1024' } })).linux.sysctl!['net.core.somaxconn'], '1024');
  assert.throws(() => buildSpec(input({ network: { mode: 'host' }, sysctls: { 'net.core.somaxconn': '1' } })), /not allowed in the hosts network namespace/);
  assert.throws(() => buildSpec(input({ sysctls: { 'vm.swappiness': '1' } })), /not in a separate kernel namespace/);
  assert.ok(buildSpec(input({ sysctls: { 'kernel.shmmax': '1' } })).linux.sysctl);
});

test('--init prefixes the args with the bind-mounted init', () => {
  if (!findInit()) {
    assert.throws(() => buildSpec(input({ init: true })), /no init binary/);
    return;
  }
  const s = buildSpec(input({ init: true, args: ['sleep', '1'] }));
  assert.deepEqual(s.process.args, ['/sbin/docker-init', '--', 'sleep', '1']);
  assert.equal(mount(s, '/sbin/docker-init')!.source, findInit());
});

test('devices: a mapped node is created and allowed; bad input rejected', () => {
  const s = buildSpec(input({ devices: [{ PathOnHost: '/dev/null', PathInContainer: '/dev/mynull', CgroupPermissions: 'rw' }] }));
  assert.deepEqual(s.linux.devices.map((d) => [d.path, d.type, d.major, d.minor]), [['/dev/mynull', 'c', 1, 3]]);
  assert.deepEqual(s.linux.resources.devices.at(-1), { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' });
  assert.throws(() => buildSpec(input({ devices: [{ PathOnHost: '/etc/passwd', PathInContainer: '', CgroupPermissions: 'rwm' }] })), /not a device node/);
  assert.throws(() => buildSpec(input({ devices: [{ PathOnHost: '/dev/null', PathInContainer: '', CgroupPermissions: 'x' }] })), /permissions/);
});

test('oom score adj, readonly rootfs, user and domainname pass through', () => {
  const s = buildSpec(input({ oomScoreAdj: 500, readonlyRootfs: true, user: { uid: 1000, gid: 1000, additionalGids: [1000, 10] }, domainname: 'example.org' }));
  assert.equal(s.process.oomScoreAdj, 500);
  assert.equal(s.root.readonly, true);
  assert.deepEqual(s.process.user, { uid: 1000, gid: 1000, additionalGids: [1000, 10] });
  assert.equal(s.domainname, 'example.org');
  assert.throws(() => buildSpec(input({ oomScoreAdj: 2000 })), /range for oom score adj/);
});
