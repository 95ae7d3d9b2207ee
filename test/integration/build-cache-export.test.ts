// dray build --cache-to type=local / --cache-from type=local: a build's step cache written to a
// directory on one data root and imported on another, where the same build is then fully cached
// (same image ID); mode=max carries the other stages too; bad values refused naming the flag.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync, existsSync, readdirSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TestDaemon } from '../helpers/daemon';
import { writeCacheProject } from '../helpers/cache-project';

const a = new TestDaemon();
const b = new TestDaemon();
const work = mkdtempSync(path.join(os.tmpdir(), 'dray-bcache-'));
const ctx = path.join(work, 'ctx');
before(async () => {
  await Promise.all([a.start(), b.start()]);
  const [ia, ib] = [await a.bootstrapBusybox(), await b.bootstrapBusybox()];
  assert.equal(ia, ib, 'both roots have the same busybox (the cache keys start from its ID)');
  writeCacheProject(ctx);
});
after(async () => {
  rmSync(work, { recursive: true, force: true });
  const leaks = [...await a.stop(), ...await b.stop()];
  assert.deepEqual(leaks, []);
});

const idOf = (out: string) => /Successfully built ([0-9a-f]{12})/.exec(out)?.[1];

test('--cache-to mode=max on one root, --cache-from on another: every step cached there, the same image', async () => {
  const dir = path.join(work, 'cache');
  const r = a.dray(['build', '--network', 'none', '--cache-to', `type=local,dest=${dir},mode=max`, ctx]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.deepEqual(readdirSync(dir).sort(), ['cache.json', 'images.tar']);
  const doc = JSON.parse(readFileSync(path.join(dir, 'cache.json'), 'utf8'));
  assert.equal(Object.keys(doc.entries).length, 4, 'four steps made images (the tool stage\'s RUN included)');

  const s = b.dray(['build', '--network', 'none', '--cache-from', `type=local,src=${dir}`, ctx]);
  assert.equal(s.code, 0, s.stderr + s.stdout);
  assert.equal(s.stdout.match(/ ---> Using cache/g)?.length, 4, s.stdout);
  assert.doesNotMatch(s.stdout, /Running in/);
  assert.equal(idOf(s.stdout), idOf(r.stdout));
  // Without the import the other root would have built: prove the import is what made it hit.
  const c = b.dray(['build', '--network', 'none', '--no-cache', ctx]);
  assert.match(c.stdout, /Running in/);
});

test('mode=min (the default) carries the final stage\'s chain only', async () => {
  const dir = path.join(work, 'cache-min');
  const r = a.dray(['build', '--network', 'none', '--cache-to', `type=local,dest=${dir}`, ctx]);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(readFileSync(path.join(dir, 'cache.json'), 'utf8'));
  assert.equal(Object.keys(doc.entries).length, 3, 'the final stage\'s three steps; not the tool stage\'s');
});

test('bad --cache-to / --cache-from values: clear errors naming the flag, before the build; a tampered entry refused', async () => {
  const bad: [string[], RegExp][] = [
    [['--cache-to', 'type=gha'], /--cache-to.*cache type "gha" is not implemented/],
    [['--cache-to', 'type=local'], /--cache-to.*dest is required/],
    [['--cache-to', 'type=foo,dest=x'], /--cache-to.*unknown cache type "foo"/],
    [['--cache-to', `type=local,dest=${work}/x,mode=most`], /--cache-to.*invalid mode "most"/],
    [['--cache-from', 'type=s3,ref=x'], /--cache-from.*not implemented/],
    [['--cache-from', 'type=local'], /--cache-from.*src is required/],
    [['--cache-from', `type=local,src=${work}/none`], /--cache-from type=local,src=.*holds no build cache/],
  ];
  for (const [flags, re] of bad) {
    const r = b.dray(['build', '--network', 'none', ...flags, ctx]);
    assert.notEqual(r.code, 0, flags.join(' '));
    assert.match(r.stderr, re, flags.join(' '));
    assert.doesNotMatch(r.stdout, /Step 1/, flags.join(' '));
  }
  // An export of images the other root does not have yet.
  const ctx2 = path.join(work, 'ctx2');
  mkdirSync(ctx2);
  writeFileSync(path.join(ctx2, 'Dockerfile'), 'FROM busybox\nRUN echo only-here > /x\n');
  const dir = path.join(work, 'cache2');
  const e = a.dray(['build', '--network', 'none', '--cache-to', `type=local,dest=${dir}`, ctx2]);
  assert.equal(e.code, 0, e.stderr);
  const tampered = path.join(work, 'tampered');
  mkdirSync(tampered);
  const doc = JSON.parse(readFileSync(path.join(dir, 'cache.json'), 'utf8'));
  const k = Object.keys(doc.entries)[0];
  doc.entries[k].text = 'RUN something else';
  writeFileSync(path.join(tampered, 'cache.json'), JSON.stringify(doc));
  writeFileSync(path.join(tampered, 'images.tar'), readFileSync(path.join(dir, 'images.tar')));
  const imagesBefore = (await b.api('GET', '/images/json?all=1')).json.length;
  const r = b.dray(['build', '--network', 'none', '--cache-from', `type=local,src=${tampered}`, ctx]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /--cache-from.*key does not match its contents/);
  assert.equal((await b.api('GET', '/images/json?all=1')).json.length, imagesBefore, 'a refused export loads no image');
  assert.equal(existsSync(path.join(work, 'x')), false);
});
