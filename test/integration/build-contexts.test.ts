// dray build --build-context: a directory (COPY --from, RUN --mount=from), an image by
// docker-image:// or a bare reference (FROM, COPY --from), stage names winning over context names,
// and bad values refused naming the flag, with nothing left behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TestDaemon } from '../helpers/daemon';

const d = new TestDaemon();
const work = mkdtempSync(path.join(os.tmpdir(), 'dray-bctx-'));
const dir = (name: string, files: Record<string, string>) => {
  const p = path.join(work, name);
  mkdirSync(p, { recursive: true });
  for (const [f, body] of Object.entries(files)) { mkdirSync(path.dirname(path.join(p, f)), { recursive: true }); writeFileSync(path.join(p, f), body); }
  return p;
};
before(async () => { await d.start(); await d.bootstrapBusybox(); });
after(async () => {
  rmSync(work, { recursive: true, force: true });
  const leaks = await d.stop();
  assert.deepEqual(leaks, []);
});

async function noLeftovers(): Promise<void> {
  assert.deepEqual(await d.buildLeftovers(), []);
}

test('a directory context: COPY --from and RUN --mount=from read it; its content is in the cache key', async () => {
  const ctx = dir('main', {
    Dockerfile: [
      'FROM busybox',
      'COPY --from=extra conf/app.conf /etc/app.conf',
      'RUN --mount=from=extra,target=/x cat /x/conf/app.conf /x/notes.txt > /seen',
      'COPY main.txt /main.txt',
    ].join('\n'),
    'main.txt': 'main\n',
  });
  const extra = dir('extra', { 'conf/app.conf': 'v=1\n', 'notes.txt': 'notes\n' });
  const r = d.dray(['build', '--network', 'none', '-t', 'bctx:1', '--build-context', `extra=${extra}`, ctx]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const run = d.dray(['run', '--rm', '--network', 'none', 'bctx:1', 'cat', '/etc/app.conf', '/seen', '/main.txt']);
  assert.equal(run.stdout, 'v=1\nv=1\nnotes\nmain\n', run.stderr);
  // The main context does not see the other's files.
  assert.equal(d.dray(['run', '--rm', '--network', 'none', 'bctx:1', 'ls', '/x']).code, 1);

  writeFileSync(path.join(extra, 'notes.txt'), 'changed\n');
  const again = d.dray(['build', '--network', 'none', '-t', 'bctx:2', '--build-context', `extra=${extra}`, ctx]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /Step 2\/4 : COPY --from=extra[^\n]*\n ---> Using cache\n/, 'the COPY\'s sources did not change');
  assert.match(again.stdout, /Step 3\/4 : RUN --mount=from=extra[^\n]*\n ---> Running in /, 'the mounted directory changed: the RUN runs again');
  assert.equal(d.dray(['run', '--rm', '--network', 'none', 'bctx:2', 'cat', '/seen']).stdout, 'v=1\nchanged\n');
  await noLeftovers();
});

test('an image context: FROM and COPY --from take docker-image://REF and a bare reference; a stage of that name wins', async () => {
  const t = d.dray(['tag', 'busybox', 'local/base:7']);
  assert.equal(t.code, 0, t.stderr);
  const ctx = dir('img', {
    Dockerfile: [
      'FROM alpine AS first',
      'RUN echo from-first > /first',
      'FROM other',
      'COPY --from=tool /bin/busybox /copied-busybox',
      'COPY --from=first /first /first',
    ].join('\n'),
  });
  const r = d.dray(['build', '--network', 'none', '-t', 'bctx:img',
    '--build-context', 'alpine=docker-image://local/base:7', '--build-context', 'other=busybox', '--build-context', 'tool=local/base:7',
    // Names a stage: the stage is used, not this (a missing image would fail the build).
    '--build-context', 'first=docker-image://no/such:image', ctx]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const run = d.dray(['run', '--rm', '--network', 'none', 'bctx:img', 'sh', '-c', 'cat /first && cmp /copied-busybox /bin/busybox && echo same']);
  assert.equal(run.stdout, 'from-first\nsame\n', run.stderr);
  await noLeftovers();
});

test('bad --build-context values: refused before the build, naming the flag; FROM a directory context is not implemented', async () => {
  const ctx = dir('bad', { Dockerfile: 'FROM busybox\n' });
  const bad: [string, RegExp][] = [
    ['novalue', /--build-context.*expected key=value/],
    ['x=', /--build-context.*empty/],
    ['x=oci-layout:///tmp/l', /--build-context.*oci-layout build contexts are not implemented/],
    ['x=https://example.invalid/c.tar', /--build-context.*https build contexts are not implemented/],
    [`x=${path.join(work, 'no-such-dir')}`, /--build-context.*no such directory/],
    ['x=docker-image://Bad Ref', /--build-context.*invalid reference format/],
  ];
  for (const [spec, re] of bad) {
    const r = d.dray(['build', '--network', 'none', '--build-context', spec, ctx]);
    assert.notEqual(r.code, 0, spec);
    assert.match(r.stderr, re, spec);
    assert.doesNotMatch(r.stdout, /Step 1/, spec);
  }
  const fromDir = dir('fromdir', { Dockerfile: 'FROM files\n' });
  const files = dir('files', { a: 'a' });
  const r = d.dray(['build', '--network', 'none', '--build-context', `files=${files}`, fromDir]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /FROM files: a local directory build context as a base is not implemented/);
  const cache = dir('cachefrom', { Dockerfile: 'FROM busybox\nRUN --mount=type=cache,from=files,target=/c true\n' });
  const c = d.dray(['build', '--network', 'none', '--build-context', `files=${files}`, cache]);
  assert.notEqual(c.code, 0);
  assert.match(c.stderr, /Dockerfile line 2: .*from=files: a cache mount seeded from a local directory build context is not implemented/);
  await noLeftovers();
});
