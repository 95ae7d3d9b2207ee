// An ssh:// host, as the docker CLI reaches one: dray runs `ssh … -- HOST dray system dial-stdio`
// and speaks HTTP over that process. The test starts its own sshd on 127.0.0.1 (its own host key,
// config and authorized_keys, in a temp dir) whose sessions run as root on this machine against a
// private drayd; the client's ssh options (its own config, key and known_hosts) come through
// DRAY_SSH_OPTS, so nothing of ~/.ssh or the host's sshd is used.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, symlinkSync, readdirSync, existsSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { TestDaemon, drayLauncher, until } from '../helpers/daemon';

const dir = mkdtempSync('/tmp/dray-ssh-');
let d: TestDaemon;
let sshd: ChildProcess | undefined;
let sshdLog = '';
let port = 0;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); });
  });
}

function keygen(name: string): void {
  const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', path.join(dir, name)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ssh-keygen: ${r.stderr}`);
}

/** A client config of the test's own: one key, the test sshd's host key as the only known one, no agent. */
function clientConfig(name: string, key: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, [
    'Host *',
    `  IdentityFile ${path.join(dir, key)}`,
    '  IdentitiesOnly yes',
    '  IdentityAgent none',
    `  UserKnownHostsFile ${path.join(dir, 'known_hosts')}`,
    '  GlobalKnownHostsFile /dev/null',
    '  StrictHostKeyChecking yes',
    '  LogLevel ERROR',
    '',
  ].join('\n'));
  return file;
}

const url = () => `ssh://root@127.0.0.1:${port}`;
const sshEnv = (config = path.join(dir, 'ssh_config')) => ({ DRAY_SSH_OPTS: `-F ${config}` });
/**
 * The dray CLI as TestDaemon.dray runs it, but bounded: a stream that misses its end fails the
 * test in 20 s (the launcher is killed; the command's process, if it lives on, is the daemon
 * stop's leak to report) instead of hanging it.
 */
function run(args: string[], input?: string, env: Record<string, string> = sshEnv(), cwd?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(drayLauncher, args, { env: { ...d.env, ...env }, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (b) => { stdout += b; });
    p.stderr!.on('data', (b) => { stderr += b; });
    const t = setTimeout(() => { stderr += '\n(killed after 20 s)'; p.kill('SIGKILL'); }, 20_000);
    p.on('exit', (code) => { clearTimeout(t); setImmediate(() => resolve({ code: code ?? -1, stdout, stderr })); });
    p.stdin!.end(input);
  });
}
const dray = (args: string[], input?: string, env: Record<string, string> = sshEnv(), cwd?: string) => run(['-H', url(), ...args], input, env, cwd);

/** Processes whose command line names this test's directory (its ssh clients), and the test sshd's sessions. */
function ours(): string[] {
  const out: string[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').join(' ');
      const ppid = Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1]);
      if ((cmd.startsWith('ssh ') && cmd.includes(dir)) || (sshd?.pid && ppid === sshd.pid)) out.push(`${p} ${cmd}`);
    } catch { /* gone */ }
  }
  return out;
}

before(async () => {
  if (!existsSync('/usr/sbin/sshd')) throw new Error('/usr/sbin/sshd is missing: install openssh-server (scripts/install-deps.sh)');
  d = new TestDaemon();
  await d.start();
  await d.bootstrapBusybox();
  port = await freePort();
  keygen('host_key');
  keygen('user_key');
  keygen('stranger_key');
  writeFileSync(path.join(dir, 'authorized_keys'), readFileSync(path.join(dir, 'user_key.pub')), { mode: 0o600 });
  writeFileSync(path.join(dir, 'known_hosts'), `[127.0.0.1]:${port} ${readFileSync(path.join(dir, 'host_key.pub'), 'utf8')}`);
  // The remote `dray` is this build's launcher, handing commands to the test daemon's waiting CLI.
  mkdirSync(path.join(dir, 'bin'));
  symlinkSync(drayLauncher, path.join(dir, 'bin', 'dray'));
  writeFileSync(path.join(dir, 'sshd_config'), [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${path.join(dir, 'host_key')}`,
    `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
    'PidFile none',
    'UsePAM no',
    'StrictModes no',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password',
    'MaxStartups 64',
    'MaxSessions 64',
    'LogLevel ERROR',
    // What a Dray host's environment gives its remote dial-stdio: dray on PATH and where drayd listens.
    `SetEnv PATH=${path.join(dir, 'bin')}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin DRAY_HOST=${d.host} DRAY_CLI_SOCKET=${d.cliSocket}`,
    '',
  ].join('\n'));
  clientConfig('ssh_config', 'user_key');
  clientConfig('stranger_config', 'stranger_key');
  // sshd's privilege-separation directory (Debian's service makes it at start).
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', path.join(dir, 'sshd_config')], { stdio: ['ignore', 'pipe', 'pipe'] });
  sshd.stdout!.on('data', (b) => { sshdLog += b; });
  sshd.stderr!.on('data', (b) => { sshdLog += b; });
  await until(() => new Promise<boolean>((resolve) => {
    if (sshd!.exitCode !== null) throw new Error(`sshd exited: ${sshdLog}`);
    const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  }), 'the test sshd listening', 5000);
});

after(async () => {
  // Every ssh client and every session of the test sshd ends once its command did.
  const left = await until(() => ours().length === 0, 'ssh processes gone', 5000).then(() => [], () => ours());
  // Sessions outlive their listener: what is left goes by PID, before sshd does.
  for (const p of left) try { process.kill(Number(p.split(' ')[0]), 'SIGTERM'); } catch { /* gone */ }
  if (sshd && sshd.exitCode === null) {
    const exited = new Promise((r) => sshd!.once('exit', r));
    sshd.kill('SIGTERM');
    await exited;
  }
  const leaks = d ? await d.stop() : [];
  spawnSync('rm', ['-rf', '--', dir]);
  assert.deepEqual(left, [], 'ssh processes left');
  assert.deepEqual(leaks, []);
});

test('ps and run --rm reach drayd through ssh and the remote dray system dial-stdio', async () => {
  const ps = await dray(['ps', '-a']);
  assert.equal(ps.code, 0, ps.stderr);
  assert.match(ps.stdout, /^CONTAINER ID\s+IMAGE/);
  const r = await dray(['run', '--rm', 'busybox', 'echo', 'hi']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'hi\n');
});

test('hijacked streams over ssh: stdin reaches the container and its EOF ends it (run -i, exec -i)', async () => {
  const r = await dray(['run', '--rm', '-i', 'busybox', 'sh', '-c', 'cat; echo done'], 'over ssh\n');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'over ssh\ndone\n');
  const id = await d.runNamed('ssh-exec', ['sleep', '300']);
  const e = await dray(['exec', '-i', id, 'sh', '-c', 'cat; echo "$0 end" >&2; exit 3'], 'piped in\n');
  assert.equal(e.code, 3, e.stderr);
  assert.equal(e.stdout, 'piped in\n');
  assert.equal(e.stderr, 'sh end\n');
  await d.api('DELETE', `/containers/${id}?force=1`);
});

test('dray compose up -d, ps and down over ssh', async () => {
  const proj = path.join(dir, 'proj');
  mkdirSync(proj);
  writeFileSync(path.join(proj, 'compose.yaml'), 'services:\n  a:\n    image: busybox\n    command: ["sleep", "300"]\n  b:\n    image: busybox\n    command: ["sleep", "300"]\n    depends_on: [a]\n');
  const up = await dray(['compose', '-p', 'overssh', 'up', '-d'], undefined, sshEnv(), proj);
  assert.equal(up.code, 0, up.stderr);
  const ps = await dray(['compose', '-p', 'overssh', 'ps', '--format', '{{.Service}} {{.State}}'], undefined, sshEnv(), proj);
  assert.equal(ps.code, 0, ps.stderr);
  assert.deepEqual(ps.stdout.trim().split('\n').sort(), ['a running', 'b running']);
  const local = (await d.api('GET', '/containers/json')).json.map((c: { Names: string[] }) => c.Names[0]).sort();
  assert.deepEqual(local, ['/overssh-a-1', '/overssh-b-1']);
  const down = await dray(['compose', '-p', 'overssh', 'down', '-t', '0'], undefined, sshEnv(), proj);
  assert.equal(down.code, 0, down.stderr);
  assert.deepEqual((await d.api('GET', '/containers/json?all=1')).json, []);
  assert.equal((await d.api('GET', '/networks/overssh_default')).status, 404);
});

test('a docker context made by the docker CLI with an ssh:// endpoint: --context, DOCKER_CONTEXT, context use', async () => {
  const cfg = path.join(dir, 'docker-config');
  const docker = (args: string[]) => spawnSync('/usr/local/bin/docker', ['--config', cfg, ...args], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, DOCKER_HOST: '', DRAY_HOST: '' } });
  const made = docker(['context', 'create', 'sshbox', '--docker', `host=${url()}`]);
  assert.equal(made.status, 0, made.stderr);
  const noHost = { ...sshEnv(), DRAY_HOST: '', DOCKER_HOST: '' };
  const a = await run(['--config', cfg, '--context', 'sshbox', 'run', '--rm', 'busybox', 'echo', 'via context'], undefined, noHost);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(a.stdout, 'via context\n');
  const b = await run(['compose', 'ls'], undefined, { ...noHost, DOCKER_CONFIG: cfg, DOCKER_CONTEXT: 'sshbox' });
  assert.equal(b.code, 0, b.stderr);
  assert.equal(docker(['context', 'use', 'sshbox']).status, 0);
  // currentContext: every connection of this command goes through ssh, none to the local socket.
  const c = await run(['ps', '-q'], undefined, { ...noHost, DOCKER_CONFIG: cfg, DRAY_SSH_OPTS: `-F ${path.join(dir, 'stranger_config')}` });
  assert.equal(c.code, 1);
  assert.match(c.stderr, /Permission denied \(publickey\)/);
  const bad = await run(['--config', cfg, '--context', 'nope', 'ps'], undefined, noHost);
  assert.equal(bad.code, 1);
  assert.equal(bad.stderr, 'context "nope" does not exist\n');
});

test('a socket path in the URL is the remote dial-stdio --host; a missing one fails with the remote error', async () => {
  const ok = await run(['-H', `${url()}${d.socket}`, 'ps', '-q']);
  assert.equal(ok.code, 0, ok.stderr);
  const missing = await run(['-H', `${url()}/tmp/no-such-dray.sock`, 'ps']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^error during connect: command \[ssh .* has exited with exit status 1, .*stderr=Cannot connect to the Docker daemon at unix:\/\/\/tmp\/no-such-dray\.sock/);
});

test('a refused key and a host that is down: ssh\'s own error, a non-zero exit, no ssh left', async () => {
  const t0 = Date.now();
  const denied = await dray(['ps'], undefined, sshEnv(path.join(dir, 'stranger_config')));
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /^error during connect: command \[ssh -F .* has exited with exit status 255, .*stderr=.*Permission denied \(publickey\)/s);
  const down = await run(['-H', 'ssh://root@127.0.0.1:1', 'run', '--rm', 'busybox', 'true']);
  assert.equal(down.code, 125);
  assert.match(down.stderr, /exit status 255, .*stderr=.*port 1: Connection refused/s);
  // Bounded by ssh failing fast, not by ConnectTimeout's 30 s.
  assert.ok(Date.now() - t0 < 15_000);
  assert.deepEqual(ours().filter((p) => p.includes('ssh ')), []);
});

test('a command interrupted mid-stream (events, Ctrl-C) leaves no ssh behind', async () => {
  const p = spawn(drayLauncher, ['-H', url(), 'events', '--format', '{{.Action}}'], { env: { ...d.env, ...sshEnv() }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout!.on('data', (b) => { out += b; });
  const exited = new Promise((r) => p.once('exit', r));
  try {
    // An event that crossed ssh proves the stream is up.
    await until(async () => { await d.api('POST', '/volumes/create', { Name: `ssh-ev-${Date.now()}` }); return out.includes('create'); }, 'an event through ssh', 10_000);
    assert.ok(ours().some((x) => x.includes('ssh ')));
  } finally {
    p.kill('SIGINT');
    await exited;
  }
  await until(() => !ours().some((x) => x.includes('ssh ')), `ssh gone after the interrupt: ${ours().join('; ')}`, 5000);
});

test('bad ssh:// URLs are refused before any ssh runs', async () => {
  for (const [u, why] of [['ssh://', /hostname is empty/], ['ssh://me:secret@host', /plain-text password is not supported/], ['ssh://host?x=1', /query parameters are not allowed/], ['ssh://host/tmp/a;rm', /socket path/]] as const) {
    const r = await run(['-H', u, 'ps']);
    assert.equal(r.code, 1, u);
    assert.match(r.stderr, /^ssh host connection is not valid: /, u);
    assert.match(r.stderr, why, u);
  }
  assert.ok(existsSync(path.join(dir, 'ssh_config')));
});

test('an ssh that cannot start: a clear error, no hang', async () => {
  const r = await dray(['ps'], undefined, { ...sshEnv(), PATH: path.join(dir, 'empty-path') });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^error during connect: cannot run ssh for ssh:\/\/root@127\.0\.0\.1:\d+: spawn ssh ENOENT \(is the OpenSSH client installed\?\)\n$/);
});

test('dray system dial-stdio on its own: a request in, the answer out; EOF on stdin or the daemon\'s close ends it', async () => {
  const dial = (input: string, endStdin: boolean) => new Promise<{ code: number | null; out: string }>((resolve) => {
    const p = spawn(drayLauncher, ['system', 'dial-stdio'], { env: d.env, stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    p.stdout!.on('data', (b) => {
      out += b;
      // The answer is in: now the end of our input must end the connection, and the command.
      if (endStdin && out.includes('\r\n\r\nOK')) p.stdin!.end();
    });
    // Bounded: a dial-stdio that misses the end would otherwise hang the test.
    const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
    p.on('exit', (code) => { clearTimeout(t); resolve({ code, out }); });
    p.stdin!.write(input);
  });
  const keepAlive = await dial('GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n', true);
  assert.equal(keepAlive.code, 0);
  assert.match(keepAlive.out, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nOK$/);
  // stdin left open: the daemon's close alone ends it.
  const closed = await dial('GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n', false);
  assert.equal(closed.code, 0);
  assert.match(closed.out, /\r\n\r\nOK$/);
  const help = d.dray(['system', '--help']);
  assert.doesNotMatch(help.stdout, /dial-stdio/);
});

test('the docker CLI over ssh to a host whose `docker` is dray: run -i with stdin', () => {
  // The docker CLI takes no ssh options: an `ssh` first on its PATH adds the test's config.
  const bin = path.join(dir, 'docker-cli-bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(path.join(bin, 'ssh'), `#!/bin/sh\nexec /usr/bin/ssh -F ${path.join(dir, 'ssh_config')} "$@"\n`, { mode: 0o755 });
  if (!existsSync(path.join(dir, 'bin', 'docker'))) symlinkSync(drayLauncher, path.join(dir, 'bin', 'docker'));
  const r = spawnSync('/usr/local/bin/docker', ['-H', url(), 'run', '--rm', '-i', 'busybox', 'sh', '-c', 'cat; echo from docker'], {
    // SIGKILL: a SIGTERM would be proxied to the container by the docker CLI (sig-proxy), not end it.
    input: 'piped\n', encoding: 'utf8', timeout: 20_000, killSignal: 'SIGKILL',
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, DOCKER_CONFIG: path.join(dir, 'docker-config'), DOCKER_HOST: '', DRAY_HOST: '' },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'piped\nfrom docker\n');
});
