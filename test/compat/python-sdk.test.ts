// The Docker SDK for Python (Debian's python3-docker, and the python3 on PATH if it carries another
// version of the SDK) against a real drayd: each case of python_sdk.py runs as its own process.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { TestDaemon } from '../helpers/daemon';

const d = new TestDaemon();
const script = path.join(__dirname, 'python_sdk.py');
const CASES = ['version', 'run_output', 'healthcheck', 'logs', 'exec', 'archive', 'stats', 'networks', 'kill_wait'];

/** Each interpreter that imports `docker`, once per SDK version. */
function interpreters(): { python: string; sdk: string }[] {
  const out: { python: string; sdk: string }[] = [];
  for (const python of ['/usr/bin/python3', 'python3']) {
    if (python.startsWith('/') && !existsSync(python)) continue;
    const r = spawnSync(python, ['-c', 'import docker; print(docker.__version__)'], { encoding: 'utf8' });
    const sdk = r.stdout?.trim();
    if (r.status === 0 && sdk && !out.some((o) => o.sdk === sdk)) out.push({ python, sdk });
  }
  return out;
}
const found = interpreters();

before(async () => {
  await d.start();
  await d.bootstrapBusybox();
});

after(async () => {
  assert.deepEqual(await d.stop(), [], 'nothing may be left behind');
});

test('a Docker SDK for Python is installed', () => {
  assert.ok(found.length > 0, 'python3 with the docker module (apt-get install python3-docker)');
});

for (const { python, sdk } of found) {
  for (const name of CASES) {
    test(`python docker SDK ${sdk}: ${name}`, async () => {
      const r = spawnSync(python, [script, name], { env: { ...process.env, DOCKER_HOST: d.host }, encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^ok ${name} `));
      const left = await d.api('GET', '/containers/json?all=1');
      assert.deepEqual(left.json, [], 'the case removed its containers');
    });
  }
}
