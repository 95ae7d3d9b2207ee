// dray build against a real drayd: .dockerignore applied client-side, -t, --build-arg, the cache on
// a rebuild, -q and --iidfile, a failing RUN, a Dockerfile on stdin, and the same bytes on stdout as
// the real docker CLI with DOCKER_BUILDKIT=0.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TestDaemon } from '../helpers/daemon';

const d = new TestDaemon();
const ctx = mkdtempSync(path.join(os.tmpdir(), 'dray-cli-build-'));
before(async () => {
  await d.start();
  await d.bootstrapBusybox();
  const files: Record<string, string> = {
    Dockerfile: 'FROM busybox\nARG GREETING=hi\nCOPY . /ctx/\nRUN echo "$GREETING" > /greet && ls -R /ctx | sort\nCMD ["cat","/greet"]\n',
    '.dockerignore': 'ign\n*.log\n!keep.log\n',
    'a.txt': 'a\n', 'x.log': 'x\n', 'keep.log': 'k\n', 'sub/s.txt': 's\n', 'ign/i.txt': 'i\n',
  };
  for (const [n, b] of Object.entries(files)) { mkdirSync(path.dirname(path.join(ctx, n)), { recursive: true }); writeFileSync(path.join(ctx, n), b); }
  mkdirSync(path.join(ctx, '..', path.basename(ctx) + '-bad'), { recursive: true });
  writeFileSync(path.join(ctx + '-bad', 'Dockerfile'), 'FROM busybox\nRUN echo failing && exit 3\n');
});
after(async () => {
  rmSync(ctx, { recursive: true, force: true });
  rmSync(ctx + '-bad', { recursive: true, force: true });
  const leaks = await d.stop();
  assert.deepEqual(leaks, []);
});

const ids = (s: string) => s.replace(/[0-9a-f]{12,64}/g, 'ID');

test('dray build applies .dockerignore, tags, passes build args, and the image runs', () => {
  const r = d.dray(['build', '-t', 'clibuild:1', '--build-arg', 'GREETING=hello', ctx]);
  assert.equal(r.code, 0, r.stderr);
  // 5 files (Dockerfile, .dockerignore, a.txt, keep.log, sub/s.txt) + sub/ + the tar's end: 6656 bytes.
  assert.ok(r.stdout.startsWith('Sending build context to Docker daemon  6.656kB\r\r\nStep 1/5 : FROM busybox\n'), JSON.stringify(r.stdout.slice(0, 120)));
  assert.match(r.stdout, /\/ctx:\nDockerfile\na\.txt\nkeep\.log\ns\.txt\nsub\n/);
  assert.doesNotMatch(r.stdout, /x\.log|i\.txt/);
  assert.match(r.stdout, /Successfully built [0-9a-f]{12}\nSuccessfully tagged clibuild:1\n$/);
  const run = d.dray(['run', '--rm', 'clibuild:1']);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, 'hello\n');
});

test('a rebuild uses the cache; stdout is byte for byte what docker prints', () => {
  const r = d.dray(['build', '-t', 'clibuild:1', '--build-arg', 'GREETING=hello', ctx]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((r.stdout.match(/ ---> Using cache\n/g) ?? []).length, 4);
  const dk = d.docker(['build', '-t', 'clibuild:1', '--build-arg', 'GREETING=hello', ctx]);
  assert.equal(dk.code, 0, dk.stderr);
  assert.equal(r.stdout, dk.stdout);
});

test('-q prints only the image ID; --iidfile gets it too', () => {
  const iid = path.join(d.dir, 'iid');
  const r = d.dray(['build', '-q', '--iidfile', iid, '--build-arg', 'GREETING=hello', ctx]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^sha256:[0-9a-f]{64}\n$/);
  // As docker: with -q the file holds the daemon's line, newline included.
  assert.equal(readFileSync(iid, 'utf8'), r.stdout);
  const r2 = d.dray(['build', '--iidfile', iid, '--build-arg', 'GREETING=hello', ctx]);
  assert.equal(r2.code, 0, r2.stderr);
  assert.equal(readFileSync(iid, 'utf8'), r.stdout.trim());
  const dk = d.docker(['build', '-q', '--build-arg', 'GREETING=hello', ctx]);
  assert.equal(dk.stdout, r.stdout);
});

test('a failing RUN exits 1 with docker\'s message', () => {
  const r = d.dray(['build', ctx + '-bad']);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /Step 2\/2 : RUN echo failing && exit 3\n ---> Running in [0-9a-f]{12}\nfailing\n$/);
  assert.equal(r.stderr, "The command '/bin/sh -c echo failing && exit 3' returned a non-zero code: 3\n");
  const dk = d.docker(['build', ctx + '-bad']);
  assert.equal(dk.code, 1);
  assert.equal(ids(r.stdout), ids(dk.stdout));
  assert.ok(dk.stderr.endsWith(r.stderr));
  // -q: the buffered output goes to stderr before the message, as docker does.
  const q = d.dray(['build', '-q', ctx + '-bad']);
  assert.equal(q.code, 1);
  assert.equal(q.stdout, '');
  assert.equal(q.stderr, "Sending build context to Docker daemon  2.048kB\r\r\nThe command '/bin/sh -c echo failing && exit 3' returned a non-zero code: 3\n");
});

test('a Dockerfile on stdin builds with an empty context', () => {
  const r = d.dray(['build', '-t', 'clibuild:stdin', '-'], 'FROM busybox\nRUN echo from-stdin > /f\nCMD ["cat","/f"]\n');
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.startsWith('Sending build context to Docker daemon  2.048kB\r\r\n'), r.stdout);
  const run = d.dray(['run', '--rm', 'clibuild:stdin']);
  assert.equal(run.stdout, 'from-stdin\n');
});

test('a missing context is docker\'s error', () => {
  const r = d.dray(['build', path.join(d.dir, 'nope')]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `unable to prepare context: path "${path.join(d.dir, 'nope')}" not found\n`);
});
