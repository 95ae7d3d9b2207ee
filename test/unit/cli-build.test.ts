// dray build's client side: the context tar (docker's walk order, .dockerignore with `**` and `!`,
// the Dockerfile and .dockerignore always sent, uid/gid 0, modes, links, a Dockerfile from outside
// the context), stdin detection, flag value handling, and the template-free table fast path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, chmodSync, symlinkSync, linkSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import * as tarStream from 'tar-stream';
import { contextFilter, tarContext, isArchive, localContext, dockerfileOnlyTar, ContextError } from '../../src/cli/build-context';
import { validateTag, validateBuildArg, buildArgsMap, labelsMap } from '../../src/cli/commands/build';
import { renderList } from '../../src/cli/format';

interface Entry { name: string; type: string; mode: number; uid: number; gid: number; size: number; linkname?: string | null; body: string }

async function entriesOf(stream: NodeJS.ReadableStream | any): Promise<Entry[]> {
  const ex = tarStream.extract();
  const out: Entry[] = [];
  ex.on('entry', (h: any, s: any, next: () => void) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => { out.push({ name: h.name, type: h.type, mode: h.mode, uid: h.uid, gid: h.gid, size: h.size, linkname: h.linkname, body: Buffer.concat(chunks).toString() }); next(); });
  });
  const done = new Promise<void>((resolve, reject) => { ex.on('finish', () => resolve()); ex.on('error', reject); });
  stream.pipe(ex);
  await done;
  return out;
}

function makeContext(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dray-ctx-'));
  for (const [name, body] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), body);
  }
  return dir;
}

test('the context tar follows .dockerignore like docker (**, ! exceptions, ignored dirs)', async () => {
  const dir = makeContext({
    Dockerfile: 'FROM busybox\n',
    '.dockerignore': '# c\n**/*.tmp\nvendor\n!vendor/keep\ndocs/\n/src/deep/x\n!src/deep/x/y.txt\nDockerfile\n.dockerignore\n',
    'vendor/keep/k.go': '1', 'vendor/drop/d.go': '2', 'src/a.tmp': '3', 'src/deep/b.tmp': '4',
    'src/deep/x/y.txt': '5', 'src/deep/x/z.txt': '6', 'docs/r.md': '7', 'src/main.go': '8', 'b.txt': 'b', 'a.txt': 'a',
  });
  try {
    const lines = ['# c', '**/*.tmp', 'vendor', '!vendor/keep', 'docs/', '/src/deep/x', '!src/deep/x/y.txt', 'Dockerfile', '.dockerignore'];
    const names = (await entriesOf(tarContext(dir, contextFilter(lines, 'Dockerfile')))).map((e) => e.name);
    // Ignored directories that hold an exception are walked but not sent themselves.
    assert.deepEqual(names, ['.dockerignore', 'Dockerfile', 'a.txt', 'b.txt', 'src/', 'src/deep/', 'src/deep/x/y.txt', 'src/main.go', 'vendor/keep/', 'vendor/keep/k.go']);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('an ignored directory without a matching exception is not walked', async () => {
  const dir = makeContext({ Dockerfile: 'FROM x\n', 'vendor/a.go': 'a', 'vendor/sub/b.go': 'b' });
  try {
    // "!**/*.go" does not start with "vendor/": docker skips the directory, so nothing under it comes back.
    const names = (await entriesOf(tarContext(dir, contextFilter(['vendor', '!**/*.go'], 'Dockerfile')))).map((e) => e.name);
    assert.deepEqual(names, ['Dockerfile']);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('entries keep modes, use uid/gid 0, and carry symlinks and hard links', async () => {
  const dir = makeContext({ Dockerfile: 'FROM x\n', 'bin/run': '#!/bin/sh\n', 'secret': 's' });
  try {
    chmodSync(path.join(dir, 'bin/run'), 0o750);
    chmodSync(path.join(dir, 'secret'), 0o000);
    symlinkSync('run', path.join(dir, 'bin/link'));
    linkSync(path.join(dir, 'bin/run'), path.join(dir, 'hard'));
    const es = await entriesOf(tarContext(dir, contextFilter([], 'Dockerfile')));
    const by = Object.fromEntries(es.map((e) => [e.name, e]));
    assert.deepEqual(es.map((e) => e.name), ['Dockerfile', 'bin/', 'bin/link', 'bin/run', 'hard', 'secret']);
    assert.equal(by['bin/run'].mode, 0o750);
    assert.equal(by['bin/run'].body, '#!/bin/sh\n');
    assert.equal(by.secret.mode, 0o000);
    assert.equal(by['bin/link'].type, 'symlink');
    assert.equal(by['bin/link'].linkname, 'run');
    assert.equal(by.hard.type, 'link');
    assert.equal(by.hard.linkname, 'bin/run');
    for (const e of es) { assert.equal(e.uid, 0); assert.equal(e.gid, 0); }
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('a Dockerfile from outside the context is added under its random name and listed in .dockerignore', async () => {
  const dir = makeContext({ 'a.txt': 'a', '.dockerignore': '*.log' });
  try {
    const extra = { name: '.dockerfile.0123456789abcdef0123', content: Buffer.from('FROM busybox\n') };
    const es = await entriesOf(tarContext(dir, contextFilter(['*.log'], '../Dockerfile'), extra));
    const by = Object.fromEntries(es.map((e) => [e.name, e]));
    assert.equal(by['.dockerignore'].body, `*.log\n${extra.name}\n`);
    assert.equal(by[extra.name].body, 'FROM busybox\n');
    assert.equal(by[extra.name].mode, 0o600);
  } finally { rmSync(dir, { recursive: true, force: true }); }
  const dir2 = makeContext({ 'a.txt': 'a' });
  try {
    const extra = { name: '.dockerfile.x', content: Buffer.from('FROM busybox\n') };
    const es = await entriesOf(tarContext(dir2, contextFilter([], '../Dockerfile'), extra));
    assert.equal(es.find((e) => e.name === '.dockerignore')?.body, '.dockerignore\n.dockerfile.x\n');
  } finally { rmSync(dir2, { recursive: true, force: true }); }
});

test('localContext finds the Dockerfile like docker and reports docker\'s messages', async () => {
  const dir = makeContext({ dockerfile: 'FROM x\n', 'sub/Other': 'FROM y\n' });
  try {
    assert.equal((await localContext(dir, undefined)).relDockerfile, 'dockerfile');
    const outside = await localContext(path.join(dir, 'sub'), path.join(dir, 'dockerfile'));
    assert.equal(outside.outsideDockerfile, path.join(dir, 'dockerfile'));
    await assert.rejects(localContext(path.join(dir, 'nope'), undefined), (e: any) => e instanceof ContextError && e.message === `unable to prepare context: path "${path.join(dir, 'nope')}" not found`);
    await assert.rejects(localContext(path.join(dir, 'sub'), undefined), /Cannot locate Dockerfile: ".*\/sub\/Dockerfile"/);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('stdin: tars and compressed streams are archives, a Dockerfile is not', async () => {
  assert.equal(isArchive(Buffer.from('FROM busybox\nRUN true\n')), false);
  assert.equal(isArchive(zlib.gzipSync(Buffer.from('x'))), true);
  const chunks: Buffer[] = [];
  const t = dockerfileOnlyTar(Buffer.from('FROM busybox\n'));
  for await (const c of t as any) chunks.push(c);
  const tar = Buffer.concat(chunks);
  assert.equal(isArchive(tar.subarray(0, 512)), true);
  assert.deepEqual((await entriesOf(dockerfileOnlyTar(Buffer.from('FROM busybox\n')))).map((e) => [e.name, e.body]), [['Dockerfile', 'FROM busybox\n']]);
});

test('flag values: tags, build args from the environment, labels', () => {
  assert.equal(validateTag('my/app:1.0'), 'my/app:1.0');
  assert.equal(validateTag('localhost:5000/a/b'), 'localhost:5000/a/b');
  assert.throws(() => validateTag('Foo'), { message: 'invalid reference format: repository name (library/Foo) must be lowercase' });
  assert.throws(() => validateTag('a b'), { message: 'invalid reference format' });
  process.env.DRAY_TEST_ARG = 'from-env';
  try {
    assert.equal(validateBuildArg('DRAY_TEST_ARG'), 'DRAY_TEST_ARG=from-env');
    assert.equal(validateBuildArg('DRAY_TEST_UNSET_ARG'), 'DRAY_TEST_UNSET_ARG');
    assert.equal(validateBuildArg('A=b=c'), 'A=b=c');
    assert.throws(() => validateBuildArg('=x'), { message: 'invalid environment variable: =x' });
  } finally { delete process.env.DRAY_TEST_ARG; }
  assert.deepEqual(buildArgsMap(['A=1', 'B', 'C=']), { A: '1', B: null, C: '' });
  assert.deepEqual(labelsMap(['a=1', 'b']), { a: '1', b: '' });
});

test('simple formats render without the template engine, exactly as the template would', () => {
  const spec = { defaultTable: '{{.ID}}\t{{.Name}}', headers: { ID: 'ID', Name: 'NAME' } };
  const rows = [{ ID: 'abc', Name: 'first' }, { ID: 'defghi', Name: 'x' }];
  assert.equal(renderList(undefined, rows, spec), 'ID        NAME\nabc       first\ndefghi    x\n');
  assert.equal(renderList('{{.Name}}:{{ .ID }}', rows, spec), 'first:abc\nx:defghi\n');
  // Not simple (a function, a non-string value): the engine still runs.
  assert.equal(renderList('{{upper .Name}}', rows, spec), 'FIRST\nX\n');
  assert.equal(renderList('{{.N}}', [{ N: 3 }], spec), '3\n');
});
