import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseReference, parseAnyReference, withDefaultTag, familiarString, fullString, familiarName, registryHost, referenceFilterMatch,
} from '../../src/store/reference';

const norm = (s: string) => fullString(withDefaultTag(parseReference(s)));
const fam = (s: string) => familiarString(withDefaultTag(parseReference(s)));

test('official images normalise to docker.io/library/<name>:latest and show as <name>:latest', () => {
  assert.equal(norm('busybox'), 'docker.io/library/busybox:latest');
  assert.equal(fam('busybox'), 'busybox:latest');
  assert.equal(norm('docker.io/busybox:1.36'), 'docker.io/library/busybox:1.36');
  assert.equal(norm('index.docker.io/library/busybox'), 'docker.io/library/busybox:latest');
  assert.equal(fam('docker.io/library/busybox:1'), 'busybox:1');
  assert.equal(norm('user/app:v1'), 'docker.io/user/app:v1');
  assert.equal(fam('user/app'), 'user/app:latest');
});

test('registries keep their host; localhost and host:port are domains', () => {
  assert.equal(norm('localhost:5000/a/b:t'), 'localhost:5000/a/b:t');
  assert.equal(fam('localhost:5000/a/b:t'), 'localhost:5000/a/b:t');
  assert.equal(norm('localhost/x'), 'localhost/x:latest');
  assert.equal(norm('quay.io/org/img'), 'quay.io/org/img:latest');
  assert.equal(parseReference('myhost:5000/x').domain, 'myhost:5000');
  assert.equal(parseReference('foo/bar').domain, 'docker.io');
  assert.equal(familiarName(parseReference('ghcr.io/a/b')), 'ghcr.io/a/b');
  assert.equal(registryHost('docker.io'), 'registry-1.docker.io');
  assert.equal(registryHost('localhost:5000'), 'localhost:5000');
});

test('digests, tags and both', () => {
  const d = 'sha256:' + 'a'.repeat(64);
  const r = parseReference(`busybox@${d}`);
  assert.equal(r.digest, d);
  assert.equal(r.tag, undefined);
  assert.equal(familiarString(withDefaultTag(r)), `busybox@${d}`);
  const both = parseReference(`busybox:1@${d}`);
  assert.equal(both.tag, '1');
  assert.equal(fullString(both), `docker.io/library/busybox:1@${d}`);
  assert.equal(parseReference('a/b:1.0_rc-2').tag, '1.0_rc-2');
});

test('IDs: 64 hex and sha256:<hex> are IDs, short hex is a name', () => {
  const h = 'b'.repeat(64);
  assert.deepEqual(parseAnyReference(h), { id: `sha256:${h}` });
  assert.deepEqual(parseAnyReference(`sha256:${h}`), { id: `sha256:${h}` });
  assert.ok('ref' in parseAnyReference('abc123'));
});

test('invalid references carry Docker\'s wording', () => {
  assert.throws(() => parseReference('Busybox'), { message: 'invalid reference format: repository name (library/Busybox) must be lowercase' });
  assert.throws(() => parseReference('user/App:1'), { message: 'invalid reference format: repository name (user/App) must be lowercase' });
  for (const bad of ['', ':tag', 'busybox:', 'busybox:-x', 'a//b', 'a/', '-a', 'a@sha256:123', 'busybox:a b', 'a..b', 'UPPER:5000/x/Y']) {
    assert.throws(() => parseReference(bad), (e: any) => e.kind === 'InvalidParameter' && /^invalid reference format/.test(e.message), bad);
  }
  assert.throws(() => parseReference('busybox:' + 'x'.repeat(129)), /invalid reference format/);
  assert.throws(() => parseReference('a'.repeat(256)), /must not be more than 255 characters/);
  assert.throws(() => parseReference('c'.repeat(64)), /cannot specify 64-byte hexadecimal strings/);
});

test('reference filter globs match familiar names, with or without tag', () => {
  const r = withDefaultTag(parseReference('busybox'));
  assert.ok(referenceFilterMatch('busybox', r));
  assert.ok(referenceFilterMatch('busybox:latest', r));
  assert.ok(referenceFilterMatch('busy*', r));
  assert.ok(referenceFilterMatch('busybox:l*', r));
  assert.ok(!referenceFilterMatch('alpine', r));
  const u = withDefaultTag(parseReference('user/app:v1'));
  assert.ok(referenceFilterMatch('user/*', u));
  assert.ok(!referenceFilterMatch('*', u), '* does not cross a slash');
});
