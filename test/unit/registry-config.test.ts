// The registry server's pure pieces: its configuration (YAML or JSON, flags over the file), the
// spec's grammar for names, tags and digests, Range headers, manifest media types, access rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { ConfigError, loadConfig, parseDuration, parseListen, parseSize } from '../../src/registry/distribution/config';
import { parseDigest, validName, validTag } from '../../src/registry/distribution/names';
import { parseRange } from '../../src/registry/distribution/http/blobs';
import { parseManifest, DOCKER_LIST, OCI_INDEX, OCI_MANIFEST } from '../../src/registry/distribution/manifest';
import { AccessPolicy, parseScope } from '../../src/registry/distribution/auth/access';
import { isRegistryError } from '../../src/registry/distribution/errors';
import { matchRoute } from '../../src/registry/distribution/http/router';

test('durations, sizes and listen addresses', () => {
  assert.equal(parseDuration('90s', 'x'), 90_000);
  assert.equal(parseDuration('1h30m', 'x'), 5_400_000);
  assert.equal(parseDuration('250ms', 'x'), 250);
  assert.equal(parseDuration(2, 'x'), 2000);
  assert.equal(parseDuration('0', 'x'), 0);
  assert.throws(() => parseDuration('soon', 'gc.delay'), (e) => e instanceof ConfigError && /gc\.delay: invalid duration/.test(e.message));
  assert.equal(parseSize('50MB', 'x'), 50e6);
  assert.equal(parseSize('10MiB', 'x'), 10 * 1024 * 1024);
  assert.equal(parseSize(123, 'x'), 123);
  assert.throws(() => parseSize('lots', 'x'), ConfigError);
  assert.deepEqual(parseListen('127.0.0.1:5001'), { host: '127.0.0.1', port: 5001 });
  assert.deepEqual(parseListen(':5000'), { host: undefined, port: 5000 });
  assert.deepEqual(parseListen('[::1]:5000'), { host: '::1', port: 5000 });
  assert.throws(() => parseListen('5000'), ConfigError);
});

test('config: YAML file in distribution\'s shape, relative paths, flags over the file, checks', () => {
  const dir = mkdtempSync('/tmp/dray-regcfg-');
  try {
    const file = path.join(dir, 'config.yml');
    writeFileSync(file, `version: 0.1
http:
  addr: 0.0.0.0:5000
  tls:
    certificate: certs/server.crt
    key: certs/server.key
storage:
  filesystem:
    rootdirectory: data
  delete:
    enabled: false
  maintenance:
    uploadpurging:
      age: 2h
      interval: 30m
auth:
  htpasswd:
    realm: corp
    path: htpasswd
gc:
  interval: 12h
  delay: 30m
  untagged: true
`);
    const c = loadConfig({ config: file });
    assert.equal(c.http.addr, '0.0.0.0:5000');
    assert.deepEqual(c.http.tls, { certificate: path.join(dir, 'certs/server.crt'), key: path.join(dir, 'certs/server.key') });
    assert.deepEqual(c.storage, { driver: 'filesystem', rootdirectory: path.join(dir, 'data') });
    assert.equal(c.deleteEnabled, false);
    assert.equal(c.uploadPurging.ageMs, 7_200_000);
    assert.deepEqual(c.auth?.htpasswd, { realm: 'corp', path: path.join(dir, 'htpasswd') });
    assert.deepEqual(c.gc, { intervalMs: 43_200_000, delayMs: 1_800_000, deleteUntagged: true });
    const f = loadConfig({ config: file, listen: '127.0.0.1:6000', storage: 'elsewhere', gcDelay: '5m', uploadTimeout: '10s' });
    assert.equal(f.http.addr, '127.0.0.1:6000');
    assert.deepEqual(f.storage, { driver: 'filesystem', rootdirectory: path.resolve('elsewhere') });
    assert.equal(f.gc.delayMs, 300_000);
    assert.equal(f.uploadPurging.ageMs, 10_000);

    const json = path.join(dir, 'c.json');
    writeFileSync(json, JSON.stringify({ storage: { s3: { bucket: 'b', regionendpoint: 'http://127.0.0.1:9000', accesskey: 'k', secretkey: 's', redirect: true } }, proxy: { remoteurl: 'https://upstream.example/' } }));
    const s3 = loadConfig({ config: json });
    assert.equal(s3.storage.driver, 's3');
    assert.equal((s3.storage as any).endpoint, 'http://127.0.0.1:9000');
    assert.equal((s3.storage as any).redirect, true);
    assert.equal(s3.proxy?.remoteurl, 'https://upstream.example');
    // defaults
    const d = loadConfig({ storage: dir });
    assert.equal(d.http.addr, '127.0.0.1:5000');
    assert.equal(d.deleteEnabled, true);
    assert.equal(d.uploadPurging.ageMs, 3_600_000);
    assert.equal(d.gc.delayMs, 3_600_000);
    assert.equal(d.auth, undefined);
    // mistakes
    assert.throws(() => loadConfig({}), /no storage/);
    assert.throws(() => loadConfig({ storage: dir, tlsCert: 'a.crt' }), /both a certificate and a key/);
    assert.throws(() => loadConfig({ config: path.join(dir, 'missing.yml') }), /cannot read config file/);
    writeFileSync(json, '{"auth":{"token":{}}}');
    assert.throws(() => loadConfig({ config: json, storage: dir }), /checks passwords against auth\.htpasswd/);
    writeFileSync(json, '{"auth":{"htpasswd":{"path":"h"},"access":[{"account":"a","actions":["fly"]}]}}');
    assert.throws(() => loadConfig({ config: json, storage: dir }), /auth\.access\[0\]\.actions/);
    for (const [cfg, msg] of [
      ['storage: {azure: {accountname: x}}', /storage driver "azure" \(filesystem and s3 are\) is not implemented/],
      ['storage: {filesystem: {rootdirectory: d}}\nmiddleware: {registry: []}', /middleware .* is not implemented/],
      ['storage: {filesystem: {rootdirectory: d}}\nnotifications: {endpoints: [{url: "x"}]}', /notifications\.endpoints\[0\]\.url: expected an http/],
      ['storage: {filesystem: {rootdirectory: d}}\nauth: {silly: {realm: x}}', /auth\.silly .* is not implemented/],
      ['storage: {filesystem: {rootdirectory: d}}\nauth: {token: {realm: x, rootcertbundle: /x.pem}}', /external token server \(rootcertbundle, jwks\) needs the issuer/],
      ['storage: {filesystem: {rootdirectory: d}}\nauth: {token: {issuer: i, jwks: /x.json}}', /external token server \(rootcertbundle, jwks\) needs its realm/],
    ] as [string, RegExp][]) {
      writeFileSync(file, cfg);
      assert.throws(() => loadConfig({ config: file }), msg, cfg);
    }
    writeFileSync(file, 'http: [unclosed');
    assert.throws(() => loadConfig({ config: file }), ConfigError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the spec\'s grammar for names, tags and digests', () => {
  for (const n of ['a', 'library/busybox', 'a.b-c_d/e__f/g---h', '0', `${'a'.repeat(255)}`]) assert.ok(validName(n), n);
  for (const n of ['', 'A', 'a/', '/a', 'a//b', 'a..b', 'a_.b', '-a', 'a-', '_a', 'a/_b', 'a:b', `${'a'.repeat(256)}`]) assert.ok(!validName(n), n);
  for (const t of ['latest', 'v1.2.3', '_x', 'A-b.C_d', 't'.repeat(128)]) assert.ok(validTag(t), t);
  for (const t of ['', '.x', '-x', 'a/b', 'a:b', 't'.repeat(129)]) assert.ok(!validTag(t), t);
  assert.equal(parseDigest(`sha256:${'a'.repeat(64)}`).hex, 'a'.repeat(64));
  assert.equal(parseDigest(`sha512:${'b'.repeat(128)}`).algorithm, 'sha512');
  for (const d of ['sha256:abc', `sha256:${'A'.repeat(64)}`, `md5:${'a'.repeat(32)}`, 'nocolon', `sha256:${'a'.repeat(65)}`]) {
    assert.throws(() => parseDigest(d), (e) => isRegistryError(e, 'DIGEST_INVALID'), d);
  }
});

test('routes: names with slashes, the upload routes before the blob route, bad names refused', () => {
  assert.deepEqual(matchRoute('/v2/'), { name: 'base' });
  assert.deepEqual(matchRoute('/v2/a/b/c/manifests/latest'), { name: 'manifest', repo: 'a/b/c', ref: 'latest' });
  assert.deepEqual(matchRoute('/v2/a/blobs/uploads/'), { name: 'upload-start', repo: 'a', ref: undefined });
  assert.deepEqual(matchRoute('/v2/a/blobs/uploads/123'), { name: 'upload', repo: 'a', ref: '123' });
  assert.deepEqual(matchRoute('/v2/blobs/blobs/sha256:x'), { name: 'blob', repo: 'blobs', ref: 'sha256:x' });
  assert.deepEqual(matchRoute('/v2/x/manifests/sha256%3Aab'), { name: 'manifest', repo: 'x', ref: 'sha256:ab' });
  assert.equal(matchRoute('/v3/x'), undefined);
  assert.throws(() => matchRoute('/v2/X/tags/list'), (e) => isRegistryError(e, 'NAME_INVALID'));
});

test('Range headers: one range of bytes, open and suffix forms; others ignored', () => {
  assert.deepEqual(parseRange('bytes=0-9', 100), { start: 0, end: 9 });
  assert.deepEqual(parseRange('bytes=90-', 100), { start: 90, end: 99 });
  assert.deepEqual(parseRange('bytes=-10', 100), { start: 90, end: 99 });
  assert.deepEqual(parseRange('bytes=50-1000', 100), { start: 50, end: 99 });
  assert.equal(parseRange('bytes=100-', 100), 'unsatisfiable');
  assert.equal(parseRange('bytes=5-2', 100), 'unsatisfiable');
  assert.equal(parseRange('bytes=0-1,5-6', 100), undefined);
  assert.equal(parseRange('items=0-1', 100), undefined);
});

test('manifest media types: the Content-Type decides, a generic one defers to the body', () => {
  const d = `sha256:${'c'.repeat(64)}`;
  const image = (extra: object = {}) => Buffer.from(JSON.stringify({ schemaVersion: 2, config: { mediaType: 'x', digest: d, size: 1 }, layers: [], ...extra }));
  assert.equal(parseManifest(image(), OCI_MANIFEST).mediaType, OCI_MANIFEST);
  assert.equal(parseManifest(image({ mediaType: OCI_MANIFEST }), 'application/json').mediaType, OCI_MANIFEST);
  assert.equal(parseManifest(image(), undefined).mediaType, OCI_MANIFEST);
  assert.equal(parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] })), '').mediaType, OCI_INDEX);
  assert.equal(parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: DOCKER_LIST, manifests: [] })), `${DOCKER_LIST}; charset=utf-8`).mediaType, DOCKER_LIST);
  const layered = parseManifest(image({ layers: [{ mediaType: 'l', digest: d, size: 2 }, { mediaType: 'foreign', digest: `sha256:${'d'.repeat(64)}`, size: 3, urls: ['https://x'] }] }), OCI_MANIFEST);
  assert.deepEqual(layered.blobs.map((b) => b.text), [d, d], 'config and the distributable layer; the foreign one is not required here');
  assert.equal(layered.artifactType, 'x', 'artifactType falls back to the config media type');
  for (const [body, ct] of [[image({ mediaType: OCI_INDEX }), OCI_MANIFEST], [image(), 'text/plain'], [image({ schemaVersion: 1 }), OCI_MANIFEST], [Buffer.from('nope'), OCI_MANIFEST]] as const) {
    assert.throws(() => parseManifest(body, ct), (e) => isRegistryError(e, 'MANIFEST_INVALID'));
  }
});

test('access rules: per-account repository patterns, "*" for anyone signed in, "anonymous"', () => {
  const p = new AccessPolicy([
    { account: 'alice', repository: 'team/*', actions: ['*'] },
    { account: '*', repository: 'public/*', actions: ['pull'] },
    { account: 'anonymous', repository: 'public/open', actions: ['pull'] },
  ]);
  assert.deepEqual([...p.granted('alice', 'repository', 'team/x/y')].sort(), ['delete', 'pull', 'push']);
  assert.deepEqual([...p.granted('bob', 'repository', 'team/x')], []);
  assert.deepEqual([...p.granted('bob', 'repository', 'public/a')], ['pull']);
  assert.deepEqual([...p.granted(undefined, 'repository', 'public/a')], []);
  assert.deepEqual([...p.granted(undefined, 'repository', 'public/open')], ['pull']);
  assert.ok(p.allows(undefined, { type: 'registry', name: 'catalog', actions: ['*'] }));
  const open = new AccessPolicy(undefined);
  assert.ok(open.allows('anyone', { type: 'repository', name: 'x', actions: ['push', 'delete'] }));
  assert.ok(!open.allows(undefined, { type: 'repository', name: 'x', actions: ['pull'] }));
  assert.deepEqual(parseScope('repository:library/busybox:pull,push'), { type: 'repository', name: 'library/busybox', actions: ['pull', 'push'] });
  assert.deepEqual(parseScope('repository(plugin):a/b:pull'), { type: 'repository', name: 'a/b', actions: ['pull'] });
  assert.equal(parseScope('garbage'), undefined);
});
