// dray build --cache-to / --cache-from type=registry: a build's step cache pushed by one drayd to a
// real registry (Debian's docker-registry, and `dray registry serve` behind htpasswd with the
// CLI's stored credentials) and pulled by a second drayd on a fresh data root, where the same
// build is then fully cached with the same image ID; the ref's layout as BuildKit's (an OCI index
// with a cacheconfig manifest); a missing ref is a warning and a cold build; an unreachable
// registry fails --cache-to after the build, naming the flag.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import * as bcrypt from 'bcryptjs';
import { TestDaemon } from '../helpers/daemon';
import { Server, startDray, startReference, request, freePort, tempDir, OCI_INDEX } from '../helpers/registry';
import { writeCacheProject } from '../helpers/cache-project';

const a = new TestDaemon();
const b = new TestDaemon();
const work = tempDir('dray-bcreg-');
const ctx = path.join(work, 'ctx');
const ctx1 = path.join(work, 'ctx1');
const cliCfg = path.join(work, 'cli');
let ref: Server; // docker-registry, plain HTTP, no auth
let dreg: Server; // dray registry serve, htpasswd
let rhost: string;
let dhost: string;

before(async () => {
  const htpasswd = path.join(work, 'htpasswd');
  writeFileSync(htpasswd, `alice:${bcrypt.hashSync('secret', 4)}\n`);
  mkdirSync(path.join(work, 'ref'));
  [ref, dreg] = await Promise.all([
    startReference(path.join(work, 'ref')),
    startDray(work, { config: { storage: { filesystem: { rootdirectory: path.join(work, 'dreg') } }, auth: { htpasswd: { realm: 'dray', path: htpasswd } } } }),
    a.start(), b.start(),
  ]) as [Server, Server, void, void];
  rhost = `127.0.0.1:${ref.port}`;
  dhost = `127.0.0.1:${dreg.port}`;
  // The CLI's stored login for dray registry serve, as `dray login` writes it.
  mkdirSync(cliCfg);
  writeFileSync(path.join(cliCfg, 'config.json'), JSON.stringify({ auths: { [dhost]: { auth: Buffer.from('alice:secret').toString('base64') } } }));
  const [ia, ib] = [await a.bootstrapBusybox(), await b.bootstrapBusybox()];
  assert.equal(ia, ib, 'both roots have the same busybox (the cache keys start from its ID)');
  writeCacheProject(ctx);
  mkdirSync(ctx1);
  writeFileSync(path.join(ctx1, 'Dockerfile'), 'FROM busybox\nRUN echo two > /two\nCOPY f.txt /g.txt\n');
  writeFileSync(path.join(ctx1, 'f.txt'), 'one stage\n');
});
after(async () => {
  await Promise.all([ref?.stop(), dreg?.stop()]);
  const leaks = [...await a.stop(), ...await b.stop()];
  rmSync(work, { recursive: true, force: true });
  assert.deepEqual(leaks, []);
});

const idOf = (out: string) => /Successfully built ([0-9a-f]{12})/.exec(out)?.[1];
const build = (d: TestDaemon, flags: string[], dir = ctx) => d.dray(['--config', cliCfg, 'build', '--network', 'none', ...flags, dir]);

/** Removes the images a build made on `d`, and its step cache, so the next build there starts cold. */
async function forget(d: TestDaemon): Promise<void> {
  const r = d.dray(['builder', 'prune', '-af']);
  assert.equal(r.code, 0, r.stderr);
}

test('mode=max to docker-registry from one root, --cache-from on a fresh one: every step cached, the same image', async () => {
  const cache = `${rhost}/cache/app:buildcache`;
  const r = build(a, ['--cache-to', `type=registry,ref=${cache},mode=max`]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /buildcache: digest: sha256:[0-9a-f]{64}/);

  // The layout: an OCI index of the step images and one manifest whose config is BuildKit's cacheconfig type.
  const idx = await request('GET', `${ref.url}/v2/cache/app/manifests/buildcache`, { headers: { Accept: OCI_INDEX } });
  assert.equal(idx.status, 200);
  assert.equal(idx.json.mediaType, OCI_INDEX);
  const meta = idx.json.manifests.filter((m: any) => m.artifactType === 'application/vnd.buildkit.cacheconfig.v0');
  assert.equal(meta.length, 1);
  assert.equal(idx.json.manifests.length, 5, 'four step images and the cache manifest');
  const mm = await request('GET', `${ref.url}/v2/cache/app/manifests/${meta[0].digest}`, { headers: { Accept: meta[0].mediaType } });
  assert.equal(mm.json.config.mediaType, 'application/vnd.buildkit.cacheconfig.v0');
  const doc = await request('GET', `${ref.url}/v2/cache/app/blobs/${mm.json.config.digest}`);
  assert.equal(Object.keys(doc.json.entries).length, 4, 'four steps made images (the tool stage\'s RUN included)');

  const s = build(b, ['--cache-from', `type=registry,ref=${cache}`]);
  assert.equal(s.code, 0, s.stderr + s.stdout);
  assert.equal(s.stdout.match(/ ---> Using cache/g)?.length, 4, s.stdout);
  assert.doesNotMatch(s.stdout, /Running in/);
  assert.equal(idOf(s.stdout), idOf(r.stdout));
  assert.equal(s.stderr, '', 'no warning');
  await forget(b);
});

test('mode=min (the default) through dray registry serve with the CLI\'s stored login: the other root builds it all from the cache', async () => {
  const cache = `${dhost}/team/app:cache`;
  const r = build(a, ['--cache-to', `type=registry,ref=${cache}`], ctx1);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  // Without the login the registry refuses: the credentials are what let the push in.
  const anon = a.dray(['--config', path.join(work, 'no-login'), 'build', '--network', 'none', '--cache-to', `type=registry,ref=${cache}`, ctx1]);
  assert.notEqual(anon.code, 0);
  assert.match(anon.stderr, /--cache-to type=registry,ref=.*no basic auth credentials/);

  const s = build(b, ['--cache-from', `type=registry,ref=${cache}`], ctx1);
  assert.equal(s.code, 0, s.stderr + s.stdout);
  assert.equal(s.stdout.match(/ ---> Using cache/g)?.length, 2, s.stdout);
  assert.doesNotMatch(s.stdout, /Running in/);
  assert.equal(idOf(s.stdout), idOf(r.stdout));
  await forget(b);
});

test('a missing cache ref is a warning and a cold build; an unreachable registry fails --cache-to after the build', async () => {
  const m = build(b, ['--cache-from', `type=registry,ref=${rhost}/cache/none:nothing`]);
  assert.equal(m.code, 0, m.stderr);
  assert.match(m.stderr, /WARNING: --cache-from type=registry,ref=.*cache\/none:nothing: .*not found; building without it/);
  assert.match(m.stdout, /Running in/);

  const port = await freePort();
  const u = build(a, ['--cache-to', `type=registry,ref=127.0.0.1:${port}/c:x`]);
  assert.notEqual(u.code, 0);
  assert.match(u.stdout, /Successfully built/, 'the build itself stands');
  assert.match(u.stderr, new RegExp(`--cache-to type=registry,ref=127.0.0.1:${port}/c:x: .*(connect|ECONNREFUSED|refused)`));
  const ie = build(a, ['--cache-to', `type=registry,ref=127.0.0.1:${port}/c:x,ignore-error=true`]);
  assert.equal(ie.code, 0, ie.stderr);
  assert.match(ie.stderr, /WARNING: --cache-to type=registry/);
  // An unreachable one on --cache-from: a warning too, as BuildKit.
  const uf = build(b, ['--cache-from', `type=registry,ref=127.0.0.1:${port}/c:x`]);
  assert.equal(uf.code, 0, uf.stderr);
  assert.match(uf.stderr, /WARNING: --cache-from type=registry/);
  await forget(b);
});

test('bad type=registry values: refused naming the flag, before the build', async () => {
  const bad: [string[], RegExp][] = [
    [['--cache-to', 'type=registry'], /--cache-to.*ref is required/],
    [['--cache-to', `type=registry,ref=${rhost}/c@sha256:${'a'.repeat(64)}`], /--cache-to.*digest reference/],
    [['--cache-to', `type=registry,ref=${rhost}/c:x,oci-mediatypes=true`], /--cache-to.*unknown key 'oci-mediatypes'/],
    [['--cache-to', `type=registry,ref=${rhost}/c:x,mode=all`], /--cache-to.*invalid mode "all"/],
    [['--cache-to', 'type=inline'], /--cache-to.*cache type "inline" is not implemented/],
    [['--cache-from', 'type=registry'], /--cache-from.*ref is required/],
  ];
  for (const [flags, re] of bad) {
    const r = build(b, flags);
    assert.notEqual(r.code, 0, flags.join(' '));
    assert.match(r.stderr, re, flags.join(' '));
    assert.doesNotMatch(r.stdout, /Step 1/, flags.join(' '));
  }
});
