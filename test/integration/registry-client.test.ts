// drayd's registry client against Debian's docker-registry over plain HTTP on 127.0.0.1: the
// round trip (push, rmi, pull, run: same image ID and RepoDigest), the docker CLI through drayd,
// blobs skipped and mounted, pull by digest, GET /distribution, and the bad cases: unknown tag and
// repository, a registry that is down or stalls (a bounded error), Docker Hub out of reach.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as path from 'node:path';
import { writeFileSync, readdirSync } from 'node:fs';
import { TestDaemon } from '../helpers/daemon';
import { Registry, Proxy, tempDir, freePort, jsonLines, randomRootfsTar, stopAll } from '../helpers/registry-client';

let d: TestDaemon;
let reg: Registry;
let dir: string;
let busyboxId: string;
let pushedDigest: string;

before(async () => {
  dir = tempDir();
  reg = await new Registry(path.join(dir, 'reg')).start();
  const cfg = path.join(dir, 'daemon.json');
  writeFileSync(cfg, JSON.stringify({ 'registry-connect-timeout': 2, 'registry-idle-timeout': 2, 'max-download-attempts': 2 }));
  d = new TestDaemon(['--config-file', cfg]);
  await d.start();
  busyboxId = await d.bootstrapBusybox();
});

after(async () => {
  assert.deepEqual(await stopAll(d, dir, [reg]), []);
});

const inspect = async (ref: string) => (await d.api('GET', `/images/${ref}/json`)).json;

test('push, rmi, pull and run: the same image ID and RepoDigest come back', async () => {
  const ref = `${reg.host}/test/busybox:1`;
  assert.equal(d.dray(['tag', 'busybox', ref]).code, 0);
  const push = d.dray(['push', ref]);
  assert.equal(push.code, 0, push.stderr);
  assert.match(push.stdout, new RegExp(`^The push refers to repository \\[${reg.host}/test/busybox\\]$`, 'm'));
  assert.match(push.stdout, /^[0-9a-f]{12}: Pushed$/m);
  const m = /^1: digest: (sha256:[0-9a-f]{64}) size: (\d+)$/m.exec(push.stdout);
  assert.ok(m, push.stdout);
  pushedDigest = m[1];
  assert.deepEqual((await inspect(ref)).RepoDigests, [`${reg.host}/test/busybox@${pushedDigest}`]);
  // What the registry holds is a Docker schema 2 manifest with a gzip layer (a local layer is compressed on the way).
  const man = await fetch(`http://${reg.host}/v2/test/busybox/manifests/1`, { headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
  assert.equal(man.headers.get('docker-content-digest'), pushedDigest);
  assert.equal(((await man.json()) as any).layers[0].mediaType, 'application/vnd.docker.image.rootfs.diff.tar.gzip');

  assert.equal(d.dray(['rmi', ref, 'busybox']).code, 0);
  assert.equal((await d.api('GET', `/images/${busyboxId}/json`)).status, 404);
  const pull = d.dray(['pull', ref]);
  assert.equal(pull.code, 0, pull.stderr);
  assert.match(pull.stdout, /^1: Pulling from test\/busybox$/m);
  assert.match(pull.stdout, /^[0-9a-f]{12}: Pull complete$/m);
  assert.match(pull.stdout, new RegExp(`^Digest: ${pushedDigest}$`, 'm'));
  assert.match(pull.stdout, new RegExp(`^Status: Downloaded newer image for ${reg.host}/test/busybox:1$`, 'm'));
  assert.match(pull.stdout, new RegExp(`^${reg.host}/test/busybox:1$`, 'm'));
  const img = await inspect(ref);
  assert.equal(img.Id, busyboxId);
  assert.deepEqual(img.RepoDigests, [`${reg.host}/test/busybox@${pushedDigest}`]);
  const run = d.dray(['run', '--rm', ref, 'echo', 'pulled and running']);
  assert.equal(run.stdout, 'pulled and running\n', run.stderr);
  // Once more: nothing to fetch.
  const again = d.dray(['pull', ref]);
  assert.match(again.stdout, new RegExp(`^Status: Image is up to date for ${reg.host}/test/busybox:1$`, 'm'));
  assert.doesNotMatch(again.stdout, /Pull complete/);
  assert.equal(d.dray(['tag', ref, 'busybox']).code, 0);
});

test('a second push skips what the registry has; a push to another repository mounts it', async () => {
  const again = d.dray(['push', `${reg.host}/test/busybox:1`]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /^[0-9a-f]{12}: Layer already exists$/m);
  assert.doesNotMatch(again.stdout, /Pushed/);
  assert.equal(d.dray(['tag', 'busybox', `${reg.host}/other/bb:v2`]).code, 0);
  const other = d.dray(['push', `${reg.host}/other/bb:v2`]);
  assert.equal(other.code, 0, other.stderr);
  assert.match(other.stdout, /^[0-9a-f]{12}: Mounted from test\/busybox$/m);
  assert.match(other.stdout, new RegExp(`^v2: digest: ${pushedDigest} size: \\d+$`, 'm'));
});

test('the tag pushed is the one asked for, through the API as docker sends it', async () => {
  assert.equal(d.dray(['tag', 'busybox', `${reg.host}/test/busybox:only-this`]).code, 0);
  const r = await d.api('POST', `/images/${reg.host}/test/busybox/push?tag=only-this`, undefined, { 'X-Registry-Auth': 'e30=' });
  assert.equal(r.status, 200);
  const lines = jsonLines(r.body);
  assert.deepEqual(lines.at(-1).aux, { Tag: 'only-this', Digest: pushedDigest, Size: lines.at(-1).aux.Size });
  const tags = await (await fetch(`http://${reg.host}/v2/test/busybox/tags/list`)).json() as any;
  assert.deepEqual(tags.tags.sort(), ['1', 'only-this']);
  // A tag that does not exist here: Docker's in-stream error, and nothing pushed.
  const missing = await d.api('POST', `/images/${reg.host}/test/busybox/push?tag=nope`, undefined, { 'X-Registry-Auth': 'e30=' });
  assert.equal(missing.status, 200);
  assert.equal(jsonLines(missing.body).at(-1).error, `tag does not exist: ${reg.host}/test/busybox:nope`);
});

test('the docker CLI logs in, pushes and pulls through drayd', async () => {
  const ref = `${reg.host}/cli/busybox:c1`;
  const login = d.docker(['login', '-u', 'anyone', '--password-stdin', reg.host], 'whatever\n');
  assert.equal(login.code, 0, login.stderr);
  assert.match(login.stdout, /Login Succeeded/);
  assert.equal(d.docker(['tag', 'busybox', ref]).code, 0);
  const push = d.docker(['push', ref]);
  assert.equal(push.code, 0, push.stderr);
  assert.match(push.stdout, /c1: digest: sha256:[0-9a-f]{64} size: \d+/);
  assert.equal(d.docker(['rmi', ref]).code, 0);
  const pull = d.docker(['pull', ref]);
  assert.equal(pull.code, 0, pull.stderr);
  assert.match(pull.stdout, new RegExp(`Status: (Downloaded newer image|Image is up to date) for ${reg.host}/cli/busybox:c1`));
  const run = d.docker(['run', '--rm', ref, 'echo', 'via docker']);
  assert.equal(run.stdout, 'via docker\n', run.stderr);
});

test('pull by digest, and GET /distribution/{name}/json', async () => {
  const byDigest = `${reg.host}/test/busybox@${pushedDigest}`;
  const pull = d.dray(['pull', byDigest]);
  assert.equal(pull.code, 0, pull.stderr);
  assert.match(pull.stdout, new RegExp(`Status: (Downloaded newer image|Image is up to date) for ${reg.host}/test/busybox@${pushedDigest}`));
  const dist = await d.api('GET', `/distribution/${reg.host}/test/busybox:1/json`);
  assert.equal(dist.status, 200);
  assert.equal(dist.json.Descriptor.digest, pushedDigest);
  assert.equal(dist.json.Descriptor.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
  assert.deepEqual(dist.json.Platforms, [{ architecture: 'amd64', os: 'linux' }]);
  const gone = await d.api('GET', `/distribution/${reg.host}/test/busybox:nope/json`);
  assert.equal(gone.status, 404);
});

test('an unknown tag or repository is "manifest unknown" (404), and nothing is stored', async () => {
  const before = (await d.api('GET', '/images/json')).json.length;
  const tag = await d.api('POST', `/images/create?fromImage=${reg.host}/test/busybox&tag=nope`);
  assert.equal(tag.status, 404);
  assert.equal(tag.json.message, `manifest for ${reg.host}/test/busybox:nope not found: manifest unknown: manifest unknown`);
  const repo = await d.api('POST', `/images/create?fromImage=${reg.host}/no/such-repo&tag=1`);
  assert.equal(repo.status, 404);
  assert.match(repo.json.message, new RegExp(`^(manifest for ${reg.host}/no/such-repo:1 not found: manifest unknown|repository ${reg.host}/no/such-repo not found: name unknown)`));
  const cli = d.dray(['pull', `${reg.host}/test/busybox:nope`]);
  assert.equal(cli.code, 1);
  assert.match(cli.stderr, /^Error response from daemon: manifest for .* not found: manifest unknown: manifest unknown$/m);
  assert.equal((await d.api('GET', '/images/json')).json.length, before);
  const bad = await d.api('POST', `/images/create?fromImage=${reg.host}/test/BusyBox&tag=1`);
  assert.equal(bad.status, 400);
  assert.match(bad.json.message, /invalid reference format/);
});

test('a registry that is down fails at once, naming it', async () => {
  const port = await freePort();
  const t0 = Date.now();
  const r = await d.api('POST', `/images/create?fromImage=127.0.0.1:${port}/x/y&tag=1`);
  assert.equal(r.status, 500);
  assert.equal(r.json.message, `Get "http://127.0.0.1:${port}/v2/": dial tcp 127.0.0.1:${port}: connect: connection refused`);
  assert.ok(Date.now() - t0 < 5000);
});

test('a registry that accepts connections and never answers fails within the timeouts', async () => {
  const port = await freePort();
  const held: net.Socket[] = [];
  const srv = net.createServer((s) => { held.push(s); });
  await new Promise<void>((r) => srv.listen(port, '127.0.0.1', r));
  try {
    const t0 = Date.now();
    const r = await d.api('POST', `/images/create?fromImage=127.0.0.1:${port}/x/y&tag=1`);
    const took = Date.now() - t0;
    assert.equal(r.status, 500);
    // HTTPS first (no handshake: the connect bound), then plain HTTP (no answer: the idle bound).
    assert.match(r.json.message, new RegExp(`^Get "http://127.0.0.1:${port}/v2/": net/http: timeout awaiting response headers`));
    assert.ok(took < 12_000, `took ${took} ms`);
  } finally {
    for (const s of held) s.destroy();
    srv.close();
  }
});

test('a blob that stops arriving fails the pull within the idle bound; no image, no half layer', async () => {
  // An image that is not here: 3 MB of random bytes, pushed and removed.
  const tar = await randomRootfsTar(3 * 1024 * 1024);
  const imp = await d.api('POST', `/images/create?fromSrc=-&repo=${reg.host}/test/rand&tag=1`, tar, { 'Content-Type': 'application/x-tar' });
  assert.equal(imp.status, 200);
  assert.equal(d.dray(['push', `${reg.host}/test/rand:1`]).code, 0);
  assert.equal(d.dray(['rmi', `${reg.host}/test/rand:1`]).code, 0);
  const proxy = await new Proxy(reg.port).start();
  try {
    const man = await (await fetch(`http://${reg.host}/v2/test/rand/manifests/1`, { headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' } })).json() as any;
    proxy.rules.set(man.layers[0].digest, { stall: true });
    const t0 = Date.now();
    const r = await d.api('POST', `/images/create?fromImage=${proxy.host}/test/rand&tag=1`);
    assert.ok(Date.now() - t0 < 20_000);
    const last = jsonLines(r.body).at(-1);
    assert.match(last.error, /read: i\/o timeout \(the registry sent nothing for 2s\)/);
    assert.equal((await d.api('GET', `/images/${proxy.host}/test/rand:1/json`)).status, 404);
    assert.deepEqual(readdirSync(path.join(d.dataRoot, 'image', 'layers')).filter((n) => n.startsWith('.tmp-')), []);
  } finally { await proxy.stop(); }
});

test('Docker Hub is out of reach here: the error names the registry it tried and why', async () => {
  const r = d.dray(['pull', 'busybox:no-such-tag-here']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /registry-1\.docker\.io/);
  assert.match(r.stderr, /^Error response from daemon: Get "https:\/\/registry-1\.docker\.io\/v2\/": /m);
});

test('run pulls a missing image first; --pull never refuses with exit 125', async () => {
  const ref = `${reg.host}/test/busybox:1`;
  assert.equal(d.dray(['rmi', ref]).code, 0);
  const never = d.dray(['run', '--rm', '--pull', 'never', ref, 'true']);
  assert.equal(never.code, 125);
  assert.match(never.stderr, new RegExp(`Error response from daemon: No such image: ${reg.host}/test/busybox:1`));
  const run = d.dray(['run', '--rm', ref, 'echo', 'fetched first']);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, 'fetched first\n');
  assert.match(run.stderr, new RegExp(`Unable to find image '${reg.host}/test/busybox:1' locally`));
  const create = d.dray(['create', '--pull', 'always', ref]);
  assert.equal(create.code, 0, create.stderr);
  assert.match(create.stdout, /^[0-9a-f]{64}$/m);
});
