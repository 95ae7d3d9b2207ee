// An API client library (dockerode) drives drayd: create, start, logs, wait, remove.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Docker from 'dockerode';
import { TestDaemon } from '../helpers/daemon';

const d = new TestDaemon();

before(async () => {
  await d.start();
  await d.bootstrapBusybox();
});

after(async () => {
  assert.deepEqual(await d.stop(), []);
});

test('dockerode runs a container and reads its logs and exit code', async () => {
  const docker = new Docker({ socketPath: d.socket });
  const info = await docker.version();
  assert.match(info.Version, /dray/);
  const c = await docker.createContainer({ Image: 'busybox', Cmd: ['sh', '-c', 'echo to-out; echo to-err >&2; exit 2'], Labels: { suite: 'compat' } });
  await c.start();
  const res = await c.wait();
  assert.equal(res.StatusCode, 2);
  const logs = (await c.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
  const out: string[] = [];
  const err: string[] = [];
  for (let i = 0; i + 8 <= logs.length;) {
    const n = logs.readUInt32BE(i + 4);
    (logs[i] === 1 ? out : err).push(logs.subarray(i + 8, i + 8 + n).toString());
    i += 8 + n;
  }
  assert.equal(out.join(''), 'to-out\n');
  assert.equal(err.join(''), 'to-err\n');
  const list = await docker.listContainers({ all: true, filters: { label: ['suite=compat'] } });
  assert.equal(list.length, 1);
  await c.remove();
  await assert.rejects(c.inspect(), (e: any) => e.statusCode === 404);
});
