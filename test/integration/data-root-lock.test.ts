// One drayd per data root (src/daemon/data-root-lock.ts): a second one waits for a first that is
// shutting down, and refuses, naming it, when the first keeps running.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { TestDaemon, draydJs } from '../helpers/daemon';

const d = new TestDaemon();
const dir = mkdtempSync('/tmp/dray-lock-');

before(() => d.start());
after(async () => {
  const leaks = await d.stop();
  rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(leaks, []);
});

function second(): { exited: Promise<{ code: number | null; err: string }>; pid: number } {
  writeFileSync(path.join(dir, 'cfg.json'), '{}');
  const c = spawn(draydJs, ['-H', `unix://${dir}/s`, '--data-root', d.dataRoot, '--exec-root', `${dir}/run`, '--config-file', `${dir}/cfg.json`, '--bridge', 'drlock9', '--bip', '10.199.0.1/24', '--cli-workers', '0']);
  let err = '';
  c.stderr.on('data', (b) => { err += b; });
  const t = setTimeout(() => c.kill('SIGKILL'), 30_000);
  return { pid: c.pid!, exited: new Promise((resolve) => c.on('exit', (code) => { clearTimeout(t); resolve({ code, err }); })) };
}

test('a second drayd on the same data root refuses to start, naming the first, which is untouched', async () => {
  const r = await second().exited;
  assert.equal(r.code, 1);
  assert.match(r.err, new RegExp(`the data root ${d.dataRoot.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is in use by another drayd \\(pid ${d.proc!.pid}\\)`));
  assert.equal((await d.api('GET', '/_ping')).status, 200);
});

test('one started while the first is stopping takes over once it is gone', async () => {
  const exited = new Promise((r) => d.proc!.once('exit', r));
  d.proc!.kill('SIGTERM');
  const s = second();
  await exited;
  // The newcomer got the lock and serves: it answers on its own socket.
  let ok = false;
  for (let i = 0; i < 100 && !ok; i++) {
    await new Promise((r) => setTimeout(r, 100));
    ok = await new Promise<boolean>((resolve) => {
      const req = require('node:http').request({ socketPath: `${dir}/s`, path: '/_ping' }, (res: any) => { res.resume(); resolve(res.statusCode === 200); });
      req.on('error', () => resolve(false));
      req.end();
    });
  }
  assert.ok(ok, 'the second drayd never answered');
  process.kill(s.pid, 'SIGTERM');
  const r = await s.exited;
  assert.equal(r.code, 0, r.err);
  // TestDaemon.stop() starts nothing: restart ours so after() has a daemon to stop.
  await d.start();
});
