import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocatePorts, parsePublishSpec, PortBook, portRequests, portsSetting, toNetavarkPorts, PortMapping } from '../../src/engine/ports';

test('parsePublishSpec: every -p form', () => {
  assert.deepEqual(parsePublishSpec('8080:80'), { exposed: ['80/tcp'], bindings: { '80/tcp': [{ HostIp: '', HostPort: '8080' }] } });
  assert.deepEqual(parsePublishSpec('127.0.0.1:8080:80'), { exposed: ['80/tcp'], bindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }] } });
  assert.deepEqual(parsePublishSpec('8080:80/udp'), { exposed: ['80/udp'], bindings: { '80/udp': [{ HostIp: '', HostPort: '8080' }] } });
  assert.deepEqual(parsePublishSpec('80'), { exposed: ['80/tcp'], bindings: { '80/tcp': [{ HostIp: '', HostPort: '' }] } });
  assert.deepEqual(parsePublishSpec('127.0.0.1::80'), { exposed: ['80/tcp'], bindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] } });
  assert.deepEqual(parsePublishSpec('8000-8001:80-81').bindings, { '80/tcp': [{ HostIp: '', HostPort: '8000' }], '81/tcp': [{ HostIp: '', HostPort: '8001' }] });
  assert.deepEqual(parsePublishSpec('8000-8010:80').bindings, { '80/tcp': [{ HostIp: '', HostPort: '8000-8010' }] });
  assert.deepEqual(parsePublishSpec('[::1]:8080:80').bindings, { '80/tcp': [{ HostIp: '::1', HostPort: '8080' }] });
  assert.throws(() => parsePublishSpec('8000-8002:80-81'), /invalid ranges/);
  assert.throws(() => parsePublishSpec('8080:80/xyz'), /invalid proto/);
  assert.throws(() => parsePublishSpec('a:b:c:d'), /invalid/);
  assert.throws(() => parsePublishSpec('70000:80'), /invalid hostPort/);
});

test('portRequests: bindings, -P for the rest of the exposed ports, the IPv6 any address skipped, a particular IPv6 address refused', () => {
  assert.throws(() => portRequests({ '80/tcp': [{ HostIp: '::1', HostPort: '8080' }] }, false, []), /publishing on the IPv6 address ::1 is not implemented/);
  const reqs = portRequests({ '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }, { HostIp: '::', HostPort: '8080' }], '53/udp': [{ HostPort: '' }] }, true, ['80/tcp', '443/tcp']);
  assert.deepEqual(reqs, [
    { hostIp: '', hostPortFrom: 8080, hostPortTo: 8080, containerPort: 80, protocol: 'tcp' },
    { hostIp: '', hostPortFrom: 0, hostPortTo: 0, containerPort: 53, protocol: 'udp' },
    { hostIp: '', hostPortFrom: 0, hostPortTo: 0, containerPort: 443, protocol: 'tcp' },
  ]);
  assert.deepEqual(portRequests({}, false, ['80/tcp']), []);
});

const free = async () => true;

test('allocatePorts: fixed, range and random ports; own conflicts are "already allocated"', async () => {
  const book = new PortBook();
  const a = await allocatePorts([{ hostIp: '', hostPortFrom: 8080, hostPortTo: 8080, containerPort: 80, protocol: 'tcp' }], book, 'a', free);
  assert.equal(a[0].hostPort, 8080);
  await assert.rejects(allocatePorts([{ hostIp: '127.0.0.1', hostPortFrom: 8080, hostPortTo: 8080, containerPort: 80, protocol: 'tcp' }], book, 'b', free),
    /Bind for 127.0.0.1:8080 failed: port is already allocated/);
  // Another protocol or a free port is fine.
  await allocatePorts([{ hostIp: '', hostPortFrom: 8080, hostPortTo: 8080, containerPort: 80, protocol: 'udp' }], book, 'b', free);
  const r = await allocatePorts([{ hostIp: '', hostPortFrom: 8080, hostPortTo: 8082, containerPort: 80, protocol: 'tcp' }], book, 'c', free);
  assert.equal(r[0].hostPort, 8081);
  const rnd = await allocatePorts([{ hostIp: '', hostPortFrom: 0, hostPortTo: 0, containerPort: 80, protocol: 'tcp' }], book, 'd', free, [40000, 40001]);
  assert.ok(rnd[0].hostPort === 40000 || rnd[0].hostPort === 40001);
  book.releaseOwner('a');
  await allocatePorts([{ hostIp: '', hostPortFrom: 8080, hostPortTo: 8080, containerPort: 80, protocol: 'tcp' }], book, 'e', free);
});

test('allocatePorts: a port held on the host fails, random picks skip it, failures book nothing', async () => {
  const book = new PortBook();
  const busy = async (m: PortMapping) => m.hostPort !== 9000;
  await assert.rejects(allocatePorts([
    { hostIp: '', hostPortFrom: 9001, hostPortTo: 9001, containerPort: 81, protocol: 'tcp' },
    { hostIp: '', hostPortFrom: 9000, hostPortTo: 9000, containerPort: 80, protocol: 'tcp' },
  ], book, 'a', busy), /address already in use/);
  assert.deepEqual(book.owned('a'), []);
  const r = await allocatePorts([{ hostIp: '', hostPortFrom: 0, hostPortTo: 0, containerPort: 80, protocol: 'tcp' }], book, 'a', busy, [9000, 9001]);
  assert.equal(r[0].hostPort, 9001);
});

test('concurrent random allocations never collide', async () => {
  const book = new PortBook();
  const slow = () => new Promise<boolean>((r) => setTimeout(() => r(true), 5));
  const req = { hostIp: '', hostPortFrom: 0, hostPortTo: 0, containerPort: 80, protocol: 'tcp' as const };
  const all = await Promise.all(Array.from({ length: 10 }, (_, i) => allocatePorts([req], book, `c${i}`, slow, [41000, 41009])));
  assert.equal(new Set(all.map((x) => x[0].hostPort)).size, 10);
});

test('toNetavarkPorts merges consecutive ranges', () => {
  const m = (h: number, c: number, protocol: 'tcp' | 'udp' = 'tcp'): PortMapping => ({ hostIp: '', hostPort: h, containerPort: c, protocol });
  assert.deepEqual(toNetavarkPorts([m(8001, 81), m(8000, 80), m(9000, 90), m(8002, 82, 'udp')]), [
    { host_ip: '', container_port: 80, host_port: 8000, range: 2, protocol: 'tcp' },
    { host_ip: '', container_port: 90, host_port: 9000, range: 1, protocol: 'tcp' },
    { host_ip: '', container_port: 82, host_port: 8002, range: 1, protocol: 'udp' },
  ]);
});

test('portsSetting: Docker NetworkSettings.Ports shape', () => {
  assert.deepEqual(portsSetting([{ hostIp: '', hostPort: 8080, containerPort: 80, protocol: 'tcp' }], ['80/tcp', '443/tcp']), {
    '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }],
    '443/tcp': null,
  });
});

test('HostPort "0" (as testcontainers sends it) and an empty one both mean any free port', () => {
  const reqs = portRequests({ '80/tcp': [{ HostIp: '', HostPort: '0' }], '81/tcp': [{ HostPort: '' }] }, false, []);
  assert.deepEqual(reqs.map((r) => [r.containerPort, r.hostPortFrom, r.hostPortTo]), [[80, 0, 0], [81, 0, 0]]);
  assert.deepEqual(parsePublishSpec('0:80').bindings, { '80/tcp': [{ HostIp: '', HostPort: '0' }] });
});
