// The pure pieces of userns-remap, --cgroup-parent, --device-cgroup-rule, --cgroupns and
// no-new-privileges: ID translation, Docker's rule syntax, cgroup paths and the spec they give.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toHostId, toContainerId, outOf, into, remappedRoot, type IdMap } from '../../src/lib/idmap';
import { parseDeviceCgroupRule } from '../../src/runtime/devices';
import { containerCgroupPath } from '../../src/runtime/cgroups';
import { buildSpec, SpecInput } from '../../src/runtime/spec';
import { subordinateRanges } from '../../src/runtime/userns';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ID = 'b'.repeat(64);
const input = (o: Partial<SpecInput> = {}): SpecInput => ({
  id: ID, rootfs: '/tmp/rootfs', args: ['sh'], env: [], cwd: '', user: { uid: 0, gid: 0, additionalGids: [] },
  tty: false, hostname: 'h', network: { mode: 'none' }, mounts: [], cgroupsPath: `/dray/${ID}`, ...o,
});

// Two subordinate ranges, one after the other in the container (Docker's createIDMap).
const map: IdMap = {
  uids: [{ containerID: 0, hostID: 100000, size: 65536 }, { containerID: 65536, hostID: 300000, size: 1000 }],
  gids: [{ containerID: 0, hostID: 200000, size: 65536 }],
};

test('IDs through the mapping and back; what is outside passes or becomes the overflow ID', () => {
  assert.equal(toHostId(map.uids, 0), 100000);
  assert.equal(toHostId(map.uids, 65535), 165535);
  assert.equal(toHostId(map.uids, 65536), 300000);
  assert.equal(toHostId(map.uids, 66536), undefined);
  assert.equal(toContainerId(map.uids, 300999), 66535);
  assert.equal(toContainerId(map.uids, 5), undefined);
  assert.deepEqual(remappedRoot(map), { uid: 100000, gid: 200000 });
  // Out of a container: host IDs of the mapping become its own; others (drayd's writes) stay.
  assert.deepEqual(outOf(map)(101000, 201000), { uid: 1000, gid: 1000 });
  assert.deepEqual(outOf(map)(0, 0), { uid: 0, gid: 0 });
  // Into one: container IDs become the host's; unmapped ones nobody's.
  assert.deepEqual(into(map)(0, 0), { uid: 100000, gid: 200000 });
  assert.deepEqual(into(map)(70000, 70000), { uid: 65534, gid: 65534 });
});

test('Docker\'s device cgroup rule syntax and its errors', () => {
  assert.deepEqual(parseDeviceCgroupRule('c 1:3 rwm'), { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' });
  assert.deepEqual(parseDeviceCgroupRule('b 8:* r'), { allow: true, type: 'b', major: 8, access: 'r' });
  assert.deepEqual(parseDeviceCgroupRule('a *:* m'), { allow: true, type: 'a', access: 'm' });
  for (const bad of ['c 1:3', 'c 1:3 rwmx', 'x 1:3 r', 'c a:3 r', ' c 1:3 r', 'c 1:3 rwm ']) {
    assert.throws(() => parseDeviceCgroupRule(bad), { message: `invalid device cgroup rule format: '${bad}'` });
  }
  assert.throws(() => parseDeviceCgroupRule('c 1:99999999999999999999 r'), { message: "invalid minor value in device cgroup rule format: 'c 1:99999999999999999999 r'" });
});

test('cgroup paths under --cgroup-parent', () => {
  assert.equal(containerCgroupPath(ID), `/dray/${ID}`);
  assert.equal(containerCgroupPath(ID, ''), `/dray/${ID}`);
  assert.equal(containerCgroupPath(ID, '/my/parent/'), `/my/parent/${ID}`);
  assert.equal(containerCgroupPath(ID, 'rel'), `/rel/${ID}`);
  assert.equal(containerCgroupPath(ID, '/'), `/${ID}`);
  assert.equal(containerCgroupPath(ID, '../../up'), `/up/${ID}`, '.. stops at the root');
});

test('the spec: a joined or made user namespace, the host cgroup namespace, device rules, no-new-privileges', () => {
  const made = buildSpec(input({ userns: map }));
  assert.ok(made.linux.namespaces.some((n) => n.type === 'user' && !n.path));
  assert.deepEqual(made.linux.uidMappings, map.uids);
  assert.deepEqual(made.linux.gidMappings, map.gids);
  const joined = buildSpec(input({ userns: map, usernsPath: '/run/x/userns/1' }));
  assert.ok(joined.linux.namespaces.some((n) => n.type === 'user' && n.path === '/run/x/userns/1'));
  assert.equal(joined.linux.uidMappings, undefined, 'a joined namespace has its own mappings');
  assert.ok(!buildSpec(input()).linux.namespaces.some((n) => n.type === 'user'));

  assert.ok(buildSpec(input()).linux.namespaces.some((n) => n.type === 'cgroup'));
  assert.ok(!buildSpec(input({ cgroupns: 'host' })).linux.namespaces.some((n) => n.type === 'cgroup'));

  const rules = buildSpec(input({ deviceCgroupRules: ['c 42:* rw'] })).linux.resources.devices;
  assert.deepEqual(rules[rules.length - 1], { allow: true, type: 'c', major: 42, access: 'rw' });
  assert.deepEqual(buildSpec(input({ privileged: true, deviceCgroupRules: ['c 42:* rw'] })).linux.resources.devices, [{ allow: true, access: 'rwm' }]);

  assert.equal(buildSpec(input()).process.noNewPrivileges, false);
  assert.equal(buildSpec(input({ noNewPrivileges: true })).process.noNewPrivileges, true);
  assert.equal(buildSpec(input({ noNewPrivileges: true, securityOpt: ['no-new-privileges=false'] })).process.noNewPrivileges, false);
  assert.equal(buildSpec(input({ securityOpt: ['no-new-privileges'] })).process.noNewPrivileges, true);
});

test('subordinate ranges of /etc/subuid lines, by name or number, in file order', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dray-subuid-'));
  try {
    const file = path.join(dir, 'subuid');
    writeFileSync(file, 'other:100000:65536\nme:165536:65536\n# comment\n1001:300000:10\nbroken:x:1\nme:400000:5\n');
    assert.deepEqual(subordinateRanges(file, { name: 'me', id: 1001 }), [{ start: 165536, size: 65536 }, { start: 300000, size: 10 }, { start: 400000, size: 5 }]);
    assert.deepEqual(subordinateRanges(file, { name: 'nobody', id: 65534 }), []);
    assert.deepEqual(subordinateRanges(path.join(dir, 'missing'), { name: 'me', id: 1001 }), []);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
