// The grammar of -v, --mount, --tmpfs and --volumes-from, with Docker's exact error wording.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseVolumeSpec, parseMount, parseVolumesFrom, tmpfsData, mergeTmpfsOptions, validateTmpfsDestination,
} from '../../src/engine/container-mounts';

const throwsMsg = (fn: () => unknown, msg: string) => assert.throws(fn, (e: any) => {
  assert.equal(e.message, msg);
  return true;
});

test('-v: host path, named volume and anonymous volume forms', () => {
  assert.deepEqual(parseVolumeSpec('/h:/c'), { type: 'bind', source: '/h', destination: '/c', readOnly: false, mode: '', propagation: 'rprivate', noCopy: false });
  const ro = parseVolumeSpec('/h/./x/:/c/:ro');
  assert.equal(ro.source, '/h/x');
  assert.equal(ro.destination, '/c');
  assert.equal(ro.readOnly, true);
  assert.equal(ro.mode, 'ro');
  const named = parseVolumeSpec('data:/var/lib/data:ro,nocopy');
  assert.equal(named.type, 'volume');
  assert.equal(named.source, 'data');
  assert.equal(named.readOnly, true);
  assert.equal(named.noCopy, true);
  const anon = parseVolumeSpec('/only/dest');
  assert.equal(anon.type, 'volume');
  assert.equal(anon.source, '');
  assert.equal(anon.destination, '/only/dest');
  assert.equal(parseVolumeSpec('/h:/c:rshared').propagation, 'rshared');
  assert.equal(parseVolumeSpec('/h:/c:z').mode, 'z');
  assert.equal(parseVolumeSpec('v1:/c', 'local').driver, 'local');
});

test('-v: Docker\'s errors', () => {
  throwsMsg(() => parseVolumeSpec(':/c'), "invalid volume specification: ':/c'");
  throwsMsg(() => parseVolumeSpec('/c:ro'), "invalid volume specification: '/c:ro'");
  throwsMsg(() => parseVolumeSpec('/a:/b:/c:/d'), "invalid volume specification: '/a:/b:/c:/d'");
  throwsMsg(() => parseVolumeSpec('/a:/b:bogus'), 'invalid mode: bogus');
  throwsMsg(() => parseVolumeSpec('/a:/b:ro,rw'), 'invalid mode: ro,rw');
  throwsMsg(() => parseVolumeSpec('/a:rel'), `invalid volume specification: '/a:rel': invalid mount config for type "bind": invalid mount path: 'rel' mount path must be absolute`);
  throwsMsg(() => parseVolumeSpec('rel'), `invalid volume specification: 'rel': invalid mount config for type "volume": invalid mount path: 'rel' mount path must be absolute`);
  throwsMsg(() => parseVolumeSpec('/a:/'), `invalid volume specification: '/a:/': invalid mount config for type "bind": invalid specification: destination can't be '/'`);
  throwsMsg(() => parseVolumeSpec('/a:/b:nocopy'), `invalid volume specification: '/a:/b:nocopy': invalid mount config for type "bind": field VolumeOptions must not be specified`);
  throwsMsg(() => parseVolumeSpec('v1:/b:shared'), `invalid volume specification: 'v1:/b:shared': invalid mount config for type "volume": field BindOptions must not be specified`);
  throwsMsg(() => parseVolumeSpec('/b:ro'), "invalid volume specification: '/b:ro'");
});

test('--mount: bind, volume and tmpfs', () => {
  assert.deepEqual(parseMount({ Type: 'bind', Source: '/h', Target: '/c', ReadOnly: true, BindOptions: { Propagation: 'rslave' } }),
    { type: 'bind', source: '/h', destination: '/c', readOnly: true, mode: '', propagation: 'rslave', noCopy: false });
  const v = parseMount({ Type: 'volume', Source: 'v1', Target: '/c', VolumeOptions: { NoCopy: true, Labels: { a: 'b' }, DriverConfig: { Name: 'local', Options: { type: 'tmpfs', device: 'tmpfs' } } } });
  assert.equal(v.noCopy, true);
  assert.equal(v.driver, 'local');
  assert.deepEqual(v.driverOpts, { type: 'tmpfs', device: 'tmpfs' });
  assert.deepEqual(v.labels, { a: 'b' });
  const t = parseMount({ Type: 'tmpfs', Target: '/t', TmpfsOptions: { SizeBytes: 64 * 1024 * 1024, Mode: 0o1777 } });
  assert.equal(t.tmpfsData, 'mode=1777,size=64m');
});

test('--mount: Docker\'s errors', () => {
  throwsMsg(() => parseMount({ Type: 'bind', Target: '/c' }), 'invalid mount config for type "bind": field Source must not be empty');
  throwsMsg(() => parseMount({ Type: 'bind', Source: 'rel', Target: '/c' }), `invalid mount config for type "bind": invalid mount path: 'rel' mount path must be absolute`);
  throwsMsg(() => parseMount({ Type: 'bind', Source: '/h', Target: '' }), 'invalid mount config for type "bind": field Target must not be empty');
  throwsMsg(() => parseMount({ Type: 'bind', Source: '/h', Target: '/c', VolumeOptions: { NoCopy: true } }), 'invalid mount config for type "bind": field VolumeOptions must not be specified');
  throwsMsg(() => parseMount({ Type: 'bind', Source: '/h', Target: '/c', BindOptions: { Propagation: 'weird' } }), 'invalid mount config for type "bind": invalid propagation mode: weird');
  throwsMsg(() => parseMount({ Type: 'volume', Target: '/c', ReadOnly: true }), 'invalid mount config for type "volume": must not set ReadOnly mode when using anonymous volumes');
  throwsMsg(() => parseMount({ Type: 'volume', Source: 'v', Target: '/c', BindOptions: {} }), 'invalid mount config for type "volume": field BindOptions must not be specified');
  throwsMsg(() => parseMount({ Type: 'tmpfs', Source: 'x', Target: '/c' }), 'invalid mount config for type "tmpfs": field Source must not be specified');
  throwsMsg(() => parseMount({ Type: 'npipe', Target: '/c' }), 'invalid mount config for type "npipe": mount type unknown');
  throwsMsg(() => parseMount({ Type: 'volume', Target: '/' }), `invalid mount config for type "volume": invalid specification: destination can't be '/'`);
});

test('--volumes-from: container and mode', () => {
  assert.deepEqual(parseVolumesFrom('data'), { ref: 'data', readOnly: false });
  assert.deepEqual(parseVolumesFrom('data:ro'), { ref: 'data', readOnly: true });
  assert.deepEqual(parseVolumesFrom('data:rw'), { ref: 'data', readOnly: false });
  throwsMsg(() => parseVolumesFrom(''), 'volumes-from specification cannot be an empty string');
  throwsMsg(() => parseVolumesFrom('data:shared'), 'invalid mode: shared');
  throwsMsg(() => parseVolumesFrom('data:nocopy'), 'invalid mode: nocopy');
  throwsMsg(() => parseVolumesFrom('data:xx'), 'invalid mode: xx');
});

test('tmpfs: size suffixes, mode in octal, merging with the defaults', () => {
  assert.equal(tmpfsData({ SizeBytes: 1 << 30 }, false), 'size=1g');
  assert.equal(tmpfsData({ SizeBytes: 3 * 1024 }, true), 'ro,size=3k');
  assert.equal(tmpfsData({ SizeBytes: 1000 }, false), 'size=1000');
  assert.equal(tmpfsData(undefined, false), '');
  assert.deepEqual(mergeTmpfsOptions(['noexec', 'nosuid', 'nodev', 'exec', 'size=1m', 'size=2m']), ['nosuid', 'nodev', 'exec', 'size=2m']);
  throwsMsg(() => mergeTmpfsOptions(['noexec', 'bogus']), 'invalid tmpfs option ["bogus"]');
  throwsMsg(() => mergeTmpfsOptions(['color=red']), 'invalid tmpfs option ["color" "red"]');
  throwsMsg(() => validateTmpfsDestination('rel'), "invalid mount path: 'rel' mount path must be absolute");
  throwsMsg(() => validateTmpfsDestination('/'), "invalid specification: destination can't be '/'");
});
