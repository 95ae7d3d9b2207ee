// ADD <git url> against a repository this test serves with `git daemon` on 127.0.0.1: a branch,
// a tag with a subdirectory, --keep-git-dir, the cache keyed by the resolved commit, and clear
// errors naming the line for an unreachable server and a ref that does not exist.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { spawn, spawnSync, ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { TestDaemon, sleep } from '../helpers/daemon';

const d = new TestDaemon();
const work = mkdtempSync(path.join(os.tmpdir(), 'dray-bgit-'));
const base = path.join(work, 'srv');
const repo = path.join(base, 'repo.git');
let daemon: ChildProcess | undefined;
let port = 0;

function git(args: string[], cwd = repo): string {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t', GIT_CONFIG_NOSYSTEM: '1', HOME: work } });
  assert.equal(r.status, 0, `git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

function commit(files: Record<string, string>, msg: string): string {
  for (const [f, body] of Object.entries(files)) { mkdirSync(path.dirname(path.join(repo, f)), { recursive: true }); writeFileSync(path.join(repo, f), body); }
  git(['add', '-A']);
  git(['commit', '-q', '-m', msg]);
  return git(['rev-parse', 'HEAD']);
}

const freePort = () => new Promise<number>((resolve, reject) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); });
  s.on('error', reject);
});
const canConnect = (p: number) => new Promise<boolean>((resolve) => {
  const c = net.connect(p, '127.0.0.1', () => { c.destroy(); resolve(true); });
  c.on('error', () => resolve(false));
});

before(async () => {
  mkdirSync(repo, { recursive: true });
  git(['init', '-q', '-b', 'main']);
  commit({ 'README': 'v1 readme\n', 'sub/a.txt': 'a at v1\n', 'pack.tar': 'not really a tar\n' }, 'one');
  git(['tag', 'v1']);
  commit({ 'sub/a.txt': 'a at v2\n' }, 'two');
  port = await freePort();
  daemon = spawn('git', ['daemon', '--export-all', '--reuseaddr', `--base-path=${base}`, '--listen=127.0.0.1', `--port=${port}`, base], { stdio: 'ignore' });
  for (let i = 0; i < 50 && !(await canConnect(port)); i++) await sleep(100);
  assert.ok(await canConnect(port), 'git daemon listens');
  await d.start();
  await d.bootstrapBusybox();
});
after(async () => {
  if (daemon?.pid) daemon.kill();
  rmSync(work, { recursive: true, force: true });
  const leaks = await d.stop();
  assert.deepEqual(leaks, []);
});

function buildDir(name: string, dockerfile: string): string {
  const p = path.join(work, name);
  mkdirSync(p, { recursive: true });
  writeFileSync(path.join(p, 'Dockerfile'), dockerfile);
  return p;
}

const cat = (image: string, cmd: string) => d.dray(['run', '--rm', '--network', 'none', image, 'sh', '-c', cmd]);

async function noLeftovers(): Promise<void> {
  assert.deepEqual(await d.buildLeftovers(), []);
}

test('ADD git://…#branch, #tag:subdir and --keep-git-dir; .git left out by default; archives in the repository not extracted', async () => {
  const url = `git://127.0.0.1:${port}/repo.git`;
  const ctx = buildDir('ok', [
    'FROM busybox',
    `ADD ${url}#v1:sub /old`,
    `ADD ${url}#main /src`,
    `ADD --keep-git-dir=true ${url} /kept`,
  ].join('\n'));
  const r = d.dray(['build', '--network', 'none', '-t', 'gitadd:1', ctx]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const out = cat('gitadd:1', 'cat /src/README /src/sub/a.txt /src/pack.tar /old/a.txt; ls -a /src | tr "\\n" " "; test -f /kept/.git/HEAD && echo kept');
  assert.equal(out.stdout, 'v1 readme\na at v2\nnot really a tar\na at v1\n. .. README pack.tar sub kept\n', out.stderr);

  // Cached by the commit: nothing changed, nothing re-added; a new commit on main re-adds.
  const again = d.dray(['build', '--network', 'none', ctx]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout.match(/Using cache/g)?.length, 3, again.stdout);
  commit({ 'sub/a.txt': 'a at v3\n' }, 'three');
  const moved = d.dray(['build', '--network', 'none', '-t', 'gitadd:2', ctx]);
  assert.equal(moved.code, 0, moved.stderr);
  assert.match(moved.stdout, /Step 2\/4 : ADD [^\n]*#v1:sub \/old\n ---> Using cache\n/, 'v1 did not move');
  assert.match(moved.stdout, /Step 3\/4 : ADD [^\n]*#main \/src\n(?! ---> Using cache)/, 'main moved: the step runs again');
  assert.equal(cat('gitadd:2', 'cat /src/sub/a.txt').stdout, 'a at v3\n');
  await noLeftovers();
});

test('ADD git: an unreachable server, a ref that does not exist, a subdirectory that does not: errors naming the line, nothing left', async () => {
  const closed = await freePort();
  const cases: [string, RegExp][] = [
    [`ADD git://127.0.0.1:${closed}/repo.git /x`, /Dockerfile line 2: ADD git:\/\/127\.0\.0\.1:\d+\/repo\.git \/x: failed to fetch git repository/],
    [`ADD git://127.0.0.1:${port}/repo.git#no-such-branch /x`, /Dockerfile line 2: .*ref "no-such-branch" not found/],
    [`ADD git://127.0.0.1:${port}/repo.git#main:nope /x`, /Dockerfile line 2: .*subdirectory nope not found/],
    [`ADD git://127.0.0.1:${port}/repo.git#-bad /x`, /Dockerfile line 2: .*invalid git ref "-bad"/],
  ];
  for (const [line, re] of cases) {
    const ctx = buildDir(`bad-${cases.findIndex((c) => c[0] === line)}`, `FROM busybox\n${line}\n`);
    const r = d.dray(['build', '--network', 'none', ctx]);
    assert.notEqual(r.code, 0, line);
    assert.match(r.stderr, re, line);
  }
  await noLeftovers();
});
