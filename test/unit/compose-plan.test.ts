// The config hash (deterministic, versioned, blind to what does not change a container) and the
// planner (what up does to what exists), over models loaded from text and made-up engine state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadProject } from '../../src/compose/loader';
import { serviceHash, HASH_VERSION } from '../../src/compose/hash';
import { composeLabels, createBody } from '../../src/compose/convert';
import { planContainers, planImages, planNetworks, planVolumes, isNoop, selectServices } from '../../src/compose/planner';
import type { Observed } from '../../src/compose/observe';
import type { ContainerSummary } from '../../src/client/types';
import type { Project } from '../../src/compose/model';

function load(text: string, env: Record<string, string> = {}): Project {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'compose-plan-'));
  try {
    writeFileSync(path.join(dir, 'compose.yaml'), text);
    return loadProject({ cwd: dir, env, projectName: 'demo' });
  } finally { rmSync(dir, { recursive: true, force: true }); }
}

const hashOf = (text: string, svc = 'web') => serviceHash(load(text).services[svc]);

test('the hash: deterministic, blind to order, scale, dependencies and build settings', () => {
  const base = 'services:\n  web:\n    image: busybox\n    labels: {a: "1", b: "2"}\n    environment: [X=1, Y=2]\n    ports: ["80:80", "81:81"]\n    cap_add: [NET_ADMIN, SYS_TIME]\n';
  const h = hashOf(base);
  assert.match(h, /^[0-9a-f]{64}$/);
  assert.equal(hashOf(base), h, 'the same model, the same hash');
  assert.equal(hashOf('services:\n  web:\n    image: busybox\n    labels: {b: "2", a: "1"}\n    environment: {Y: "2", X: "1"}\n    ports: ["81:81", "80:80"]\n    cap_add: [SYS_TIME, NET_ADMIN]\n'), h, 'order of labels, environment, ports and capabilities is no change');
  assert.equal(hashOf(`${base}    scale: 3\n    depends_on: [db]\n    profiles: []\n    pull_policy: always\n  db:\n    image: busybox\n`), h, 'scale, depends_on, pull_policy are not in it');
  assert.equal(hashOf(`${base}    labels: {a: "1", b: "2"}\n    deploy: {replicas: 4}\n`.replace(/    labels: \{a: "1", b: "2"\}\n(?=    environment)/, '')), h, 'deploy.replicas is not in it');
  assert.notEqual(hashOf(base.replace('busybox', 'busybox:1.36')), h, 'the image reference is');
  assert.notEqual(hashOf(base.replace('X=1', 'X=2')), h, 'an environment value is');
  assert.notEqual(hashOf(`${base}    command: [sleep, "1"]\n`), h, 'the command is');
  assert.equal(hashOf('services:\n  web:\n    image: busybox\n    labels: {}\n'), hashOf('services:\n  web:\n    image: busybox\n'), 'an empty mapping is no mapping');
  // Version 1 is pinned: this text and this hash must not change (a change would recreate projects).
  assert.equal(HASH_VERSION, 1);
  assert.equal(hashOf('services:\n  web:\n    image: busybox\n    command: [sleep, "10"]\n'), 'c4b9b92a719ed0b13ff1e4153ae69d7acef5402859360ea0809ff0f0c62b3da1');
  assert.notEqual(hashOf('services:\n  web:\n    image: busybox\n    networks: [a, b]\nnetworks: {a: {}, b: {}}\n'), hashOf('services:\n  web:\n    image: busybox\n    networks: [a]\nnetworks: {a: {}, b: {}}\n'), 'a network more is a change');
});

test('the labels Docker Compose keeps its state in', () => {
  const p = load('services:\n  web:\n    image: busybox\n    depends_on: {db: {condition: service_healthy, restart: true}}\n  db:\n    image: busybox\n');
  const l = composeLabels({ project: p, service: p.services.web, number: 2, name: 'demo-web-2', imageId: 'sha256:abc', containerOf: () => undefined });
  assert.equal(l['com.docker.compose.project'], 'demo');
  assert.equal(l['com.docker.compose.service'], 'web');
  assert.equal(l['com.docker.compose.container-number'], '2');
  assert.equal(l['com.docker.compose.oneoff'], 'False');
  assert.equal(l['com.docker.compose.depends_on'], 'db:service_healthy:true');
  assert.equal(l['com.docker.compose.image'], 'sha256:abc');
  assert.equal(l['com.docker.compose.config-hash'], serviceHash(p.services.web));
  assert.equal(l['io.dray.compose.config-hash-version'], String(HASH_VERSION));
  assert.ok(l['com.docker.compose.project.config_files'].endsWith('compose.yaml'));
  assert.ok(l['com.docker.compose.project.working_dir']);
});

test('the create body: networks with the service alias, mounts, ports, limits, healthcheck', () => {
  const p = load(`services:
  web:
    image: busybox
    ports: ["127.0.0.1:8080:80"]
    expose: ["9000"]
    volumes: ["data:/data:ro", "/host:/h", {type: bind, source: /src, target: /s, bind: {create_host_path: false}}]
    networks: {front: {aliases: [www], ipv4_address: 172.30.0.10, priority: 10}, back: {}}
    healthcheck: {test: [CMD, "true"], interval: 1s, retries: 3}
    mem_limit: 64m
    cpus: 0.5
    restart: on-failure:3
    stop_grace_period: 1m30s
    init: true
    ulimits: {nofile: {soft: 1024, hard: 2048}, nproc: 64}
networks: {front: {}, back: {}}
volumes: {data: {}}
`);
  const b = createBody({ project: p, service: p.services.web, number: 1, name: 'demo-web-1', containerOf: () => undefined });
  assert.equal(b.HostConfig!.NetworkMode, 'demo_front', 'the network of highest priority is the primary one');
  assert.deepEqual(b.NetworkingConfig!.EndpointsConfig!.demo_front, { Aliases: ['web', 'www'], IPAMConfig: { IPv4Address: '172.30.0.10' } });
  assert.deepEqual(b.NetworkingConfig!.EndpointsConfig!.demo_back, { Aliases: ['web'] });
  assert.deepEqual(b.HostConfig!.PortBindings, { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }] });
  assert.deepEqual(Object.keys(b.ExposedPorts!).sort(), ['80/tcp', '9000/tcp']);
  assert.deepEqual(b.HostConfig!.Binds, ['/host:/h']);
  assert.deepEqual(b.HostConfig!.Mounts, [{ Type: 'volume', Target: '/data', ReadOnly: true, Source: 'demo_data' }, { Type: 'bind', Source: '/src', Target: '/s', ReadOnly: false }]);
  assert.equal(b.HostConfig!.Memory, 64 * 1024 * 1024);
  assert.equal(b.HostConfig!.NanoCpus, 5e8);
  assert.deepEqual(b.HostConfig!.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 3 });
  assert.equal(b.StopTimeout, 90);
  assert.equal(b.HostConfig!.Init, true);
  assert.deepEqual(b.HostConfig!.Ulimits, [{ Name: 'nofile', Soft: 1024, Hard: 2048 }, { Name: 'nproc', Soft: 64, Hard: 64 }]);
  assert.deepEqual(b.Healthcheck, { Test: ['CMD', 'true'], Interval: 1e9, Timeout: undefined, StartPeriod: undefined, StartInterval: undefined, Retries: 3 });
});

let seq = 0;
function ctr(p: Project, service: string, n: number, o: { state?: string; hash?: string; image?: string; oneoff?: boolean } = {}): ContainerSummary {
  return {
    Id: `${(++seq).toString(16).padStart(64, '0')}`, Names: [`/demo-${service}-${n}`], Image: 'busybox', ImageID: o.image ?? 'sha256:busybox', Command: '', Created: seq, Ports: [],
    Labels: {
      'com.docker.compose.project': 'demo', 'com.docker.compose.service': service, 'com.docker.compose.container-number': String(n),
      'com.docker.compose.oneoff': o.oneoff ? 'True' : 'False', 'com.docker.compose.config-hash': o.hash ?? (p.services[service] ? serviceHash(p.services[service]) : 'x'),
      'io.dray.compose.config-hash-version': '1',
    },
    State: o.state ?? 'running', Status: 'Up',
  };
}

const obs = (containers: ContainerSummary[], o: Partial<Observed> = {}): Observed => ({
  containers, networks: [{ Name: 'demo_default', Id: 'n1' } as any], volumes: [], images: new Map([['busybox:latest', 'sha256:busybox']]), ...o,
});

const TWO = 'services:\n  web:\n    image: busybox\n    depends_on: [db]\n  db:\n    image: busybox\n';

test('plan: an unchanged project is a no-op; dependency order; a stopped container is started', () => {
  const p = load(TWO);
  const sel = selectServices(p, []);
  assert.deepEqual(sel, ['db', 'web']);
  const o = obs([ctr(p, 'web', 1), ctr(p, 'db', 1)]);
  const plan = planContainers(p, o, sel);
  assert.ok(isNoop(plan, planNetworks(p, o, sel), planVolumes(p, o, sel)));
  assert.deepEqual(planImages(p, o, sel), []);
  const stopped = planContainers(p, obs([ctr(p, 'web', 1, { state: 'exited' }), ctr(p, 'db', 1)]), sel);
  assert.deepEqual(stopped.services.map((s) => s.containers.map((a) => a.kind + (a.kind === 'keep' && a.start ? '+start' : ''))), [['keep'], ['keep+start']]);
});

test('plan: what changed is recreated, and only that', () => {
  const p = load(TWO);
  const sel = selectServices(p, []);
  const plan = planContainers(p, obs([ctr(p, 'web', 1, { hash: 'old' }), ctr(p, 'db', 1)]), sel);
  assert.deepEqual(plan.services.map((s) => [s.name, s.containers.map((a) => a.kind)]), [['db', ['keep']], ['web', ['recreate']]]);
  assert.equal((plan.services[1].containers[0] as any).reason, 'configuration changed');
  const img = planContainers(p, obs([ctr(p, 'web', 1), ctr(p, 'db', 1, { image: 'sha256:older' })]), sel);
  assert.equal((img.services[0].containers[0] as any).reason, 'image changed');
  const forced = planContainers(p, obs([ctr(p, 'web', 1), ctr(p, 'db', 1)]), sel, { recreate: 'force' });
  assert.deepEqual(forced.services.map((s) => s.containers[0].kind), ['recreate', 'recreate']);
  const never = planContainers(p, obs([ctr(p, 'web', 1, { hash: 'old' }), ctr(p, 'db', 1)]), sel, { recreate: 'never' });
  assert.deepEqual(never.services.map((s) => s.containers[0].kind), ['keep', 'keep']);
  // A container made with an unknown (future) hash version is compared by the current one.
  const future = ctr(p, 'db', 1);
  future.Labels!['io.dray.compose.config-hash-version'] = '99';
  assert.equal(planContainers(p, obs([future]), ['db']).services[0].containers[0].kind, 'keep');
});

test('plan: scale up takes the free numbers, scale down removes the highest; orphans', () => {
  const p = load('services:\n  web:\n    image: busybox\n    scale: 3\n');
  const o = obs([ctr(p, 'web', 2), ctr(p, 'gone', 1), ctr(p, 'web', 1, { oneoff: true })]);
  const up = planContainers(p, o, ['web']);
  assert.deepEqual(up.services[0].containers.map((a) => `${a.kind}:${a.number}`), ['keep:2', 'create:1', 'create:3']);
  assert.deepEqual(up.orphans.map((c) => c.Names[0]), ['/demo-gone-1']);
  const down = planContainers(p, obs([ctr(p, 'web', 1), ctr(p, 'web', 2), ctr(p, 'web', 3)]), ['web'], { scale: { web: 1 } });
  assert.deepEqual(down.services[0].containers.map((a) => `${a.kind}:${a.number}`), ['keep:1']);
  assert.deepEqual(down.services[0].remove.map((c) => c.Names[0]), ['/demo-web-3', '/demo-web-2']);
});

test('plan: images to build and pull; external resources must exist', () => {
  const p = load('services:\n  app:\n    build: .\n  cache:\n    image: redis:7\n    pull_policy: always\n  db:\n    image: busybox\n    networks: [ext]\n    volumes: [outside:/x]\nnetworks:\n  ext: {external: true}\nvolumes:\n  outside: {external: true}\n');
  const o = obs([]);
  assert.deepEqual(planImages(p, o, ['app', 'cache', 'db']).map((x) => `${x.action} ${x.ref}`), ['build demo-app', 'pull redis:7']);
  assert.deepEqual(planImages(p, o, ['app'], { build: 'never' }), []);
  assert.throws(() => planNetworks(p, o, ['db']), /network ext declared as external, but could not be found/);
  assert.throws(() => planVolumes(p, o, ['db']), /external volume "outside" not found/);
  assert.equal(planNetworks(p, obs([], { networks: [{ Name: 'ext', Id: 'e' } as any] }), ['db'])[0].existing?.Id, 'e');
});
