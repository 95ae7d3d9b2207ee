// dray build --output type=image[,name=REF[,push=true]] and type=registry,name=REF (and --push): the built image
// tagged with the names (a quoted comma list as buildx takes it) and, with push, pushed through
// drayd's push to a real registry (Debian's docker-registry), progress printed; the registry then
// serves the image under each name. Bad values are refused before the build; a push that fails
// fails the command after the build, naming the flag.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { TestDaemon } from '../helpers/daemon';
import { Server, startReference, request, freePort, tempDir, DOCKER_MANIFEST } from '../helpers/registry';

const d = new TestDaemon();
const work = tempDir('dray-boimg-');
const ctx = path.join(work, 'ctx');
let reg: Server;
let host: string;

before(async () => {
  mkdirSync(path.join(work, 'reg'));
  [reg] = await Promise.all([startReference(path.join(work, 'reg')), d.start()]) as [Server, void];
  host = `127.0.0.1:${reg.port}`;
  await d.bootstrapBusybox();
  mkdirSync(ctx);
  writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox\nRUN echo pushed > /p\n');
});
after(async () => {
  await reg?.stop();
  const leaks = await d.stop();
  rmSync(work, { recursive: true, force: true });
  assert.deepEqual(leaks, []);
});

const build = (flags: string[]) => d.dray(['--config', path.join(work, 'cli'), 'build', '--network', 'none', ...flags, ctx]);
const idOf = (out: string) => /Successfully built ([0-9a-f]{12})/.exec(out)?.[1];
const tagsOf = async (id: string) => (await d.api('GET', `/images/${id}/json`)).json.RepoTags.sort();
/** The image ID the registry's manifest for repo:tag names (its config digest). */
async function remoteImage(repo: string, tag: string): Promise<string | undefined> {
  const r = await request('GET', `${reg.url}/v2/${repo}/manifests/${tag}`, { headers: { Accept: DOCKER_MANIFEST } });
  return r.status === 200 ? r.json.config.digest : undefined;
}

test('type=image with a quoted list of names tags each, pushes nothing; push=true pushes each through drayd', async () => {
  const r = build(['-o', 'type=image,"name=out/a:1,out/b:2"']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const id = idOf(r.stdout)!;
  assert.deepEqual(await tagsOf(id), ['out/a:1', 'out/b:2']);
  assert.doesNotMatch(r.stdout, /push refers to/);

  const p = build(['-o', `type=image,name=${host}/app/one:1,push=true`]);
  assert.equal(p.code, 0, p.stderr + p.stdout);
  assert.match(p.stdout, new RegExp(`The push refers to repository \\[${host}/app/one\\]`));
  assert.match(p.stdout, /1: digest: sha256:[0-9a-f]{64} size: \d+/);
  const full = (await d.api('GET', `/images/${idOf(p.stdout)}/json`)).json.Id;
  assert.equal(await remoteImage('app/one', '1'), full, 'the registry serves the image built');
});

test('type=registry pushes every name; -t names are pushed when the output names none', async () => {
  const r = build(['-o', `type=registry,"name=${host}/app/two:a,${host}/app/three:b"`]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const full = (await d.api('GET', `/images/${idOf(r.stdout)}/json`)).json.Id;
  assert.equal(await remoteImage('app/two', 'a'), full);
  assert.equal(await remoteImage('app/three', 'b'), full);
  const t = build(['-t', `${host}/app/four:t`, '-o', 'type=image,push=true']);
  assert.equal(t.code, 0, t.stderr + t.stdout);
  assert.equal(await remoteImage('app/four', 't'), full);
  // buildx's shorthand: --push pushes the -t tags; --load changes nothing (the image is here).
  const p = build(['-t', `${host}/app/five:p`, '--push', '--load=false']);
  assert.equal(p.code, 0, p.stderr + p.stdout);
  assert.equal(await remoteImage('app/five', 'p'), full);
  const refusals: [string[], RegExp][] = [
    [['--push'], /--push: tag is needed when pushing to registry/],
    [['--push', '--load', '-t', 'x'], /push and load may not be set together/],
    [['--push', '-o', `type=tar,dest=${work}/x.tar`], /push and "tar" output can't be used together/],
  ];
  for (const [flags, re] of refusals) {
    const r2 = build(flags);
    assert.notEqual(r2.code, 0, flags.join(' '));
    assert.match(r2.stderr, re, flags.join(' '));
    assert.doesNotMatch(r2.stdout, /Step 1/);
  }
});

test('bad type=image|registry values are refused before the build; a push that fails fails the command after it', async () => {
  const bad: [string, RegExp][] = [
    ['type=registry', /--output.*name is required for type=registry/],
    ['type=registry,name=x,push=false', /--output.*type=registry always pushes/],
    ['type=image,push=maybe', /--output.*invalid push value "maybe"/],
    ['type=image,push=true', /--output.*tag is needed when pushing to registry/],
    ['type=image,dest=x', /--output.*dest is not a key of type=image/],
    ['type=image,name=a:1,b:2', /--output.*several names go in quotes/],
    ['type=image,name=UPPER/x', /--output.*name UPPER\/x: invalid reference format/],
    ['type=tar,dest=x,name=y', /--output.*name and push are keys of type=image/],
  ];
  for (const [spec, re] of bad) {
    const r = build(['-o', spec]);
    assert.notEqual(r.code, 0, spec);
    assert.match(r.stderr, re, spec);
    assert.doesNotMatch(r.stdout + r.stderr, /Step 1/, `${spec}: refused before the build`);
  }
  const port = await freePort();
  const u = build(['-o', `type=registry,name=127.0.0.1:${port}/x:1`]);
  assert.notEqual(u.code, 0);
  assert.match(u.stdout, /Successfully built/);
  assert.match(u.stderr, new RegExp(`--output type=registry: .*127.0.0.1:${port}.*connection refused`));
  assert.ok((await tagsOf(idOf(u.stdout)!)).includes(`127.0.0.1:${port}/x:1`), 'tagged here as asked, though the push failed');
});
