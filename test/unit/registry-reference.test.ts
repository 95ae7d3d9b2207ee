import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveReference, registryOfServerAddress, apiHost } from '../../src/registry/remote/resolve';
import { serverKey, registryOfImage, registryAuthHeader } from '../../src/cli/credentials';
import { parseMirrors, parseInsecure, EndpointResolver, splitHostPort } from '../../src/registry/remote/endpoints';
import { v2Url } from '../../src/registry/remote/client';

test('Docker Hub names are normalised and served by registry-1.docker.io', () => {
  const t = resolveReference('busybox');
  assert.deepEqual([t.registry, t.host, t.repository, t.reference, t.familiarName], ['docker.io', 'registry-1.docker.io', 'library/busybox', 'latest', 'busybox']);
  assert.equal(resolveReference('index.docker.io/user/app:1').host, 'registry-1.docker.io');
  assert.equal(resolveReference('index.docker.io/user/app:1').repository, 'user/app');
  assert.equal(apiHost('docker.io'), 'registry-1.docker.io');
});

test('other registries keep their host; digests are the manifest reference', () => {
  const d = 'sha256:' + 'a'.repeat(64);
  const t = resolveReference(`localhost:5000/team/app@${d}`);
  assert.deepEqual([t.registry, t.host, t.repository, t.reference], ['localhost:5000', 'localhost:5000', 'team/app', d]);
  assert.equal(resolveReference('127.0.0.1:5000/x').reference, 'latest');
  assert.throws(() => resolveReference('BusyBox'), /invalid reference format/);
  assert.throws(() => resolveReference('a:b:c'), /invalid reference format/);
});

test('login server addresses and credential keys', () => {
  assert.equal(registryOfServerAddress('https://index.docker.io/v1/'), 'docker.io');
  assert.equal(registryOfServerAddress(''), 'docker.io');
  assert.equal(registryOfServerAddress('http://localhost:5000/v2/'), 'localhost:5000');
  assert.equal(serverKey('docker.io'), 'https://index.docker.io/v1/');
  assert.equal(serverKey('https://localhost:5000/'), 'localhost:5000');
  assert.equal(registryOfImage('busybox'), 'docker.io');
  assert.equal(registryOfImage('user/app:1'), 'docker.io');
  assert.equal(registryOfImage('localhost/app'), 'localhost');
  assert.equal(registryOfImage('127.0.0.1:5000/a/b@sha256:x'), '127.0.0.1:5000');
  const h = JSON.parse(Buffer.from(registryAuthHeader({ username: 'u', password: 'p', serveraddress: 'r:1' }), 'base64url').toString());
  assert.deepEqual(h, { serveraddress: 'r:1', username: 'u', password: 'p' });
  assert.equal(registryAuthHeader(undefined), 'e30=');
});

test('registry-mirrors: Docker\'s list is Docker Hub\'s; an object names each registry', () => {
  assert.deepEqual(parseMirrors(['https://m.example/']), { 'docker.io': ['https://m.example'] });
  assert.deepEqual(parseMirrors({ 'localhost:5000': ['http://127.0.0.1:6000'], 'index.docker.io': ['https://hub-cache/'] }), { 'localhost:5000': ['http://127.0.0.1:6000'], 'docker.io': ['https://hub-cache'] });
  assert.throws(() => parseMirrors(['ftp://x']), /unsupported scheme/);
  assert.throws(() => parseMirrors({ a: 'http://x' }), /expected a list/);
  assert.deepEqual(parseInsecure(['http://reg:5000/', '10.0.0.0/8']), ['reg:5000', '10.0.0.0/8']);
  assert.throws(() => parseInsecure(['a/b/c']), /not valid/);
});

test('endpoints: mirrors first; loopback and listed registries may fall back to HTTP', async () => {
  const r = new EndpointResolver({ mirrors: { 'localhost:5000': ['http://127.0.0.1:6000/prefix'] }, insecure: ['reg.example:5000', '192.168.0.0/16'] });
  const eps = await r.forPull('localhost:5000', 'localhost:5000');
  assert.deepEqual(eps.map((e) => `${e.base.protocol}//${e.base.host}${e.base.pathname}|${e.mirror}`), ['http://127.0.0.1:6000/prefix|true', 'https://localhost:5000/|false', 'http://localhost:5000/|false']);
  assert.equal(v2Url(eps[0].base, '/v2/a/manifests/b').toString(), 'http://127.0.0.1:6000/prefix/v2/a/manifests/b');
  assert.equal(await r.isInsecure('127.0.0.1:5000'), true);
  assert.equal(await r.isInsecure('[::1]:5000'), true);
  assert.equal(await r.isInsecure('reg.example:5000'), true);
  assert.equal(await r.isInsecure('192.168.4.4'), true);
  assert.equal(await r.isInsecure('10.1.1.1:443'), false);
  const hub = await r.origin('registry-1.docker.io', 'docker.io');
  assert.deepEqual(hub.map((e) => e.base.toString()), ['https://registry-1.docker.io/']);
  assert.deepEqual(splitHostPort('[::1]:5000'), { hostname: '::1', port: '5000' });
});
