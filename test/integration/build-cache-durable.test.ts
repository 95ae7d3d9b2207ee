// The build cache is written once per build, at its end (BuildCache.flush), not at every step:
// what the build answered must be on disk by then. A daemon killed (SIGKILL) right after a build
// answered finds every step of it cached when it starts again; so it does for the steps a failed
// build finished before its failing one.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync, readFileSync, readdirSync } from 'node:fs';
import { spawn } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { TestDaemon, drayLauncher, sleep } from '../helpers/daemon';

const d = new TestDaemon();
const work = mkdtempSync(path.join(os.tmpdir(), 'dray-bcd-'));
before(async () => {
  await d.start();
  await d.bootstrapBusybox();
});
after(async () => {
  rmSync(work, { recursive: true, force: true });
  const leaks = await d.stop();
  assert.deepEqual(leaks, []);
});

const cacheEntries = () => Object.keys(JSON.parse(readFileSync(path.join(d.dataRoot, 'builder', 'cache.json'), 'utf8')).entries).length;

test('a build\'s steps are cached on disk when it answers: after a SIGKILL the same build is fully cached', async () => {
  const ctx = mkdtempSync(path.join(work, 'ok-'));
  writeFileSync(path.join(ctx, 'Dockerfile'), `FROM busybox\nRUN echo ${Date.now()} > /a\nCOPY Dockerfile /d\nRUN cat /a > /b\nCMD ["sh"]\n`);
  // On the default bridge: the steps' endpoints, which go after their exits are told, are gone
  // too when the build answers (the leak check at the end looks for their namespaces and veths).
  const first = d.dray(['build', '-t', 'durable', ctx]);
  assert.equal(first.code, 0, first.stderr + first.stdout);
  const id = /Successfully built ([0-9a-f]{12})/.exec(first.stdout)?.[1];
  assert.ok(id, first.stdout);
  assert.doesNotMatch(first.stdout, /Using cache/);
  assert.equal(cacheEntries(), 4, 'one entry per step, in the file the build answered after');
  await d.killDaemon();
  await d.start();
  const again = d.dray(['build', '-t', 'durable', ctx]);
  assert.equal(again.code, 0, again.stderr + again.stdout);
  assert.equal(again.stdout.match(/ ---> Using cache/g)?.length, 4, again.stdout);
  assert.match(again.stdout, new RegExp(`Successfully built ${id}`));
  assert.deepEqual(await d.buildLeftovers(), []);
});

test('a failed build keeps the steps it finished: after a SIGKILL they are cached, the failing one runs again', async () => {
  const ctx = mkdtempSync(path.join(work, 'fail-'));
  const df = (last: string) => `FROM busybox\nRUN echo ${Date.now()} > /a\nRUN cat /a > /b\n${last}\n`;
  writeFileSync(path.join(ctx, 'Dockerfile'), df('RUN exit 7'));
  const failed = d.dray(['build', '--network', 'none', ctx]);
  assert.notEqual(failed.code, 0);
  assert.match(failed.stderr + failed.stdout, /returned a non-zero code: 7/);
  await d.killDaemon();
  await d.start();
  const text = readFileSync(path.join(ctx, 'Dockerfile'), 'utf8').replace('RUN exit 7', 'RUN true');
  writeFileSync(path.join(ctx, 'Dockerfile'), text);
  const fixed = d.dray(['build', '--network', 'none', ctx]);
  assert.equal(fixed.code, 0, fixed.stderr + fixed.stdout);
  assert.equal(fixed.stdout.match(/ ---> Using cache/g)?.length, 2, fixed.stdout);
  assert.deepEqual(await d.buildLeftovers(), []);
});

test('a daemon killed while a step reads another stage starts with that stage\'s read-only view unmounted', async () => {
  const ctx = mkdtempSync(path.join(work, 'view-'));
  // The bind from the stage is a view of its image (store/image-views.ts), mounted on the host for
  // as long as the step runs; the step sleeps so that the kill finds it mounted.
  writeFileSync(path.join(ctx, 'Dockerfile'), `FROM busybox AS src\nRUN echo ${Date.now()} > /f\nFROM busybox\nRUN --mount=type=bind,from=src,target=/m cat /m/f && sleep 30\n`);
  const views = () => d.mounts().filter((m) => m.includes(path.join(d.dataRoot, 'image', 'views') + '/'));
  const client = spawn(drayLauncher, ['build', '--network', 'none', ctx], { env: d.env, stdio: 'ignore' });
  try {
    for (let i = 0; i < 300 && !views().length; i++) await sleep(100);
    assert.equal(views().length, 1, 'the stage is mounted while the step runs');
    await d.killDaemon();
    assert.equal(views().length, 1, 'a crash leaves the view mounted');
    await d.start();
    assert.deepEqual(views(), []);
    assert.deepEqual(readdirSync(path.join(d.dataRoot, 'image', 'views')), []);
  } finally {
    client.kill('SIGKILL');
  }
  // The step's container, found running at the start, is ended and removed as any build's is.
  for (let i = 0; i < 100 && (await d.buildLeftovers()).length; i++) await sleep(100);
  assert.deepEqual(await d.buildLeftovers(), []);
});
