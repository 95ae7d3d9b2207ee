// --network container:<name|id>: a container that joins another's network namespace, through the
// real docker CLI against drayd with real containers; and what Docker refuses for such a container.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestDaemon } from '../helpers/daemon';

const d = new TestDaemon();

before(async () => {
  await d.start();
  await d.bootstrapBusybox();
});

after(async () => {
  d.docker(['rm', '-f', '-t', '0', 'cm-joiner', 'cm-owner', 'cm-stopped', 'cm-late']);
  d.docker(['network', 'rm', 'cm-net']);
  assert.deepEqual(await d.stop(), []);
});

const ok = (r: { code: number; stdout: string; stderr: string }) => { assert.equal(r.code, 0, r.stderr); return r.stdout.trim(); };
const containerCount = () => ok(d.docker(['ps', '-aq'])).split('\n').filter(Boolean).length;

test('the joiner shares the other container\'s interfaces, address, ports, hosts and hostname', () => {
  ok(d.docker(['network', 'create', 'cm-net']));
  // The owner serves /etc on a port only its namespace has; the joiner reaches it on 127.0.0.1.
  const owner = ok(d.docker(['run', '-d', '--name', 'cm-owner', '--network', 'cm-net', 'busybox', 'httpd', '-f', '-p', '8080', '-h', '/etc']));
  const joiner = ok(d.docker(['run', '-d', '--name', 'cm-joiner', '--network', 'container:cm-owner', 'busybox', 'sleep', '300']));
  const ins = JSON.parse(ok(d.docker(['inspect', joiner])))[0];
  assert.equal(ins.HostConfig.NetworkMode, `container:${owner}`);
  assert.deepEqual(ins.NetworkSettings.Networks, {});
  const ownerIns = JSON.parse(ok(d.docker(['inspect', owner])))[0];
  assert.equal(ins.HostsPath, ownerIns.HostsPath);
  assert.equal(ins.ResolvConfPath, ownerIns.ResolvConfPath);
  const ip = ownerIns.NetworkSettings.Networks['cm-net'].IPAddress;
  assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/);
  assert.match(ok(d.docker(['exec', 'cm-joiner', 'ip', '-4', 'addr'])), new RegExp(`inet ${ip.replace(/\./g, '\\.')}/`));
  assert.equal(ok(d.docker(['exec', 'cm-joiner', 'hostname'])), ok(d.docker(['exec', 'cm-owner', 'hostname'])));
  assert.equal(ok(d.docker(['exec', 'cm-joiner', 'cat', '/etc/hosts'])), ok(d.docker(['exec', 'cm-owner', 'cat', '/etc/hosts'])));
  assert.equal(ok(d.docker(['exec', 'cm-joiner', 'wget', '-qO-', 'http://127.0.0.1:8080/hostname'])), ownerIns.Config.Hostname);
  // It has no network of its own to connect.
  const c = d.docker(['network', 'connect', 'cm-net', 'cm-joiner']);
  assert.notEqual(c.code, 0);
  assert.match(c.stderr, /container sharing network namespace with another container or host cannot be connected to any other network/);
});

test('what such a container may not set is refused at create, and nothing is created', () => {
  const before = containerCount();
  const cases: [string[], RegExp][] = [
    [['-p', '8081:80'], /conflicting options: port publishing and the container type network mode/],
    [['-P', '--expose', '80'], /conflicting options: port (publishing|exposing) and the container type network mode/],
    [['--hostname', 'h'], /conflicting options: hostname and the network mode/],
    [['--dns', '1.1.1.1'], /conflicting options: dns and the network mode/],
    [['--add-host', 'a:1.2.3.4'], /conflicting options: custom host-to-IP mapping and the network mode/],
    [['--mac-address', '02:42:ac:11:00:09'], /conflicting options: mac-address and the network mode/],
    [['--link', 'cm-owner:o'], /conflicting options: container type network can't be used with links/],
  ];
  for (const [flags, msg] of cases) {
    const r = d.docker(['create', '--network', 'container:cm-owner', ...flags, 'busybox', 'true']);
    assert.notEqual(r.code, 0, flags.join(' '));
    assert.match(r.stderr, msg, flags.join(' '));
  }
  const missing = d.docker(['create', '--network', 'container:no-such-ctr', 'busybox', 'true']);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /No such container: no-such-ctr/);
  assert.equal(containerCount(), before);
});

test('starting it while the other container is not running fails as Docker does', () => {
  ok(d.docker(['create', '--name', 'cm-stopped', 'busybox', 'sleep', '300']));
  ok(d.docker(['create', '--name', 'cm-late', '--network', 'container:cm-stopped', 'busybox', 'sleep', '300']));
  const r = d.docker(['start', 'cm-late']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /cannot join network of a non running container/);
  assert.equal(ok(d.docker(['inspect', '-f', '{{.State.Status}}', 'cm-late'])), 'created');
  // Once the other runs, it starts.
  ok(d.docker(['start', 'cm-stopped']));
  ok(d.docker(['start', 'cm-late']));
  assert.equal(ok(d.docker(['exec', 'cm-late', 'hostname'])), ok(d.docker(['exec', 'cm-stopped', 'hostname'])));
});
