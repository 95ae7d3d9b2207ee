// Dual-stack user networks (`network create --ipv6`) against a real drayd with the docker CLI:
// addresses given and chosen, reachability and names over IPv6 (aardvark answers AAAA), what
// inspect shows, a restart that keeps the bookings, Docker's errors, and a removal that leaves
// no ip6tables rule behind. Subnets are unique local ones (fd00::/8) of the test's own.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { TestDaemon, sleep } from '../helpers/daemon';

const d = new TestDaemon();
// A /64 of this run's own, so parallel runs and debris never meet.
// In canonical form (no leading zeros), as drayd, like Docker, reports subnets.
const group = (bytes: number) => parseInt(randomBytes(bytes).toString('hex'), 16).toString(16);
const prefix = `fd${randomBytes(1).toString('hex')}:${group(2)}:${group(2)}`;
const v6subnet = `${prefix}::/64`;
const v4subnet = () => `10.${d.subnetByte}.6.0/24`;

before(async () => {
  await d.start();
  await d.bootstrapBusybox();
});

after(async () => {
  for (const c of (await d.api('GET', '/containers/json?all=1')).json ?? []) await d.api('DELETE', `/containers/${c.Id}?force=1`);
  for (const n of (await d.api('GET', '/networks')).json ?? []) if (!['bridge', 'host', 'none'].includes(n.Name)) await d.api('DELETE', `/networks/${n.Id}`);
  const leaks = await d.stop();
  const v6rules = spawnSync('ip6tables-save', [], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.includes(prefix));
  assert.deepEqual(leaks, [], 'nothing may be left behind');
  assert.deepEqual(v6rules, [], 'no ip6tables rule for the test subnet');
});

function ok(args: string[]): string {
  const r = d.docker(args);
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return r.stdout.toString();
}

test('a dual-stack network: addresses chosen and given, ping and names over IPv6, inspect as Docker shows it', async () => {
  ok(['network', 'create', '--ipv6', '--subnet', v4subnet(), '--subnet', v6subnet, 'dual']);
  const net = (await d.api('GET', '/networks/dual')).json;
  assert.equal(net.EnableIPv6, true);
  assert.deepEqual(net.IPAM.Config, [{ Subnet: v4subnet(), Gateway: `10.${d.subnetByte}.6.1` }, { Subnet: v6subnet, Gateway: `${prefix}::1` }]);

  ok(['run', '-d', '--name', 'six1', '--network', 'dual', 'busybox', 'sleep', '600']);
  ok(['run', '-d', '--name', 'six2', '--network', 'dual', '--ip6', `${prefix}::99`, 'busybox', 'sleep', '600']);
  const s1 = (await d.api('GET', '/containers/six1/json')).json.NetworkSettings.Networks.dual;
  const s2 = (await d.api('GET', '/containers/six2/json')).json.NetworkSettings.Networks.dual;
  assert.equal(s1.GlobalIPv6Address, `${prefix}::2`);
  assert.equal(s1.GlobalIPv6PrefixLen, 64);
  assert.equal(s1.IPv6Gateway, `${prefix}::1`);
  assert.equal(s1.IPAMConfig, null);
  assert.equal(s2.GlobalIPv6Address, `${prefix}::99`);
  assert.deepEqual(s2.IPAMConfig, { IPv6Address: `${prefix}::99` });
  assert.match(s2.IPAddress, new RegExp(`^10\\.${d.subnetByte}\\.6\\.\\d+$`), 'dual stack: an IPv4 address too');

  assert.match(ok(['exec', 'six1', 'ip', '-6', '-o', 'addr', 'show', 'eth0', 'scope', 'global']), new RegExp(`inet6 ${prefix}::2/64`));
  assert.match(ok(['exec', 'six1', 'ip', '-6', 'route', 'show', 'default']), new RegExp(`default via ${prefix}::1 dev eth0`));
  ok(['exec', 'six1', 'ping6', '-c1', '-W3', `${prefix}::99`]);
  // aardvark answers the name with the IPv6 address too.
  assert.match(ok(['exec', 'six1', 'nslookup', '-type=AAAA', 'six2']), new RegExp(`Address: ${prefix}::99`));
  ok(['exec', 'six1', 'ping', '-6', '-c1', '-W3', 'six2']);
  assert.match(ok(['exec', 'six2', 'cat', '/etc/hosts']), new RegExp(`^${prefix}::99\\t`, 'm'));

  const containers = (await d.api('GET', '/networks/dual')).json.Containers;
  const entry = Object.values(containers).find((c: any) => c.Name === 'six2') as any;
  assert.equal(entry.IPv6Address, `${prefix}::99/64`);
  assert.equal(ok(['network', 'ls', '--filter', 'name=dual', '--format', '{{.IPv6}}']).trim(), 'true');
});

test('the bookings survive a drayd restart; a connect takes --ip6; Docker\'s errors for addresses taken or outside', async () => {
  await d.stopDaemon();
  await d.start();
  const six3 = d.docker(['run', '-d', '--name', 'six3', '--network', 'dual', 'busybox', 'sleep', '600']);
  assert.equal(six3.code, 0, six3.stderr);
  const a3 = (await d.api('GET', '/containers/six3/json')).json.NetworkSettings.Networks.dual.GlobalIPv6Address;
  assert.ok(a3 !== `${prefix}::2` && a3 !== `${prefix}::99` && a3.startsWith(`${prefix}::`), `a fresh address after the restart, got ${a3}`);

  const taken = d.docker(['run', '--rm', '--network', 'dual', '--ip6', `${prefix}::99`, 'busybox', 'true']);
  assert.equal(taken.code, 125);
  assert.match(taken.stderr, new RegExp(`Address already in use: ${prefix}::99`));
  const outside = d.docker(['run', '--rm', '--network', 'dual', '--ip6', 'fd00:ffff::5', 'busybox', 'true']);
  assert.equal(outside.code, 125);
  assert.match(outside.stderr, /no configured subnet contains IP address fd00:ffff::5/);

  // A second dual-stack network with a ULA /64 of drayd's choosing, connected with a given address.
  ok(['network', 'create', '--ipv6', 'auto6']);
  const cfg = (await d.api('GET', '/networks/auto6')).json.IPAM.Config;
  assert.equal(cfg.length, 2);
  assert.match(cfg[1].Subnet, /^fd[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f]{1,4}::\/64$/);
  const auto = cfg[1].Subnet.replace('::/64', '');
  ok(['network', 'connect', '--ip6', `${auto}::77`, 'auto6', 'six1']);
  assert.match(ok(['exec', 'six1', 'ip', '-6', '-o', 'addr', 'show', 'eth1', 'scope', 'global']), new RegExp(`inet6 ${auto}::77/64`));
  ok(['network', 'disconnect', 'auto6', 'six1']);
  ok(['network', 'rm', 'auto6']);
  const v6only = d.docker(['network', 'create', '--subnet', 'fd00:1:2::/64', 'nov6']);
  assert.equal(v6only.code, 1);
  assert.match(v6only.stderr, /given for a network without IPv6: add --ipv6/);
});

test('removing the network takes its IPv6 rules, bridge and aardvark along', async () => {
  for (const n of ['six1', 'six2', 'six3']) ok(['rm', '-f', n]);
  ok(['network', 'rm', 'dual']);
  const left = () => spawnSync('ip6tables-save', [], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.includes(prefix)).length;
  for (let i = 0; i < 50 && left(); i++) await sleep(100);
  assert.equal(left(), 0, 'ip6tables rules of the removed network');
  assert.deepEqual(d.aardvarkPids(), [], 'aardvark-dns stopped with the last DNS network');
});
