// dray build --output: the final stage's filesystem into a directory or a tar, and image archives
// (type=oci, type=docker) that dray load reads back; bad --output values refused before the build,
// a failed build leaving no destination behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync, existsSync, readdirSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import * as http from 'node:http';
import { TestDaemon, drayLauncher, sleep } from '../helpers/daemon';

const d = new TestDaemon();
const work = mkdtempSync(path.join(os.tmpdir(), 'dray-bout-'));
const ctx = path.join(work, 'ctx');
before(async () => {
  await d.start();
  await d.bootstrapBusybox();
  mkdirSync(ctx);
  writeFileSync(path.join(ctx, 'Dockerfile'), [
    'FROM busybox AS base',
    'RUN echo built > /hello && mkdir -p /data && ln -s ../hello /data/link',
    'COPY f.txt /data/f.txt',
  ].join('\n'));
  writeFileSync(path.join(ctx, 'f.txt'), 'from the context\n');
});
after(async () => {
  rmSync(work, { recursive: true, force: true });
  const leaks = await d.stop();
  assert.deepEqual(leaks, []);
});

const tarList = (file: string) => spawnSync('tar', ['-tf', file], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
const tags = async () => (await d.api('GET', '/images/json')).json.flatMap((i: any) => i.RepoTags ?? []).sort();

test('type=local: the filesystem in a new directory (and -o DIR, the short form, into one that exists); no tag made', async () => {
  const before = await tags();
  const out = path.join(work, 'local');
  const r = d.dray(['build', '--network', 'none', '--output', `type=local,dest=${out}`, ctx]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.equal(readFileSync(path.join(out, 'hello'), 'utf8'), 'built\n');
  assert.equal(readFileSync(path.join(out, 'data/f.txt'), 'utf8'), 'from the context\n');
  assert.equal(readFileSync(path.join(out, 'data/link'), 'utf8'), 'built\n', 'the symlink is kept and points inside');
  assert.ok(statSync(path.join(out, 'bin/busybox')).mode & 0o111, 'the base image is there, executable');
  assert.deepEqual(readdirSync(work).filter((n) => n.includes('.dray-')), [], 'no temporary directory left');
  assert.deepEqual(await tags(), before, 'no image is named');

  const existing = path.join(work, 'existing');
  mkdirSync(existing);
  writeFileSync(path.join(existing, 'mine'), 'kept');
  const s = d.dray(['build', '--network', 'none', '-o', existing, ctx]);
  assert.equal(s.code, 0, s.stderr + s.stdout);
  assert.equal(readFileSync(path.join(existing, 'hello'), 'utf8'), 'built\n');
  assert.equal(readFileSync(path.join(existing, 'mine'), 'utf8'), 'kept');
});

test('type=tar to a file and to stdout (-o -), the build text then on stderr', async () => {
  const file = path.join(work, 'fs.tar');
  const r = d.dray(['build', '--network', 'none', '-o', `type=tar,dest=${file}`, ctx]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const names = tarList(file);
  assert.ok(names.includes('./hello') && names.includes('./data/f.txt') && names.includes('./bin/busybox'), names.slice(0, 20).join(' '));

  const s = spawnSync(drayLauncher, ['build', '--network', 'none', '-o', '-', ctx], { env: d.env, timeout: 60_000, maxBuffer: 256 << 20 });
  assert.equal(s.status, 0, s.stderr.toString());
  const piped = path.join(work, 'piped.tar');
  writeFileSync(piped, s.stdout);
  assert.deepEqual(tarList(piped).sort(), names.sort(), 'stdout holds the same tar, and nothing else');
  assert.match(s.stderr.toString(), /Step 3\/3 : COPY f.txt/);
});

test('type=docker: an archive dray load reads back, tagged as -t says; type=oci: an OCI image layout', async () => {
  const file = path.join(work, 'img.tar');
  const r = d.dray(['build', '--network', 'none', '-t', 'out:docker', '-o', `type=docker,dest=${file}`, ctx]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.ok(tarList(file).includes('manifest.json'));
  const rmi = d.dray(['rmi', 'out:docker']);
  assert.equal(rmi.code, 0, rmi.stderr);
  const load = d.dray(['load', '-i', file]);
  assert.equal(load.code, 0, load.stderr);
  assert.match(load.stdout, /Loaded image: out:docker/);
  const run = d.dray(['run', '--rm', '--network', 'none', 'out:docker', 'cat', '/hello', '/data/f.txt']);
  assert.equal(run.stdout, 'built\nfrom the context\n', run.stderr);

  const oci = path.join(work, 'oci.tar');
  const o = d.dray(['build', '--network', 'none', '-o', `type=oci,dest=${oci}`, ctx]);
  assert.equal(o.code, 0, o.stderr + o.stdout);
  const layout = path.join(work, 'layout');
  mkdirSync(layout);
  assert.equal(spawnSync('tar', ['-C', layout, '-xf', oci]).status, 0);
  assert.deepEqual(JSON.parse(readFileSync(path.join(layout, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
  const index = JSON.parse(readFileSync(path.join(layout, 'index.json'), 'utf8'));
  const manifest = JSON.parse(readFileSync(path.join(layout, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'));
  assert.equal(manifest.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  for (const l of manifest.layers) assert.ok(existsSync(path.join(layout, 'blobs/sha256', l.digest.slice(7))), `layer ${l.digest} is in the layout`);
});

test('bad --output values are refused before the build, naming the flag; a failed build leaves no destination', async () => {
  const bad: [string, RegExp][] = [
    ['type=foo,dest=x', /--output.*unknown output type "foo"/],
    ['type=local', /--output.*dest is required for type=local/],
    ['type=tar', /--output.*dest is required for type=tar/],
    ['dest=x', /--output.*type is required/],
    ['type=tar,dest=x,compression=gzip', /--output.*unknown key 'compression'/],
    ['type=registry', /--output.*name is required for type=registry/],
    [`type=tar,dest=${path.join(work, 'no/such/dir/x.tar')}`, /--output.*no such directory/],
    [`type=local,dest=${path.join(ctx, 'f.txt')}`, /--output.*not a directory/],
  ];
  for (const [spec, re] of bad) {
    const r = d.dray(['build', '--network', 'none', '-o', spec, ctx]);
    assert.notEqual(r.code, 0, spec);
    assert.match(r.stderr, re, spec);
    assert.doesNotMatch(r.stdout + r.stderr, /Step 1/, `${spec}: refused before the build`);
  }
  const failing = path.join(work, 'failing');
  mkdirSync(failing);
  writeFileSync(path.join(failing, 'Dockerfile'), 'FROM busybox\nRUN exit 3\n');
  const dest = path.join(work, 'never');
  const r = d.dray(['build', '--network', 'none', '-o', dest, failing]);
  assert.notEqual(r.code, 0);
  assert.equal(existsSync(dest), false, 'no directory made for a failed build');
  assert.deepEqual(readdirSync(work).filter((n) => n.includes('.dray-')), []);
  const cs = await d.api('GET', '/containers/json?all=1');
  assert.deepEqual(cs.json, [], 'no container left (the rootfs export removes its own)');
  assert.deepEqual(d.mounts(), [], 'no mount left');
});

test('a client that goes away in the middle of a filesystem export leaves no container and no mount', async () => {
  const built = d.dray(['build', '-q', '--network', 'none', ctx]);
  assert.equal(built.code, 0, built.stderr);
  const id = built.stdout.trim();
  // Read one chunk of the tar (busybox alone is ~1 MB: the export is still going), then hang up.
  await new Promise<void>((resolve, reject) => {
    const req = http.get({ socketPath: d.socket, path: `/dray/build/rootfs?image=${id}` }, (res) => {
      assert.equal(res.statusCode, 200);
      res.once('data', () => { req.destroy(); resolve(); });
    });
    req.on('error', (e: any) => (e.code === 'ECONNRESET' ? resolve() : reject(e)));
  });
  const busy = async () => (await d.api('GET', '/containers/json?all=1')).json.length > 0 || d.mounts().length > 0;
  for (let i = 0; i < 50 && (await busy()); i++) await sleep(100);
  assert.deepEqual((await d.api('GET', '/containers/json?all=1')).json, [], 'the export\'s container is removed');
  assert.deepEqual(d.mounts(), [], 'its rootfs is unmounted');
});
