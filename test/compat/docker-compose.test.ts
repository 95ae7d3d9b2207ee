// docker-compose (Debian's 1.29, the Python one) against drayd: depends_on with
// condition: service_healthy waits for the healthcheck, and refuses an unhealthy dependency.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { TestDaemon } from '../helpers/daemon';

const d = new TestDaemon();
const COMPOSE = '/usr/bin/docker-compose';
const dir = mkdtempSync('/tmp/dray-compose-');

before(async () => {
  await d.start();
  await d.bootstrapBusybox();
});

after(async () => {
  rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(await d.stop(), [], 'nothing may be left behind');
});

function compose(project: string, file: string, args: string[]) {
  const r = spawnSync(COMPOSE, ['-p', project, '-f', file, ...args], { env: { ...process.env, DOCKER_HOST: d.host, COMPOSE_INTERACTIVE_NO_CLI: '1' }, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, out: (r.stdout ?? '') + (r.stderr ?? '') };
}

const file = (name: string, yaml: string) => { const f = path.join(dir, name); writeFileSync(f, yaml); return f; };

test('docker-compose is installed', () => assert.ok(existsSync(COMPOSE), 'apt-get install docker-compose'));

test('depends_on condition: service_healthy starts the dependent once the dependency is healthy', { skip: !existsSync(COMPOSE) }, async () => {
  const f = file('healthy.yml', `version: "2.4"
services:
  db:
    image: busybox
    command: sh -c "sleep 1; touch /tmp/ready; exec sleep 600"
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 200ms
      timeout: 2s
      retries: 30
  app:
    image: busybox
    command: sh -c "echo app started; exec sleep 600"
    depends_on:
      db:
        condition: service_healthy
`);
  const t0 = Date.now();
  const up = compose('hc', f, ['up', '-d']);
  assert.equal(up.code, 0, up.out);
  assert.ok(Date.now() - t0 >= 1000, 'app waited for db to become healthy');
  const db = await d.api('GET', '/containers/hc_db_1/json');
  assert.equal(db.json.State.Health.Status, 'healthy');
  const app = await d.api('GET', '/containers/hc_app_1/json');
  assert.equal(app.json.State.Running, true);
  assert.ok(Date.parse(app.json.State.StartedAt) >= Date.parse(db.json.State.Health.Log.find((l: any) => l.ExitCode === 0).End) - 5, 'app started after the first passing probe');
  const ps = compose('hc', f, ['ps']);
  assert.match(ps.out, /hc_db_1 .* Up \(healthy\)/);
  const down = compose('hc', f, ['down', '-t', '0']);
  assert.equal(down.code, 0, down.out);
});

test('an unhealthy dependency stops docker-compose up with its error', { skip: !existsSync(COMPOSE) }, async () => {
  const f = file('unhealthy.yml', `version: "2.4"
services:
  db:
    image: busybox
    command: sleep 600
    healthcheck:
      test: ["CMD", "false"]
      interval: 100ms
      retries: 2
  app:
    image: busybox
    command: sleep 600
    depends_on:
      db:
        condition: service_healthy
`);
  const up = compose('uh', f, ['up', '-d']);
  assert.notEqual(up.code, 0);
  assert.match(up.out, /Container for service db is unhealthy|unhealthy/);
  const app = await d.api('GET', '/containers/uh_app_1/json');
  assert.ok(app.status === 404 || app.json.State.Running === false, 'app was not started');
  const down = compose('uh', f, ['down', '-t', '0']);
  assert.equal(down.code, 0, down.out);
});
