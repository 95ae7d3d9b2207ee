// Networks and volumes through a real drayd with real containers: published ports, names on user
// networks, isolation, volumes that outlive containers, and clean-up afterwards.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { TestDaemon, demux, sleep } from '../helpers/daemon';

const d = new TestDaemon();
const hostDir = mkdtempSync('/tmp/dray-www-');

before(async () => {
  await d.start();
  await d.bootstrapBusybox();
});

after(async () => {
  rmSync(hostDir, { recursive: true, force: true });
  assert.deepEqual(await d.stop(), []);
});

async function exec(id: string, cmd: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const e = await d.api('POST', `/containers/${id}/exec`, { Cmd: cmd, AttachStdout: true, AttachStderr: true });
  assert.equal(e.status, 201, e.body.toString());
  // Detached start, then poll: keeps this test independent of the hijack path.
  const s = await d.api('POST', `/exec/${e.json.Id}/start`, { Detach: true });
  assert.equal(s.status, 200, s.body.toString());
  for (let i = 0; i < 100; i++) {
    const j = await d.api('GET', `/exec/${e.json.Id}/json`);
    if (!j.json.Running && j.json.ExitCode !== null) return { code: j.json.ExitCode, stdout: '', stderr: '' };
    await sleep(50);
  }
  throw new Error('exec did not finish');
}

function curl(url: string): { code: number; body: string } {
  const r = spawnSync('curl', ['-s', '--max-time', '5', url], { encoding: 'utf8' });
  return { code: r.status ?? -1, body: r.stdout };
}

test('a published port reaches a container on the default bridge through 127.0.0.1', async () => {
  writeFileSync(`${hostDir}/index.html`, 'hello from dray\n');
  const id = await d.runDetached(['httpd', '-f', '-p', '80', '-h', '/www'], {
    ExposedPorts: { '80/tcp': {} },
    HostConfig: { Binds: [`${hostDir}:/www:ro`], PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] } },
  });
  const i = await d.api('GET', `/containers/${id}/json`);
  const port = i.json.NetworkSettings.Ports['80/tcp'][0].HostPort;
  assert.match(port, /^\d+$/);
  assert.match(i.json.NetworkSettings.IPAddress, new RegExp(`^10\\.${d.subnetByte}\\.0\\.\\d+$`));
  let got = { code: -1, body: '' };
  for (let k = 0; k < 30 && got.body === ''; k++) { got = curl(`http://127.0.0.1:${port}/`); if (!got.body) await sleep(100); }
  assert.equal(got.body, 'hello from dray\n');
  const ps = await d.api('GET', '/containers/json');
  const mine = ps.json.find((c: any) => c.Id === id);
  assert.deepEqual(mine.Ports, [{ IP: '127.0.0.1', PrivatePort: 80, PublicPort: Number(port), Type: 'tcp' }]);
  // The read-only bind is enforced.
  assert.notEqual((await exec(id, ['sh', '-c', 'echo x > /www/new'])).code, 0);
  // A second container cannot take the same host port.
  const c2 = await d.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: { PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: port }] } } });
  const s2 = await d.api('POST', `/containers/${c2.json.Id}/start`);
  assert.equal(s2.status, 500);
  assert.match(s2.json.message, /port is already allocated|address already in use/);
  assert.equal((await d.api('GET', `/containers/${c2.json.Id}/json`)).json.State.Running, false);
  await d.api('DELETE', `/containers/${c2.json.Id}`);
  await d.api('DELETE', `/containers/${id}?force=1`);
});

test('containers on a user network find each other by name and alias; other networks are isolated', async () => {
  const n = await d.api('POST', '/networks/create', { Name: 'appnet', IPAM: { Config: [{ Subnet: `10.${d.subnetByte}.1.0/24` }] } });
  assert.equal(n.status, 201, n.body.toString());
  const other = await d.api('POST', '/networks/create', { Name: 'othernet', IPAM: { Config: [{ Subnet: `10.${d.subnetByte}.2.0/24` }] } });
  assert.equal(other.status, 201, other.body.toString());
  const db = await d.api('POST', '/containers/create?name=db', { Image: 'busybox', Cmd: ['sleep', '60'], HostConfig: { NetworkMode: 'appnet' }, NetworkingConfig: { EndpointsConfig: { appnet: { Aliases: ['database'] } } } });
  await d.api('POST', `/containers/${db.json.Id}/start`);
  const app = await d.runDetached(['sleep', '60'], { HostConfig: { NetworkMode: 'appnet' } });
  const lonely = await d.runDetached(['sleep', '60'], { HostConfig: { NetworkMode: 'othernet' } });
  const dbIp = (await d.api('GET', '/containers/db/json')).json.NetworkSettings.Networks.appnet.IPAddress;
  assert.equal((await exec(app, ['ping', '-c', '1', '-W', '2', 'db'])).code, 0, 'name resolves and answers');
  assert.equal((await exec(app, ['ping', '-c', '1', '-W', '2', 'database'])).code, 0, 'alias resolves');
  assert.notEqual((await exec(lonely, ['ping', '-c', '1', '-W', '1', dbIp])).code, 0, 'another network cannot reach it');
  const rm = await d.api('DELETE', '/networks/appnet');
  assert.equal(rm.status, 403, 'a network in use is not removed');
  for (const id of [db.json.Id, app, lonely]) await d.api('DELETE', `/containers/${id}?force=1`);
  assert.equal((await d.api('DELETE', '/networks/appnet')).status, 204);
  assert.equal((await d.api('DELETE', '/networks/othernet')).status, 204);
});

test('a removed network\'s bridge goes after the answer; a drayd killed meanwhile finishes it at start', async () => {
  const subnet = `10.${d.subnetByte}.7.0/24`;
  const hostHas = () => {
    const rules = spawnSync('iptables-save', [], { encoding: 'utf8' }).stdout;
    const addrs = spawnSync('ip', ['-o', 'addr'], { encoding: 'utf8' }).stdout;
    return { rules: rules.includes(`10.${d.subnetByte}.7.`), bridge: addrs.includes(` 10.${d.subnetByte}.7.1/24`) };
  };
  for (const kill of [false, true]) {
    const n = await d.api('POST', '/networks/create', { Name: 'goingnet', IPAM: { Config: [{ Subnet: subnet }] } });
    assert.equal(n.status, 201, n.body.toString());
    const c = await d.runDetached(['true'], { HostConfig: { NetworkMode: 'goingnet' } });
    await d.api('POST', `/containers/${c}/wait`);
    await d.api('DELETE', `/containers/${c}?force=1`);
    assert.deepEqual(hostHas(), { rules: true, bridge: true }, 'the bridge outlives its last container');
    assert.equal((await d.api('DELETE', '/networks/goingnet')).status, 204);
    assert.equal((await d.api('GET', '/networks/goingnet')).status, 404, 'the network is gone at once');
    if (kill) {
      // Killed within a millisecond of the answer, well inside the ~250 ms the release takes.
      await d.killDaemon();
      const logBefore = d.log.length;
      await d.start();
      assert.match(d.log.slice(logBefore), /finishing the release of a removed network's bridge/);
    } else {
      // A network made now waits for the bridge to go, so it may take the same subnet.
      const again = await d.api('POST', '/networks/create', { Name: 'goingnet2', IPAM: { Config: [{ Subnet: subnet }] } });
      assert.equal(again.status, 201, again.body.toString());
      assert.equal((await d.api('DELETE', '/networks/goingnet2')).status, 204);
      await d.api('GET', '/_ping');
    }
    // Bounded wait: the release runs in the background (or ran at start).
    for (let i = 0; i < 50 && (hostHas().rules || hostHas().bridge); i++) await sleep(100);
    assert.deepEqual(hostHas(), { rules: false, bridge: false }, `no bridge and no rule left (${kill ? 'after a kill' : 'in the background'})`);
  }
  assert.deepEqual(readdirSync(path.join(d.dataRoot, 'networks', 'releasing')), [], 'no release journal left');
});

test('data in a named volume outlives its container; a volume in use is not removed', async () => {
  const w = await d.runDetached(['sh', '-c', 'echo kept > /data/f'], { HostConfig: { Binds: ['vol1:/data'] } });
  assert.equal((await d.api('POST', `/containers/${w}/wait`)).json.StatusCode, 0);
  await d.api('DELETE', `/containers/${w}`);
  const r = await d.runDetached(['sh', '-c', 'cat /data/f; sleep 30'], { HostConfig: { Binds: ['vol1:/data'] } });
  await sleep(300);
  const l = await d.api('GET', `/containers/${r}/logs?stdout=1`);
  assert.equal(demux(l.body).stdout, 'kept\n');
  const rm = await d.api('DELETE', '/volumes/vol1');
  assert.equal(rm.status, 409);
  assert.match(rm.json.message, new RegExp(`volume is in use - \\[${r}\\]`));
  await d.api('DELETE', `/containers/${r}?force=1`);
  assert.equal((await d.api('DELETE', '/volumes/vol1')).status, 204);
});

test('an anonymous volume is filled from the image and removed with rm -v', async () => {
  const id = await d.runDetached(['ls', '/etc/passwd'], { Volumes: { '/etc': {} } });
  assert.equal((await d.api('POST', `/containers/${id}/wait`)).json.StatusCode, 0, 'copy-up filled the new volume');
  const i = await d.api('GET', `/containers/${id}/json`);
  const name = i.json.Mounts[0].Name;
  assert.equal((await d.api('GET', `/volumes/${name}`)).status, 200);
  await d.api('DELETE', `/containers/${id}?v=1`);
  assert.equal((await d.api('GET', `/volumes/${name}`)).status, 404);
});
