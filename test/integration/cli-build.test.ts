// dray build against a real drayd: .dockerignore applied client-side, -t, --build-arg, the cache on
// a rebuild, -q and --iidfile, a failing RUN, a Dockerfile on stdin, and the same bytes on stdout as
// the real docker CLI with DOCKER_BUILDKIT=0; the incremental context (only the files drayd has no
// trusted copy of are sent, and an edit that keeps size and mtime is still sent).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync, statSync, utimesSync, readdirSync, existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TestDaemon } from '../helpers/daemon';
import { contextFilter, incrementalContext, RACY_MS } from '../../src/cli/build-context';
import { frame } from '../../src/builder/named-contexts';

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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('dray build sends only changed files; an edit that keeps the size and the mtime is still sent', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dray-inc-'));
  try {
    writeFileSync(path.join(dir, 'Dockerfile'), 'FROM busybox\nCOPY . /c/\nCMD ["cat","/c/f.txt","/c/sub/g.txt"]\n');
    writeFileSync(path.join(dir, 'f.txt'), 'one\n');
    mkdirSync(path.join(dir, 'sub'));
    writeFileSync(path.join(dir, 'sub', 'g.txt'), 'gee\n');
    writeFileSync(path.join(dir, 'gone.txt'), 'x\n');
    // A whole second, so that it can be put back exactly.
    const f = path.join(dir, 'f.txt');
    utimesSync(f, 1_700_000_000, 1_700_000_000);
    const filter = contextFilter([], 'Dockerfile');
    // What the CLI would send now, asked of this drayd as dray build asks it.
    const sends = async () => {
      let sent: string[] = [];
      const inc = await incrementalContext(dir, filter, async (key, m) => {
        const r = await d.api('POST', `/dray/build/context?key=${key}`, m);
        assert.equal(r.status, 200, r.body.toString());
        sent = (r.json.need as number[]).map((i) => m.entries[i].p);
        return r.json.need;
      });
      for await (const _ of inc.body) { /* read, as the upload would */ }
      return sent.sort();
    };
    const build = () => { const r = d.dray(['build', '-q', '-t', 'inc:1', dir]); assert.equal(r.code, 0, r.stderr); return r.stdout.trim(); };
    // Files changed within RACY_MS of the walk are never trusted: all of them are sent now.
    assert.deepEqual(await sends(), ['Dockerfile', 'f.txt', 'gone.txt', 'sub/g.txt']);
    build();
    await sleep(RACY_MS + 100);
    build();
    assert.deepEqual(await sends(), [], 'a second build with nothing changed sends nothing');
    const cached = build();
    assert.equal(d.dray(['run', '--rm', 'inc:1']).stdout, 'one\ngee\n');

    // Same size, the old mtime put back: ctime still moved, so it is sent.
    const before = statSync(f);
    writeFileSync(f, 'two\n');
    utimesSync(f, 1_700_000_000, 1_700_000_000);
    assert.equal(statSync(f).mtimeMs, before.mtimeMs);
    await sleep(RACY_MS + 100);
    assert.deepEqual(await sends(), ['f.txt']);
    rmSync(path.join(dir, 'gone.txt'));
    const edited = build();
    assert.notEqual(edited, cached);
    assert.equal(d.dray(['run', '--rm', 'inc:1']).stdout, 'two\ngee\n');
    const ls = d.dray(['run', '--rm', 'inc:1', 'ls', '/c']);
    assert.equal(ls.stdout, 'Dockerfile\nf.txt\nsub\n');

    // The docker CLI's whole tar gives the same source hashes: its build is the cached image.
    const dk = d.docker(['build', '-q', dir]);
    assert.equal(dk.stdout.trim(), edited);

    // builder prune --all forgets the kept files (the next build sends everything again).
    // Asking waits for the last build of this context to have kept its files.
    assert.deepEqual(await sends(), []);
    const kept = path.join(d.dataRoot, 'builder', 'contexts', 'blobs');
    assert.ok(readdirSync(kept).length > 0);
    // system df lists them as BuildKit lists its local sources: this context's 3 files, their bytes.
    const local = () => d.api('GET', '/system/df').then((r) => r.json.BuildCache.filter((x: any) => x.Type === 'source.local'));
    const listed = (await local()).filter((x: any) => /\(3 files\)/.test(x.Description));
    const bytes = ['Dockerfile', 'f.txt', 'sub/g.txt'].reduce((n, f) => n + statSync(path.join(dir, f)).size, 0);
    assert.ok(listed.some((x: any) => x.Size === bytes), JSON.stringify(listed));
    const pr = await d.api('POST', '/build/prune?all=1');
    assert.equal(pr.status, 200);
    assert.ok(pr.json.SpaceReclaimed >= bytes);
    assert.deepEqual(readdirSync(kept), []);
    assert.deepEqual(await local(), []);
    assert.deepEqual(await sends(), ['Dockerfile', 'f.txt', 'sub/g.txt']);
    assert.equal(d.dray(['rmi', 'inc:1']).code, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an incremental context that names a file drayd does not keep is refused, and nothing is left', async () => {
  const key = 'ab'.repeat(32);
  const manifest = { version: 1, entries: [
    { p: 'Dockerfile', t: 'f', m: 0o644, mt: 1, s: 13, k: '1:2:13', x: 1 },
    { p: 'secret.txt', t: 'f', m: 0o644, mt: 1, s: 5, k: 'guessed' },
  ] };
  const chunks: Buffer[] = [];
  for await (const c of frame((async function* () { yield Buffer.from(JSON.stringify(manifest)); })())) chunks.push(c);
  const df = Buffer.from('FROM busybox\n');
  const hdr = Buffer.alloc(512);
  hdr.write('Dockerfile'); hdr.write('0000644\0', 100); hdr.write('0000000\0', 108); hdr.write('0000000\0', 116);
  hdr.write(df.length.toString(8).padStart(11, '0') + '\0', 124); hdr.write('00000000001\0', 136); hdr.write('        ', 148); hdr.write('0', 156); hdr.write('ustar\x0000', 257);
  let sum = 0; for (const b of hdr) sum += b;
  hdr.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  const tar = Buffer.concat([hdr, df, Buffer.alloc(512 - df.length), Buffer.alloc(1024)]);
  const r = await d.api('POST', `/build?draycontext=${key}`, Buffer.concat([...chunks, tar]), { 'Content-Type': 'application/x-tar' });
  assert.equal(r.status, 409, r.body.toString());
  assert.match(r.json.message, /kept copy of secret\.txt changed during the upload/);
  // A mark of "sent" that the tar does not hold is a bad request.
  const m2 = { version: 1, entries: [{ ...manifest.entries[0] }, { ...manifest.entries[1], x: 1 }] };
  const c2: Buffer[] = [];
  for await (const c of frame((async function* () { yield Buffer.from(JSON.stringify(m2)); })())) c2.push(c);
  const r2 = await d.api('POST', `/build?draycontext=${key}`, Buffer.concat([...c2, tar]), { 'Content-Type': 'application/x-tar' });
  assert.equal(r2.status, 400, r2.body.toString());
  assert.match(r2.json.message, /secret\.txt is marked as sent but is not in the archive/);
  const bad = await d.api('POST', '/dray/build/context?key=nothex', manifest);
  assert.equal(bad.status, 400);
  assert.deepEqual(await d.buildLeftovers(), []);
  assert.ok(!existsSync(path.join(d.dataRoot, 'builder', 'contexts', `${key}.json`)));
});
