import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AddressPool, cidrsOverlap, defaultCandidates, intToIp, ipToInt, parseCidr, resolvePoolConfig } from '../../src/engine/ipam';
import { isKind } from '../../src/lib/errors';

test('ip conversions round-trip and reject garbage', () => {
  assert.equal(intToIp(ipToInt('10.213.4.255')!), '10.213.4.255');
  assert.equal(ipToInt('255.255.255.255'), 0xffffffff);
  assert.equal(ipToInt('10.0.0.256'), undefined);
  assert.equal(ipToInt('10.0.0'), undefined);
});

test('subnets must have zero host bits, as Docker demands', () => {
  assert.deepEqual(parseCidr('10.213.1.0/24'), { base: ipToInt('10.213.1.0'), prefix: 24 });
  assert.throws(() => parseCidr('10.213.1.5/24'), /it should be 10.213.1.0\/24/);
  assert.throws(() => parseCidr('10.213.1.0/33'), /invalid CIDR/);
  assert.equal(parseCidr('10.213.1.5/24', false).base, ipToInt('10.213.1.0'));
});

test('overlap detection', () => {
  assert.ok(cidrsOverlap(parseCidr('10.88.0.0/16'), parseCidr('10.88.4.0/24')));
  assert.ok(!cidrsOverlap(parseCidr('10.88.0.0/16'), parseCidr('10.89.0.0/16')));
});

test('resolvePoolConfig: explicit subnet, gateway, range; overlap is Forbidden', () => {
  const cand = () => defaultCandidates();
  assert.deepEqual(resolvePoolConfig({ Subnet: '10.213.5.0/24' }, [], cand), { Subnet: '10.213.5.0/24', Gateway: '10.213.5.1' });
  assert.deepEqual(resolvePoolConfig({ Subnet: '10.213.5.0/24', Gateway: '10.213.5.254', IPRange: '10.213.5.128/25' }, [], cand),
    { Subnet: '10.213.5.0/24', Gateway: '10.213.5.254', IPRange: '10.213.5.128/25' });
  assert.throws(() => resolvePoolConfig({ Subnet: '10.213.5.0/24', Gateway: '10.213.6.1' }, [], cand), /no matching subnet for gateway/);
  assert.throws(() => resolvePoolConfig({ Subnet: '10.213.5.0/24', IPRange: '10.213.6.0/25' }, [], cand), /no matching subnet for range/);
  try {
    resolvePoolConfig({ Subnet: '10.213.5.0/25' }, ['10.213.0.0/16'], cand);
    assert.fail('expected overlap');
  } catch (e) {
    assert.ok(isKind(e, 'Forbidden'));
    assert.equal((e as Error).message, 'Pool overlaps with other one on this address space');
  }
});

test('resolvePoolConfig picks the first free default pool, avoiding taken and host subnets', () => {
  const cand = () => defaultCandidates();
  assert.equal(resolvePoolConfig({}, ['10.88.0.0/16'], cand).Subnet, '10.89.0.0/16');
  assert.equal(resolvePoolConfig({}, ['10.89.0.0/16'], cand, ['10.90.3.0/24']).Subnet, '10.91.0.0/16');
  assert.equal(resolvePoolConfig({}, [], cand).Gateway, '10.89.0.1');
});

test('pool hands out addresses in order, skips gateway and broadcast, does not reuse at once', () => {
  const p = new AddressPool({ Subnet: '10.213.7.0/29', Gateway: '10.213.7.1' });
  const got = [p.allocate(), p.allocate(), p.allocate()];
  assert.deepEqual(got, ['10.213.7.2', '10.213.7.3', '10.213.7.4']);
  p.release('10.213.7.3');
  assert.equal(p.allocate(), '10.213.7.5');
  assert.equal(p.allocate(), '10.213.7.6');
  assert.equal(p.allocate(), '10.213.7.3', 'wraps around to the released one');
  assert.throws(() => p.allocate(), /no available IPv4 addresses/);
});

test('pool honours the ip range and static addresses', () => {
  const p = new AddressPool({ Subnet: '10.213.8.0/24', Gateway: '10.213.8.1', IPRange: '10.213.8.128/25' });
  assert.equal(p.allocate(), '10.213.8.129');
  assert.equal(p.reserve('10.213.8.10'), '10.213.8.10');
  assert.throws(() => p.reserve('10.213.8.10'), /Address already in use/);
  assert.throws(() => p.reserve('10.213.8.1'), /Address already in use/);
  assert.throws(() => p.reserve('10.213.9.10'), /no configured subnet/);
  assert.ok(p.has('10.213.8.10'));
});

test('a pool rebuilt from persisted addresses continues after them', () => {
  const p = new AddressPool({ Subnet: '10.213.9.0/24', Gateway: '10.213.9.1' }, ['10.213.9.2', '10.213.9.7']);
  assert.equal(p.allocate(), '10.213.9.8');
  assert.throws(() => p.reserve('10.213.9.2'), /Address already in use/);
});
