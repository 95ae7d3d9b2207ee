// RUN --mount=type=ssh with dray build --ssh: a real ssh-agent's keys listed by ssh-add inside the
// step (ssh-add and its libraries copied from the host into a test image), for that step only;
// nothing of the agent in the image; a required agent not forwarded and bad --ssh values refused.
// Key files (--ssh id=KEY,KEY2): the CLI's own ssh-agent holds them for the build, and is gone
// after it — when it succeeds, fails, or is interrupted with SIGINT.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, copyFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { spawn, spawnSync, ChildProcess } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { TestDaemon, sleep, within, drayLauncher } from '../helpers/daemon';

const d = new TestDaemon();
const work = mkdtempSync(path.join(os.tmpdir(), 'dray-bssh-'));
const agentSock = path.join(work, 'agent.sock');
let agent: ChildProcess | undefined;
let fingerprint = '';

before(async () => {
  agent = spawn('ssh-agent', ['-D', '-a', agentSock], { stdio: 'ignore' });
  for (let i = 0; i < 50 && !existsSync(agentSock); i++) await sleep(100);
  assert.ok(existsSync(agentSock), 'ssh-agent listens');
  const key = path.join(work, 'key');
  assert.equal(spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'dray-test-key', '-f', key]).status, 0);
  const add = spawnSync('ssh-add', [key], { env: { ...process.env, SSH_AUTH_SOCK: agentSock }, encoding: 'utf8' });
  assert.equal(add.status, 0, add.stderr);
  fingerprint = spawnSync('ssh-keygen', ['-l', '-f', key], { encoding: 'utf8' }).stdout.split(' ')[1];
  assert.match(fingerprint, /^SHA256:/);
  await d.start();
  await d.bootstrapBusybox();
  // An image with the host's ssh-add: the binary and the libraries ldd names, at their paths.
  const img = path.join(work, 'img');
  const files = ['/usr/bin/ssh-add', ...spawnSync('ldd', ['/usr/bin/ssh-add'], { encoding: 'utf8' }).stdout.split('\n').map((l) => /(\/\S+) \(0x/.exec(l)?.[1]).filter((p): p is string => !!p)];
  for (const f of files) { mkdirSync(path.join(img, 'root', path.dirname(f)), { recursive: true }); copyFileSync(f, path.join(img, 'root', f)); }
  spawnSync('chmod', ['-R', 'a+rx', path.join(img, 'root')]);
  writeFileSync(path.join(img, 'Dockerfile'), 'FROM busybox\nCOPY root/ /\n');
  const b = d.dray(['build', '-t', 'sshadd', '--network', 'none', img]);
  assert.equal(b.code, 0, b.stderr + b.stdout);
});
after(async () => {
  // The agent removes its socket as it exits: gone first, so the removal below meets no change.
  if (agent?.pid && agent.exitCode === null && agent.signalCode === null) {
    const gone = new Promise((r) => agent!.once('exit', r));
    agent.kill();
    await within(gone, 5000, undefined);
  }
  rmSync(work, { recursive: true, force: true });
  const leaks = await d.stop();
  assert.deepEqual(leaks, []);
});

function ctxOf(name: string, dockerfile: string): string {
  const p = path.join(work, name);
  mkdirSync(p, { recursive: true });
  writeFileSync(path.join(p, 'Dockerfile'), dockerfile);
  return p;
}

const proxies = () => readdirSync(os.tmpdir()).filter((n) => n.startsWith('dray-ssh-'));

test('--ssh default: ssh-add -l in the step lists the agent\'s key; --ssh id=SOCKET at a target; nothing left in the image', async () => {
  const before = proxies();
  const ctx = ctxOf('ok', [
    'FROM sshadd',
    'RUN --mount=type=ssh ssh-add -l && echo "sock=$SSH_AUTH_SOCK"',
    'RUN --mount=type=ssh,id=work,target=/agent,required=true SSH_AUTH_SOCK=/agent ssh-add -l',
    'RUN ls /run/buildkit 2>&1; echo "after=${SSH_AUTH_SOCK:-unset}"',
  ].join('\n'));
  const r = d.dray(['build', '--network', 'none', '-t', 'sshout', '--ssh', 'default', '--ssh', `work=${agentSock}`, ctx], undefined, { env: { SSH_AUTH_SOCK: agentSock } });
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.equal(r.stdout.split(fingerprint).length - 1, 2, `both steps list the key: ${r.stdout}`);
  assert.match(r.stdout, /sock=\/run\/buildkit\/ssh_agent\.0\n/);
  assert.match(r.stdout, /ls: \/run\/buildkit: No such file or directory\nafter=unset\n/, 'a later step has no agent and no mount point');
  const inspect = await d.api('GET', '/images/sshout/json');
  assert.doesNotMatch(JSON.stringify(inspect.json.Config.Env), /SSH_AUTH_SOCK/);
  assert.deepEqual(proxies(), before, 'the CLI\'s agent proxy is gone');
  assert.deepEqual((await d.api('GET', '/containers/json?all=1')).json, []);
  assert.deepEqual(d.mounts(), []);
});

test('a required agent not forwarded fails naming the line; an optional one is skipped; bad --ssh values refused', async () => {
  const req = ctxOf('req', 'FROM sshadd\nRUN --mount=type=ssh,required=true ssh-add -l\n');
  const r = d.dray(['build', '--network', 'none', req]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /Dockerfile line 2: .*ssh agent default: not forwarded \(pass it with dray build --ssh default\)/);
  const opt = ctxOf('opt', 'FROM sshadd\nRUN --mount=type=ssh echo "sock=${SSH_AUTH_SOCK:-none}"\n');
  const o = d.dray(['build', '--network', 'none', opt]);
  assert.equal(o.code, 0, o.stderr);
  assert.match(o.stdout, /sock=none\n/);
  const bad: [string, RegExp][] = [
    [`x=${path.join(work, 'nope')}`, /--ssh.*no such file or directory/],
    [`x=${agentSock},${path.join(work, 'key')}`, /--ssh.*a socket with keys, are not implemented/],
    [`x=${work}`, /--ssh.*is neither an agent socket nor a key file/],
  ];
  for (const [spec, re] of bad) {
    const b = d.dray(['build', '--network', 'none', '--ssh', spec, opt]);
    assert.notEqual(b.code, 0, spec);
    assert.match(b.stderr, re, spec);
  }
  const noSock = d.dray(['build', '--network', 'none', '--ssh', 'default', opt], undefined, { env: { SSH_AUTH_SOCK: '' } });
  assert.notEqual(noSock.code, 0);
  assert.match(noSock.stderr, /--ssh.*SSH_AUTH_SOCK is not set/);
  assert.deepEqual((await d.api('GET', '/containers/json?all=1')).json, []);
});

/** The ssh-agents dray build started (on a socket in its dray-ssh- directory) that still run. */
function cliAgents(): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      if (argv[0].endsWith('ssh-agent') && argv.some((a) => a.startsWith(path.join(os.tmpdir(), 'dray-ssh-')))) out.push(Number(p));
    } catch { /* gone */ }
  }
  return out;
}

function newKey(name: string): { file: string; fingerprint: string } {
  const file = path.join(work, name);
  assert.equal(spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', file]).status, 0);
  return { file, fingerprint: spawnSync('ssh-keygen', ['-l', '-f', file], { encoding: 'utf8' }).stdout.split(' ')[1] };
}

test('--ssh id=KEY,KEY2: ssh-add -l in the step lists both keys from the CLI\'s own agent, which is gone after the build, as after a failed one', async () => {
  const [k1, k2] = [newKey('key-one'), newKey('key-two')];
  const before = proxies();
  const ctx = ctxOf('keys', 'FROM sshadd\nRUN --mount=type=ssh,id=keys,required=true ssh-add -l\n');
  const r = d.dray(['build', '--network', 'none', '--no-cache', '--ssh', `keys=${k1.file},${k2.file}`, ctx], undefined, { env: { SSH_AUTH_SOCK: '' } });
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.ok(r.stdout.includes(k1.fingerprint) && r.stdout.includes(k2.fingerprint), r.stdout);
  assert.ok(!r.stdout.includes(fingerprint), 'not the user\'s agent');
  assert.deepEqual(cliAgents(), [], 'no ssh-agent of the build runs on');
  assert.deepEqual(proxies(), before);

  const failing = ctxOf('keys-fail', 'FROM sshadd\nRUN --mount=type=ssh,id=keys ssh-add -l && exit 7\n');
  const f = d.dray(['build', '--network', 'none', '--ssh', `keys=${k1.file}`, failing]);
  assert.notEqual(f.code, 0);
  assert.deepEqual(cliAgents(), [], 'none after a failed build');
  assert.deepEqual(proxies(), before);

  const notKey = path.join(work, 'not-a-key');
  writeFileSync(notKey, 'hello\n');
  const bad = d.dray(['build', '--network', 'none', '--ssh', `keys=${notKey}`, ctx]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--ssh keys: loading .*not-a-key into an ssh-agent: /);
  assert.doesNotMatch(bad.stdout, /Step 1/);
  assert.deepEqual(cliAgents(), [], 'none after a key that would not load');
  assert.deepEqual(proxies(), before);
});

test('--ssh with a key file: SIGINT in the middle of the build ends the CLI\'s agent and removes its directory', async () => {
  const k = newKey('key-int');
  const before = proxies();
  const ctx = ctxOf('keys-int', 'FROM sshadd\nRUN --mount=type=ssh,id=k ssh-add -l && echo step-started && sleep 30\n');
  const p = spawn(drayLauncher, ['build', '--network', 'none', '--no-cache', '--ssh', `k=${k.file}`, ctx], { env: d.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout!.on('data', (c) => { out += c; });
  p.stderr!.on('data', (c) => { out += c; });
  const exited = new Promise<number | null>((r) => p.once('exit', (code, sig) => r(code ?? (sig ? 128 : null))));
  for (let i = 0; i < 200 && !out.includes('step-started'); i++) await sleep(50);
  assert.match(out, /step-started/);
  assert.equal(cliAgents().length, 1, 'the agent runs while the build does');
  p.kill('SIGINT');
  const code = await within(exited, 15_000, 'timeout' as const);
  assert.notEqual(code, 'timeout', out);
  assert.notEqual(code, 0);
  assert.deepEqual(cliAgents(), []);
  assert.deepEqual(proxies(), before);
  // drayd takes the client's going away as the build's end: its step container goes.
  for (let i = 0; i < 100 && (await d.api('GET', '/containers/json?all=1')).json.length; i++) await sleep(100);
  assert.deepEqual((await d.api('GET', '/containers/json?all=1')).json, []);
});
