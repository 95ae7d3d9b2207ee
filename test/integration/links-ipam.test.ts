// Legacy links, network IPAM details (auxiliary addresses, gateway, range), names with spaces,
// --mac-address, and a --rm container whose start fails on the network: against a real drayd.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestDaemon } from '../helpers/daemon';

const d = new TestDaemon();

before(async () => {
  await d.start();
  await d.bootstrapBusybox();
});

after(async () => {
  assert.deepEqual(await d.stop(), [], 'nothing may be left behind');
});

function ok(args: string[]): string {
  const r = d.docker(args);
  assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

test('--link name:alias: a hosts entry and ALIAS_* variables, the link in ps and inspect, rm --link', async () => {
  ok(['run', '-d', '--name', 'db', '--expose', '5432', '--expose', '5433', '-e', 'DB_USER=app', 'busybox', 'sleep', '600']);
  const ip = ok(['inspect', '-f', '{{.NetworkSettings.Networks.bridge.IPAddress}}', 'db']).trim();
  assert.match(ip, /^10\.\d+\.0\.\d+$/);
  const out = ok(['run', '--rm', '--name', 'app', '--link', 'db:pg', 'busybox', 'sh', '-c', 'grep -w pg /etc/hosts; env | grep ^PG_ | sort']);
  const lines = out.trim().split('\n');
  const dbHost = ok(['inspect', '-f', '{{.Config.Hostname}}', 'db']).trim();
  assert.equal(lines[0], `${ip}\tpg ${dbHost} db`);
  const env = lines.slice(1);
  for (const want of [
    `PG_PORT=tcp://${ip}:5432`, `PG_PORT_5432_TCP=tcp://${ip}:5432`, `PG_PORT_5432_TCP_ADDR=${ip}`, 'PG_PORT_5432_TCP_PORT=5432',
    'PG_PORT_5432_TCP_PROTO=tcp', `PG_PORT_5433_TCP=tcp://${ip}:5433`, `PG_PORT_5432_TCP_START=tcp://${ip}:5432`,
    `PG_PORT_5432_TCP_END=tcp://${ip}:5433`, 'PG_NAME=/app/pg', 'PG_ENV_DB_USER=app',
  ]) assert.ok(env.includes(want), `${want} in ${env.join(' ')}`);
  assert.ok(!env.some((e) => e.startsWith('PG_ENV_PATH=')), 'PATH is not passed on');
  ok(['run', '-d', '--name', 'web', '--link', 'db', 'busybox', 'sleep', '600']);
  assert.equal(ok(['inspect', '-f', '{{json .HostConfig.Links}}', 'web']), '["/db:/web/db"]\n');
  assert.equal(ok(['ps', '--no-trunc', '--filter', 'name=db', '--format', '{{.Names}}']).trim(), 'db,web/db');
  assert.equal(ok(['ps', '--filter', 'name=db', '--format', '{{.Names}}']).trim(), 'db', 'link names are hidden unless --no-trunc');
  assert.equal(ok(['rm', '--link', '/web/db']), '/web/db\n');
  assert.equal(ok(['inspect', '-f', '{{json .HostConfig.Links}}', 'web']), '[]\n');
  assert.equal(ok(['ps', '--no-trunc', '--filter', 'name=db', '--format', '{{.Names}}']).trim(), 'db');
  ok(['rm', '-f', 'web']);
  // A link to a stopped container fails the start; to a missing one, the create.
  ok(['stop', '-t', '0', 'db']);
  const stopped = d.docker(['run', '--rm', '--link', 'db:pg', 'busybox', 'true']);
  assert.equal(stopped.code, 125);
  assert.match(stopped.stderr, /Error response from daemon: Cannot link to a non running container: \/db AS \/\w+\/pg/);
  const missing = d.docker(['run', '--rm', '--link', 'nosuch:x', 'busybox', 'true']);
  assert.equal(missing.code, 125);
  assert.match(missing.stderr, /could not get container for nosuch/);
  assert.doesNotMatch(missing.stderr, /Unable to find image/);
  const host = d.docker(['run', '--rm', '--network', 'host', '--link', 'db', 'busybox', 'true']);
  assert.equal(host.code, 125);
  assert.match(host.stderr, /conflicting options: host type networking can't be used with links/);
  ok(['rm', 'db']);
  assert.equal((await d.api('GET', '/containers/json?all=1')).json.length, 0, 'nothing left');
});

test('network create with full IPAM config: gateway, range, auxiliary addresses, options and labels', () => {
  ok(['network', 'create', '--subnet', '10.77.0.0/24', '--gateway', '10.77.0.254', '--ip-range', '10.77.0.0/30',
    '--aux-address', 'router=10.77.0.1', '--label', 'team=a', '-o', 'com.docker.network.driver.mtu=1400', 'ipamnet']);
  const ipam = JSON.parse(ok(['network', 'inspect', '-f', '{{json .IPAM.Config}}', 'ipamnet']));
  assert.deepEqual(ipam, [{ Subnet: '10.77.0.0/24', Gateway: '10.77.0.254', IPRange: '10.77.0.0/30', AuxiliaryAddresses: { router: '10.77.0.1' } }]);
  assert.equal(ok(['network', 'inspect', '-f', '{{.Labels.team}}', 'ipamnet']), 'a\n');
  // The range is 10.77.0.0/30: .0 is the network address and .1 auxiliary, so .2 is the first a container gets.
  assert.equal(ok(['run', '--rm', '--network', 'ipamnet', 'busybox', 'sh', '-c', "ip -4 -o addr show eth0 | awk '{print $4}'; cat /sys/class/net/eth0/mtu; ip route | awk '/default/ {print $3}'"]),
    '10.77.0.2/24\n1400\n10.77.0.254\n');
  const aux = d.docker(['run', '--rm', '--network', 'ipamnet', '--ip', '10.77.0.1', 'busybox', 'true']);
  assert.equal(aux.code, 125);
  assert.match(aux.stderr, /Address already in use/);
  ok(['network', 'rm', 'ipamnet']);
});

test('names with spaces, as Docker allows them, and --mac-address', () => {
  ok(['network', 'create', 'my net']);
  ok(['run', '-d', '--name', 'spc', '--network', 'my net', '--mac-address', '92:d0:c6:0a:29:33', 'busybox', 'sleep', '600']);
  assert.equal(ok(['exec', 'spc', 'cat', '/sys/class/net/eth0/address']), '92:d0:c6:0a:29:33\n');
  assert.equal(ok(['inspect', '-f', '{{(index .NetworkSettings.Networks "my net").MacAddress}}', 'spc']), '92:d0:c6:0a:29:33\n');
  assert.match(ok(['run', '--rm', '--network', 'my net', 'busybox', 'ping', '-c1', '-W2', 'spc']), /1 packets received/);
  ok(['rm', '-f', 'spc']);
  ok(['network', 'rm', 'my net']);
  assert.equal(ok(['run', '--rm', '--mac-address', '02:42:ac:11:00:99', 'busybox', 'cat', '/sys/class/net/eth0/address']), '02:42:ac:11:00:99\n');
  const bad = d.docker(['network', 'create', 'a/b']);
  assert.notEqual(bad.code, 0);
});

test('a --rm container whose start fails on its network is removed (the client waiting for that returns)', async () => {
  ok(['network', 'create', '--subnet', '10.78.0.0/29', 'tinynet']);
  ok(['run', '-d', '--name', 'holder', '--network', 'tinynet', '--ip', '10.78.0.2', 'busybox', 'sleep', '600']);
  const r = d.docker(['run', '--rm', '--network', 'tinynet', '--ip', '10.78.0.2', 'busybox', 'true']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /Address already in use/);
  assert.deepEqual((await d.api('GET', '/containers/json?all=1')).json.map((c: any) => c.Names[0]), ['/holder']);
  ok(['rm', '-f', 'holder']);
  ok(['network', 'rm', 'tinynet']);
});

test('--link-local-ip adds the addresses to the interface and inspect shows them; an IPv6 address on a network without IPv6 is refused', async () => {
  ok(['network', 'create', 'v4only']);
  ok(['run', '-d', '--name', 'llip', '--network', 'v4only', '--link-local-ip', '169.254.7.7', '--link-local-ip', 'fe80::77', 'busybox', 'sleep', '60']);
  const addrs = ok(['exec', 'llip', 'ip', '-o', 'addr', 'show', 'eth0']);
  assert.match(addrs, /inet 169\.254\.7\.7\/16/);
  assert.match(addrs, /inet6 fe80::77\/64/);
  const ep = (await d.api('GET', '/containers/llip/json')).json.NetworkSettings.Networks.v4only;
  assert.deepEqual(ep.IPAMConfig, { LinkLocalIPs: ['169.254.7.7', 'fe80::77'] });
  // Connected later, to a running container: the same.
  ok(['network', 'create', 'v4two']);
  ok(['network', 'connect', '--link-local-ip', '169.254.8.8', 'v4two', 'llip']);
  assert.match(ok(['exec', 'llip', 'ip', '-o', 'addr', 'show', 'eth1']), /inet 169\.254\.8\.8\/16/);
  ok(['rm', '-f', 'llip']);
  const notLl = d.docker(['run', '--rm', '--network', 'v4only', '--link-local-ip', '10.1.1.1', 'busybox', 'true']);
  assert.equal(notLl.code, 125);
  assert.match(notLl.stderr, /invalid link-local IP address: 10\.1\.1\.1/);
  const r = d.docker(['run', '--rm', '--network', 'v4only', '--ip6', 'fd00::5', 'busybox', 'true']);
  assert.equal(r.code, 125, r.stderr);
  assert.match(r.stderr, /user specified IPv6 address fd00::5 is supported only on networks with IPv6/);
  const c = await d.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['sleep', '60'] });
  const conn = await d.api('POST', '/networks/v4only/connect', { Container: c.json.Id, EndpointConfig: { IPAMConfig: { IPv6Address: 'fd00::7' } } });
  assert.equal(conn.status, 400, conn.body.toString());
  await d.api('DELETE', `/containers/${c.json.Id}`);
  assert.equal((await d.api('GET', '/containers/json?all=1')).json.length, 0);
  const v6 = d.docker(['network', 'create', '--subnet', 'fd00:1::/64', 'v6net']);
  assert.equal(v6.code, 1);
  assert.match(v6.stderr, /IPv6 subnet fd00:1::\/64 given for a network without IPv6: add --ipv6/);
  ok(['network', 'rm', 'v4only', 'v4two']);
});
