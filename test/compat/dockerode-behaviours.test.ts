// dockerode against drayd for what SDKs built on it rely on: healthchecks, putArchive's empty
// answer, exec with and without a TTY, stats, kill/wait, networks with aliases, "any free port".
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import Docker from 'dockerode';
import { TestDaemon, sleep } from '../helpers/daemon';

const d = new TestDaemon();
let docker: Docker;

before(async () => {
  await d.start();
  await d.bootstrapBusybox();
  docker = new Docker({ socketPath: d.socket });
});

after(async () => {
  assert.deepEqual(await d.stop(), [], 'nothing may be left behind');
});

/** A one-file tar (ustar). */
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

async function execOut(c: Docker.Container, cmd: string[], tty: boolean): Promise<{ out: string; err: string; code: number | null }> {
  const ex = await c.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true, Tty: tty });
  const stream = await ex.start({ hijack: true, stdin: false, Tty: tty });
  const out = new PassThrough();
  const err = new PassThrough();
  const o: Buffer[] = [];
  const e: Buffer[] = [];
  out.on('data', (b) => o.push(b));
  err.on('data', (b) => e.push(b));
  if (tty) stream.pipe(out); else docker.modem.demuxStream(stream, out, err);
  await new Promise((r) => stream.on('end', r));
  return { out: Buffer.concat(o).toString(), err: Buffer.concat(e).toString(), code: (await ex.inspect()).ExitCode };
}

test('a healthcheck in createContainer makes State.Health healthy', async () => {
  const c = await docker.createContainer({ Image: 'busybox', Cmd: ['sleep', '600'], Healthcheck: { Test: ['CMD-SHELL', 'true'], Interval: 200e6, Retries: 2 } });
  await c.start();
  let status = '';
  for (let i = 0; i < 100 && status !== 'healthy'; i++) {
    status = (await c.inspect()).State.Health?.Status ?? '';
    if (status !== 'healthy') await sleep(50);
  }
  assert.equal(status, 'healthy');
  const list = await docker.listContainers({ filters: { health: ['healthy'] } });
  assert.deepEqual(list.map((x) => x.Id), [c.id]);
  assert.match(list[0].Status, /\(healthy\)$/);
  await c.remove({ force: true });
});

test('putArchive resolves (no body to parse), getArchive gives the file back; exec with and without TTY', async () => {
  const c = await docker.createContainer({ Image: 'busybox', Cmd: ['sleep', '600'] });
  await c.start();
  await c.putArchive(tarOf('note.txt', 'via dockerode\n'), { path: '/tmp' });
  const plain = await execOut(c, ['sh', '-c', 'cat /tmp/note.txt; echo e >&2; exit 6'], false);
  assert.deepEqual(plain, { out: 'via dockerode\n', err: 'e\n', code: 6 });
  const tty = await execOut(c, ['sh', '-c', 'echo a; echo b'], true);
  assert.equal(tty.out, 'a\r\nb\r\n');
  const arch = await c.getArchive({ path: '/tmp/note.txt' });
  const chunks: Buffer[] = [];
  for await (const ch of arch) chunks.push(ch as Buffer);
  assert.ok(Buffer.concat(chunks).includes('via dockerode'));
  await c.remove({ force: true });
});

test('stats: one reading with precpu, networks and pids; a stream of them', async () => {
  const c = await docker.createContainer({ Image: 'busybox', Cmd: ['sleep', '600'] });
  await c.start();
  const s: any = await c.stats({ stream: false });
  assert.ok(s.networks?.eth0, JSON.stringify(Object.keys(s)));
  assert.ok(s.pids_stats.current >= 1);
  assert.ok(s.precpu_stats.cpu_usage.total_usage > 0, 'a second reading: precpu is the first');
  assert.ok(s.blkio_stats && 'io_service_bytes_recursive' in s.blkio_stats);
  const stream = (await c.stats({ stream: true })) as unknown as NodeJS.ReadableStream & { destroy(): void };
  const first = await new Promise<any>((resolve) => stream.once('data', (b: Buffer) => resolve(JSON.parse(b.toString()))));
  stream.destroy();
  assert.equal(first.id, c.id);
  await c.remove({ force: true });
});

test('kill resolves once the container is dead; wait gives its code', async () => {
  const c = await docker.createContainer({ Image: 'busybox', Cmd: ['sleep', '600'] });
  await c.start();
  await c.kill();
  const i = await c.inspect();
  assert.equal(i.State.Status, 'exited');
  assert.equal((await c.wait()).StatusCode, 137);
  await c.remove();
});

test('ports on any free host port, and a network with aliases', async () => {
  const net = await docker.createNetwork({ Name: 'odenet' });
  const srv = await docker.createContainer({
    Image: 'busybox', Cmd: ['sh', '-c', 'echo hey > /tmp/i; exec httpd -f -p 80 -h /tmp'], ExposedPorts: { '80/tcp': {} },
    HostConfig: { NetworkMode: 'odenet', PortBindings: { '80/tcp': [{ HostPort: '0' }] } },
    NetworkingConfig: { EndpointsConfig: { odenet: { Aliases: ['web'] } } },
  });
  await srv.start();
  const port = Number((await srv.inspect()).NetworkSettings.Ports['80/tcp']![0].HostPort);
  assert.ok(port > 0);
  const cli = await docker.createContainer({ Image: 'busybox', Cmd: ['sleep', '600'], HostConfig: { NetworkMode: 'odenet' } });
  await cli.start();
  let got = '';
  for (let i = 0; i < 30 && got !== 'hey\n'; i++) {
    got = (await execOut(cli, ['sh', '-c', "printf 'GET /i HTTP/1.0\\r\\n\\r\\n' | nc web 80 | tail -n 1"], false)).out;
    if (got !== 'hey\n') await sleep(100);
  }
  assert.equal(got, 'hey\n');
  for (const c of [srv, cli]) await c.remove({ force: true });
  await net.remove();
});
