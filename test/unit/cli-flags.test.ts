import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { parseFlags, FlagError, boolFlag, strFlag, listFlag, intFlag, FlagDef, formatFlagHelp } from '../../src/cli/flags';
import { containerFlags, runOnlyFlags, buildCreateRequest, OptsError } from '../../src/cli/commands/container-opts';

const defs: FlagDef[] = [
  boolFlag('detach', 'd', 'detach'),
  boolFlag('interactive', 'i', 'interactive'),
  boolFlag('tty', 't', 'tty'),
  strFlag('name', undefined, 'name'),
  listFlag('env', 'e', 'env'),
  intFlag('time', 't2', 'time'),
  { name: 'memory', short: 'm', kind: 'value', type: 'bytes', usage: 'mem', parse: (v) => { if (v === 'abc') throw new Error(`invalid size: '${v}'`); return v; } },
];

test('combined short booleans: -dit', () => {
  const r = parseFlags(['-dit', 'busybox'], defs);
  assert.equal(r.values.detach, true);
  assert.equal(r.values.interactive, true);
  assert.equal(r.values.tty, true);
  assert.deepEqual(r.args, ['busybox']);
});

test('values: --flag=value, --flag value, -eK=V, -e K=V, -e=K=V, repeated lists', () => {
  const r = parseFlags(['--name=a', '-eA=1', '-e', 'B=2', '-e=C=3', '--env', 'D=4', 'img'], defs);
  assert.equal(r.values.name, 'a');
  assert.deepEqual(r.values.env, ['A=1', 'B=2', 'C=3', 'D=4']);
  assert.ok(r.changed.has('name') && r.changed.has('env') && !r.changed.has('detach'));
});

test('a short value flag at the end of a cluster takes the next argument: -de X', () => {
  const r = parseFlags(['-de', 'X=1', 'img'], defs);
  assert.equal(r.values.detach, true);
  assert.deepEqual(r.values.env, ['X=1']);
});

test('non-interspersed: the first positional ends flags (run IMAGE CMD -flags)', () => {
  const r = parseFlags(['-d', 'busybox', 'ls', '-la', '--name', 'x'], defs, { interspersed: false });
  assert.deepEqual(r.args, ['busybox', 'ls', '-la', '--name', 'x']);
  assert.equal(r.values.name, undefined);
});

test('interspersed: flags after positionals are still flags', () => {
  const r = parseFlags(['a', '-d', 'b'], defs);
  assert.deepEqual(r.args, ['a', 'b']);
  assert.equal(r.values.detach, true);
});

test('"--" ends flags; "-" is a positional', () => {
  const r = parseFlags(['-d', '--', '-i', '--name'], defs);
  assert.deepEqual(r.args, ['-i', '--name']);
  assert.equal(r.values.interactive, false);
  assert.deepEqual(parseFlags(['-', '-d'], defs).args, ['-']);
});

test('booleans: --detach=false, bad bool value', () => {
  assert.equal(parseFlags(['--detach=false'], defs).values.detach, false);
  assert.throws(() => parseFlags(['-d=x'], defs), (e: any) => e instanceof FlagError && e.message === 'invalid argument "x" for "-d, --detach" flag: strconv.ParseBool: parsing "x": invalid syntax');
});

test('pflag messages for unknown and incomplete flags', () => {
  assert.throws(() => parseFlags(['--foo'], defs), { message: 'unknown flag: --foo' });
  assert.throws(() => parseFlags(['-x'], defs), { message: "unknown shorthand flag: 'x' in -x" });
  assert.throws(() => parseFlags(['-dx'], defs), { message: "unknown shorthand flag: 'x' in -dx" });
  assert.throws(() => parseFlags(['--name'], defs), { message: 'flag needs an argument: --name' });
  assert.throws(() => parseFlags(['-e'], defs), { message: "flag needs an argument: 'e' in -e" });
  assert.throws(() => parseFlags(['-m', 'abc'], defs), { message: `invalid argument "abc" for "-m, --memory" flag: invalid size: 'abc'` });
});

test('--help and -h (when -h is not taken) ask for help', () => {
  assert.equal(parseFlags(['--help'], defs).help, true);
  assert.equal(parseFlags(['-h'], defs).help, true);
  assert.equal(parseFlags(['-h', 'host'], [strFlag('hostname', 'h', 'x')]).values.hostname, 'host');
});

test('help text lists flags sorted with their types', () => {
  const h = formatFlagHelp(defs);
  assert.match(h, /^ {2}-d, --detach/m);
  assert.match(h, /^ {6}--name string/m);
  assert.doesNotMatch(h, /--help/);
  // --help is listed only where -h is taken by another flag (run's --hostname).
  assert.match(formatFlagHelp([strFlag('hostname', 'h', 'x')]), /^ {6}--help/m);
});

test('help text wraps long usages like pflag', () => {
  const h = formatFlagHelp([boolFlag('latest', 'l', 'Show the latest created container (includes all states)'), strFlag('filter', 'f', 'x')]);
  assert.equal(h.split('\n')[1], '  -l, --latest          Show the latest created container (includes all');
  assert.equal(h.split('\n')[2], '                        states)');
});

const runDefs = [...containerFlags, ...runOnlyFlags];
function create(argv: string[]) {
  const r = parseFlags(argv, runDefs, { interspersed: false });
  return buildCreateRequest(r.values, r.args, r.changed);
}

test('run flags become the create body', () => {
  const { body, name } = create(['-dit', '--name', 'web', '-e', 'A=1', '-p', '8080:80', '-v', '/tmp:/data:ro', '-v', '/anon', '-m', '64m', '--cpus', '1.5',
    '--restart', 'on-failure:3', '--ulimit', 'nofile=10:20', '--tmpfs', '/run:size=1m', '--cap-add', 'NET_ADMIN', '-l', 'a=b', '--init', '--pids-limit', '50',
    '--entrypoint', '/bin/sh', '-w', '/w', '-u', '1000', '-h', 'hn', '--stop-signal', 'SIGUSR1', '--stop-timeout', '3', '--health-cmd', 'true', '--health-interval', '5s',
    'busybox', 'echo', '-n', 'hi']);
  assert.equal(name, 'web');
  assert.equal(body.Image, 'busybox');
  assert.deepEqual(body.Cmd, ['echo', '-n', 'hi']);
  assert.deepEqual(body.Entrypoint, ['/bin/sh']);
  assert.equal(body.Tty, true);
  assert.equal(body.OpenStdin, true);
  assert.equal(body.AttachStdout, false);
  assert.deepEqual(body.Env, ['A=1']);
  assert.deepEqual(body.ExposedPorts, { '80/tcp': {} });
  assert.deepEqual(body.Volumes, { '/anon': {} });
  assert.deepEqual(body.Labels, { a: 'b' });
  assert.equal(body.WorkingDir, '/w');
  assert.equal(body.User, '1000');
  assert.equal(body.Hostname, 'hn');
  assert.equal(body.StopSignal, 'SIGUSR1');
  assert.equal(body.StopTimeout, 3);
  assert.deepEqual(body.Healthcheck, { Test: ['CMD-SHELL', 'true'], Interval: 5e9, Timeout: 0, StartPeriod: 0, StartInterval: 0, Retries: 0 });
  const h = body.HostConfig!;
  assert.deepEqual(h.PortBindings, { '80/tcp': [{ HostIp: '', HostPort: '8080' }] });
  assert.deepEqual(h.Binds, ['/tmp:/data:ro']);
  assert.equal(h.Memory, 64 * 1024 * 1024);
  assert.equal(h.NanoCpus, 1.5e9);
  assert.deepEqual(h.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 3 });
  assert.deepEqual(h.Ulimits, [{ Name: 'nofile', Soft: 10, Hard: 20 }]);
  assert.deepEqual(h.Tmpfs, { '/run': 'size=1m' });
  assert.deepEqual(h.CapAdd, ['NET_ADMIN']);
  assert.equal(h.Init, true);
  assert.equal(h.PidsLimit, 50);
});

test('attach defaults: stdout+stderr, plus stdin with -i; -a selects', () => {
  const b = create(['-i', 'img']).body;
  assert.deepEqual([b.AttachStdin, b.AttachStdout, b.AttachStderr, b.StdinOnce], [true, true, true, true]);
  const a = create(['-a', 'stderr', 'img']).body;
  assert.deepEqual([a.AttachStdin, a.AttachStdout, a.AttachStderr], [false, false, true]);
});

test('--rm with --restart conflicts; bad -p is an options error', () => {
  assert.throws(() => create(['--rm', '--restart', 'always', 'img']), OptsError);
  assert.throws(() => create(['-p', 'abc', 'img']), { message: 'invalid containerPort: abc' });
});

test('bin/dray starts without NODE_EXTRA_CA_CERTS (node would load the bundle at every start-up)', () => {
  const bin = path.join(__dirname, '..', '..', 'bin', 'dray');
  // A bundle node cannot load makes it warn on stderr: the variable must not reach it.
  const r = spawnSync(bin, ['--version'], { env: { ...process.env, NODE_EXTRA_CA_CERTS: '/nonexistent/dray-ca.pem' }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^Dray version /);
  assert.equal(r.stderr, '');
});
