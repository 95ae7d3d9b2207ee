// IPv6 address management (src/engine/ipam6.ts): parsing, RFC 5952 text, subnets and pools.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AddressPool6, bigToIp6, ip6ToBig, parseCidr6, resolvePool6Config } from '../../src/engine/ipam6';

test('addresses round-trip to their canonical text (RFC 5952), as Go prints them', () => {
  for (const [given, canonical] of [
    ['FD00:0:0:0:0:0:0:1', 'fd00::1'], ['fd00:0db8:0000:0000:0000:ff00:0042:8329', 'fd00:db8::ff00:42:8329'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], ['::', '::'], ['::1', '::1'], ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['::ffff:10.1.2.3', '::ffff:a01:203'], ['fd12:3456:789a:1::', 'fd12:3456:789a:1::'],
  ]) assert.equal(bigToIp6(ip6ToBig(given)!), canonical, given);
  for (const bad of ['fd00::1::2', '10.0.0.1', 'fd00:::1', 'g::1', 'fe80::1%eth0', '']) assert.equal(ip6ToBig(bad), undefined, bad);
});

test('subnets: host bits refused as Docker words it; gateways inside; overlaps forbidden; a ULA /64 chosen when none is given', () => {
  assert.throws(() => parseCidr6('fd00::1/64'), /invalid subnet fd00::1\/64 : it should be fd00::\/64/);
  assert.throws(() => parseCidr6('fd00::/129'), /invalid CIDR address/);
  assert.deepEqual(resolvePool6Config({ Subnet: 'fd00:1::/64' }, []), { Subnet: 'fd00:1::/64', Gateway: 'fd00:1::1' });
  assert.deepEqual(resolvePool6Config({ Subnet: 'fd00:1::/64', Gateway: 'fd00:1::fe' }, []), { Subnet: 'fd00:1::/64', Gateway: 'fd00:1::fe' });
  assert.throws(() => resolvePool6Config({ Subnet: 'fd00:1::/64', Gateway: 'fd00:2::1' }, []), /gateway fd00:2::1 is not in subnet fd00:1::\/64/);
  assert.throws(() => resolvePool6Config({ Subnet: 'fd00:1::/64' }, ['fd00::/16']), /Pool overlaps with other one on this address space/);
  const auto = resolvePool6Config({}, ['fd00:1::/64']);
  assert.match(auto.Subnet, /^fd[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f]{1,4}::\/64$/);
  assert.equal(auto.Gateway, auto.Subnet.replace('/64', '1'));
});

test('a pool hands out addresses after the gateway, never one in use, and takes static ones', () => {
  const p = new AddressPool6({ Subnet: 'fd00:9::/64', Gateway: 'fd00:9::1' }, ['fd00:9::3']);
  assert.equal(p.allocate(), 'fd00:9::2');
  assert.equal(p.allocate(), 'fd00:9::4', 'an address in use is skipped');
  assert.equal(p.reserve('fd00:9::99'), 'fd00:9::99');
  assert.throws(() => p.reserve('fd00:9::99'), /Address already in use: fd00:9::99/);
  assert.throws(() => p.reserve('fd00:9::1'), /Address already in use/, 'the gateway');
  assert.throws(() => p.reserve('fd00:8::5'), /no configured subnet contains IP address fd00:8::5/);
  p.release('fd00:9::99');
  assert.equal(p.reserve('fd00:9::99'), 'fd00:9::99');
  // A small subnet runs out, with Docker's kind of error.
  const small = new AddressPool6({ Subnet: 'fd00:7::/126', Gateway: 'fd00:7::1' });
  assert.equal(small.allocate(), 'fd00:7::2');
  assert.throws(() => small.allocate(), /no available IPv6 addresses/);
});
