// What a pull does when the bytes go wrong, through a proxy in front of Debian's docker-registry
// that counts the blob bytes it relays: a tampered blob is refused (the error names the layer) and
// nothing of the image stays; a connection cut mid-layer is resumed with Range within the same
// pull; a drayd killed with SIGKILL mid-layer resumes on the next pull from the bytes it kept,
// fetching only the rest; and a large compressed layer goes up in chunks.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { writeFileSync, readdirSync, existsSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { Registry, Proxy, tempDir, jsonLines, randomRootfsTar, runAsync, apiUntilClosed, stopAll } from '../helpers/registry-client';
import { TestDaemon, drayLauncher } from '../helpers/daemon';

let d: TestDaemon;
let reg: Registry;
let dir: string;

before(async () => {
  dir = tempDir();
  reg = await new Registry(path.join(dir, 'reg')).start();
  const cfg = path.join(dir, 'daemon.json');
  writeFileSync(cfg, JSON.stringify({ 'registry-idle-timeout': 5 }));
  d = new TestDaemon(['--config-file', cfg]);
  await d.start();
});

after(async () => {
  assert.deepEqual(await stopAll(d, dir, [reg]), []);
});

const store = (...p: string[]) => path.join(d.dataRoot, 'image', ...p);
const hex = (digest: string) => digest.replace(/^sha256:/, '');
const dray = (args: string[]) => runAsync(drayLauncher, args, { env: d.env });

/** Imports a rootfs tar as `ref`, pushes it and removes it here; returns the registry's manifest. */
async function pushed(ref: string, tar: Buffer): Promise<{ config: { digest: string; size: number }; layers: { digest: string; size: number }[] }> {
  const [repo, tag] = ref.split(/:(?=[^:/]+$)/);
  const imp = await d.api('POST', `/images/create?fromSrc=-&repo=${repo}&tag=${tag}`, tar, { 'Content-Type': 'application/x-tar' });
  assert.equal(imp.status, 200, imp.body.toString());
  const push = await dray(['push', ref]);
  assert.equal(push.code, 0, push.stderr);
  assert.equal((await dray(['rmi', ref])).code, 0);
  const name = repo.slice(repo.indexOf('/') + 1);
  return await (await fetch(`http://${reg.host}/v2/${name}/manifests/${tag}`, { headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' } })).json() as any;
}

function assertNothingOf(man: { config: { digest: string }; layers: { digest: string }[] }): void {
  assert.equal(existsSync(store('images', `${hex(man.config.digest)}.json`)), false, 'no image record');
  for (const l of man.layers) assert.equal(existsSync(store('blobs', 'sha256', hex(l.digest))), false, 'no layer blob');
  assert.deepEqual(readdirSync(store('layers')).filter((n) => n.startsWith('.tmp-')), [], 'no half-unpacked layer');
}

test('a blob whose bytes do not match its digest is refused, naming the layer, and nothing is stored', async () => {
  const man = await pushed(`${reg.host}/bad/blob:1`, await randomRootfsTar(2 * 1024 * 1024));
  const proxy = await new Proxy(reg.port).start();
  try {
    const layer = man.layers[0].digest;
    proxy.rules.set(layer, { tamper: true });
    const before = readdirSync(store('layers')).length;
    const r = await d.api('POST', `/images/create?fromImage=${proxy.host}/bad/blob&tag=1`);
    const last = jsonLines(r.body).at(-1);
    assert.equal(last.error, `filesystem layer verification failed for digest ${layer}`);
    assert.equal((await d.api('GET', `/images/${proxy.host}/bad/blob:1/json`)).status, 404);
    assertNothingOf(man);
    assert.equal(readdirSync(store('layers')).length, before);
    assert.equal(existsSync(store('partial', hex(layer))), false, 'the bad bytes are not kept for a resume');
    // The same pull without the tampering works.
    proxy.rules.clear();
    const ok = await dray(['pull', `${proxy.host}/bad/blob:1`]);
    assert.equal(ok.code, 0, ok.stderr);
  } finally { await proxy.stop(); }
});

test('a connection cut in the middle of a layer is resumed with Range in the same pull', async () => {
  const man = await pushed(`${reg.host}/cut/once:1`, await randomRootfsTar(8 * 1024 * 1024));
  const proxy = await new Proxy(reg.port).start();
  try {
    const l = man.layers[0];
    proxy.rules.set(l.digest, { cutAfter: Math.floor(l.size / 2), times: 1 });
    const r = await dray(['pull', `${proxy.host}/cut/once:1`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(proxy.ranges.length, 1);
    const from = Number(/^bytes=(\d+)-$/.exec(proxy.ranges[0])![1]);
    assert.ok(from > 0 && from <= l.size / 2, `resumed from ${from}`);
    // Every byte crossed once (the cut chunk's tail aside).
    assert.ok(proxy.blobBytes <= l.size + 256 * 1024, `${proxy.blobBytes} bytes for a ${l.size}-byte blob`);
    const img = (await d.api('GET', `/images/${proxy.host}/cut/once:1/json`)).json;
    assert.equal(img.Id, man.config.digest);
    assert.equal(existsSync(store('partial', hex(l.digest))), false);
  } finally { await proxy.stop(); }
});

test('a drayd killed mid-layer keeps what it received; the next pull fetches only the rest', async () => {
  const man = await pushed(`${reg.host}/kill/nine:1`, await randomRootfsTar(32 * 1024 * 1024));
  const l = man.layers[0];
  const proxy = await new Proxy(reg.port).start();
  try {
    let killed = false;
    proxy.rules.set(l.digest, {
      times: 1,
      paceFrom: l.size * 0.4,
      onBytes: (sent, size) => {
        if (killed || sent < size / 2) return false;
        killed = true;
        d.proc!.kill('SIGKILL');
        return true;
      },
    });
    const first = await apiUntilClosed(d.socket, 'POST', `/images/create?fromImage=${proxy.host}/kill/nine&tag=1`);
    void first;
    for (let i = 0; i < 50 && d.proc!.exitCode === null && !d.proc!.signalCode; i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(killed, 'drayd was killed at half the layer');
    // The last tenth before the kill came slowly, so drayd had read what sat in the sockets'
    // buffers (up to tcp_rmem's 32 MiB here, on a busy host) and written its queue: it keeps all
    // but its last unwritten batch (≤ 1 MiB) and what was in flight then.
    const kept = statSync(store('partial', hex(l.digest))).size;
    assert.ok(kept >= l.size / 2 - 2 * 1024 * 1024, `kept ${kept} of ${l.size}`);
    await d.start();
    // Restarted: no image, no half layer; the partial download is still there.
    assertNothingOf(man);
    assert.ok(existsSync(store('partial', hex(l.digest))));
    const servedBefore = proxy.blobBytes;
    const r = await dray(['pull', `${proxy.host}/kill/nine:1`]);
    assert.equal(r.code, 0, r.stderr);
    const moved = proxy.blobBytes - servedBefore;
    assert.ok(moved <= l.size - kept + 64 * 1024, `second pull moved ${moved} bytes; ${l.size - kept} were missing`);
    assert.ok(moved <= l.size * 0.7, `most of the second half only moved again (${Math.round((moved / l.size) * 100)}%)`);
    assert.ok(proxy.ranges.some((x) => x === `bytes=${kept}-`), proxy.ranges.join(', '));
    const img = (await d.api('GET', `/images/${proxy.host}/kill/nine:1/json`)).json;
    assert.equal(img.Id, man.config.digest);
  } finally { await proxy.stop(); }
});

test('a transfer that stalls has every byte it received written out, so a drayd killed while it waits resumes from the last one', async () => {
  const man = await pushed(`${reg.host}/kill/stall:1`, await randomRootfsTar(24 * 1024 * 1024, 'stall'));
  const l = man.layers[0];
  const proxy = await new Proxy(reg.port).start();
  try {
    // At ~40% (not a multiple of the 1 MiB write batch, as a rule) the proxy goes silent, the connection held.
    let stalled = false;
    let sent = 0;
    proxy.rules.set(l.digest, { times: 1, onBytes: (n, size) => { sent = n; return (stalled ||= n >= size * 0.4); } });
    const first = apiUntilClosed(d.socket, 'POST', `/images/create?fromImage=${proxy.host}/kill/stall&tag=1`);
    const partial = store('partial', hex(l.digest));
    const sizeOf = () => (existsSync(partial) ? statSync(partial).size : -1);
    for (let i = 0; i < 50 && !(stalled && sizeOf() === sent); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(stalled, 'the proxy stalled the layer');
    assert.equal(sizeOf(), sent, 'everything received before the stall is in the partial file');
    d.proc!.kill('SIGKILL');
    await first;
    await d.start();
    const servedBefore = proxy.blobBytes;
    const r = await dray(['pull', `${proxy.host}/kill/stall:1`]);
    assert.equal(r.code, 0, r.stderr);
    // The config blob (nothing of the image was stored) and of the layer only what never arrived.
    assert.equal(proxy.blobBytes - servedBefore, man.config.size + l.size - sent, 'the resumed pull moved only the bytes never received');
    assert.ok(proxy.ranges.includes(`bytes=${sent}-`), proxy.ranges.join(', '));
  } finally { await proxy.stop(); }
});

test('a large compressed layer is pushed in chunks and pulled back whole', async () => {
  // 66 MiB of random bytes, gzipped: stored as it came, pushed as it is (PATCH chunks of 32 MiB).
  const tar = gzipSync(await randomRootfsTar(66 * 1024 * 1024), { level: 1 });
  const imp = await d.api('POST', `/images/create?fromSrc=-&repo=${reg.host}/big/chunks&tag=1`, tar, { 'Content-Type': 'application/x-tar' });
  assert.equal(imp.status, 200);
  const proxy = await new Proxy(reg.port).start();
  try {
    assert.equal((await dray(['tag', `${reg.host}/big/chunks:1`, `${proxy.host}/big/chunks:1`])).code, 0);
    const push = await dray(['push', `${proxy.host}/big/chunks:1`]);
    assert.equal(push.code, 0, push.stderr);
    const patches = proxy.requests.filter((r) => r.startsWith('PATCH '));
    assert.equal(patches.length, 3, proxy.requests.join('\n'));
    const man = await (await fetch(`http://${reg.host}/v2/big/chunks/manifests/1`, { headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' } })).json() as any;
    assert.equal(man.layers[0].size, tar.length);
    const id = (await d.api('GET', `/images/${reg.host}/big/chunks:1/json`)).json.Id;
    assert.equal((await dray(['rmi', `${reg.host}/big/chunks:1`, `${proxy.host}/big/chunks:1`])).code, 0);
    const pull = await dray(['pull', `${reg.host}/big/chunks:1`]);
    assert.equal(pull.code, 0, pull.stderr);
    assert.equal((await d.api('GET', `/images/${reg.host}/big/chunks:1/json`)).json.Id, id);
  } finally { await proxy.stop(); }
});
