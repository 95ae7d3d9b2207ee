import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseVolumeSpec, splitVolumes, parseMount, parseTmpfs } from '../../src/cli/opts/mounts';
import { parseUlimit, parseRestartPolicy, parseKeyValueFile, normalizeEnv, parseDevice, parseExtraHost, parseCpus } from '../../src/cli/opts/misc';

test('-v classification', () => {
  assert.deepEqual(parseVolumeSpec('/host:/ctr'), { source: '/host', target: '/ctr', mode: '', type: 'bind' });
  assert.deepEqual(parseVolumeSpec('/host:/ctr:ro'), { source: '/host', target: '/ctr', mode: 'ro', type: 'bind' });
  assert.deepEqual(parseVolumeSpec('named:/ctr'), { source: 'named', target: '/ctr', mode: '', type: 'volume' });
  assert.deepEqual(parseVolumeSpec('/ctr'), { source: '', target: '/ctr', mode: '', type: 'volume' });
  assert.throws(() => parseVolumeSpec(':/x'), /empty section between colons/);
});

test('splitVolumes: binds vs anonymous volumes; relative paths made absolute', () => {
  const r = splitVolumes(['/a:/b', 'v:/c:ro', '/anon', './rel:/d'], '/work');
  assert.deepEqual(r.binds, ['/a:/b', 'v:/c:ro', '/work/rel:/d']);
  assert.deepEqual(r.volumes, { '/anon': {} });
});

test('--mount', () => {
  assert.deepEqual(parseMount('type=bind,source=/a,target=/b,readonly'), { Type: 'bind', Source: '/a', Target: '/b', ReadOnly: true });
  assert.deepEqual(parseMount('type=bind,src=/a,dst=/b,bind-propagation=rshared'), { Type: 'bind', Source: '/a', Target: '/b', BindOptions: { Propagation: 'rshared' } });
  assert.deepEqual(parseMount('source=v,target=/data,volume-nocopy,volume-opt=o=1,volume-label=l=2'), {
    Type: 'volume', Source: 'v', Target: '/data', VolumeOptions: { NoCopy: true, DriverConfig: { Options: { o: '1' } }, Labels: { l: '2' } },
  });
  assert.deepEqual(parseMount('type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1777'), { Type: 'tmpfs', Target: '/t', TmpfsOptions: { SizeBytes: 1048576, Mode: 0o1777 } });
  assert.deepEqual(parseMount('type=bind,"source=/a,b",target=/c'), { Type: 'bind', Source: '/a,b', Target: '/c' });
  assert.throws(() => parseMount('type=bind,source=/a'), { message: 'target is required' });
  assert.throws(() => parseMount('type=foo,target=/a'), /invalid mount type/);
  assert.throws(() => parseMount('type=bind,target=/a,tmpfs-size=1m'), /cannot mix 'tmpfs-\*' options with mount type 'bind'/);
  assert.throws(() => parseMount('target=/a,bogus=1'), /unexpected key 'bogus'/);
  assert.throws(() => parseMount('target'), /must be a key=value pair/);
});

test('--tmpfs', () => {
  assert.deepEqual(parseTmpfs('/run:rw,size=64m'), ['/run', 'rw,size=64m']);
  assert.deepEqual(parseTmpfs('/run'), ['/run', '']);
});

test('--ulimit, --restart, --device, --add-host, --cpus', () => {
  assert.deepEqual(parseUlimit('nofile=1024:2048'), { Name: 'nofile', Soft: 1024, Hard: 2048 });
  assert.deepEqual(parseUlimit('nproc=64'), { Name: 'nproc', Soft: 64, Hard: 64 });
  assert.throws(() => parseUlimit('x'), { message: 'invalid ulimit argument: x' });
  assert.throws(() => parseUlimit('foo=1'), { message: 'invalid ulimit type: foo' });
  assert.throws(() => parseUlimit('nofile=3:2'), /soft limit must be less than or equal to hard limit/);
  assert.deepEqual(parseRestartPolicy('on-failure:2'), { Name: 'on-failure', MaximumRetryCount: 2 });
  assert.deepEqual(parseRestartPolicy('always'), { Name: 'always', MaximumRetryCount: 0 });
  assert.throws(() => parseRestartPolicy('on-failure:x'), /maximum retry count must be an integer/);
  assert.throws(() => parseRestartPolicy(':1'), /no policy provided before colon/);
  assert.deepEqual(parseDevice('/dev/fuse'), { PathOnHost: '/dev/fuse', PathInContainer: '/dev/fuse', CgroupPermissions: 'rwm' });
  assert.deepEqual(parseDevice('/dev/a:/dev/b:r'), { PathOnHost: '/dev/a', PathInContainer: '/dev/b', CgroupPermissions: 'r' });
  assert.equal(parseExtraHost('db:10.0.0.2'), 'db:10.0.0.2');
  assert.equal(parseExtraHost('gw:host-gateway'), 'gw:host-gateway');
  assert.equal(parseExtraHost('v6=::1'), 'v6:::1');
  assert.throws(() => parseExtraHost('nohost'), /bad format for add-host/);
  assert.equal(parseCpus('0.5'), 5e8);
});

test('--env-file lines and -e', () => {
  const env = { HOME: '/root' } as Record<string, string>;
  const lines = parseKeyValueFile('# comment\n\nA=1\n  C=x y \nHOME\nUNSET\nQ="quoted"\n', 'f', (k) => env[k]);
  assert.deepEqual(lines, ['A=1', 'C=x y ', 'HOME=/root', 'UNSET', 'Q="quoted"']);
  assert.throws(() => parseKeyValueFile('BAD KEY=1\n', 'f'), /contains whitespaces/);
  assert.equal(normalizeEnv('A=1'), 'A=1');
  assert.equal(normalizeEnv('HOME', (k) => env[k]), 'HOME=/root');
  assert.equal(normalizeEnv('NOPE', () => undefined), 'NOPE');
});
