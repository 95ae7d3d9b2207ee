// drayd's registry client against real components the other registry-client tests do not use:
// Dray's own registry (`dray registry serve`, over HTTPS with a test CA that drayd trusts through
// certs.d, htpasswd and its built-in token server) driven by `dray login/push/pull` and by the real
// docker CLI; multi-platform images (an OCI index and a Docker manifest list, made here, with
// busybox's real layer for linux/amd64 and a layer of the test's own for linux/arm64) in Debian's
// docker-registry; an OCI manifest with a zstd layer; and docker-compose 1.29 and `dray compose`
// pulling and pushing a service image through drayd. Every registry runs on 127.0.0.1, started and
// stopped here.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import * as bcrypt from 'bcryptjs';
import { TestDaemon, drayLauncher } from '../helpers/daemon';
import { Registry, makePki, tempDir, jsonLines, runAsync, randomRootfsTar, sleep, tarOf, putBlob, putManifest, stopAll } from '../helpers/registry-client';
import { Server, startDray, request, sha256, OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST } from '../helpers/registry';

const COMPOSE = '/usr/bin/docker-compose';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const OCI_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
const DOCKER_CONFIG_MT = 'application/vnd.docker.container.image.v1+json';
const DOCKER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

let d: TestDaemon;
let dir: string;
let dreg: Server; // dray registry serve: HTTPS, htpasswd + token server
let dhost: string;
let caPem: Buffer;
let plain: Registry; // Debian's docker-registry, plain HTTP, no auth
let phost: string;
let busyboxId: string;
/** The manifest digest of busybox as drayd pushes it (Docker schema 2, the same bytes every time). */
let busyboxDigest: string;
let cliCfg: string;
let dockerCfg: string;

before(async () => {
  dir = tempDir('dray-rci-');
  const pki = makePki(path.join(dir, 'pki'), 'dreg');
  caPem = readFileSync(pki.caCert);
  const htpasswd = path.join(dir, 'htpasswd');
  writeFileSync(htpasswd, `alice:${bcrypt.hashSync('secret', 5)}\n`);
  dreg = await startDray(dir, {
    config: {
      storage: { filesystem: { rootdirectory: path.join(dir, 'dreg-store') } },
      http: { tls: { certificate: pki.cert, key: pki.key } },
      auth: {
        htpasswd: { realm: 'dray', path: htpasswd },
        token: { service: 'rci-registry', issuer: 'rci-issuer', expiration: '5m' },
        access: [{ account: 'alice', repository: '*', actions: ['pull', 'push', 'delete'] }],
      },
    },
  });
  dhost = `127.0.0.1:${dreg.port}`;
  plain = await new Registry(path.join(dir, 'plain')).start();
  phost = plain.host;
  // drayd trusts the test CA for this registry only, from a certs dir of the test's own.
  const certs = path.join(dir, 'certs.d');
  mkdirSync(path.join(certs, dhost), { recursive: true });
  copyFileSync(pki.caCert, path.join(certs, dhost, 'ca.crt'));
  const cfg = path.join(dir, 'daemon.json');
  writeFileSync(cfg, JSON.stringify({ 'registry-certs-dir': certs, 'registry-idle-timeout': 5, 'max-download-attempts': 2 }));
  d = new TestDaemon(['--config-file', cfg, '--debug']);
  await d.start();
  busyboxId = await d.bootstrapBusybox();
  cliCfg = path.join(dir, 'dray-cli');
  dockerCfg = path.join(dir, 'docker-cli');
});

after(async () => {
  assert.deepEqual(await stopAll(d, dir, [dreg, plain]), []);
});

/** The dray CLI with a client config directory of the test's own (never ~/.docker). */
const dray = (args: string[], input?: string) =>
  runAsync(drayLauncher, ['--config', cliCfg, ...args], { env: { ...d.env, NO_COLOR: '1' }, input });
/** The real docker CLI against the test daemon, with a private DOCKER_CONFIG. */
const docker = (args: string[], input?: string) =>
  runAsync('/usr/local/bin/docker', args, { env: { ...d.env, DOCKER_CONFIG: dockerCfg }, input });

const inspect = async (ref: string) => (await d.api('GET', `/images/${encodeURIComponent(ref)}/json`)).json;
const short = (digest: string) => digest.slice(7, 19);
const b64 = (s: string) => Buffer.from(s).toString('base64');

/** Removes an image with all its names (docker rmi -f), so the next pull has to fetch its layers. */
async function removeImage(id: string): Promise<void> {
  const r = await d.api('DELETE', `/images/${id}?force=1`);
  assert.equal(r.status, 200, r.body.toString());
  assert.equal((await d.api('GET', `/images/${id}/json`)).status, 404);
}

/** A GET on Dray's registry with a token its token server gave alice for `repo`. */
async function dregGet(repo: string, p: string, accept = DOCKER_MANIFEST) {
  const q = new URLSearchParams({ service: 'rci-registry', scope: `repository:${repo}:pull` });
  const t = await request('GET', `${dreg.url}/auth/token?${q}`, { ca: caPem, headers: { Authorization: `Basic ${b64('alice:secret')}` } });
  assert.equal(t.status, 200);
  return request('GET', `${dreg.url}/v2/${repo}/${p}`, { ca: caPem, headers: { Authorization: `Bearer ${t.json.token}`, Accept: accept } });
}

/** The registry's access-log lines (JSON) for a method and path. */
const dregRequests = (method: string, p: string) => dreg.log().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l))
  .filter((l) => l.msg === 'request' && l.method === method && l.path === p);

// ---- 1. dray registry serve: login, push, pull, run ----------------------------------------------------

test('dray login against dray registry serve (HTTPS, token server): a wrong password is unauthorized; the right one keeps a refresh token', async () => {
  const bad = await dray(['login', '-u', 'alice', '--password-stdin', dhost], 'wrong\n');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, new RegExp(`^Error response from daemon: Get "https://${dhost}/v2/": unauthorized: authentication required$`, 'm'));
  assert.equal(existsSync(path.join(cliCfg, 'config.json')), false, 'nothing stored for a refused login');
  const ok = await dray(['login', '-u', 'alice', '--password-stdin', dhost], 'secret\n');
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, 'Login Succeeded\n');
  const entry = JSON.parse(readFileSync(path.join(cliCfg, 'config.json'), 'utf8')).auths[dhost];
  // As Docker stores a login that gave an IdentityToken: the user name, no password, the token.
  assert.deepEqual(Object.keys(entry).sort(), ['auth', 'identitytoken']);
  assert.equal(entry.auth, b64('alice:'));
  const claims = JSON.parse(Buffer.from(entry.identitytoken.split('.')[1], 'base64url').toString());
  assert.equal(claims.typ, 'refresh');
  assert.equal(claims.sub, 'alice');
  assert.equal(claims.iss, 'rci-issuer');
});

test('push, rmi, pull and run busybox through the token flow over verified HTTPS: the same image ID and RepoDigest come back', async () => {
  const ref = `${dhost}/team/busybox:1`;
  assert.equal((await dray(['tag', 'busybox', ref])).code, 0);
  const push = await dray(['push', ref]);
  assert.equal(push.code, 0, push.stderr);
  assert.match(push.stdout, new RegExp(`^The push refers to repository \\[${dhost}/team/busybox\\]$`, 'm'));
  assert.match(push.stdout, /^[0-9a-f]{12}: Pushed$/m);
  const m = /^1: digest: (sha256:[0-9a-f]{64}) size: (\d+)$/m.exec(push.stdout);
  assert.ok(m, push.stdout);
  busyboxDigest = m[1];
  // What the registry holds: that manifest, naming busybox's config, put there by alice's token.
  const man = await dregGet('team/busybox', 'manifests/1');
  assert.equal(man.status, 200);
  assert.equal(man.headers['docker-content-digest'], busyboxDigest);
  assert.equal(sha256(man.body), busyboxDigest);
  assert.equal(man.json.config.digest, busyboxId);
  assert.equal(man.body.length, Number(m[2]));
  const put = dregRequests('PUT', '/v2/team/busybox/manifests/1');
  assert.equal(put.length, 1);
  assert.equal(put[0].status, 201);
  assert.equal(put[0].user, 'alice');
  await sleep(200); // drayd's log lines reach this process through its event loop
  const ep = d.log.split('\n').find((l) => l.includes('"registry endpoint"') && l.includes(`https://${dhost}`));
  assert.ok(ep, 'drayd logged the endpoint it used');
  assert.equal(JSON.parse(ep).tls, 'verified', 'the certificate was checked against the CA in certs.d');

  assert.equal((await dray(['rmi', ref, 'busybox'])).code, 0);
  assert.equal((await d.api('GET', `/images/${busyboxId}/json`)).status, 404);
  const pull = await dray(['pull', ref]);
  assert.equal(pull.code, 0, pull.stderr);
  assert.match(pull.stdout, /^1: Pulling from team\/busybox$/m);
  assert.match(pull.stdout, new RegExp(`^${short(man.json.layers[0].digest)}: Pull complete$`, 'm'));
  assert.match(pull.stdout, new RegExp(`^Digest: ${busyboxDigest}$`, 'm'));
  assert.match(pull.stdout, new RegExp(`^Status: Downloaded newer image for ${dhost}/team/busybox:1$`, 'm'));
  const img = await inspect(ref);
  assert.equal(img.Id, busyboxId);
  assert.deepEqual(img.RepoDigests, [`${dhost}/team/busybox@${busyboxDigest}`]);
  const run = await dray(['run', '--rm', ref, 'echo', 'pulled from dray registry']);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, 'pulled from dray registry\n');
  assert.equal((await dray(['tag', ref, 'busybox'])).code, 0);

  // Logged out: the token server gives an anonymous token without rights, the registry answers 401
  // with error="insufficient_scope", and drayd words it as Docker does (a pull: NotFound, 404).
  assert.equal((await dray(['logout', dhost])).stdout, `Removing login credentials for ${dhost}\n`);
  const anon = await dray(['pull', ref]);
  assert.equal(anon.code, 1);
  const denied = `pull access denied for ${dhost}/team/busybox, repository does not exist or may require 'docker login': denied: requested access to the resource is denied`;
  assert.match(anon.stderr, new RegExp(`^Error response from daemon: ${denied.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
  const api = await d.api('POST', `/images/create?fromImage=${dhost}/team/busybox&tag=1`);
  assert.equal(api.status, 404);
  assert.equal(api.json.message, denied);
  const anonPush = await dray(['push', ref]);
  assert.equal(anonPush.code, 1);
  assert.match(anonPush.stderr, /^denied: requested access to the resource is denied$/m);
});

test('the docker CLI logs in (a wrong password refused), pushes, pulls and runs through drayd against dray registry serve', async () => {
  const bad = await docker(['login', '-u', 'alice', '--password-stdin', dhost], 'wrong\n');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, new RegExp(`^Error response from daemon: Get "https://${dhost}/v2/": unauthorized: authentication required$`, 'm'));
  const ok = await docker(['login', '-u', 'alice', '--password-stdin', dhost], 'secret\n');
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^Login Succeeded$/m);
  const stored = JSON.parse(readFileSync(path.join(dockerCfg, 'config.json'), 'utf8')).auths[dhost];
  assert.equal(stored.auth, b64('alice:'));
  assert.match(stored.identitytoken, /^[\w-]+\.[\w-]+\.[\w-]+$/);

  const ref = `${dhost}/dk/busybox:2`;
  assert.equal((await docker(['tag', 'busybox', ref])).code, 0);
  const push = await docker(['push', ref]);
  assert.equal(push.code, 0, push.stderr);
  assert.match(push.stdout, new RegExp(`^The push refers to repository \\[${dhost}/dk/busybox\\]$`, 'm'));
  // The layer is already in team/busybox: mounted across repositories with one token for both.
  assert.match(push.stdout, /^[0-9a-f]{12}: Mounted from team\/busybox$/m);
  assert.match(push.stdout, new RegExp(`^2: digest: ${busyboxDigest} size: \\d+$`, 'm'));

  await removeImage(busyboxId);
  const pull = await docker(['pull', ref]);
  assert.equal(pull.code, 0, pull.stderr);
  assert.match(pull.stdout, /^2: Pulling from dk\/busybox$/m);
  assert.match(pull.stdout, /^[0-9a-f]{12}: Pull complete$/m);
  assert.match(pull.stdout, new RegExp(`^Digest: ${busyboxDigest}$`, 'm'));
  assert.match(pull.stdout, new RegExp(`^Status: Downloaded newer image for ${dhost}/dk/busybox:2$`, 'm'));
  const img = await inspect(ref);
  assert.equal(img.Id, busyboxId);
  assert.deepEqual(img.RepoDigests, [`${dhost}/dk/busybox@${busyboxDigest}`]);
  const run = await docker(['run', '--rm', ref, 'echo', 'via docker']);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, 'via docker\n');
  assert.equal((await docker(['tag', ref, 'busybox'])).code, 0);
});

// ---- 2. manifest lists and OCI indexes ------------------------------------------------------------------

let indexDigest: string; // multi/bb:oci
let listDigest: string; // multi/bb:list
let armConfigDigest: string;
let armLayerDigest: string;
let bbLayer: { digest: string; size: number };
let bbDiffId: string;

test('an OCI index and a Docker manifest list: the host platform (amd64) by default; --platform linux/arm64 and ?platform= take the other', async () => {
  const base = `http://${phost}`;
  // busybox as drayd pushes it (Docker schema 2), and the same image as an OCI manifest.
  assert.equal((await dray(['tag', 'busybox', `${phost}/multi/bb:amd64`])).code, 0);
  assert.equal((await dray(['push', `${phost}/multi/bb:amd64`])).code, 0);
  const bbDocker = Buffer.from(await (await fetch(`${base}/v2/multi/bb/manifests/amd64`, { headers: { Accept: DOCKER_MANIFEST } })).arrayBuffer());
  assert.equal(sha256(bbDocker), busyboxDigest);
  const bbMan = JSON.parse(bbDocker.toString());
  bbLayer = { digest: bbMan.layers[0].digest, size: bbMan.layers[0].size };
  bbDiffId = JSON.parse(Buffer.from(await (await fetch(`${base}/v2/multi/bb/blobs/${busyboxId}`)).arrayBuffer()).toString()).rootfs.diff_ids[0];
  const bbOci = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_CONFIG, digest: busyboxId, size: bbMan.config.size }, layers: [{ mediaType: OCI_GZIP, ...bbLayer }] }));
  await putManifest(base, 'multi/bb', sha256(bbOci), bbOci, OCI_MANIFEST);

  // linux/arm64: a layer of its own, a config that says arm64.
  const armTar = await randomRootfsTar(64 * 1024, 'arm64.bin');
  const armGz = gzipSync(armTar);
  const armConfig = Buffer.from(JSON.stringify({
    architecture: 'arm64', variant: 'v8', os: 'linux', created: '2026-01-01T00:00:00Z',
    config: { Cmd: ['/bin/sh'], Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'FLAVOUR=arm64'] },
    rootfs: { type: 'layers', diff_ids: [sha256(armTar)] }, history: [{ created: '2026-01-01T00:00:00Z', created_by: 'rci test' }],
  }));
  armConfigDigest = await putBlob(base, 'multi/bb', armConfig);
  armLayerDigest = await putBlob(base, 'multi/bb', armGz);
  const armOf = (docker: boolean) => Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: docker ? DOCKER_MANIFEST : OCI_MANIFEST,
    config: { mediaType: docker ? DOCKER_CONFIG_MT : OCI_CONFIG, digest: armConfigDigest, size: armConfig.length },
    layers: [{ mediaType: docker ? DOCKER_GZIP : OCI_GZIP, digest: armLayerDigest, size: armGz.length }],
  }));
  const armOci = armOf(false);
  const armDocker = armOf(true);
  await putManifest(base, 'multi/bb', sha256(armOci), armOci, OCI_MANIFEST);
  await putManifest(base, 'multi/bb', sha256(armDocker), armDocker, DOCKER_MANIFEST);

  // arm64 first: the host's entry has to be picked, not the first one.
  const arm = { os: 'linux', architecture: 'arm64', variant: 'v8' };
  const amd = { os: 'linux', architecture: 'amd64' };
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [
    { mediaType: OCI_MANIFEST, digest: sha256(armOci), size: armOci.length, platform: arm },
    { mediaType: OCI_MANIFEST, digest: sha256(bbOci), size: bbOci.length, platform: amd },
  ] }));
  const list = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: DOCKER_LIST, manifests: [
    { mediaType: DOCKER_MANIFEST, digest: sha256(armDocker), size: armDocker.length, platform: arm },
    { mediaType: DOCKER_MANIFEST, digest: busyboxDigest, size: bbDocker.length, platform: amd },
  ] }));
  indexDigest = await putManifest(base, 'multi/bb', 'oci', index, OCI_INDEX);
  listDigest = await putManifest(base, 'multi/bb', 'list', list, DOCKER_LIST);
  assert.equal(indexDigest, sha256(index));
  assert.equal(listDigest, sha256(list));

  const dist = await d.api('GET', `/distribution/${phost}/multi/bb:oci/json`);
  assert.equal(dist.status, 200);
  assert.deepEqual(dist.json.Descriptor, { mediaType: OCI_INDEX, digest: indexDigest, size: index.length });
  assert.deepEqual(dist.json.Platforms, [{ architecture: 'arm64', os: 'linux', variant: 'v8' }, { architecture: 'amd64', os: 'linux' }]);

  // The host's platform, from nothing here: busybox's layer is fetched through the index.
  await removeImage(busyboxId);
  const pull = await dray(['pull', `${phost}/multi/bb:oci`]);
  assert.equal(pull.code, 0, pull.stderr);
  assert.match(pull.stdout, /^oci: Pulling from multi\/bb$/m);
  assert.match(pull.stdout, new RegExp(`^${short(bbLayer.digest)}: Pull complete$`, 'm'));
  assert.doesNotMatch(pull.stdout, new RegExp(short(armLayerDigest)));
  assert.match(pull.stdout, new RegExp(`^Digest: ${indexDigest}$`, 'm'));
  assert.match(pull.stdout, new RegExp(`^Status: Downloaded newer image for ${phost}/multi/bb:oci$`, 'm'));
  let img = await inspect(`${phost}/multi/bb:oci`);
  assert.equal(img.Id, busyboxId);
  assert.equal(img.Architecture, 'amd64');
  assert.deepEqual(img.RepoDigests, [`${phost}/multi/bb@${indexDigest}`]);
  const run = await dray(['run', '--rm', `${phost}/multi/bb:oci`, 'echo', 'amd64 from an index']);
  assert.equal(run.stdout, 'amd64 from an index\n', run.stderr);
  assert.equal((await dray(['tag', busyboxId, 'busybox'])).code, 0);

  // --platform linux/arm64: the other entry, its own layer.
  const armPull = await dray(['pull', '--platform', 'linux/arm64', `${phost}/multi/bb:oci`]);
  assert.equal(armPull.code, 0, armPull.stderr);
  assert.match(armPull.stdout, new RegExp(`^${short(armLayerDigest)}: Pull complete$`, 'm'));
  assert.doesNotMatch(armPull.stdout, new RegExp(short(bbLayer.digest)));
  assert.match(armPull.stdout, new RegExp(`^Digest: ${indexDigest}$`, 'm'));
  assert.match(armPull.stdout, new RegExp(`^Status: Downloaded newer image for ${phost}/multi/bb:oci$`, 'm'));
  img = await inspect(`${phost}/multi/bb:oci`);
  assert.equal(img.Id, armConfigDigest);
  assert.equal(img.Architecture, 'arm64');
  assert.equal(img.Variant, 'v8');
  assert.ok(img.Config.Env.includes('FLAVOUR=arm64'));
  assert.deepEqual(img.RootFS.Layers, [sha256(armTar)]);
  assert.deepEqual(img.RepoDigests, [`${phost}/multi/bb@${indexDigest}`]);
  // The digest reference moved with the tag, as Docker's reference store moves it.
  assert.deepEqual((await inspect(busyboxId)).RepoDigests, []);

  // The API's platform query on the Docker manifest list; then none: the host's again.
  const api = await d.api('POST', `/images/create?fromImage=${phost}/multi/bb&tag=list&platform=linux%2Farm64`);
  assert.equal(api.status, 200);
  // That image is here already (the same config through the OCI index): as Docker, no layer is looked at.
  assert.deepEqual(jsonLines(api.body).map((l) => [l.id, l.status]), [
    ['list', 'Pulling from multi/bb'], [undefined, `Digest: ${listDigest}`], [undefined, `Status: Downloaded newer image for ${phost}/multi/bb:list`]]);
  assert.equal((await inspect(`${phost}/multi/bb:list`)).Id, armConfigDigest);
  const host = await docker(['pull', `${phost}/multi/bb:list`]);
  assert.equal(host.code, 0, host.stderr);
  assert.match(host.stdout, new RegExp(`^Digest: ${listDigest}$`, 'm'));
  const hostImg = await inspect(`${phost}/multi/bb:list`);
  assert.equal(hostImg.Id, busyboxId);
  assert.ok(hostImg.RepoDigests.includes(`${phost}/multi/bb@${listDigest}`), hostImg.RepoDigests.join(' '));
  // And the docker CLI's --platform, which reaches drayd as the same query.
  const dArm = await docker(['pull', '--platform', 'linux/arm64', `${phost}/multi/bb:list`]);
  assert.equal(dArm.code, 0, dArm.stderr);
  assert.equal((await inspect(`${phost}/multi/bb:list`)).Id, armConfigDigest);
});

test('a platform the index does not offer: Docker\'s "no matching manifest" error, exit 1, and nothing stored', async () => {
  const images = JSON.stringify((await d.api('GET', '/images/json')).json);
  const layersDir = path.join(d.dataRoot, 'image', 'layers');
  const layers = readdirSync(layersDir).sort();
  const cli = await dray(['pull', '--platform', 'linux/s390x', `${phost}/multi/bb:oci`]);
  assert.equal(cli.code, 1);
  assert.equal(cli.stdout, '');
  assert.match(cli.stderr, /^Error response from daemon: no matching manifest for linux\/s390x in the manifest list entries$/m);
  const api = await d.api('POST', `/images/create?fromImage=${phost}/multi/bb&tag=list&platform=linux%2Fppc64le`);
  assert.equal(api.status, 404);
  assert.equal(api.json.message, 'no matching manifest for linux/ppc64le in the manifest list entries');
  const dk = await docker(['pull', '--platform', 'linux/arm/v7', `${phost}/multi/bb:list`]);
  assert.equal(dk.code, 1);
  assert.match(dk.stderr, /^Error response from daemon: no matching manifest for linux\/arm\/v7 in the manifest list entries$/m);
  const bad = await d.api('POST', `/images/create?fromImage=${phost}/multi/bb&tag=oci&platform=linux%2Fnotanarch`);
  assert.equal(bad.status, 400);
  assert.equal(bad.json.message, '"linux/notanarch": unknown operating system or architecture: invalid argument');
  assert.equal(JSON.stringify((await d.api('GET', '/images/json')).json), images, 'no image, tag or digest changed');
  assert.deepEqual(readdirSync(layersDir).sort(), layers, 'no layer made');
  assert.equal((await inspect(`${phost}/multi/bb:oci`)).Id, armConfigDigest);
});

// ---- 3. zstd layers ----------------------------------------------------------------------------------

test('an OCI manifest with a zstd layer (tar+zstd) pulls, unpacks and runs; pushed on, the layer stays zstd', async () => {
  const base = `http://${phost}`;
  const nonce = randomBytes(8).toString('hex');
  const big = randomBytes(256 * 1024);
  const tar = await tarOf([
    { name: 'zstd/' },
    { name: 'zstd/nonce.txt', data: `zstd layer ${nonce}\n` },
    { name: 'zstd/link', link: 'nonce.txt' },
    { name: 'zstd/big.bin', data: big },
  ]);
  const zst = zstdCompressSync(tar);
  assert.equal(zst.readUInt32LE(0), 0xfd2fb528, 'a zstd frame');
  // busybox's gzip layer (mounted from multi/bb) under the zstd one.
  const mount = await fetch(`${base}/v2/zstd/app/blobs/uploads/?mount=${bbLayer.digest}&from=multi/bb`, { method: 'POST' });
  assert.equal(mount.status, 201);
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', created: '2026-01-01T00:00:00Z',
    config: { Cmd: ['cat', '/zstd/link'], Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
    rootfs: { type: 'layers', diff_ids: [bbDiffId, sha256(tar)] },
    history: [{ created: '2026-01-01T00:00:00Z', created_by: 'busybox' }, { created: '2026-01-01T00:00:00Z', created_by: 'zstd layer' }],
  }));
  const configDigest = await putBlob(base, 'zstd/app', config);
  const zstDigest = await putBlob(base, 'zstd/app', zst);
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.length },
    layers: [{ mediaType: OCI_GZIP, ...bbLayer }, { mediaType: OCI_ZSTD, digest: zstDigest, size: zst.length }] }));
  const manifestDigest = await putManifest(base, 'zstd/app', '1', manifest, OCI_MANIFEST);

  const ref = `${phost}/zstd/app:1`;
  const pull = await dray(['pull', ref]);
  assert.equal(pull.code, 0, pull.stderr);
  assert.match(pull.stdout, new RegExp(`^${short(bbLayer.digest)}: Already exists$`, 'm'));
  assert.match(pull.stdout, new RegExp(`^${short(zstDigest)}: Pull complete$`, 'm'));
  assert.match(pull.stdout, new RegExp(`^Digest: ${manifestDigest}$`, 'm'));
  const img = await inspect(ref);
  assert.equal(img.Id, configDigest);
  assert.deepEqual(img.RootFS.Layers, [bbDiffId, sha256(tar)]);
  assert.deepEqual(img.RepoDigests, [`${phost}/zstd/app@${manifestDigest}`]);
  const run = await dray(['run', '--rm', ref]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, `zstd layer ${nonce}\n`);
  const files = await dray(['run', '--rm', ref, 'sh', '-c', 'wc -c < /zstd/big.bin; readlink /zstd/link; md5sum /zstd/big.bin']);
  const md5 = createHash('md5').update(big).digest('hex');
  assert.equal(files.stdout, `${big.length}\nnonce.txt\n${md5}  /zstd/big.bin\n`, files.stderr);

  // Pushed to another repository: the blob as it arrived (zstd), so an OCI manifest (schema 2 has no zstd type).
  assert.equal((await dray(['tag', ref, `${phost}/zstd/copy:1`])).code, 0);
  const push = await dray(['push', `${phost}/zstd/copy:1`]);
  assert.equal(push.code, 0, push.stderr);
  const pushed = /^1: digest: (sha256:[0-9a-f]{64}) size: \d+$/m.exec(push.stdout);
  assert.ok(pushed, push.stdout);
  const back = await fetch(`${base}/v2/zstd/copy/manifests/1`, { headers: { Accept: `${OCI_MANIFEST}, ${DOCKER_MANIFEST}` } });
  assert.equal(back.headers.get('docker-content-digest'), pushed[1]);
  const bm = await back.json() as any;
  assert.equal(bm.mediaType, OCI_MANIFEST);
  assert.equal(bm.config.digest, configDigest);
  assert.deepEqual(bm.layers.map((l: any) => [l.digest, l.size]), [[bbLayer.digest, bbLayer.size], [zstDigest, zst.length]]);
  assert.equal(bm.layers[1].mediaType, OCI_ZSTD);
  assert.equal((await dray(['rmi', ref, `${phost}/zstd/copy:1`])).code, 0);
});

// ---- 4. compose -------------------------------------------------------------------------------------

/** A project whose one service has an image and a build (docker-compose 1.29 pushes only such services). */
function composeProject(name: string, image: string, version = true): string {
  const p = path.join(dir, name);
  mkdirSync(p, { recursive: true });
  writeFileSync(path.join(p, 'Dockerfile'), 'FROM busybox\n');
  writeFileSync(path.join(p, 'docker-compose.yml'), `${version ? 'version: "2.4"\n' : ''}services:
  web:
    image: ${image}
    build: .
    command: ["echo", "web from ${name}"]
`);
  return p;
}

test('docker-compose 1.29 pushes and pulls a service image through drayd (dray registry serve, credentials from its DOCKER_CONFIG)', { skip: !existsSync(COMPOSE) && 'docker-compose is not installed' }, async () => {
  const image = `${dhost}/compose/web:1`;
  const p = composeProject('py', image);
  const compose = (args: string[]) => runAsync(COMPOSE, ['-p', 'rcipy', '-f', path.join(p, 'docker-compose.yml'), ...args],
    { env: { ...process.env, DOCKER_HOST: d.host, DOCKER_CONFIG: dockerCfg } });
  assert.equal((await dray(['tag', 'busybox', image])).code, 0);
  const push = await compose(['push']);
  assert.equal(push.code, 0, push.stdout + push.stderr);
  assert.match(push.stderr, new RegExp(`^Pushing web \\(${image}\\)\\.\\.\\.$`, 'm'));
  assert.match(push.stdout, new RegExp(`^The push refers to repository \\[${dhost}/compose/web\\]$`, 'm'));
  assert.match(push.stdout, new RegExp(`^1: digest: ${busyboxDigest} size: \\d+$`, 'm'));
  const man = await dregGet('compose/web', 'manifests/1');
  assert.equal(man.status, 200);
  assert.equal(man.headers['docker-content-digest'], busyboxDigest);
  assert.deepEqual((await inspect(image)).RepoDigests.filter((r: string) => r.startsWith(`${dhost}/compose/`)), [`${dhost}/compose/web@${busyboxDigest}`]);

  await removeImage(busyboxId);
  const pull = await compose(['pull']);
  assert.equal(pull.code, 0, pull.stdout + pull.stderr);
  assert.match(pull.stderr, /^Pulling web \.\.\. pull complete\r?$/m);
  assert.match(pull.stderr, /^Pulling web \.\.\. done\r?$/m);
  const img = await inspect(image);
  assert.equal(img.Id, busyboxId);
  assert.deepEqual(img.RepoDigests, [`${dhost}/compose/web@${busyboxDigest}`]);
  const run = await compose(['run', '--rm', '-T', 'web']);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.equal(run.stdout, 'web from py\n', JSON.stringify(run));
  const down = await compose(['down']);
  assert.equal(down.code, 0, down.stdout + down.stderr);
  assert.equal((await dray(['tag', image, 'busybox'])).code, 0);
});

test('dray compose push and pull a service image through drayd', async () => {
  const image = `${phost}/compose/dray:1`;
  const p = composeProject('dc', image, false);
  const compose = (args: string[]) => dray(['compose', '-p', 'rcidc', '-f', path.join(p, 'docker-compose.yml'), ...args]);
  assert.equal((await dray(['tag', 'busybox', image])).code, 0);
  const push = await compose(['push']);
  assert.equal(push.code, 0, JSON.stringify(push));
  assert.match(push.stderr, new RegExp(`^ Image ${image} Pushed$`, 'm'));
  const man = await fetch(`http://${phost}/v2/compose/dray/manifests/1`, { headers: { Accept: DOCKER_MANIFEST } });
  assert.equal(man.status, 200);
  assert.equal(man.headers.get('docker-content-digest'), busyboxDigest);
  await removeImage(busyboxId);
  const pull = await compose(['pull']);
  assert.equal(pull.code, 0, pull.stdout + pull.stderr);
  assert.match(pull.stderr, new RegExp(`^ Image ${image} Pulled$`, 'm'));
  const img = await inspect(image);
  assert.equal(img.Id, busyboxId);
  assert.deepEqual(img.RepoDigests, [`${phost}/compose/dray@${busyboxDigest}`]);
  const run = await compose(['run', '--rm', '-T', 'web']);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.equal(run.stdout, 'web from dc\n');
  assert.equal((await compose(['down'])).code, 0);
  assert.equal((await dray(['tag', image, 'busybox'])).code, 0);
});

test('dray compose pull and push send the credentials dray login stored, as docker compose does', async () => {
  const image = `${dhost}/compose/creds:1`;
  const p = composeProject('creds', image, false);
  const compose = (args: string[]) => dray(['compose', '-p', 'rcicr', '-f', path.join(p, 'docker-compose.yml'), ...args]);
  assert.equal((await dray(['login', '-u', 'alice', '--password-stdin', dhost], 'secret\n')).code, 0);
  assert.equal((await dray(['tag', 'busybox', image])).code, 0);
  const push = await compose(['push']);
  assert.equal(push.code, 0, push.stderr);
  assert.equal((await dregGet('compose/creds', 'manifests/1')).headers['docker-content-digest'], busyboxDigest);
  assert.equal((await dray(['rmi', image])).code, 0);
  const pull = await compose(['pull']);
  assert.equal(pull.code, 0, pull.stderr);
  // The same image also keeps the digests of earlier pushes elsewhere, as Docker's does.
  assert.ok((await inspect(image)).RepoDigests.includes(`${dhost}/compose/creds@${busyboxDigest}`));
});
