// NetworkService against the real netavark and aardvark-dns, with network namespaces standing in
// for containers. Every bridge, subnet and namespace is unique to this run; traffic goes only to
// 127.0.0.1 and to the namespaces made here.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, ChildProcess, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { NetworkService, ContainerNetSpec } from '../../src/engine/networks';
import { EventBus } from '../../src/engine/events';
import { run } from '../../src/lib/exec';
import { newId } from '../../src/lib/ids';
import { portChainName } from '../../src/runtime/netavark';

const tag = randomBytes(2).toString('hex');
const oct = 100 + (parseInt(tag, 16) % 30) * 4; // four /24s of our own: 10.213.oct…oct+3
const sub = (i: number) => `10.213.${oct + i}`;
const bridgeOf = (i: number) => `drt${tag}${i}`;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'dray-net-'));
const dataRoot = path.join(tmp, 'data');
const execRoot = path.join(tmp, 'exec');
const www = path.join(tmp, 'www');

const containers = new Map<string, { running: boolean; name: string }>();
const servers: ChildProcess[] = [];
const events = new EventBus();
let svc: NetworkService;

// netavark through a script that notes each call, to tell endpoints it set up from those it did not.
const netavarkCalls = path.join(tmp, 'netavark-calls');
const netavarkWrapper = path.join(tmp, 'netavark');
writeFileSync(netavarkWrapper, `#!/bin/sh\necho "$@" >> ${netavarkCalls}\nexec /usr/lib/podman/netavark "$@"\n`, { mode: 0o755 });
const netavarkCallCount = () => (existsSync(netavarkCalls) ? readFileSync(netavarkCalls, 'utf8').split('\n').filter(Boolean).length : 0);

function newService(): NetworkService {
  const s = new NetworkService({ dataRoot, execRoot, events, defaultBridge: bridgeOf(0), defaultSubnet: `${sub(0)}.0/24`, netavarkBinary: netavarkWrapper });
  s.setContainerLookup((id) => containers.get(id) ?? [...containers.entries()].find(([k]) => k.startsWith(id))?.[1]);
  return s;
}

function spec(name: string, networkMode: string, extra: Partial<ContainerNetSpec> = {}): ContainerNetSpec {
  const id = newId();
  containers.set(id, { running: true, name });
  return { id, name: `/${name}`, hostname: id.slice(0, 12), networkMode, endpoints: {}, portBindings: {}, publishAll: false, exposedPorts: [], ...extra };
}

const ns = (c: ContainerNetSpec) => `dray-${c.id.slice(0, 12)}`;
const inNs = (c: ContainerNetSpec, args: string[], timeoutMs = 8000) =>
  run('ip', ['netns', 'exec', ns(c), ...args], { allowFailure: true, timeoutMs });
const ipOf = (settings: any, netName: string): string => settings.Networks[netName].IPAddress;

function httpd(c: ContainerNetSpec): void {
  const p = spawn('ip', ['netns', 'exec', ns(c), 'busybox', 'httpd', '-f', '-p', '80', '-h', www], { stdio: 'ignore' });
  servers.push(p);
}

async function curl(port: number): Promise<string> {
  // The server needs a moment to bind; bounded retries.
  for (let i = 0; i < 20; i++) {
    const r = await run('curl', ['-s', '-m', '2', `http://127.0.0.1:${port}/`], { allowFailure: true });
    if (r.code === 0) return r.stdout;
    await new Promise((res) => setTimeout(res, 150));
  }
  return '';
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

const hostState = () => ({
  links: execFileSync('ip', ['-o', 'link']).toString().split('\n').filter((l) => l.includes(`drt${tag}`)),
  rules: execFileSync('iptables-save').toString().split('\n').filter((l) => [0, 1, 2, 3].some((i) => l.includes(`${sub(i)}.`)) || l.includes(`drt${tag}`)),
  netns: [...containers.keys()].map((id) => `/run/netns/dray-${id.slice(0, 12)}`).filter((p) => existsSync(p)),
  aardvark: execFileSync('ps', ['-eo', 'args']).toString().split('\n').filter((l) => l.includes('aardvark-dns') && l.includes(execRoot)),
  // netavark's per-network chains for published ports, empty ones included (iptables-save lists
  // those as ":NAME - [0:0]" only, with no rule to match above).
  chains: execFileSync('iptables-save', ['-t', 'nat']).toString().split('\n').filter((l) => netIds.some((id) => l.startsWith(`:${portChainName(id)} `))),
});

let netIds: string[] = [];

let net1: string, net2: string, net3: string;
let a: ContainerNetSpec, b: ContainerNetSpec;
let aSettings: any, bSettings: any;
let port: number;

before(async () => {
  execFileSync('mkdir', ['-p', www]);
  writeFileSync(path.join(www, 'index.html'), `hello from ${tag}\n`);
  svc = newService();
  await svc.init();
  net1 = (await svc.create({ Name: `drt-${tag}-one`, Options: { 'com.docker.network.bridge.name': bridgeOf(1) }, IPAM: { Config: [{ Subnet: `${sub(1)}.0/24` }] } })).Id;
  net2 = (await svc.create({ Name: `drt-${tag}-two`, Options: { 'com.docker.network.bridge.name': bridgeOf(2) }, IPAM: { Config: [{ Subnet: `${sub(2)}.0/24` }] } })).Id;
  net3 = (await svc.create({ Name: `drt-${tag}-int`, Internal: true, Options: { 'com.docker.network.bridge.name': bridgeOf(3), 'com.docker.network.driver.mtu': '1400' }, IPAM: { Config: [{ Subnet: `${sub(3)}.0/24` }] } })).Id;
  netIds = [net1, net2, net3, svc.get('bridge').Id];
});

after(async () => {
  for (const p of servers) p.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, 100));
  for (const id of containers.keys()) await svc.detachContainer(id).catch(() => {});
  for (const n of svc.list(new Map([['type', ['custom']]]))) await svc.remove(n.Id).catch(() => {});
  // The default bridge outlives its last container until the daemon stops.
  await svc.shutdown();
  const left = hostState();
  rmSync(tmp, { recursive: true, force: true });
  assert.deepEqual(left, { links: [], rules: [], netns: [], aardvark: [], chains: [] }, 'nothing may be left on the host');
});

test('predefined networks exist and cannot be removed', async () => {
  const names = svc.list().map((n) => n.Name);
  for (const n of ['bridge', 'host', 'none']) assert.ok(names.includes(n));
  const bridge = svc.inspect(svc.get('bridge')) as any;
  assert.equal(bridge.IPAM.Config[0].Subnet, `${sub(0)}.0/24`);
  assert.equal(bridge.Options['com.docker.network.bridge.name'], bridgeOf(0));
  await assert.rejects(svc.remove('bridge'), { name: 'Forbidden', message: 'bridge is a pre-defined network and cannot be removed' });
  assert.deepEqual(svc.list(new Map([['type', ['custom']]])).map((n) => n.Id).sort(), [net1, net2, net3].sort());
});

test('create: duplicate names, overlapping pools and bad subnets are refused', async () => {
  await assert.rejects(svc.create({ Name: `drt-${tag}-one` }), { name: 'Conflict', message: `network with name drt-${tag}-one already exists` });
  await assert.rejects(svc.create({ Name: `drt-${tag}-x`, IPAM: { Config: [{ Subnet: `${sub(1)}.128/25` }] } }), { name: 'Forbidden', message: 'Pool overlaps with other one on this address space' });
  await assert.rejects(svc.create({ Name: `drt-${tag}-y`, IPAM: { Config: [{ Subnet: `${sub(1)}.5/24` }] } }), /it should be/);
  assert.equal(svc.get(net1.slice(0, 10)).Id, net1);
  assert.throws(() => svc.get(`nope-${tag}`), { name: 'NotFound', message: `network nope-${tag} not found` });
});

test('a published port is reachable at 127.0.0.1 from the host', async () => {
  port = await freePort();
  a = spec(`a${tag}`, `drt-${tag}-one`, {
    endpoints: { [`drt-${tag}-one`]: { Aliases: [`web${tag}`] } },
    portBindings: { '80/tcp': [{ HostIp: '', HostPort: String(port) }] }, exposedPorts: ['80/tcp'],
  });
  const r = await svc.attachContainer(a);
  aSettings = r.settings;
  assert.equal(r.netnsPath, `/run/netns/${ns(a)}`);
  assert.ok(existsSync(r.netnsPath));
  assert.match(ipOf(aSettings, `drt-${tag}-one`), new RegExp(`^${sub(1).replace(/\./g, '\\.')}\\.\\d+$`));
  assert.deepEqual(aSettings.Ports, { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: String(port) }] });
  assert.equal(aSettings.Networks[`drt-${tag}-one`].Gateway, `${sub(1)}.1`);
  assert.match(aSettings.Networks[`drt-${tag}-one`].MacAddress, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
  assert.equal(aSettings.IPAddress, '', 'top-level address fields are for the default bridge only');
  assert.match(r.resolvConf, new RegExp(`nameserver ${sub(1)}\\.1\\n`));
  assert.equal(r.hostsEntries, `${ipOf(aSettings, `drt-${tag}-one`)}\t${a.hostname}\n`);
  httpd(a);
  assert.equal(await curl(port), `hello from ${tag}\n`);
  const insp = svc.inspect(svc.get(net1)) as any;
  assert.equal(insp.Containers[a.id].Name, `a${tag}`);
  assert.equal(insp.Containers[a.id].IPv4Address, `${ipOf(aSettings, `drt-${tag}-one`)}/24`);
});

test('random host ports (-p 127.0.0.1::80 and -P) are chosen and reachable', async () => {
  const c = spec(`p${tag}`, `drt-${tag}-one`, { portBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] }, publishAll: true, exposedPorts: ['80/tcp', '81/tcp'] });
  const r = await svc.attachContainer(c);
  const ports = (r.settings as any).Ports;
  assert.equal(ports['80/tcp'][0].HostIp, '127.0.0.1');
  const p80 = Number(ports['80/tcp'][0].HostPort);
  const p81 = Number(ports['81/tcp'][0].HostPort);
  assert.ok(p80 > 1024 && p81 > 1024 && p80 !== p81 && p80 !== port);
  httpd(c);
  assert.equal(await curl(p80), `hello from ${tag}\n`);
  servers.pop()!.kill('SIGKILL');
  await svc.detachContainer(c.id);
  await svc.detachContainer(c.id); // idempotent
  assert.ok(!existsSync(`/run/netns/${ns(c)}`));
  const rules = execFileSync('iptables-save').toString();
  assert.ok(!rules.includes(`--dport ${p80} `) && !rules.includes(`--dport ${p81} `), 'DNAT rules of the container are gone');
});

test('a port range (-p P-P+1:80-81) is published as one netavark range', async () => {
  let p = 0;
  for (let i = 0; i < 20 && !p; i++) {
    const x = await freePort();
    if (x < 65535 && await new Promise<boolean>((r) => { const s = net.createServer(); s.once('error', () => r(false)); s.listen(x + 1, () => s.close(() => r(true))); })) p = x;
  }
  assert.ok(p, 'found two consecutive free ports');
  const c = spec(`rg${tag}`, `drt-${tag}-one`, { portBindings: { '80/tcp': [{ HostPort: String(p) }], '81/tcp': [{ HostPort: String(p + 1) }] } });
  await svc.attachContainer(c);
  assert.ok(execFileSync('iptables-save').toString().includes(`--dport ${p}:${p + 1} `), 'one rule for the range');
  httpd(c);
  assert.equal(await curl(p), `hello from ${tag}\n`);
  servers.pop()!.kill('SIGKILL');
  await svc.detachContainer(c.id);
});

test('port conflicts: our own allocation and a port held on the host', async () => {
  const c = spec(`c${tag}`, `drt-${tag}-one`, { portBindings: { '80/tcp': [{ HostPort: String(port) }] } });
  await assert.rejects(svc.attachContainer(c), (e: Error) => e.message.includes(`Bind for 0.0.0.0:${port} failed: port is already allocated`));
  assert.ok(!existsSync(`/run/netns/${ns(c)}`));
  const held = net.createServer();
  const heldPort = await new Promise<number>((r) => held.listen(0, '0.0.0.0', () => r((held.address() as net.AddressInfo).port)));
  try {
    const d = spec(`d${tag}`, `drt-${tag}-one`, { portBindings: { '80/tcp': [{ HostPort: String(heldPort) }] } });
    await assert.rejects(svc.attachContainer(d), /address already in use/);
  } finally {
    held.close();
  }
  assert.equal(Object.keys(svc.get(net1).Endpoints).length, 1, 'failed attaches leave no endpoint');
});

test('names and aliases resolve on a user network', async () => {
  b = spec(`b${tag}`, `drt-${tag}-one`);
  bSettings = (await svc.attachContainer(b)).settings;
  const gw = `${sub(1)}.1`;
  for (const name of [`a${tag}`, `web${tag}`, a.id.slice(0, 12)]) {
    const r = await inNs(b, ['busybox', 'nslookup', name, gw]);
    assert.ok(r.stdout.includes(ipOf(aSettings, `drt-${tag}-one`)), `${name} resolves: ${r.stdout}${r.stderr}`);
  }
  const ping = await inNs(b, ['busybox', 'ping', '-c', '1', '-W', '2', ipOf(aSettings, `drt-${tag}-one`)]);
  assert.equal(ping.code, 0, 'same network: reachable');
  assert.deepEqual(bSettings.Networks[`drt-${tag}-one`].DNSNames, [`b${tag}`, b.id.slice(0, 12)]);
});

test('later endpoints on a user network are plugged in without netavark, with aardvark-dns lines as netavark writes them', async () => {
  const file = path.join(execRoot, 'netavark', 'aardvark-dns', net1);
  const lines = () => readFileSync(file, 'utf8').split('\n').filter(Boolean);
  const ipA = ipOf(aSettings, `drt-${tag}-one`);
  // a's line, written by netavark's own setup (a has a published port), is the model.
  assert.ok(lines().includes(`${a.id} ${ipA}  a${tag},web${tag},${a.id.slice(0, 12)}`), lines().join('\n'));
  const calls = netavarkCallCount();
  const k = spec(`k${tag}`, `drt-${tag}-one`, { endpoints: { [`drt-${tag}-one`]: { Aliases: [`kk${tag}`] } } });
  const rk = await svc.attachContainer(k);
  const ipK = ipOf(rk.settings, `drt-${tag}-one`);
  assert.equal(netavarkCallCount(), calls, 'no netavark call for it');
  assert.ok(lines().includes(`${k.id} ${ipK}  k${tag},kk${tag},${k.id.slice(0, 12)}`), lines().join('\n'));
  assert.match(rk.resolvConf, new RegExp(`search dns.podman\\nnameserver ${sub(1)}\\.1\\n`));
  const gw = `${sub(1)}.1`;
  for (const name of [`k${tag}`, `kk${tag}`]) {
    const r = await inNs(b, ['busybox', 'nslookup', name, gw]);
    assert.ok(r.stdout.includes(ipK), `${name} resolves from b: ${r.stdout}${r.stderr}`);
  }
  const back = await inNs(k, ['busybox', 'nslookup', `web${tag}`, gw]);
  assert.ok(back.stdout.includes(ipA), `web${tag} resolves from k: ${back.stdout}${back.stderr}`);
  assert.equal((await inNs(k, ['busybox', 'ping', '-c1', '-W2', ipA])).code, 0, 'k reaches a');
  await svc.detachContainer(k.id);
  assert.ok(!lines().some((l) => l.startsWith(k.id)), 'its line went with the detach');
  // Its veth goes after the detach has answered; its address stays booked until then.
  const again = spec(`k2${tag}`, `drt-${tag}-one`, { endpoints: { [`drt-${tag}-one`]: { IPAMConfig: { IPv4Address: ipK } } } });
  const ra = await svc.attachContainer(again);
  assert.equal(ipOf(ra.settings, `drt-${tag}-one`), ipK, 'the same address, asked for at once, is given once the old veth is gone');
  assert.equal((await inNs(b, ['busybox', 'ping', '-c1', '-W2', ipK])).code, 0, 'and answers from the new container');
  await svc.detachContainer(again.id);
  await svc.unplugged();
  assert.equal(netavarkCallCount(), calls, 'nor for the detaches');
  assert.ok(lines().some((l) => l.startsWith(a.id)) && lines().some((l) => l.startsWith(b.id)), 'the others stay');
  const gone = await inNs(b, ['timeout', '4', 'busybox', 'nslookup', `k${tag}`, gw]);
  assert.ok(!gone.stdout.includes(ipK), `k${tag} resolves no more: ${gone.stdout}`);
  assert.ok(!existsSync(`/run/netns/${ns(k)}`));
});

test('the default bridge does not resolve container names', async () => {
  const c = spec(`e${tag}`, 'bridge');
  const d = spec(`f${tag}`, 'default');
  const rc = await svc.attachContainer(c);
  await svc.attachContainer(d);
  assert.ok(!rc.resolvConf.includes(`${sub(0)}.1`), 'no aardvark nameserver on the default bridge');
  assert.match((rc.settings as any).IPAddress, new RegExp(`^${sub(0).replace(/\./g, '\\.')}\\.`));
  const r = await inNs(c, ['timeout', '4', 'busybox', 'nslookup', `f${tag}`, `${sub(0)}.1`]);
  assert.ok(r.code !== 0 || !r.stdout.includes(sub(0) + '.'), `f${tag} must not resolve: ${r.stdout}`);
  await assert.rejects(svc.attachContainer(spec(`g${tag}`, 'bridge', { endpoints: { bridge: { Aliases: ['x'] } } })), /network-scoped alias is supported only/);
  await svc.detachContainer(c.id);
  await svc.detachContainer(d.id);
});

test('containers on different networks cannot reach each other; connect makes them', async () => {
  const e = spec(`h${tag}`, `drt-${tag}-two`, { endpoints: { [`drt-${tag}-two`]: { IPAMConfig: { IPv4Address: `${sub(2)}.77` } } } });
  const re = await svc.attachContainer(e);
  assert.equal(ipOf(re.settings, `drt-${tag}-two`), `${sub(2)}.77`);
  const ping = await inNs(e, ['busybox', 'ping', '-c', '1', '-W', '1', ipOf(aSettings, `drt-${tag}-one`)]);
  assert.notEqual(ping.code, 0, 'isolated');
  const tcp = await inNs(e, ['busybox', 'nc', '-w', '1', ipOf(aSettings, `drt-${tag}-one`), '80'], 5000);
  assert.notEqual(tcp.code, 0, 'isolated (tcp)');

  // The bridge's MAC address is fixed (set from user space): were it left to the kernel, a's new
  // port could take it over and e's ARP entry for the gateway would point nowhere (DNS silent).
  const sys = (f: string) => readFileSync(`/sys/class/net/${bridgeOf(2)}/${f}`, 'utf8').trim();
  assert.equal(sys('addr_assign_type'), '3', 'NET_ADDR_SET');
  const mac = sys('address');
  const ep: any = await svc.connect(`drt-${tag}-two`, { id: a.id, name: a.name, hostname: a.hostname, running: true }, { Aliases: [`two${tag}`] });
  assert.match(ep.IPAddress, new RegExp(`^${sub(2).replace(/\./g, '\\.')}\\.`));
  assert.equal(sys('address'), mac);
  assert.equal((await inNs(e, ['busybox', 'ping', '-c', '1', '-W', '2', ep.IPAddress])).code, 0, 'connected: reachable');
  const lookup = await inNs(e, ['timeout', '5', 'busybox', 'nslookup', `two${tag}`, `${sub(2)}.1`], 8000);
  assert.ok(lookup.stdout.includes(ep.IPAddress), lookup.stdout);
  assert.ok((await inNs(a, ['ip', '-o', 'addr'])).stdout.includes('eth1'));
  await assert.rejects(svc.connect(`drt-${tag}-two`, { id: a.id, name: a.name, running: true }), /already exists in network/);
  await assert.rejects(svc.remove(`drt-${tag}-two`), { name: 'Forbidden', message: `error while removing network: network drt-${tag}-two id ${net2} has active endpoints` });

  await svc.disconnect(`drt-${tag}-two`, a.id, false);
  assert.ok(!(await inNs(a, ['ip', '-o', 'addr'])).stdout.includes('eth1'));
  await assert.rejects(svc.disconnect(`drt-${tag}-two`, a.id, false), /is not connected to network/);
  assert.equal(await curl(port), `hello from ${tag}\n`, 'the first network keeps its published port');
  await svc.detachContainer(e.id);
});

test('an --internal network has no default route (and takes the MTU option)', async () => {
  const c = spec(`i${tag}`, `drt-${tag}-int`);
  await svc.attachContainer(c);
  const routes = (await inNs(c, ['ip', 'route'])).stdout;
  assert.ok(routes.includes(`${sub(3)}.0/24`), routes);
  assert.ok(!routes.includes('default'), routes);
  assert.match((await inNs(c, ['ip', 'link', 'show', 'eth0'])).stdout, /mtu 1400/);
  await svc.detachContainer(c.id);
});

test('a new service on the same roots keeps allocations and drops those of stopped containers', async () => {
  const stopped = spec(`s${tag}`, `drt-${tag}-one`);
  await svc.attachContainer(stopped);
  // Simulate a daemon crash: the container stopped while nobody was watching.
  containers.get(stopped.id)!.running = false;
  svc = newService();
  await svc.init();
  const n1 = svc.get(net1);
  assert.deepEqual(Object.keys(n1.Endpoints).sort(), [a.id, b.id].sort());
  assert.ok(!existsSync(`/run/netns/${ns(stopped)}`), 'namespace of the stopped container removed');
  assert.equal(svc.get('bridge').Id, svc.list().find((n) => n.Name === 'bridge')!.Id);
  const c = spec(`r${tag}`, `drt-${tag}-one`, { portBindings: { '80/tcp': [{ HostPort: String(port) }] } });
  await assert.rejects(svc.attachContainer(c), /port is already allocated/);
  const d = spec(`q${tag}`, `drt-${tag}-one`, { endpoints: { [`drt-${tag}-one`]: { IPAMConfig: { IPv4Address: ipOf(aSettings, `drt-${tag}-one`) } } } });
  await assert.rejects(svc.attachContainer(d), /Address already in use/);
  const e = spec(`t${tag}`, `drt-${tag}-one`);
  const re = await svc.attachContainer(e);
  const ip = ipOf(re.settings, `drt-${tag}-one`);
  assert.ok(ip !== ipOf(aSettings, `drt-${tag}-one`) && ip !== ipOf(bSettings, `drt-${tag}-one`));
  assert.equal(await curl(port), `hello from ${tag}\n`, 'still served after the restart');
  assert.deepEqual((svc.containerSettings(a.id, ['80/tcp']) as any).Ports, aSettings.Ports);
  await svc.detachContainer(e.id);
});

test('the default bridge stays after its last container; later containers only get a veth', async () => {
  const first = spec(`d1${tag}`, 'bridge');
  await svc.attachContainer(first);
  await svc.detachContainer(first.id);
  const keeper = `drk-${svc.get('bridge').Id.slice(0, 10)}`;
  assert.ok(existsSync(`/sys/class/net/${bridgeOf(0)}`) && existsSync(`/sys/class/net/${keeper}`), 'bridge and keeper outlive the container');
  // Two plain endpoints (no ports, no DNS): addressed, routed, reachable from the host and each other.
  const x = spec(`d2${tag}`, 'bridge');
  const y = spec(`d3${tag}`, 'bridge');
  const xs = (await svc.attachContainer(x)).settings as any;
  const ys = (await svc.attachContainer(y)).settings as any;
  assert.match(xs.MacAddress, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
  assert.equal(xs.Gateway, `${sub(0)}.1`);
  const route = await inNs(x, ['ip', 'route', 'show', 'default']);
  assert.match(route.stdout, new RegExp(`default via ${sub(0).replace(/\./g, '\\.')}\\.1 dev eth0`));
  assert.equal((await inNs(x, ['busybox', 'ping', '-c1', '-W2', ys.IPAddress])).code, 0, 'container to container');
  assert.equal((await run('busybox', ['ping', '-c1', '-W2', xs.IPAddress], { allowFailure: true })).code, 0, 'host to container');
  const hostVeths = () => execFileSync('ip', ['-o', 'link', 'show', 'master', bridgeOf(0)]).toString().split('\n').filter((l) => l.includes('veth')).length;
  assert.equal(hostVeths(), 2);
  await svc.detachContainer(x.id);
  await svc.detachContainer(y.id);
  await svc.unplugged();
  assert.equal(hostVeths(), 0, 'the host sides went with the containers');
  assert.ok(!existsSync(`/run/netns/${ns(x)}`) && !existsSync(`/run/netns/${ns(y)}`));
});

test("another daemon's default bridge has its own NAT chain; its teardown leaves ours whole", async () => {
  const other = new NetworkService({ dataRoot: path.join(tmp, 'data2'), execRoot: path.join(tmp, 'exec2'), events, defaultBridge: bridgeOf(5), defaultSubnet: `${sub(5)}.0/24` });
  other.setContainerLookup((id) => containers.get(id));
  await other.init();
  const mine = spec(`m${tag}`, 'bridge');
  const theirs = spec(`t${tag}`, 'bridge');
  await svc.attachContainer(mine);
  await other.attachContainer(theirs);
  await other.detachContainer(theirs.id);
  await other.shutdown();
  const nat = execFileSync('iptables-save', ['-t', 'nat']).toString();
  assert.ok(!nat.includes(`${sub(5)}.0/24`), 'the other network is gone');
  const chain = new RegExp(`-A POSTROUTING -s ${sub(0).replace(/\./g, '\\.')}\\.0/24 -j (NETAVARK-\\w+)`).exec(nat)?.[1];
  assert.ok(chain, nat);
  assert.ok(nat.includes(`-A ${chain} ! -d 224.0.0.0/4 -j MASQUERADE`), `our masquerade rule survives:\n${nat}`);
  await svc.detachContainer(mine.id);
});

test('detach and remove leave nothing on the host', async () => {
  for (const p of servers.splice(0)) p.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, 100));
  await svc.detachContainer(a.id);
  await svc.detachContainer(b.id);
  for (const id of [net1, net2, net3]) await svc.remove(id);
  // Their bridges go after the answer. A new network that asks for one's subnet and bridge name
  // waits for that bridge to be gone (any other is made beside them).
  const again = await svc.create({ Name: `drt-${tag}-again`, Options: { 'com.docker.network.bridge.name': bridgeOf(1) }, IPAM: { Config: [{ Subnet: `${sub(1)}.0/24` }] } });
  assert.ok(!existsSync(`/sys/class/net/${bridgeOf(1)}`), 'the new network was made while the old bridge of its subnet was still there');
  await svc.remove(again.Id);
  await svc.releasesSettled();
  assert.deepEqual(await svc.prune(), []);
  assert.equal(svc.list(new Map([['type', ['custom']]])).length, 0);
  // Removed networks took their bridges along; the default bridge stays (as docker0 does), held by
  // its keeper, so the next container needs no bridge and no NAT set-up …
  const kept = hostState();
  assert.deepEqual(kept.links.map((l) => l.split(':')[1].trim().split('@')[0]).sort(), [bridgeOf(0), `drk-${svc.get('bridge').Id.slice(0, 10)}`].sort());
  assert.ok(kept.rules.length > 0 && kept.rules.every((r) => r.includes(`${sub(0)}.`) || r.includes(bridgeOf(0))), kept.rules.join('\n'));
  // … until the daemon stops.
  await svc.shutdown();
  assert.deepEqual(hostState(), { links: [], rules: [], netns: [], aardvark: [], chains: [] });
});
