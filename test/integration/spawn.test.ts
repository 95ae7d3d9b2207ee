// Process creation without fork (native/spawn.c through src/lib/spawn.ts), on the real kernel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { spawnChild, spawnBackend } from '../../src/lib/spawn';
import { run } from '../../src/lib/exec';

const minorFaults = () => Number(readFileSync('/proc/self/stat', 'utf8').split(')')[1].trim().split(' ')[7]);

test('the addon is built and used', () => {
  assert.equal(spawnBackend(), 'vfork', 'dist/dray_sys.node should load (node scripts/build.mjs builds it)');
});

test('stdin, stdout, stderr, exit status and working directory', async () => {
  const r = await run('sh', ['-c', 'cat; echo err >&2; pwd; exit 3'], { input: 'in\n', cwd: '/tmp', allowFailure: true });
  assert.deepEqual(r, { stdout: 'in\n/tmp\n', stderr: 'err\n', code: 3 });
});

test('the child starts clean: default signals, empty mask, only the fds it was given', async () => {
  // Node ignores SIGPIPE and blocks nothing; glibc's posix_spawn would leave signals 32 and 33 ignored.
  const r = await run('sh', ['-c', 'grep -E "^Sig(Ign|Blk)" /proc/self/status; ls /proc/$$/fd']);
  assert.match(r.stdout, /SigBlk:\s+0{16}\n/);
  assert.match(r.stdout, /SigIgn:\s+0{16}\n/);
  assert.deepEqual(r.stdout.split('\n').slice(2).filter(Boolean).sort(), ['0', '1', '2']);
});

test('the parent does not pay copy-on-write faults after a spawn, as it would after fork()', async () => {
  const mem = Buffer.alloc(32 << 20, 1);
  await run('true', []);
  const before = minorFaults();
  mem.fill(2);
  const faults = minorFaults() - before;
  // After a fork() every one of the 8192 pages faults again on its first write.
  assert.ok(faults < 1000, `${faults} minor faults rewriting 32 MiB after a spawn`);
});

test('a killed child: exit with the signal, then close; detached means a new session', async () => {
  const c = spawnChild('sh', ['-c', 'cut -d" " -f6 /proc/self/stat; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'], detached: true });
  const [line] = await once(c.stdout!, 'data');
  assert.equal(Number(String(line).trim()), c.pid, 'the session id is the child pid');
  const exited = once(c, 'exit');
  const closed = once(c, 'close');
  assert.equal(c.kill('SIGTERM'), true);
  assert.deepEqual(await exited, [null, 'SIGTERM']);
  assert.deepEqual(await closed, [null, 'SIGTERM']);
  assert.equal(c.kill('SIGTERM'), false, 'no signal after the exit: the pid is reaped');
});

test('a missing program and a missing working directory are told apart', async () => {
  await assert.rejects(run('dray-no-such-program', []), /dray-no-such-program: executable file not found in \$PATH/);
  await assert.rejects(run('true', [], { cwd: '/nonexistent-dray-dir' }), /chdir \/nonexistent-dray-dir: No such file or directory/);
  const c = spawnChild('dray-no-such-program', [], { stdio: ['pipe', 'pipe', 'pipe'] });
  const [err] = await once(c, 'error');
  assert.equal(err.code, 'ENOENT');
  assert.equal(err.syscall, 'spawn dray-no-such-program');
});
