// Engine API details that SDKs rely on, against a real drayd: empty bodies where Docker sends
// none, "any free port", kill and stop that return once the container is dead, Env as Docker keeps
// it, the per-container runtime, a missing network at start (not at create), NetworkMode as sent.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as http from 'node:http';
import { TestDaemon, demux, sleep } from '../helpers/daemon';

const d = new TestDaemon();

before(async () => {
  await d.start();
  await d.bootstrapBusybox();
});

after(async () => {
  assert.deepEqual(await d.stop(), [], 'nothing may be left behind');
});

/** A one-file tar archive (ustar), enough for PUT /archive. */
function tarOf(name: string, content: string): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0);
  h.write('0000644\0', 100); h.write('0000000\0', 108); h.write('0000000\0', 116);
  h.write(content.length.toString(8).padStart(11, '0') + '\0', 124);
  h.write(Math.floor(Date.now() / 1000).toString(8).padStart(11, '0') + '\0', 136);
  h.write('        ', 148); h.write('0', 156); h.write('ustar\0' + '00', 257);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  const body = Buffer.alloc(Math.ceil(content.length / 512) * 512);
  body.write(content);
  return Buffer.concat([h, body, Buffer.alloc(1024)]);
}

async function logsOf(id: string): Promise<string> {
  await d.api('POST', `/containers/${id}/wait`);
  return demux((await d.api('GET', `/containers/${id}/logs?stdout=1&stderr=1`)).body).stdout;
}

test('PUT /archive and resize answer 200 with no body at all, as Docker', async () => {
  const id = await d.runDetached(['sleep', '600'], { Tty: true });
  const put = await d.api('PUT', `/containers/${id}/archive?path=/tmp`, tarOf('hello.txt', 'hi\n'), { 'Content-Type': 'application/x-tar' });
  assert.equal(put.status, 200);
  assert.equal(put.body.length, 0);
  assert.equal(put.headers['content-length'], '0');
  assert.equal(put.headers['content-type'], undefined);
  const resize = await d.api('POST', `/containers/${id}/resize?h=30&w=100`);
  assert.equal(resize.status, 200);
  assert.equal(resize.body.length, 0);
  const cat = d.dray(['exec', id, 'cat', '/tmp/hello.txt']);
  assert.equal(cat.stdout, 'hi\n');
  await d.api('DELETE', `/containers/${id}?force=1`);
});

test('HostPort "0" or empty publishes on any free port', async () => {
  const id = await d.runDetached(['httpd', '-f', '-p', '80', '-h', '/etc'], {
    ExposedPorts: { '80/tcp': {}, '81/tcp': {} },
    HostConfig: { PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '0' }], '81/tcp': [{ HostPort: '' }] } },
  });
  const ports = (await d.api('GET', `/containers/${id}/json`)).json.NetworkSettings.Ports;
  const p80 = Number(ports['80/tcp'][0].HostPort);
  const p81 = Number(ports['81/tcp'][0].HostPort);
  assert.ok(p80 > 0 && p81 > 0 && p80 !== p81, JSON.stringify(ports));
  let body = '';
  for (let i = 0; i < 50 && !body; i++) {
    body = await new Promise<string>((resolve) => {
      http.get({ host: '127.0.0.1', port: p80, path: '/hostname', timeout: 1000 }, (res) => {
        let b = ''; res.on('data', (c) => (b += c)); res.on('end', () => resolve(b));
      }).on('error', () => resolve('')).on('timeout', function (this: http.ClientRequest) { this.destroy(); });
    });
    if (!body) await sleep(100);
  }
  assert.equal(body.trim(), id.slice(0, 12));
  const cli = d.dray(['run', '-d', '-p', '0:80', 'busybox', 'sleep', '60']);
  assert.equal(cli.code, 0, cli.stderr);
  const port = d.dray(['port', cli.stdout.trim(), '80']);
  assert.match(port.stdout, /^0\.0\.0\.0:[1-9]\d*\n/);
  for (const c of [id, cli.stdout.trim()]) await d.api('DELETE', `/containers/${c}?force=1`);
});

test('kill with SIGKILL and stop return once the container is dead', async () => {
  for (let i = 0; i < 3; i++) {
    const a = await d.runDetached(['sh', '-c', 'trap "" TERM; sleep 600']);
    assert.equal((await d.api('POST', `/containers/${a}/kill`)).status, 204);
    const sa = (await d.api('GET', `/containers/${a}/json`)).json.State;
    assert.deepEqual([sa.Status, sa.Running, sa.ExitCode], ['exited', false, 137]);
    const b = await d.runDetached(['sh', '-c', 'trap "exit 0" TERM; sleep 600 & wait']);
    await sleep(100);
    assert.equal((await d.api('POST', `/containers/${b}/stop?t=5`)).status, 204);
    const sb = (await d.api('GET', `/containers/${b}/json`)).json.State;
    assert.deepEqual([sb.Status, sb.Running], ['exited', false]);
    // A signal other than SIGKILL only delivers it.
    const c = await d.runDetached(['sh', '-c', 'trap "echo got-usr1; exit 4" USR1; while true; do sleep 0.05; done']);
    await sleep(200);
    assert.equal((await d.api('POST', `/containers/${c}/kill?signal=USR1`)).status, 204);
    assert.equal((await d.api('POST', `/containers/${c}/wait`)).json.StatusCode, 4);
    for (const id of [a, b, c]) await d.api('DELETE', `/containers/${id}`);
  }
  const gone = await d.api('POST', '/containers/nosuch/kill');
  assert.equal(gone.status, 404);
});

test('Env entries without "=" are kept as given, and unset the variable in the process, as Docker', async () => {
  const c = await d.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['/usr/bin/env'], Env: ['BARE', 'SET=1', 'PATH'] });
  assert.equal(c.status, 201, c.body.toString());
  const cfg = (await d.api('GET', `/containers/${c.json.Id}/json`)).json.Config;
  // The request's entries first, as given; the image's PATH is named by the request, so not added.
  assert.deepEqual(cfg.Env, ['BARE', 'SET=1', 'PATH']);
  await d.api('POST', `/containers/${c.json.Id}/start`);
  const env = (await logsOf(c.json.Id)).split('\n');
  assert.ok(env.includes('SET=1'));
  assert.ok(!env.some((l) => l.startsWith('BARE')), env.join(','));
  assert.ok(!env.some((l) => l.startsWith('PATH=')), 'a bare PATH unsets the default too');
  await d.api('DELETE', `/containers/${c.json.Id}`);
  const img = await d.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['env'], Env: ['A=1'] });
  assert.deepEqual((await d.api('GET', `/containers/${img.json.Id}/json`)).json.Config.Env, ['A=1', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
  await d.api('DELETE', `/containers/${img.json.Id}`);
  // -e FOO takes the client's FOO when it has one, and is left bare (unset) when it has none.
  for (const cli of ['dray', 'docker'] as const) {
    // The CLI's environment is the test's (TestDaemon.env copies process.env at each call).
    const run = (foo: string | undefined) => {
      const prev = process.env.DRAY_TEST_FOO;
      if (foo === undefined) delete process.env.DRAY_TEST_FOO; else process.env.DRAY_TEST_FOO = foo;
      try {
        const bin = cli === 'dray' ? d.dray.bind(d) : d.docker.bind(d);
        return bin(['run', '--rm', '-e', 'DRAY_TEST_FOO', 'busybox', 'sh', '-c', 'echo "[${DRAY_TEST_FOO-unset}]"']);
      } finally {
        if (prev === undefined) delete process.env.DRAY_TEST_FOO; else process.env.DRAY_TEST_FOO = prev;
      }
    };
    assert.equal(run('from-client').stdout, '[from-client]\n', cli);
    assert.equal(run(undefined).stdout, '[unset]\n', cli);
  }
});

test('HostConfig.Runtime picks the runtime per container and is reported', async () => {
  const r = d.docker(['run', '-d', '--runtime', 'runc', 'busybox', 'sleep', '60']);
  assert.equal(r.code, 0, r.stderr);
  const id = r.stdout.trim();
  const i = (await d.api('GET', `/containers/${id}/json`)).json;
  assert.equal(i.HostConfig.Runtime, 'runc');
  assert.ok(existsSync(`/run/runc/${id}`), 'runc keeps its state');
  assert.ok(!existsSync(`/run/crun/${id}`), 'crun does not');
  assert.equal(d.docker(['exec', id, 'echo', 'in-runc']).stdout, 'in-runc\n');
  const def = await d.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'] });
  assert.equal((await d.api('GET', `/containers/${def.json.Id}/json`)).json.HostConfig.Runtime, 'crun');
  const bad = await d.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: { Runtime: 'kata' } });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.message, 'unknown or invalid runtime name: kata');
  for (const c of [id, def.json.Id]) await d.api('DELETE', `/containers/${c}?force=1`);
});

test('a missing network fails the start, not the create: "network x not found", exit 125, no pull', async () => {
  const c = await d.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: { NetworkMode: 'nosuchnet' } });
  assert.equal(c.status, 201, c.body.toString());
  const s = await d.api('POST', `/containers/${c.json.Id}/start`);
  assert.equal(s.status, 404);
  assert.equal(s.json.message, 'network nosuchnet not found');
  assert.equal((await d.api('GET', `/containers/${c.json.Id}/json`)).json.State.Status, 'created');
  await d.api('DELETE', `/containers/${c.json.Id}`);
  for (const cli of [d.docker.bind(d), d.dray.bind(d)]) {
    const r = cli(['run', '--rm', '--network', 'nosuchnet', 'busybox', 'true']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /Error response from daemon: network nosuchnet not found/);
    assert.doesNotMatch(r.stderr, /Unable to find image|pull/i);
  }
  assert.equal((await d.api('GET', '/containers/json?all=1')).json.length, 0, '--rm removed the containers');
});

test('HostConfig.NetworkMode is reported as sent: "default" when none was', async () => {
  const a = await d.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'] });
  const b = await d.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: { NetworkMode: 'bridge' } });
  const ia = (await d.api('GET', `/containers/${a.json.Id}/json`)).json;
  assert.equal(ia.HostConfig.NetworkMode, 'default');
  assert.deepEqual(Object.keys(ia.NetworkSettings.Networks), ['bridge']);
  assert.equal((await d.api('GET', `/containers/${b.json.Id}/json`)).json.HostConfig.NetworkMode, 'bridge');
  // A default-mode container runs on the default bridge.
  const r = d.dray(['run', '--rm', 'busybox', 'sh', '-c', 'ip -4 addr show eth0 | grep -c inet']);
  assert.equal(r.stdout, '1\n', r.stderr);
  for (const c of [a, b]) await d.api('DELETE', `/containers/${c.json.Id}`);
});

test('docker diff: kinds as Docker gives them, without the mount points of /etc/hosts and friends', async () => {
  const quiet = await d.runDetached(['true']);
  await d.api('POST', `/containers/${quiet}/wait`);
  const none = await d.api('GET', `/containers/${quiet}/changes`);
  assert.equal(none.status, 200);
  assert.equal(none.json, null, 'a container that changed nothing has no changes');
  const id = await d.runDetached(['sh', '-c', 'mkdir -p /newdir/sub && echo x > /newdir/sub/f && echo y > /etc/newfile && rm /bin/vi && echo z >> /etc/passwd']);
  await d.api('POST', `/containers/${id}/wait`);
  const r = d.docker(['diff', id]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, ['C /bin', 'D /bin/vi', 'C /etc', 'A /etc/newfile', 'C /etc/passwd', 'A /newdir', 'A /newdir/sub', 'A /newdir/sub/f', ''].join('\n'));
  for (const c of [quiet, id]) await d.api('DELETE', `/containers/${c}`);
});

test('a load of something that is not an image archive answers 200 with the error as a line of the stream, as Docker', async () => {
  const before = (await d.api('GET', '/images/json')).json.length;
  const r = await d.api('POST', '/images/load', Buffer.from('not a tar archive at all\n'.repeat(100)), { 'Content-Type': 'application/x-tar' });
  assert.equal(r.status, 200, r.body.toString());
  const lines = r.body.toString().trim().split('\r\n').map((l) => JSON.parse(l));
  const last = lines[lines.length - 1];
  assert.match(last.errorDetail?.message ?? '', /invalid archive|tar/i, r.body.toString());
  assert.equal(last.error, last.errorDetail.message);
  assert.equal((await d.api('GET', '/images/json')).json.length, before, 'nothing was loaded');
});

test('image inspect has a ContainerConfig object for an image no container committed (docker-compose 1.29 reads it)', async () => {
  const i = await d.api('GET', '/images/busybox/json');
  assert.equal(i.status, 200);
  assert.equal(typeof i.json.ContainerConfig, 'object');
  assert.notEqual(i.json.ContainerConfig, null);
  assert.equal(i.json.ContainerConfig.Volumes, null);
});

test('SharedSize: the bytes of layers another image uses too, in system df and (when asked) in the image list', async () => {
  const run = d.dray(['run', '--name', 'sharer', 'busybox', 'sh', '-c', 'head -c 100000 /dev/zero > /blob']);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(d.dray(['commit', 'sharer', 'shared-size:child']).code, 0);
  assert.equal(d.dray(['rm', 'sharer']).code, 0);
  try {
    const base = (await d.api('GET', '/images/busybox/json')).json;
    const child = (await d.api('GET', '/images/shared-size:child/json')).json;
    assert.ok(child.Size >= base.Size + 100000, `${child.Size} ${base.Size}`);
    const df = (await d.api('GET', '/system/df')).json;
    const row = (id: string) => df.Images.find((i: any) => i.Id === id);
    assert.equal(row(base.Id).SharedSize, base.Size, 'all of busybox is shared with its child');
    assert.equal(row(child.Id).SharedSize, base.Size, 'the child shares busybox\'s layer, not its own');
    // Layers are counted once: the child's size covers busybox's layer and its own.
    assert.equal(df.LayersSize, df.Images.reduce((n: number, i: any) => n + i.Size - i.SharedSize, 0) + base.Size);
    const plain = (await d.api('GET', '/images/json')).json;
    assert.ok(plain.every((i: any) => i.SharedSize === -1), 'not computed unless asked, as Docker');
    const asked = (await d.api('GET', '/images/json?shared-size=1')).json;
    assert.equal(asked.find((i: any) => i.Id === child.Id).SharedSize, base.Size);
    const cli = d.docker(['system', 'df', '-v']);
    assert.equal(cli.code, 0, cli.stderr);
    assert.doesNotMatch(cli.stdout.split('\n').find((l) => l.startsWith('shared-size')) ?? 'missing N/A', /N\/A/);
  } finally {
    d.dray(['rmi', 'shared-size:child']);
  }
});
