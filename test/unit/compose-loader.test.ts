// The compose loader: file discovery, -f merging by the spec's rules, interpolation, .env, profiles,
// extends, include, anchors and x- keys, and the errors of bad input (YAML, schema, references).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadProject, findDefaultFiles, normalizeProjectName } from '../../src/compose/loader';
import { interpolateString } from '../../src/compose/interpolate';
import { parseDotenv } from '../../src/compose/dotenv';
import { shellSplit } from '../../src/compose/canonical';

function project(files: Record<string, string>, o: { env?: Record<string, string>; f?: string[]; p?: string; profiles?: string[]; cwd?: string; selected?: string[] } = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'compose-unit-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
  const warnings: string[] = [];
  try {
    const p = loadProject({ cwd: o.cwd ? path.join(dir, o.cwd) : dir, env: o.env ?? {}, files: o.f, projectName: o.p, profiles: o.profiles, selected: o.selected, warn: (m) => warnings.push(m) });
    return { p, dir, warnings };
  } finally { rmSync(dir, { recursive: true, force: true }); }
}

const fails = (files: Record<string, string>, re: RegExp, o: Parameters<typeof project>[1] = {}) => assert.throws(() => project(files, o), (e: any) => { assert.match(e.message, re); return true; });

test('interpolation: defaults, errors, replacements, $$, nesting', () => {
  const env: Record<string, string> = { SET: 'v', EMPTY: '' };
  const o = { lookup: (k: string) => env[k] };
  assert.equal(interpolateString('${SET} $SET $$SET', o), 'v v $SET');
  assert.equal(interpolateString('${UNSET:-d} ${EMPTY:-d} ${EMPTY-d} ${UNSET-d}', o), 'd d  d');
  assert.equal(interpolateString('${SET:+alt} ${EMPTY:+alt} ${EMPTY+alt} ${UNSET+alt}', o), 'alt  alt ');
  assert.equal(interpolateString('${UNSET:-${SET}-x}', o), 'v-x');
  assert.throws(() => interpolateString('${UNSET:?needs it}', o), /required variable UNSET is missing a value: needs it/);
  assert.throws(() => interpolateString('${EMPTY:?}', o), /required variable EMPTY is missing a value$/);
  assert.equal(interpolateString('${EMPTY?no}', o), '');
  assert.throws(() => interpolateString('${UNSET?gone}', o), /missing a value: gone/);
  assert.throws(() => interpolateString('${oops', o), /Invalid template/);
});

test('.env: quotes, export, comments, interpolation of earlier keys', () => {
  const m = parseDotenv('# c\nexport A=1\nB="x ${A}\\n"\nC=\'${A}\'\nD=plain # note\nE=${A}${OS}\n', '.env', (k) => (k === 'OS' ? 'os' : undefined));
  assert.deepEqual(Object.fromEntries(m), { A: '1', B: 'x 1\n', C: '${A}', D: 'plain', E: '1os' });
});

test('shell splitting of string commands', () => {
  assert.deepEqual(shellSplit(`sh -c "echo 'a b' && x" 'y z' w\\ v`), ['sh', '-c', "echo 'a b' && x", 'y z', 'w v']);
});

test('discovery: compose.yaml in a parent directory, with its override file', () => {
  const { p } = project({
    'compose.yaml': 'services:\n  web:\n    image: busybox\n',
    'compose.override.yaml': 'services:\n  web:\n    environment: [X=1]\n',
    'sub/dir/.keep': '',
  }, { cwd: 'sub/dir' });
  assert.equal(p.services.web.environment.X, '1');
  assert.equal(p.configFiles.length, 2);
  assert.equal(p.name, normalizeProjectName(path.basename(p.workingDir)));
  assert.equal(findDefaultFiles('/'), undefined);
});

test('project name: -p, COMPOSE_PROJECT_NAME, name:, the directory', () => {
  const files = { 'compose.yaml': 'name: From-File\nservices:\n  a:\n    image: busybox\n' };
  assert.equal(project(files).p.name, 'from-file');
  assert.equal(project(files, { env: { COMPOSE_PROJECT_NAME: 'envname' } }).p.name, 'envname');
  assert.equal(project(files, { p: 'flag', env: { COMPOSE_PROJECT_NAME: 'envname' } }).p.name, 'flag');
  fails(files, /invalid project name "Bad!"/, { p: 'Bad!' });
});

test('several -f files merge by the specification rules', () => {
  const { p } = project({
    'a.yaml': `services:
  web:
    image: busybox
    command: [sh, -c, one]
    environment: {A: "1", B: "2"}
    labels: [x=1]
    ports: ["8080:80", "9090:90"]
    volumes: ["./a:/data", "v:/other"]
    dns: [1.1.1.1]
    depends_on: [db]
    logging: {driver: json-file, options: {max-size: 1m}}
  db:
    image: busybox
volumes: {v: {}}
`,
    'b.yaml': `services:
  web:
    command: two
    environment: [B=3, C=4]
    labels: {y: "2"}
    ports: ["8080:80", "7070:70"]
    volumes: ["./b:/data"]
    dns: [1.1.1.1, 8.8.8.8]
    depends_on: {db: {condition: service_healthy}}
    logging: {options: {max-file: "3"}}
`,
  }, { f: ['a.yaml', 'b.yaml'] });
  const w = p.services.web;
  assert.deepEqual(w.command, ['two'], 'command is replaced');
  assert.deepEqual(w.environment, { A: '1', B: '3', C: '4' });
  assert.deepEqual(w.labels, { x: '1', y: '2' });
  assert.deepEqual(w.ports.map((x) => `${x.published}:${x.target}`), ['8080:80', '9090:90', '7070:70'], 'ports are unique');
  assert.equal(w.volumes.length, 2);
  assert.ok(w.volumes[0].source!.endsWith('/b'), 'a volume with the same target takes its place');
  assert.deepEqual(w.dns, ['1.1.1.1', '8.8.8.8']);
  assert.equal(w.depends_on.db.condition, 'service_healthy');
  assert.deepEqual(w.logging, { driver: 'json-file', options: { 'max-size': '1m', 'max-file': '3' } });
});

test('!reset and !override', () => {
  const { p } = project({
    'a.yaml': 'services:\n  web:\n    image: busybox\n    ports: ["80:80"]\n    environment: {A: "1"}\n',
    'b.yaml': 'services:\n  web:\n    ports: !reset []\n    environment: !override {B: "2"}\n',
  }, { f: ['a.yaml', 'b.yaml'] });
  assert.deepEqual(p.services.web.ports, []);
  assert.deepEqual(p.services.web.environment, { B: '2' });
});

test('interpolation from .env under the environment, in values only; anchors and x- keys', () => {
  const { p, warnings } = project({
    '.env': 'TAG=from-dotenv\nPORT=8000\n',
    'compose.yaml': `x-base: &base
  image: busybox:\${TAG}
  restart: always
services:
  web:
    <<: *base
    ports: ["\${PORT}:80"]
    environment:
      FROM_SHELL:
      LIT: $$HOME
      MISSING: \${NOPE}
`,
  }, { env: { PORT: '9000', FROM_SHELL: 'shell' } });
  const w = p.services.web;
  assert.equal(w.image, 'busybox:from-dotenv');
  assert.equal(w.restart, 'always');
  assert.equal(w.ports[0].published, '9000', 'the environment wins over .env');
  assert.deepEqual(w.environment, { FROM_SHELL: 'shell', LIT: '$HOME', MISSING: '' });
  assert.deepEqual(warnings, ['The "NOPE" variable is not set. Defaulting to a blank string.']);
  assert.ok('x-base' in p.extensions);
});

test('env_file entries are read before environment', () => {
  const { p } = project({
    'compose.yaml': 'services:\n  web:\n    image: busybox\n    env_file: [a.env, {path: missing.env, required: false}]\n    environment: {B: over}\n',
    'a.env': 'A=1\nB=2\n',
  });
  assert.deepEqual(p.services.web.environment, { A: '1', B: 'over' });
});

test('profiles: --profile, COMPOSE_PROFILES, and services named on the command line', () => {
  const files = { 'compose.yaml': 'services:\n  web:\n    image: busybox\n  debug:\n    image: busybox\n    profiles: [dev]\n    depends_on: [tool]\n  tool:\n    image: busybox\n    profiles: [tools]\n' };
  assert.deepEqual(Object.keys(project(files).p.services), ['web']);
  assert.deepEqual(Object.keys(project(files, { profiles: ['dev', 'tools'] }).p.services).sort(), ['debug', 'tool', 'web']);
  assert.deepEqual(Object.keys(project(files, { env: { COMPOSE_PROFILES: 'tools' } }).p.services).sort(), ['tool', 'web']);
  assert.deepEqual(Object.keys(project(files, { selected: ['debug'] }).p.services).sort(), ['debug', 'tool', 'web'], 'a named service brings its dependencies');
  fails(files, /depends on service "tool" which is disabled/, { profiles: ['dev'] });
});

test('extends, in the same file and from another (whose paths are its own)', () => {
  const { p, dir } = project({
    'compose.yaml': 'services:\n  web:\n    extends: {file: base/common.yaml, service: app}\n    environment: {B: "2"}\n  worker:\n    extends: web\n    command: work\n',
    'base/common.yaml': 'services:\n  app:\n    image: busybox\n    environment: {A: "1"}\n    volumes: ["./data:/data"]\n',
  });
  assert.deepEqual(p.services.web.environment, { A: '1', B: '2' });
  assert.deepEqual(p.services.worker.environment, { A: '1', B: '2' });
  assert.deepEqual(p.services.worker.command, ['work']);
  assert.equal(p.services.web.volumes[0].source, path.join(dir, 'base', 'data'));
  fails({ 'compose.yaml': 'services:\n  a:\n    extends: b\n  b:\n    extends: a\n' }, /Circular reference with extends/);
});

test('include: another project merged in, its own directory and .env', () => {
  const { p, dir } = project({
    'compose.yaml': 'include: [db/compose.yaml]\nservices:\n  web:\n    image: busybox\n    depends_on: [db]\n',
    'db/compose.yaml': 'services:\n  db:\n    image: busybox:${DBTAG}\n    volumes: ["./init:/init"]\n',
    'db/.env': 'DBTAG=1.36\n',
  });
  assert.equal(p.services.db.image, 'busybox:1.36');
  assert.equal(p.services.db.volumes[0].source, path.join(dir, 'db', 'init'));
  fails({ 'compose.yaml': 'include: [x.yaml]\nservices:\n  a:\n    image: busybox\n', 'x.yaml': 'services:\n  a:\n    image: busybox\n' }, /services\.a conflicts with imported resource/);
});

test('canonical forms: ports, volumes, depends_on, networks, build, healthcheck', () => {
  const { p, dir } = project({ 'compose.yaml': `services:
  web:
    build: ./app
    ports: ["127.0.0.1:8000-8001:80-81/udp", 3000, {target: 22, published: "2222"}]
    volumes: ["/abs:/a:ro", "./rel:/b", "named:/c:nocopy", "/anon", {type: tmpfs, target: /t, tmpfs: {size: 1m}}]
    networks: {front: {aliases: [w], priority: 5}, back: null}
    healthcheck: {test: "true", interval: 2s}
    deploy: {replicas: "3", resources: {limits: {memory: 64m, cpus: "0.5"}}}
    read_only: "true"
networks: {front: {}, back: {}}
volumes: {named: {}}
` });
  const w = p.services.web;
  assert.equal(w.build!.context, path.join(dir, 'app'));
  assert.deepEqual(w.ports.map((x) => [x.host_ip, x.published, x.target, x.protocol]), [['127.0.0.1', '8000', 80, 'udp'], ['127.0.0.1', '8001', 81, 'udp'], [undefined, undefined, 3000, 'tcp'], [undefined, '2222', 22, 'tcp']]);
  assert.deepEqual(w.volumes.map((v) => [v.type, v.source, v.target, !!v.read_only]), [
    ['bind', '/abs', '/a', true], ['bind', path.join(dir, 'rel'), '/b', false], ['volume', 'named', '/c', false], ['volume', undefined, '/anon', false], ['tmpfs', undefined, '/t', false],
  ]);
  assert.equal(w.volumes[2].volume!.nocopy, true);
  assert.equal(w.volumes[4].tmpfs!.size, 1024 * 1024);
  assert.deepEqual(w.healthcheck!.test, ['CMD-SHELL', 'true']);
  assert.equal(w.deploy!.replicas, 3);
  assert.equal(w.deploy!.resources!.limits!.memory, 64 * 1024 * 1024);
  assert.equal(w.read_only, true);
  assert.equal(p.networks.front.name, `${p.name}_front`);
  assert.equal(p.volumes.named.name, `${p.name}_named`);
  assert.ok(!p.networks.default, 'no default network when no service uses it');
});

test('bad input: YAML with line and column, schema errors with the path, references', () => {
  fails({ 'compose.yaml': 'services:\n  web:\n    image: busybox\n   command: x\n' }, /^failed to parse .*compose\.yaml: line 4, column 1: /);
  fails({ 'compose.yaml': 'services:\n  web:\n    image: busybox\n    imagee: x\n' }, /^validating .*compose\.yaml: services\.web additional properties 'imagee' not allowed \(line 4, column 5\)$/);
  fails({ 'compose.yaml': 'services:\n  web:\n    image: [busybox]\n' }, /services\.web\.image must be a string/);
  fails({ 'compose.yaml': 'services:\n  web:\n    image: busybox\n    ports: [{published: 80}]\n' }, /services\.web\.ports\.0/);
  fails({ 'compose.yaml': 'services:\n  web:\n    image: ${IMG:?set IMG}\n' }, /error while interpolating services\.web\.image: required variable IMG is missing a value: set IMG/);
  fails({ 'compose.yaml': 'services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n' }, /dependency cycle detected: a -> b -> a/);
  fails({ 'compose.yaml': 'services:\n  a:\n    image: x\n    depends_on: [nope]\n' }, /service "a" depends on undefined service "nope": invalid compose project/);
  fails({ 'compose.yaml': 'services:\n  a:\n    image: x\n    networks: [nope]\n' }, /service "a" refers to undefined network nope/);
  fails({ 'compose.yaml': 'services:\n  a:\n    image: x\n    volumes: ["nope:/x"]\n' }, /service "a" refers to undefined volume nope/);
  fails({ 'compose.yaml': 'services:\n  a:\n    build: {}\n    dockerfile_inline: x\n' }, /additional properties 'dockerfile_inline'/);
  fails({ 'compose.yaml': 'services:\n  a: {}\n' }, /has neither an image nor a build context/);
  fails({ 'other.yaml': '' }, /no configuration file provided: not found/);
});
