import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseWwwAuthenticate, repositoryScope } from '../../src/registry/remote/www-authenticate';
import { usableChallenge } from '../../src/registry/remote/auth';
import { decodeRegistryAuth, normalizeAuthConfig } from '../../src/registry/remote/credentials';
import { parseSpecErrors, specErrorText } from '../../src/registry/remote/errors';

test('a Bearer challenge gives realm, service and scope', () => {
  const c = parseWwwAuthenticate('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"');
  assert.deepEqual(c, [{ scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' } }]);
});

test('Basic, unquoted values, spaces around = and escapes in quoted strings', () => {
  assert.deepEqual(parseWwwAuthenticate('Basic realm=registry'), [{ scheme: 'basic', params: { realm: 'registry' } }]);
  assert.deepEqual(parseWwwAuthenticate('Bearer realm = "a\\"b" , service=svc'), [{ scheme: 'bearer', params: { realm: 'a"b', service: 'svc' } }]);
});

test('several challenges in one header and over several headers; Bearer is preferred', () => {
  const one = parseWwwAuthenticate('Basic realm="x", Bearer realm="https://t/token",service="s"');
  assert.deepEqual(one.map((c) => c.scheme), ['basic', 'bearer']);
  assert.equal(usableChallenge('Basic realm="x", Bearer realm="https://t/token",service="s"')?.scheme, 'bearer');
  assert.equal(usableChallenge(['Basic realm="x"'])?.scheme, 'basic');
  assert.equal(usableChallenge(['Negotiate', 'Basic realm="y"'])?.params.realm, 'y');
  assert.equal(usableChallenge(undefined), undefined);
  // A scope with a comma inside quotes stays one value.
  assert.equal(parseWwwAuthenticate('Bearer realm="r",scope="repository:a:pull,push"')[0].params.scope, 'repository:a:pull,push');
});

test('scopes are written as the token spec wants them', () => {
  assert.equal(repositoryScope('library/busybox', ['pull', 'push']), 'repository:library/busybox:pull,push');
});

test('X-Registry-Auth: base64url and padded base64, Docker field spellings, the combined auth field, junk is anonymous', () => {
  const j = { username: 'alice', password: 's3cr=t/+', serveraddress: 'localhost:5000' };
  assert.deepEqual(decodeRegistryAuth(Buffer.from(JSON.stringify(j)).toString('base64url')), j);
  assert.deepEqual(decodeRegistryAuth(Buffer.from(JSON.stringify(j)).toString('base64')), j);
  assert.deepEqual(decodeRegistryAuth('e30='), {});
  assert.deepEqual(decodeRegistryAuth(undefined), {});
  assert.deepEqual(decodeRegistryAuth('bm90IGpzb24='), {});
  assert.deepEqual(normalizeAuthConfig({ Username: 'bob', Password: 'pw', IdentityToken: '' }), { username: 'bob', password: 'pw' });
  assert.deepEqual(normalizeAuthConfig({ auth: Buffer.from('carol:a:b').toString('base64') }), { auth: Buffer.from('carol:a:b').toString('base64'), username: 'carol', password: 'a:b' });
});

test('registry error bodies read as Docker writes them', () => {
  const e = parseSpecErrors('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}');
  assert.equal(specErrorText(e[0]), 'manifest unknown: manifest unknown');
  assert.equal(specErrorText(parseSpecErrors('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}')[0]), 'unauthorized: authentication required');
  assert.deepEqual(parseSpecErrors('<html>'), []);
});
