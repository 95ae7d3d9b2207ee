// The BuildKit Dockerfile features of Dray's builder against a real drayd: RUN --mount (cache,
// bind, tmpfs, secret), RUN --network, build secrets from `dray build --secret` that reach no
// layer, history or file, clear errors that leave nothing behind, and builder prune.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { TestDaemon, demux } from '../helpers/daemon';
import { tarOf as tarOfEntries } from '../helpers/tar';

const d = new TestDaemon();
const work = mkdtempSync(path.join(os.tmpdir(), 'dray-bk-'));
before(async () => { await d.start(); await d.bootstrapBusybox(); });
after(async () => {
  rmSync(work, { recursive: true, force: true });
  const leaks = await d.stop();
  assert.deepEqual(leaks, []);
});

type FileSpec = string | Buffer | { body: string; mode: number };

/** A build context of `files` (name → content, or content with a mode). */
function tarOf(files: Record<string, FileSpec>): Promise<Buffer> {
  return tarOfEntries(Object.entries(files).map(([name, f]) => (typeof f === 'string' || Buffer.isBuffer(f) ? { name, body: f } : { name, body: f.body, mode: f.mode })));
}

interface BuildResult { text: string; error?: string; id?: string }

async function build(files: Record<string, FileSpec>, query = 'networkmode=none'): Promise<BuildResult> {
  const r = await d.api('POST', `/build?${query}`, await tarOf(files), { 'Content-Type': 'application/x-tar' });
  const lines = r.body.toString().split(/\r?\n/).filter(Boolean).map((l) => { try { return JSON.parse(l); } catch { return { raw: l }; } });
  if (r.status !== 200) return { text: '', error: `${r.status} ${r.body}` };
  return { text: lines.map((l) => l.stream ?? '').join(''), error: lines.find((l) => l.error)?.error, id: lines.find((l) => l.aux?.ID)?.aux.ID };
}

async function runImage(image: string, cmd: string[]): Promise<string> {
  const c = await d.api('POST', '/containers/create', { Image: image, Cmd: cmd, HostConfig: { NetworkMode: 'none' } });
  assert.equal(c.status, 201, c.body.toString());
  await d.api('POST', `/containers/${c.json.Id}/start`);
  await d.api('POST', `/containers/${c.json.Id}/wait`);
  const logs = await d.api('GET', `/containers/${c.json.Id}/logs?stdout=1&stderr=1`);
  await d.api('DELETE', `/containers/${c.json.Id}?force=1`);
  const o = demux(logs.body);
  return o.stdout + o.stderr;
}

async function noLeftovers(): Promise<void> {
  assert.deepEqual(await d.buildLeftovers(), []);
}

test('RUN --mount=type=cache: what build 1 wrote is seen by build 2, in no layer; id, sharing, uid/gid/mode', async () => {
  const df = (v: string) => [
    'FROM busybox',
    `ARG V=${v}`,
    'RUN --mount=type=cache,target=/var/cache/app echo "run $V" >> /var/cache/app/log && cat /var/cache/app/log',
    'RUN --mount=type=cache,id=owned,target=/o,uid=65534,gid=65534,mode=0700,sharing=locked stat -c "owned %u %g %a" /o',
    // Same id at another target: the same cache (the id names it, not the target).
    'RUN --mount=type=cache,id=/var/cache/app,target=/elsewhere,sharing=private cat /elsewhere/log',
  ].join('\n');
  const b1 = await build({ Dockerfile: df('one') }, 'networkmode=none&t=cachemount:1');
  assert.equal(b1.error, undefined, b1.text);
  assert.match(b1.text, /run one\n/);
  assert.match(b1.text, /owned 65534 65534 700\n/);
  const b2 = await build({ Dockerfile: df('two') }, 'networkmode=none&t=cachemount:2');
  assert.equal(b2.error, undefined, b2.text);
  assert.match(b2.text, /run one\nrun two\n/, 'the second build sees the first build\'s file');
  assert.match(b2.text, /Step 5\/5 : RUN --mount=type=cache,id=\/var\/cache\/app[^\n]*\n ---> Running in [0-9a-f]{12}\nrun one\nrun two\n/);
  // Not in the image: no file, and no mount point left in a layer.
  assert.equal(await runImage('cachemount:2', ['sh', '-c', 'ls -d /var/cache/app /var/cache /o /elsewhere 2>&1']), ['/var/cache/app', '/var/cache', '/o', '/elsewhere'].map((p) => `ls: ${p}: No such file or directory\n`).join(''));
  const hist = await d.api('GET', '/images/cachemount:2/history');
  for (const h of hist.json) assert.doesNotMatch(h.CreatedBy, /--mount/);
  // A rebuild with nothing changed is cached (the cache's content is not part of the key).
  const b3 = await build({ Dockerfile: df('two') });
  assert.equal((b3.text.match(/Using cache/g) ?? []).length, 4, b3.text);
  await noLeftovers();
});

test('RUN --mount=type=bind: the context, a file of it, another stage; rw writes are discarded; the source is in the key', async () => {
  const df = [
    'FROM busybox AS tools',
    'RUN mkdir -p /opt/tool && echo "tool output" > /opt/tool/run.txt',
    'FROM busybox',
    'WORKDIR /w',
    'RUN --mount=type=bind,from=tools,source=/opt/tool,target=/t cat /t/run.txt',
    'RUN --mount=type=bind,target=/ctx cat /ctx/data/f.txt && ls /ctx',
    'RUN --mount=type=bind,source=data/f.txt,target=rel.txt cat /w/rel.txt',
    'RUN --mount=type=bind,target=/ctx,rw echo scribble > /ctx/data/f.txt && touch /ctx/new && cat /ctx/data/f.txt',
    'RUN --mount=type=bind,target=/ctx cat /ctx/data/f.txt; ls /ctx; touch /ctx/x 2>&1 | sed "s/.*Read-only.*/read-only/"',
    // A cache whose first content comes from a stage.
    'RUN --mount=type=cache,id=seeded,from=tools,source=/opt/tool,target=/seed cat /seed/run.txt /seed/more 2>&1; echo more > /seed/more',
  ].join('\n');
  const b = await build({ Dockerfile: df, 'data/f.txt': 'context file\n' }, 'networkmode=none&t=bindmount');
  assert.equal(b.error, undefined, b.text);
  assert.match(b.text, /context file\nDockerfile\ndata\n/);
  assert.match(b.text, /Step 7\/10 : [^\n]*\n ---> Running in [0-9a-f]{12}\ncontext file\n/);
  assert.match(b.text, /tool output\n/);
  assert.match(b.text, /scribble\n/);
  assert.match(b.text, /Step 9\/10 : [^\n]*\n ---> Running in [0-9a-f]{12}\ncontext file\nDockerfile\ndata\nread-only\n/, 'rw writes went to a copy');
  assert.match(b.text, /Step 10\/10 : [^\n]*\n ---> Running in [0-9a-f]{12}\ntool output\ncat: can't open '\/seed\/more': No such file or directory\n/);
  assert.equal(await runImage('bindmount', ['sh', '-c', 'ls -a /w; ls -d /ctx /t 2>&1']), '.\n..\nls: /ctx: No such file or directory\nls: /t: No such file or directory\n');
  // Another content of the bound file runs the steps that bind it again.
  const b2 = await build({ Dockerfile: df, 'data/f.txt': 'changed\n' });
  assert.equal(b2.error, undefined, b2.text);
  assert.match(b2.text, /Step 5\/10 : [^\n]*\n ---> Using cache\n/, 'the stage bind did not change');
  assert.match(b2.text, /Step 6\/10 : [^\n]*\n ---> Running in [0-9a-f]{12}\nchanged\n/);
  assert.match(b2.text, /Step 10\/10 : [^\n]*\n ---> Running in [0-9a-f]{12}\ntool output\nmore\n/, 'the seeded cache kept what the first build wrote');
  // The real docker CLI (legacy builder path) drives the same mounts.
  const ctxDir = path.join(work, 'docker-cli-mounts');
  mkdirSync(ctxDir, { recursive: true });
  writeFileSync(path.join(ctxDir, 'Dockerfile'), 'FROM busybox\nRUN --mount=type=cache,target=/c --mount=type=bind,target=/ctx echo via-docker-cli >> /c/log && cat /c/log /ctx/Dockerfile | head -n 1\n');
  const dk = d.docker(['build', '--network', 'none', ctxDir]);
  assert.equal(dk.code, 0, dk.stdout + dk.stderr);
  assert.match(dk.stdout, /via-docker-cli\n/);
  await noLeftovers();
});

test('RUN --mount=type=tmpfs with size; RUN --network=none has no network while the build has one', async () => {
  const b = await build({
    Dockerfile: [
      'FROM busybox',
      'RUN --mount=type=tmpfs,target=/scratch,size=2m df -k /scratch | tail -n 1 | awk \'{print "size", $2}\' && echo x > /scratch/y && grep -c tmpfs /proc/mounts >/dev/null',
      'RUN grep -c eth0 /proc/net/dev',
      'RUN --network=none grep -c eth0 /proc/net/dev || echo "no eth0"',
      'RUN --network=default grep -c eth0 /proc/net/dev',
    ].join('\n'),
  }, 'networkmode=default&t=tmpfsnet');
  assert.equal(b.error, undefined, b.text);
  assert.match(b.text, /size 2048\n/);
  assert.match(b.text, /Step 3\/5 : RUN grep[^\n]*\n ---> Running in [0-9a-f]{12}\n1\n/);
  assert.match(b.text, /Step 4\/5 : [^\n]*\n ---> Running in [0-9a-f]{12}\n0\nno eth0\n/);
  assert.match(b.text, /Step 5\/5 : [^\n]*\n ---> Running in [0-9a-f]{12}\n1\n/);
  assert.equal(await runImage('tmpfsnet', ['sh', '-c', 'ls -d /scratch 2>&1']), 'ls: /scratch: No such file or directory\n');
  await noLeftovers();
});

test('RUN heredocs: a shell script, a #! script run by its interpreter, a heredoc fed to a command', async () => {
  const b = await build({
    Dockerfile: [
      'FROM busybox',
      'RUN <<EOF',
      'echo "shell line 1"',
      'echo "shell line 2"',
      'EOF',
      'RUN <<EOF',
      '#!/usr/bin/awk -f',
      'BEGIN { print "awk ran" }',
      'EOF',
      'RUN cat <<A > /fed.txt && cat /fed.txt',
      'fed line',
      'A',
    ].join('\n'),
  }, 'networkmode=none&t=heredocs');
  assert.equal(b.error, undefined, b.text);
  assert.match(b.text, /shell line 1\nshell line 2\n/);
  assert.match(b.text, /\nawk ran\n/);
  assert.match(b.text, /\nfed line\n/);
  const hist = (await d.api('GET', '/images/heredocs/history')).json.map((h: any) => h.CreatedBy);
  assert.ok(hist.some((c: string) => c.includes('BEGIN { print "awk ran" }')), JSON.stringify(hist));
  await noLeftovers();
});

test('dray build --secret: a file and an environment variable reach the step, and no layer, history, cache key or file', async () => {
  const secret = `s3cr3t-${Math.random().toString(36).slice(2)}-value`;
  const envSecret = `envs3cr3t-${Math.random().toString(36).slice(2)}`;
  const ctx = path.join(work, 'secrets');
  mkdirSync(ctx, { recursive: true });
  writeFileSync(path.join(ctx, 'Dockerfile'), [
    'FROM busybox',
    'RUN --mount=type=secret,id=token cat /run/secrets/token | sed "s/^/seen: /" && stat -c "%a %u" /run/secrets/token',
    'RUN --mount=type=secret,id=token,target=/etc/tok,mode=0440,uid=65534 --mount=type=secret,id=api,env=API_KEY printf %s "$API_KEY" | md5sum | sed "s/ .*//;s/^/env md5 /" && stat -c "%a %u" /etc/tok',
    'RUN --mount=type=secret,id=absent ls /run/secrets/absent 2>&1 | sed "s/.*No such.*/absent is absent/"',
    'CMD ["true"]',
  ].join('\n'));
  const secretFile = path.join(work, 'token.txt');
  writeFileSync(secretFile, secret);
  const r = d.dray(['build', '-t', 'secrets:1', '--network', 'none', '--secret', `id=token,src=${secretFile}`, '--secret', 'id=api,env=MY_API_KEY', ctx], undefined, { env: { MY_API_KEY: envSecret } });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, new RegExp(`seen: ${secret}400 0\n`));
  assert.match(r.stdout, new RegExp(`env md5 ${createHash('md5').update(envSecret).digest('hex')}\n440 65534\n`));
  assert.match(r.stdout, /absent is absent\n/);
  // Nowhere in the image: its layers and config (docker save), its history, a container's env.
  const saved = await d.api('GET', '/images/secrets:1/get');
  assert.equal(saved.status, 200);
  assert.ok(saved.body.length > 1000);
  for (const s of [secret, envSecret]) assert.equal(saved.body.indexOf(s), -1, 'the secret is in the saved image');
  const hist = await d.api('GET', '/images/secrets:1/history');
  assert.doesNotMatch(JSON.stringify(hist.json), /s3cr3t|API_KEY=/);
  const insp = await d.api('GET', '/images/secrets:1/json');
  assert.doesNotMatch(JSON.stringify(insp.json), /s3cr3t/);
  // No mount point left in a layer either.
  assert.equal(await runImage('secrets:1', ['sh', '-c', 'ls -d /run/secrets /etc/tok 2>&1']), 'ls: /run/secrets: No such file or directory\nls: /etc/tok: No such file or directory\n');
  // Nor on the daemon's disk: data root, exec root (build cache index included).
  const grep = spawnSync('grep', ['-r', '-l', '-a', '-e', secret, '-e', envSecret, d.dataRoot, d.execRoot], { encoding: 'utf8' });
  assert.equal(grep.stdout, '', 'files holding a secret');
  // The value is not part of the key: another value hits the cache.
  writeFileSync(secretFile, 'another value');
  const again = d.dray(['build', '--network', 'none', '--secret', `id=token,src=${secretFile}`, '--secret', 'id=api,env=MY_API_KEY', ctx], undefined, { env: { MY_API_KEY: 'x' } });
  assert.equal(again.code, 0, again.stderr);
  assert.equal((again.stdout.match(/Using cache/g) ?? []).length, 4);
  // required: a missing secret stops the build, naming the line.
  writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox\nRUN --mount=type=secret,id=needed,required true\n');
  const missing = d.dray(['build', '--network', 'none', ctx]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^Dockerfile line 2: RUN --mount=type=secret,id=needed,required true: secret needed: not found/);
  const badSpec = d.dray(['build', '--secret', 'id=x,bogus=1', ctx]);
  assert.notEqual(badSpec.code, 0);
  assert.match(badSpec.stderr, /unexpected key 'bogus'/);
  await noLeftovers();
});

test('bad --mount and --network: clear errors naming the line, nothing left behind', async () => {
  const cases: [string, RegExp][] = [
    ['RUN --mount=type=nfs,target=/x true', /^dockerfile parse error on line 2: RUN --mount=type=nfs,target=\/x: unsupported mount type "nfs"/],
    ['RUN --mount=type=cache,target=/x,colour=blue true', /^dockerfile parse error on line 2: .*unexpected key 'colour' in 'colour=blue'/],
    ['RUN --mount=type=cache,target=/x,sharing=sometimes true', /line 2: .*unsupported sharing value "sometimes"/],
    ['RUN --mount=type=bind,size=1m,target=/x true', /line 2: .*unexpected key 'size' for mount type 'bind'/],
    ['RUN --mount=type=tmpfs,target=/x,uid=1 true', /line 2: .*uid not allowed for "tmpfs" type mounts/],
    ['RUN --mount=type=cache true', /line 2: .*mount type "cache" requires a target/],
    ['RUN --network=bridge true', /line 2: .*unsupported network mode "bridge"/],
    // A required agent the client did not forward (dray build --ssh; build-ssh.test.ts).
    ['RUN --mount=type=ssh,required=true true', /^Dockerfile line 2: .*ssh agent default: not forwarded/],
    ['RUN --mount=type=ssh,source=x true', /line 2: .*ssh mount should not have a source/],
    ['RUN --security=insecure true', /RUN --security=insecure is not implemented/],
    ['ARG T=floppy\nRUN --mount=type=$T,target=/x true', /^Dockerfile line 3: RUN --mount=type=\$T,target=\/x true: unsupported mount type "floppy"/],
    ['RUN --mount=type=cache,target=/x,from=nosuchstage true', /^Dockerfile line 2: .*from=nosuchstage: /],
    ['RUN --mount=type=bind,source=missing,target=/x true', /^Dockerfile line 2: .*file not found in build context/],
  ];
  for (const [line, re] of cases) {
    const b = await build({ Dockerfile: `FROM busybox\n${line}\n` });
    assert.match(b.error ?? '', re, line);
  }
  // A failed step lets go of its locked cache: the next build takes it at once.
  const failed = await build({ Dockerfile: 'FROM busybox\nRUN --mount=type=cache,target=/l,sharing=locked touch /l/f && false\n' });
  assert.match(failed.error ?? '', /returned a non-zero code: 1/);
  const next = await build({ Dockerfile: 'FROM busybox\nRUN --mount=type=cache,target=/l,sharing=locked ls /l\n' });
  assert.equal(next.error, undefined, next.text);
  assert.match(next.text, /Running in [0-9a-f]{12}\nf\n/);
  await noLeftovers();
});

test('builder prune removes the cache mounts (and -a the step cache); system df counts them', async () => {
  const df = await d.api('GET', '/system/df');
  const mounts = df.json.BuildCache.filter((r: any) => r.Type === 'exec.cachemount');
  assert.ok(mounts.length >= 2, JSON.stringify(df.json.BuildCache));
  assert.ok(mounts.some((r: any) => r.Size > 0 && /cached mount \/var\/cache\/app/.test(r.Description)));
  assert.ok(df.json.BuildCache.some((r: any) => r.Type === 'regular' && r.Shared === true));
  const cli = d.dray(['system', 'df']);
  assert.match(cli.stdout, /Build Cache\s+\d+\s+0\s+\S+/);
  // --keep-storage: the least recently used caches go first, until what is left fits.
  for (const id of ['older', 'newer']) {
    const b = await build({ Dockerfile: `FROM busybox\nRUN --mount=type=cache,id=${id},target=/c head -c 300000 /dev/zero > /c/blob && echo ${id}\n` });
    assert.equal(b.error, undefined, b.text);
  }
  const keep = d.dray(['builder', 'prune', '-f', '--keep-storage', '400k']);
  assert.equal(keep.code, 0, keep.stderr);
  const left = (await d.api('GET', '/system/df')).json.BuildCache.filter((x: any) => x.Type === 'exec.cachemount');
  assert.equal(left.length, 1, JSON.stringify(left));
  assert.match(left[0].Description, /echo newer/);
  assert.ok(left[0].Size >= 300000 && left[0].Size <= 400 * 1024, String(left[0].Size));
  // until= keeps what was used since.
  const young = d.dray(['builder', 'prune', '-f', '--filter', 'until=1h']);
  assert.equal(young.code, 0, young.stderr);
  assert.equal(young.stdout, 'Total reclaimed space: 0B\n');
  const r = d.dray(['builder', 'prune', '-f']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Deleted build cache objects:\n([0-9a-f.]+\n)+\nTotal reclaimed space: \d/);
  const after = await d.api('GET', '/system/df');
  assert.equal(after.json.BuildCache.filter((x: any) => x.Type === 'exec.cachemount').length, 0);
  assert.deepEqual(readdirSync(path.join(d.dataRoot, 'builder', 'cache-mounts')), []);
  // The cache is gone: the first line of the log starts again.
  const b = await build({ Dockerfile: 'FROM busybox\nRUN --mount=type=cache,target=/var/cache/app echo fresh >> /var/cache/app/log && cat /var/cache/app/log\n' });
  assert.match(b.text, /Running in [0-9a-f]{12}\nfresh\nRemoving/);
  // -a drops the step cache too: the same build runs its step again.
  const api = await d.api('POST', '/build/prune?all=1');
  assert.equal(api.status, 200);
  assert.ok(api.json.CachesDeleted.length >= 1);
  const b2 = await build({ Dockerfile: 'FROM busybox\nRUN --mount=type=cache,target=/var/cache/app echo fresh >> /var/cache/app/log && cat /var/cache/app/log\n' });
  assert.doesNotMatch(b2.text, /Using cache/);
  // The real docker CLI's builder prune and system df speak to the same endpoints.
  const dk = d.docker(['builder', 'prune', '-af', '--keep-storage', '1GB']);
  assert.equal(dk.code, 0, dk.stderr);
  assert.match(dk.stdout, /Total reclaimed space: 0B\n/);
  const dkdf = d.docker(['system', 'df']);
  assert.equal(dkdf.code, 0, dkdf.stderr);
  assert.match(dkdf.stdout, /Build Cache\s+\d+\s+0\s+/);
  // system prune takes the build cache too.
  const sys = d.dray(['system', 'prune', '-f']);
  assert.equal(sys.code, 0, sys.stderr);
  assert.match(sys.stdout, /Deleted build cache objects:\n/);
  assert.equal((await d.api('GET', '/system/df')).json.BuildCache.filter((x: any) => x.Type === 'exec.cachemount').length, 0);
  const bad = await d.api('POST', '/build/prune?filters=' + encodeURIComponent('{"colour":["blue"]}'));
  assert.equal(bad.status, 400);
  assert.match(bad.json.message, /invalid filter 'colour'/);
  await noLeftovers();
});

test('COPY --chmod (octal and symbolic), --exclude, --parents', async () => {
  const b = await build({
    Dockerfile: [
      'FROM busybox',
      'COPY --chmod=0750 app/run.sh /o/run.sh',
      'COPY --chmod=g+w,o-r,a+X app/ /s/',
      'COPY --exclude=**/*.md --exclude=conf app/ /e/',
      'COPY --parents app/conf/a.conf x/y/z.txt /p/',
      'COPY --parents ./x/./y/z.txt /q',
      'RUN stat -c "%a %n" /o/run.sh /s /s/run.sh /s/conf /s/conf/a.conf /s/notes.md && find /e /p /q | sort',
    ].join('\n'),
    'app/run.sh': { body: '#!/bin/sh\n', mode: 0o755 }, 'app/conf/a.conf': 'a', 'app/notes.md': 'n', 'app/sub/b.md': 'b', 'app/sub/keep.txt': 'k', 'x/y/z.txt': 'z',
  }, 'networkmode=none&t=copyflags');
  assert.equal(b.error, undefined, b.text);
  assert.match(b.text, /750 \/o\/run.sh\n771 \/s\n771 \/s\/run.sh\n771 \/s\/conf\n660 \/s\/conf\/a.conf\n660 \/s\/notes.md\n/);
  assert.match(b.text, /\/e\n\/e\/run.sh\n\/e\/sub\n\/e\/sub\/keep.txt\n\/p\n\/p\/app\n\/p\/app\/conf\n\/p\/app\/conf\/a.conf\n\/p\/x\n\/p\/x\/y\n\/p\/x\/y\/z.txt\n\/q\n\/q\/y\n\/q\/y\/z.txt\n/);
  // An excluded file changing does not touch the step's key; an included one does.
  const again = await build({
    Dockerfile: 'FROM busybox\nCOPY --exclude=*.md app/ /e/\n',
    'app/run.sh': { body: '#!/bin/sh\n', mode: 0o755 }, 'app/notes.md': 'n',
  });
  const changed = await build({
    Dockerfile: 'FROM busybox\nCOPY --exclude=*.md app/ /e/\n',
    'app/run.sh': { body: '#!/bin/sh\n', mode: 0o755 }, 'app/notes.md': 'changed',
  });
  assert.equal(again.error, undefined, again.text);
  assert.match(changed.text, /Using cache/);
  // A source's name is part of the key: the same content under another name is another step.
  const a = await build({ Dockerfile: 'FROM busybox\nCOPY a.txt /d/\nRUN ls /d\n', 'a.txt': 'same' });
  const bname = await build({ Dockerfile: 'FROM busybox\nCOPY b.txt /d/\nRUN ls /d\n', 'b.txt': 'same' });
  assert.match(a.text, /\na.txt\n/);
  assert.match(bname.text, /\nb.txt\n/);
  const bad = await build({ Dockerfile: 'FROM busybox\nCOPY --chmod=u+q app /x\n', app: 'x' });
  assert.match(bad.error ?? '', /^Dockerfile line 2: .*invalid chmod parameter: u\+q/);
  await noLeftovers();
});

test('COPY --link: the layer and its key do not depend on the layers below; a new base reuses the layer', async () => {
  const files = (v: string, link: string) => ({
    Dockerfile: `FROM busybox\nARG V=${v}\nRUN echo "$V" > /v\nCOPY ${link} --chown=nobody data/ /data/\nRUN cat /v /data/f.txt && stat -c "%U" /data/f.txt\n`,
    'data/f.txt': 'linked\n',
  });
  const one = await build(files('1', '--link'), 'networkmode=none&t=linked:1');
  assert.equal(one.error, undefined, one.text);
  assert.match(one.text, /1\nlinked\nnobody\n/);
  const two = await build(files('2', '--link'), 'networkmode=none&t=linked:2');
  assert.equal(two.error, undefined, two.text);
  assert.match(two.text, /Step 4\/5 : COPY --link[^\n]*\n ---> Using cache\n/, 'a new base still hits the linked layer');
  assert.match(two.text, /2\nlinked\nnobody\n/);
  const l1 = (await d.api('GET', '/images/linked:1/json')).json.RootFS.Layers;
  const l2 = (await d.api('GET', '/images/linked:2/json')).json.RootFS.Layers;
  assert.notEqual(l1[l1.length - 3], l2[l2.length - 3], 'the RUN layers differ');
  assert.equal(l1[l1.length - 2], l2[l2.length - 2], 'the linked layer is the same layer');
  // Without --link the copy depends on its parent.
  await build(files('1', ''));
  const plain = await build(files('3', ''));
  assert.match(plain.text, /Step 4\/5 : COPY  --chown[^\n]*\n ---> [0-9a-f]{12}\n/);
  assert.doesNotMatch(plain.text, /Step 4\/5 : COPY  --chown[^\n]*\n ---> Using cache/);
  await noLeftovers();
});

test('ADD <http url> from a server on 127.0.0.1; --checksum skips the download when cached; a mismatch and an unreachable URL fail naming the line', async () => {
  const content = 'downloaded content\n';
  const sum = createHash('sha256').update(content).digest('hex');
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests++;
    if (req.url === '/redirect') { res.writeHead(302, { Location: '/files/hello.txt' }); res.end(); return; }
    if (req.url !== '/files/hello.txt') { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'Last-Modified': 'Wed, 21 Oct 2015 07:28:00 GMT', 'Content-Length': Buffer.byteLength(content) });
    res.end(content);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const df = [
      'FROM busybox',
      `ADD ${base}/files/hello.txt /downloads/`,
      `ADD --checksum=sha256:${sum} ${base}/redirect /checked.txt`,
      'RUN stat -c "%a %Y %n" /downloads/hello.txt /checked.txt && cat /checked.txt',
    ].join('\n');
    const b = await build({ Dockerfile: df }, 'networkmode=none&t=added');
    assert.equal(b.error, undefined, b.text);
    assert.match(b.text, /600 1445412480 \/downloads\/hello.txt\n600 1445412480 \/checked.txt\ndownloaded content\n/);
    assert.equal(requests, 3, 'the plain ADD, and the checksum ADD through its redirect');
    const again = await build({ Dockerfile: df });
    assert.equal((again.text.match(/Using cache/g) ?? []).length, 3, again.text);
    assert.equal(requests, 4, 'a cached --checksum step downloads nothing; a plain ADD downloads to compare');
    const wrong = await build({ Dockerfile: `FROM busybox\nADD --checksum=sha256:${'0'.repeat(64)} ${base}/files/hello.txt /x\n` });
    assert.match(wrong.error ?? '', new RegExp(`^Dockerfile line 2: .*digest mismatch for ${base}/files/hello.txt: expected sha256:0{64}, got sha256:${sum}`));
    const missing = await build({ Dockerfile: `FROM busybox\nRUN true\nADD ${base}/nope.txt /x\n` });
    assert.match(missing.error ?? '', /^Dockerfile line 3: .*downloading http:\/\/127.0.0.1:\d+\/nope.txt: 404/);
    const local = await build({ Dockerfile: `FROM busybox\nADD --checksum=sha256:${sum} f /x\n`, f: 'x' });
    assert.match(local.error ?? '', /checksum can't be specified for non-HTTP\(S\) sources/);
  } finally {
    server.close();
  }
  const unreachable = await build({ Dockerfile: 'FROM busybox\nADD http://127.0.0.1:1/x.txt /x\n' });
  assert.match(unreachable.error ?? '', /^Dockerfile line 2: .*downloading http:\/\/127.0.0.1:1\/x.txt: .*ECONNREFUSED/);
  await noLeftovers();
});

test('FROM ${ARG} naming a stage builds that stage first, whichever stage the build-arg picks', async () => {
  const df = 'ARG BASE=one\nFROM busybox AS one\nRUN echo one > /marker\nFROM busybox AS two\nRUN echo two > /marker\nFROM ${BASE}\nRUN cat /marker\n';
  const a = await build({ Dockerfile: df });
  assert.equal(a.error, undefined, a.text);
  assert.match(a.text, /Step 1\/4 : FROM busybox AS one\n[^]*Step 3\/4 : FROM \$\{BASE\}\n/, "stage two, not needed, is skipped");
  assert.equal(await runImage(a.id!, ['cat', '/marker']), 'one\n');
  const b = await build({ Dockerfile: df }, `networkmode=none&buildargs=${encodeURIComponent(JSON.stringify({ BASE: 'two' }))}`);
  assert.equal(b.error, undefined, b.text);
  assert.equal(await runImage(b.id!, ['cat', '/marker']), 'two\n');
  await noLeftovers();
});

test('independent stages run side by side; the output reads as one stage after another; the first failure in file order is the error', async () => {
  const stage = (n: string) => [`FROM busybox AS ${n}`, `RUN cut -d" " -f1 /proc/uptime > /start && sleep 1 && cut -d" " -f1 /proc/uptime > /end && echo "${n} done"`];
  const df = [
    ...stage('a'), ...stage('b'),
    'FROM busybox',
    'COPY --from=a /start /end /a/',
    'COPY --from=b /start /end /b/',
    'RUN awk -v as=$(cat /a/start) -v ae=$(cat /a/end) -v bs=$(cat /b/start) -v be=$(cat /b/end) \'BEGIN { print (as < be && bs < ae) ? "overlapped" : "one after the other" }\'',
  ].join('\n');
  const t0 = Date.now();
  const b = await build({ Dockerfile: df }, 'networkmode=none&t=parallel');
  const ms = Date.now() - t0;
  assert.equal(b.error, undefined, b.text);
  assert.match(b.text, /\noverlapped\n/);
  // One stage's text after the other's, steps numbered in file order.
  const steps = [...b.text.matchAll(/^Step (\d+)\/8 : /gm)].map((m) => Number(m[1]));
  assert.deepEqual(steps, [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.match(b.text, /Step 2\/8 : RUN[^\n]*\n ---> Running in [0-9a-f]{12}\na done\nRemoving intermediate container [0-9a-f]{12}\n ---> [0-9a-f]{12}\nStep 3\/8 : FROM busybox AS b\n/);
  assert.ok(ms < 4000, `took ${ms} ms`);
  // b fails at once, a a second later: a's error is the build's, as one stage at a time would report.
  const failing = await build({ Dockerfile: 'FROM busybox AS a\nRUN sleep 1 && exit 3\nFROM busybox AS b\nRUN exit 4\nFROM busybox\nCOPY --from=a / /a\nCOPY --from=b / /b\n' });
  assert.equal(failing.error, "The command '/bin/sh -c sleep 1 && exit 3' returned a non-zero code: 3");
  assert.doesNotMatch(failing.text, /FROM busybox AS b/);
  // a fails while a later stage still sleeps: that one is stopped, not waited for.
  const t1 = Date.now();
  const stopped = await build({ Dockerfile: 'FROM busybox AS a\nRUN exit 5\nFROM busybox AS b\nRUN sleep 20\nFROM busybox\nCOPY --from=a / /a\nCOPY --from=b / /b\n' });
  assert.match(stopped.error ?? '', /returned a non-zero code: 5/);
  assert.ok(Date.now() - t1 < 10_000, 'the sleeping stage was stopped');
  await noLeftovers();
});

test('a stage that copies from one still running starts beside it: its steps before the COPY run meanwhile', { skip: os.availableParallelism() < 2 && 'one core: one stage at a time' }, async () => {
  const df = [
    'FROM busybox AS slow',
    'RUN sleep 1 && cut -d" " -f1 /proc/uptime > /end',
    'FROM busybox',
    'RUN cut -d" " -f1 /proc/uptime > /start',
    'COPY --from=slow /end /end',
    'RUN awk -v s=$(cat /start) -v e=$(cat /end) \'BEGIN { print (s < e) ? "started beside it" : "waited for it" }\'',
  ].join('\n');
  const b = await build({ Dockerfile: df }, 'networkmode=none&nocache=1');
  assert.equal(b.error, undefined, b.text);
  assert.match(b.text, /\nstarted beside it\n/);
  // The output still reads one stage after the other.
  assert.deepEqual([...b.text.matchAll(/^Step (\d+)\/6 : /gm)].map((m) => Number(m[1])), [1, 2, 3, 4, 5, 6]);
  // The stage it copies from fails: that is the build's error, and nothing is left.
  const failed = await build({ Dockerfile: 'FROM busybox AS slow\nRUN sleep 0.5 && exit 6\nFROM busybox\nRUN true\nCOPY --from=slow /etc/passwd /p\n' }, 'networkmode=none&nocache=1');
  assert.equal(failed.error, "The command '/bin/sh -c sleep 0.5 && exit 6' returned a non-zero code: 6");
  await noLeftovers();
});

test('dray build --progress=plain prints BuildKit-style numbered steps with timings on stderr', async () => {
  const ctx = path.join(work, 'plain');
  mkdirSync(ctx, { recursive: true });
  writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox AS a\nRUN echo "from a" && sleep 0.3\nFROM busybox AS b\nRUN echo "from b"\nFROM busybox\nCOPY --from=a /etc/passwd /a\nCOPY --from=b /etc/passwd /b\nRUN false\n');
  const failed = d.dray(['build', '--progress=plain', '--network', 'none', ctx]);
  assert.equal(failed.code, 1);
  assert.equal(failed.stdout, '');
  assert.match(failed.stderr, /^#1 \[internal\] load build definition from Dockerfile\n#1 transferring dockerfile: \d+B done\n#1 DONE 0.0s\n\n/);
  // Stages side by side: their lines interleave, each numbered by its step.
  for (const [stage, cmd] of [['a', 'echo "from a" && sleep 0.3'], ['b', 'echo "from b"']]) {
    const n = new RegExp(`\\n#(\\d+) \\[${stage} 2\\/2\\] RUN ${cmd.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n`).exec(failed.stderr)?.[1];
    assert.ok(n, `no step line for ${stage}: ${failed.stderr}`);
    assert.match(failed.stderr, new RegExp(`\\n#${n} \\d+\\.\\d{3} from ${stage}\\n`));
    assert.match(failed.stderr, new RegExp(`\\n#${n} DONE \\d+\\.\\ds\\n`));
  }
  assert.match(failed.stderr, /\n#(\d+) \[stage-2 4\/4\] RUN false\n#\1 ERROR: The command '\/bin\/sh -c false' returned a non-zero code: 1\n/);
  assert.doesNotMatch(failed.stderr, /Step \d|Running in|Removing intermediate/);
  writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox AS a\nRUN echo "from a" && sleep 0.3\nFROM busybox\nCOPY --from=a /etc/passwd /a\n');
  const ok = d.dray(['build', '--progress=plain', '--network', 'none', '-t', 'plain:1', ctx]);
  assert.equal(ok.code, 0, ok.stderr);
  // The last stage starts beside a (it copies from a only at its second step): lines may interleave.
  const cached = /\n#(\d+) \[a 2\/2\] RUN echo "from a" && sleep 0.3\n/.exec(ok.stderr)?.[1];
  assert.ok(cached, ok.stderr);
  assert.match(ok.stderr, new RegExp(`\\n#${cached} CACHED\\n`));
  assert.match(ok.stderr, /\n#(\d+) exporting to image\n#\1 exporting layers done\n#\1 writing image sha256:[0-9a-f]{64} done\n#\1 naming to docker.io\/library\/plain:1 done\n#\1 DONE 0.0s\n\n$/);
  await noLeftovers();
});
