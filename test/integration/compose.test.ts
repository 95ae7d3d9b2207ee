// dray compose against a real drayd: multi-service projects with real containers (DNS by service
// name both ways, a healthcheck gating the start order, a one-shot service others wait on, a named
// volume kept across down/up), an unchanged `up` that touches nothing, --scale, run --rm, a
// foreground up with --exit-code-from, a build, and bad input that leaves nothing behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { TestDaemon } from '../helpers/daemon';

const d = new TestDaemon();
const dirs: string[] = [];

before(async () => {
  await d.start();
  await d.bootstrapBusybox();
});

after(async () => {
  const { spawnSync } = await import('node:child_process');
  for (const dir of dirs) spawnSync('rm', ['-rf', dir]);
  assert.deepEqual(await d.stop(), [], 'nothing may be left behind');
});

function projectDir(files: Record<string, string>): string {
  const dir = mkdtempSync('/tmp/dray-compose-it-');
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

const compose = (dir: string, args: string[], env: Record<string, string> = {}) => d.dray(['compose', ...args], undefined, { cwd: dir, env: { NO_COLOR: '1', ...env } });

function ok(r: { code: number; stdout: string; stderr: string }, what: string) {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
}

const q = (o: unknown) => encodeURIComponent(JSON.stringify(o));

/** What the engine has of a project, by Docker Compose's label. */
async function resources(project: string) {
  const label = { label: [`com.docker.compose.project=${project}`] };
  const [c, n, v] = await Promise.all([
    d.api('GET', `/containers/json?all=1&filters=${q(label)}`),
    d.api('GET', `/networks?filters=${q(label)}`),
    d.api('GET', `/volumes?filters=${q(label)}`),
  ]);
  return { containers: c.json as any[], networks: n.json as any[], volumes: (v.json.Volumes ?? []) as any[] };
}

const inspect = async (name: string) => (await d.api('GET', `/containers/${name}/json`)).json;

// Long-running services run under an init, so a stop takes no grace period.
const APP = `x-daemon: &daemon
  image: busybox
  init: true
services:
  db:
    <<: *daemon
    command: ["sh", "-c", "sleep 1; echo ready > /data/ready; exec nc -ll -p 80 -e echo db-here"]
    healthcheck: {test: ["CMD-SHELL", "test -f /data/ready"], interval: 300ms, retries: 30}
    volumes: [data:/data]
    networks: [back]
  migrate:
    image: busybox
    command: ["sh", "-c", "echo migrated-$$(cat /data/ready) > /data/migrated"]
    volumes: [data:/data]
    depends_on: {db: {condition: service_healthy}}
  web:
    <<: *daemon
    command: ["nc", "-ll", "-p", "80", "-e", "echo", "web-here"]
    environment: {GREETING: "\${GREETING:-hello}"}
    depends_on:
      db: {condition: service_healthy}
      migrate: {condition: service_completed_successfully}
    networks: [back, default]
volumes:
  data:
networks:
  back:
`;

test('up -d: health-gated order, a one-shot service, DNS by service name both ways; an unchanged up changes nothing; a change recreates only its service', async () => {
  const dir = projectDir({ 'compose.yaml': APP });
  const name = path.basename(dir).toLowerCase().replace(/[^a-z0-9_-]/g, '');
  const up = ok(compose(dir, ['up', '-d']), 'up');
  assert.match(up.stderr, /Container .*-db-1 Healthy/);
  assert.match(up.stderr, /Container .*-web-1 Started/);

  const db = await inspect(`${name}-db-1`);
  const migrate = await inspect(`${name}-migrate-1`);
  const web = await inspect(`${name}-web-1`);
  assert.equal(migrate.State.ExitCode, 0);
  assert.equal(db.State.Health.Status, 'healthy');
  assert.ok(Date.parse(migrate.State.StartedAt) >= Date.parse(db.State.StartedAt) + 900, 'migrate waited for db to be healthy');
  assert.ok(Date.parse(web.State.StartedAt) >= Date.parse(migrate.State.FinishedAt), 'web waited for migrate to complete');
  assert.equal(web.Config.Labels['com.docker.compose.project'], name);
  assert.equal(web.Config.Labels['com.docker.compose.service'], 'web');
  assert.equal(web.Config.Labels['com.docker.compose.container-number'], '1');
  assert.equal(web.Config.Labels['com.docker.compose.oneoff'], 'False');
  assert.match(web.Config.Labels['com.docker.compose.config-hash'], /^[0-9a-f]{64}$/);
  assert.deepEqual(Object.keys(web.NetworkSettings.Networks).sort(), [`${name}_back`, `${name}_default`]);

  // DNS by service name, both ways.
  assert.match(ok(d.dray(['exec', `${name}-web-1`, 'nc', 'db', '80']), 'web → db').stdout, /db-here/);
  assert.match(ok(d.dray(['exec', `${name}-db-1`, 'nc', 'web', '80']), 'db → web').stdout, /web-here/);

  const ps = ok(compose(dir, ['ps', '--format', '{{.Service}} {{.State}}']), 'ps');
  assert.deepEqual(ps.stdout.trim().split('\n').sort(), ['db running', 'web running']);
  assert.deepEqual(ok(compose(dir, ['ps', '-a', '--services']), 'ps --services').stdout.trim().split('\n'), ['db', 'migrate', 'web']);

  // An unchanged up: the same containers, and not one event.
  const before = (await resources(name)).containers.map((c) => c.Id).sort();
  const t0 = Date.now() / 1000;
  const again = ok(compose(dir, ['up', '-d']), 'unchanged up');
  const t1 = Date.now() / 1000;
  assert.doesNotMatch(again.stderr, /Creat|Recreat|Start|Stop/, again.stderr);
  assert.deepEqual((await resources(name)).containers.map((c) => c.Id).sort(), before);
  const events = await d.api('GET', `/events?since=${t0.toFixed(3)}&until=${t1.toFixed(3)}`);
  // db's healthcheck probes (exec_create/exec_start/exec_die) go on meanwhile: drayd's, not compose's.
  const actions = events.body.toString().trim().split('\n').filter(Boolean).map((l) => JSON.parse(l).Action as string).filter((a) => !/^exec_(create|start|die)/.test(a));
  assert.deepEqual(actions, [], 'no events but the healthcheck probes');

  // A change to web recreates web only.
  const changed = ok(compose(dir, ['up', '-d'], { GREETING: 'bonjour' }), 'up after a change');
  assert.match(changed.stderr, new RegExp(`Container ${name}-web-1 Recreated`));
  const after = await resources(name);
  const byService = (s: string) => after.containers.filter((c) => c.Labels['com.docker.compose.service'] === s).map((c) => c.Id);
  assert.notDeepEqual(byService('web'), [web.Id]);
  assert.deepEqual(byService('db'), [db.Id]);
  assert.deepEqual(byService('migrate'), [migrate.Id]);
  assert.equal((await inspect(`${name}-web-1`)).Config.Env.includes('GREETING=bonjour'), true);

  // The volume outlives down, and goes with down -v.
  ok(compose(dir, ['down']), 'down');
  let left = await resources(name);
  assert.deepEqual([left.containers.length, left.networks.length, left.volumes.length], [0, 0, 1]);
  ok(compose(dir, ['up', '-d', 'db']), 'up db');
  assert.match(ok(d.dray(['exec', `${name}-db-1`, 'cat', '/data/migrated']), 'read the volume').stdout, /migrated-ready/);
  ok(compose(dir, ['down', '-v']), 'down -v');
  left = await resources(name);
  assert.deepEqual([left.containers.length, left.networks.length, left.volumes.length], [0, 0, 0]);
});

test('--scale up and down; run --rm; up in the foreground with --exit-code-from', async () => {
  const dir = projectDir({
    'compose.yaml': `services:
  web:
    image: busybox
    init: true
    command: ["sleep", "600"]
  job:
    image: busybox
    command: ["sh", "-c", "echo job says $$WHO; exit 7"]
    environment: [WHO=job]
    depends_on: [web]
`,
  });
  const name = path.basename(dir).toLowerCase().replace(/[^a-z0-9_-]/g, '');
  ok(compose(dir, ['up', '-d', '--scale', 'web=3', 'web']), 'scale to 3');
  const names = async () => (await resources(name)).containers.map((c) => c.Names[0].slice(1)).sort();
  assert.deepEqual(await names(), [`${name}-web-1`, `${name}-web-2`, `${name}-web-3`]);
  const down = ok(compose(dir, ['up', '-d', '--scale', 'web=1', 'web']), 'scale to 1');
  assert.match(down.stderr, /web-3 Removed/);
  assert.deepEqual(await names(), [`${name}-web-1`]);

  const run = compose(dir, ['run', '--rm', '-e', 'WHO=one-off', 'job']);
  assert.equal(run.code, 7, run.stderr);
  assert.match(run.stdout, /job says one-off/);
  assert.deepEqual(await names(), [`${name}-web-1`], 'the one-off container is gone');

  const fg = compose(dir, ['up', '--exit-code-from', 'job']);
  assert.equal(fg.code, 7, fg.stderr);
  assert.match(fg.stdout, /job-1 +\| job says job/);
  assert.match(fg.stdout, /job-1 exited with code 7/);
  ok(compose(dir, ['down', '-t', '1']), 'down');
  assert.deepEqual(await names(), []);
});

test('build from a Dockerfile, and config', async () => {
  const dir = projectDir({
    'compose.yaml': 'services:\n  app:\n    build:\n      context: ./app\n      args: {MSG: built-by-compose}\n    command: ["cat", "/msg"]\n',
    'app/Dockerfile': 'FROM busybox\nARG MSG\nRUN echo "$MSG" > /msg\n',
  });
  const name = path.basename(dir).toLowerCase().replace(/[^a-z0-9_-]/g, '');
  const fg = compose(dir, ['up', '--abort-on-container-exit']);
  assert.equal(fg.code, 0, fg.stderr);
  assert.match(fg.stdout, /built-by-compose/);
  assert.match(fg.stderr, /Service app Built/);
  const img = await d.api('GET', `/images/${name}-app/json`);
  assert.equal(img.status, 200);
  assert.equal(img.json.Config.Labels['com.docker.compose.project'], name);
  const cfg = ok(compose(dir, ['config', '--format', 'json']), 'config');
  assert.equal(JSON.parse(cfg.stdout).services.app.build.context, path.join(dir, 'app'));
  assert.deepEqual(ok(compose(dir, ['config', '--services']), 'config --services').stdout, 'app\n');
  ok(compose(dir, ['down', '--rmi', 'local']), 'down --rmi local');
  assert.equal((await d.api('GET', `/images/${name}-app/json`)).status, 404);
});

test('bad input: a clear error, a non-zero exit, and nothing created', async () => {
  const cases: Array<[string, string, RegExp]> = [
    ['invalid YAML', 'services:\n  web:\n    image: busybox\n   command: x\n', /failed to parse .*compose\.yaml: line 4, column 1/],
    ['unknown key', 'services:\n  web:\n    image: busybox\n    imagee: x\n', /validating .*compose\.yaml: services\.web additional properties 'imagee' not allowed/],
    ['missing :? variable', 'services:\n  web:\n    image: ${IMAGE:?IMAGE must be set}\n', /required variable IMAGE is missing a value: IMAGE must be set/],
    ['dependency cycle', 'services:\n  a:\n    image: busybox\n    depends_on: [b]\n  b:\n    image: busybox\n    depends_on: [a]\n', /dependency cycle detected: a -> b -> a/],
    ['unknown depends_on', 'services:\n  a:\n    image: busybox\n    depends_on: [ghost]\n', /service "a" depends on undefined service "ghost"/],
    ['missing external network', 'services:\n  a:\n    image: busybox\n    networks: [outside]\n  b:\n    image: busybox\nnetworks:\n  outside:\n    external: true\n', /network outside declared as external, but could not be found/],
    ['missing image', 'services:\n  a:\n    image: busybox\n    command: ["sleep", "1"]\n  b:\n    image: no-such-image-here:1\n    depends_on: [a]\n', /no-such-image-here/],
  ];
  for (const [what, text, re] of cases) {
    const dir = projectDir({ 'compose.yaml': text });
    const name = path.basename(dir).toLowerCase().replace(/[^a-z0-9_-]/g, '');
    const r = compose(dir, ['up', '-d']);
    assert.notEqual(r.code, 0, `${what}: must fail`);
    assert.match(r.stderr, re, what);
    const left = await resources(name);
    if (what === 'missing image') {
      // A failure past the checks leaves only what down removes.
      ok(compose(dir, ['down']), `${what}: down`);
      const gone = await resources(name);
      assert.deepEqual([gone.containers.length, gone.networks.length], [0, 0], what);
    } else assert.deepEqual([left.containers.length, left.networks.length, left.volumes.length], [0, 0, 0], `${what}: nothing created`);
  }
  // --dry-run only says what it would do (compose-subpath-dryrun.test.ts has the rest).
  const dir = projectDir({ 'compose.yaml': 'services:\n  a:\n    image: busybox\n    command: ["sleep", "60"]\n' });
  const name = path.basename(dir).toLowerCase().replace(/[^a-z0-9_-]/g, '');
  const dry = compose(dir, ['--dry-run', 'up', '-d']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stderr, /^DRY-RUN MODE - {2}Container \S+-a-1 Started$/m);
  const left = await resources(name);
  assert.deepEqual([left.containers.length, left.networks.length, left.volumes.length], [0, 0, 0], '--dry-run created nothing');
});
