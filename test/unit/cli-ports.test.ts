import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePortSpec, parsePortSpecs, parseExpose, displayPorts } from '../../src/cli/opts/ports';

const one = (s: string) => parsePortSpec(s).map((x) => [x.port, x.binding.HostIp, x.binding.HostPort]);

test('-p forms', () => {
  assert.deepEqual(one('80'), [['80/tcp', '', '']]);
  assert.deepEqual(one('80/udp'), [['80/udp', '', '']]);
  assert.deepEqual(one('8080:80'), [['80/tcp', '', '8080']]);
  assert.deepEqual(one('127.0.0.1:8080:80'), [['80/tcp', '127.0.0.1', '8080']]);
  assert.deepEqual(one('127.0.0.1::80'), [['80/tcp', '127.0.0.1', '']]);
  assert.deepEqual(one('[::1]:8080:80/tcp'), [['80/tcp', '::1', '8080']]);
  assert.deepEqual(one('8000-8001:80-81'), [['80/tcp', '', '8000'], ['81/tcp', '', '8001']]);
  assert.deepEqual(one('8000-8010:80'), [['80/tcp', '', '8000-8010']]);
  assert.deepEqual(one('80-81'), [['80/tcp', '', ''], ['81/tcp', '', '']]);
  assert.deepEqual(one('53:53/UDP'), [['53/udp', '', '53']]);
});

test('-p errors with docker wording', () => {
  assert.throws(() => parsePortSpec('abc'), { message: 'invalid containerPort: abc' });
  assert.throws(() => parsePortSpec('x:80'), { message: 'invalid hostPort: x' });
  assert.throws(() => parsePortSpec('8000-8002:80-81'), /invalid ranges specified for container and host Ports/);
  assert.throws(() => parsePortSpec('80/xyz'), { message: 'invalid proto: xyz' });
  assert.throws(() => parsePortSpec('1.2.3:80:80'), /invalid IP address/);
  assert.throws(() => parsePortSpec('70000'), /invalid containerPort/);
});

test('parsePortSpecs merges bindings of the same port', () => {
  const r = parsePortSpecs(['8080:80', '127.0.0.1:9090:80', '53/udp']);
  assert.deepEqual(r.exposed, { '80/tcp': {}, '53/udp': {} });
  assert.deepEqual(r.bindings['80/tcp'], [{ HostIp: '', HostPort: '8080' }, { HostIp: '127.0.0.1', HostPort: '9090' }]);
});

test('--expose', () => {
  assert.deepEqual(parseExpose(['80', '90-91/udp']), { '80/tcp': {}, '90/udp': {}, '91/udp': {} });
  assert.throws(() => parseExpose(['1:2']), /invalid port format/);
});

test('ps PORTS column', () => {
  assert.equal(displayPorts([{ IP: '0.0.0.0', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' }, { IP: '::', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' }]), '0.0.0.0:8080->80/tcp, [::]:8080->80/tcp');
  assert.equal(displayPorts([{ PrivatePort: 80, Type: 'tcp' }, { PrivatePort: 81, Type: 'tcp' }]), '80-81/tcp');
  assert.equal(displayPorts([]), '');
});
