// A container's network is set up while the runtime creates the container (engine/containers.ts
// startLocked): what its first instruction sees must still be the finished network, with the
// network's own /etc/resolv.conf and /etc/hosts, on a user network (netavark, DNS) and on the
// default bridge; and a sysctl naming the container's interface, which the runtime writes at
// create, still applies (that start is made in series). Real drayd, crun, conmon and netavark.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestDaemon } from '../helpers/daemon';

const d = new TestDaemon();

before(async () => {
  await d.start();
  await d.bootstrapBusybox();
});

after(async () => {
  d.docker(['rm', '-f', '-t', '0', 'sn-kept']);
  d.docker(['network', 'rm', 'sn-net']);
  assert.deepEqual(await d.stop(), []);
});

const ok = (r: { code: number; stdout: string; stderr: string }) => { assert.equal(r.code, 0, r.stderr); return r.stdout.trim(); };

/** What the container's first command sees: its files and its address, in one go. */
const FIRST_LOOK = 'cat /etc/resolv.conf; echo ---; cat /etc/hosts; echo ---; ip -4 -o addr show eth0; echo ---; ip route';

function firstLook(args: string[]): { resolv: string; hosts: string; addr: string; route: string } {
  const [resolv, hosts, addr, route] = ok(d.docker(['run', '--rm', ...args, 'busybox', 'sh', '-c', FIRST_LOOK])).split('---\n');
  return { resolv, hosts, addr, route };
}

test('on a user network the first instruction sees its address, route, DNS server and hosts entry', () => {
  ok(d.docker(['network', 'create', 'sn-net']));
  const net = JSON.parse(ok(d.docker(['network', 'inspect', 'sn-net'])))[0];
  const gateway: string = net.IPAM.Config[0].Gateway;
  for (let i = 0; i < 3; i++) {
    const r = firstLook(['--network', 'sn-net', '--hostname', `sn-h${i}`]);
    assert.match(r.resolv, new RegExp(`^nameserver ${gateway.replace(/\./g, '\\.')}$`, 'm'), r.resolv);
    assert.match(r.resolv, /^search .*dns\.podman/m, r.resolv);
    const ip = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(r.addr)?.[1];
    assert.ok(ip, `eth0 has an address at once: ${r.addr}`);
    assert.match(r.hosts, new RegExp(`^${ip!.replace(/\./g, '\\.')}\\s+sn-h${i}$`, 'm'), r.hosts);
    assert.match(r.route, new RegExp(`^default via ${gateway.replace(/\./g, '\\.')} dev eth0`, 'm'), r.route);
  }
});

test('on the default bridge too, and again at a restart of a kept container', () => {
  const r = firstLook([]);
  const ip = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(r.addr)?.[1];
  assert.ok(ip, r.addr);
  assert.match(r.hosts, new RegExp(`^${ip!.replace(/\./g, '\\.')}\\s`, 'm'), r.hosts);
  assert.match(r.route, /^default via /m, r.route);
  // A restart makes the host files anew (new inodes), then the network's content goes into them.
  ok(d.docker(['run', '-d', '--name', 'sn-kept', '--network', 'sn-net', 'busybox', 'sh', '-c', `{ ${FIRST_LOOK}; } > /first.txt; sleep 300`]));
  ok(d.docker(['restart', '-t', '0', 'sn-kept']));
  const [resolv, hosts] = ok(d.docker(['exec', 'sn-kept', 'cat', '/first.txt'])).split('---\n');
  const ip2 = JSON.parse(ok(d.docker(['inspect', 'sn-kept'])))[0].NetworkSettings.Networks['sn-net'].IPAddress;
  assert.match(resolv, /^nameserver /m, resolv);
  assert.match(hosts, new RegExp(`^${ip2.replace(/\./g, '\\.')}\\s`, 'm'), hosts);
});

test('a sysctl of the container\'s own interface is applied', () => {
  const out = ok(d.docker(['run', '--rm', '--network', 'sn-net', '--sysctl', 'net.ipv4.conf.eth0.arp_ignore=1', 'busybox', 'cat', '/proc/sys/net/ipv4/conf/eth0/arp_ignore']));
  assert.equal(out, '1');
});
