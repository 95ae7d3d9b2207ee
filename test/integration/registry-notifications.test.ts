// Webhook notifications of `dray registry serve` (distribution's notifications.endpoints): a
// listener the test runs on 127.0.0.1 receives the events of real pushes, pulls, a mount and a
// delete, in order, in distribution's envelope and with the configured headers; a second
// endpoint that ignores pulls and config blobs gets only the rest; a listener that fails at first
// gets everything once it recovers; a dead one delays no request.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { OCI_MANIFEST, TestImage, freePort, makeImage, pushImage, removeDir, request, sleep, startDray, tempDir } from '../helpers/registry';

let dir: string;
let img: TestImage;

interface Listener { url: string; envelopes: Array<{ headers: http.IncomingHttpHeaders; body: any }>; failFirst: number; close(): Promise<void> }

async function listen(failFirst = 0): Promise<Listener> {
  const l: Listener = { url: '', envelopes: [], failFirst, close: async () => {} };
  const srv = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c) => parts.push(c));
    req.on('end', () => {
      if (l.failFirst > 0) { l.failFirst--; res.writeHead(500); res.end(); return; }
      l.envelopes.push({ headers: req.headers, body: JSON.parse(Buffer.concat(parts).toString()) });
      res.writeHead(200); res.end();
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  l.url = `http://127.0.0.1:${(srv.address() as net.AddressInfo).port}/events`;
  l.close = () => new Promise((r) => { srv.closeAllConnections(); srv.close(() => r()); });
  return l;
}

const events = (l: Listener) => l.envelopes.flatMap((e) => e.body.events);

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

before(async () => {
  dir = tempDir();
  img = await makeImage([30_000, 20_000]);
});
after(() => removeDir(dir));

test('push, pull, mount and delete each reach the endpoints as distribution sends them; ignore rules filter per endpoint', async () => {
  const all = await listen();
  const some = await listen();
  const srv = await startDray(dir, { config: {
    storage: { filesystem: { rootdirectory: path.join(dir, 'store') } },
    notifications: { endpoints: [
      { name: 'all', url: all.url, headers: { Authorization: ['Bearer listener-secret'] }, timeout: '2s', backoff: '100ms' },
      { name: 'some', url: some.url, ignoredmediatypes: [OCI_MANIFEST], ignore: { actions: ['pull'] } },
      { name: 'off', url: 'http://127.0.0.1:9/never', disabled: true },
    ] },
  } });
  try {
    await pushImage(srv.url, 'team/app', img, 'v1');
    assert.equal((await request('GET', `${srv.url}/v2/team/app/manifests/v1`, { headers: { Accept: OCI_MANIFEST } })).status, 200);
    assert.equal((await request('HEAD', `${srv.url}/v2/team/app/blobs/${img.layers[0].digest}`)).status, 200); // no event
    assert.equal((await request('GET', `${srv.url}/v2/team/app/blobs/${img.layers[0].digest}`)).status, 200);
    const mount = await request('POST', `${srv.url}/v2/other/app/blobs/uploads/?mount=${img.layers[1].digest}&from=team/app`);
    assert.equal(mount.status, 201);
    assert.equal((await request('DELETE', `${srv.url}/v2/team/app/manifests/${img.manifestDigest}`)).status, 202);

    const want = ['push config', 'push layer0', 'push layer1', 'push manifest', 'pull manifest', 'pull layer0', 'mount layer1', 'delete manifest'];
    await until('all eight events', () => events(all).length >= want.length);
    const name = (d?: string) => (d === img.config.digest ? 'config' : d === img.layers[0].digest ? 'layer0' : d === img.layers[1].digest ? 'layer1' : d === img.manifestDigest ? 'manifest' : d);
    assert.deepEqual(events(all).map((e: any) => `${e.action} ${name(e.target.digest)}`), want);
    for (const env of all.envelopes) {
      assert.equal(env.headers['content-type'], 'application/vnd.docker.distribution.events.v1+json');
      assert.equal(env.headers.authorization, 'Bearer listener-secret');
    }
    const [, layerPush, , manifestPush, manifestPull, , mounted] = events(all);
    assert.deepEqual(layerPush.target, { repository: 'team/app', mediaType: 'application/octet-stream', digest: img.layers[0].digest, size: img.layers[0].size, length: img.layers[0].size, url: `${srv.url}/v2/team/app/blobs/${img.layers[0].digest}` });
    assert.equal(manifestPush.target.mediaType, OCI_MANIFEST);
    assert.equal(manifestPush.target.tag, 'v1');
    assert.equal(manifestPush.target.size, img.manifest.length);
    assert.equal(manifestPull.target.tag, 'v1');
    assert.equal(mounted.target.repository, 'other/app');
    assert.equal(mounted.target.fromRepository, 'team/app');
    assert.equal(manifestPush.request.method, 'PUT');
    assert.match(manifestPush.request.addr, /^127\.0\.0\.1:\d+$/);
    assert.match(manifestPush.id, /^[0-9a-f-]{36}$/);
    assert.equal(manifestPush.source.addr.endsWith(`:${srv.port}`), true);

    // "some": no pulls, no OCI manifests (a delete names only the digest, as distribution's does,
    // so no media type rule can leave it out).
    await until('the filtered events', () => events(some).length >= 5);
    assert.deepEqual(events(some).map((e: any) => `${e.action} ${name(e.target.digest)}`), ['push config', 'push layer0', 'push layer1', 'mount layer1', 'delete manifest']);
  } finally {
    await srv.stop();
    await all.close();
    await some.close();
  }
});

test('a listener that fails gets the events once it answers again; one that is down delays no request', async () => {
  const flaky = await listen(3);
  const deadPort = await freePort();
  const srv = await startDray(dir, { config: {
    storage: { filesystem: { rootdirectory: path.join(dir, 'store2') } },
    notifications: { endpoints: [
      { name: 'flaky', url: flaky.url, threshold: 1, backoff: '100ms' },
      { name: 'dead', url: `http://127.0.0.1:${deadPort}/x`, threshold: 1, backoff: '10s', timeout: '500ms' },
    ] },
  } });
  try {
    const t0 = Date.now();
    await pushImage(srv.url, 'team/flaky', img, 'v1');
    // Requests do not wait on deliveries: even with one endpoint refusing every connection
    // (and backing off 10 s), the push is done long before any backoff could have passed.
    assert.ok(Date.now() - t0 < 8_000, `push took ${Date.now() - t0} ms`);
    await until('the flaky listener to receive the push after three failures', () => events(flaky).filter((e: any) => e.action === 'push').length >= 4);
    assert.equal(flaky.failFirst, 0);
    assert.deepEqual(events(flaky).map((e: any) => e.action), ['push', 'push', 'push', 'push']);
    assert.match(srv.log(), /notification delivery failed; will retry/);
  } finally {
    await srv.stop();
    await flaky.close();
  }
});

test('bad notification settings are refused at start with the key that is wrong', async () => {
  for (const [endpoint, why] of [
    [{ name: 'x' }, /notifications\.endpoints\[0\]\.url: expected an http:\/\/ or https:\/\/ URL/],
    [{ url: 'ftp://h/x' }, /notifications\.endpoints\[0\]\.url/],
    [{ url: 'http://127.0.0.1:1/x', timeout: 'soon' }, /notifications\.endpoints\[0\]\.timeout: invalid duration/],
    [{ url: 'http://127.0.0.1:1/x', threshold: 0 }, /threshold: expected a positive integer/],
    [{ url: 'http://127.0.0.1:1/x', headers: { A: [1] } }, /headers\.A: expected a string or a list of strings/],
  ] as Array<[Record<string, unknown>, RegExp]>) {
    await assert.rejects(startDray(dir, { config: { storage: { filesystem: { rootdirectory: path.join(dir, 'store3') } }, notifications: { endpoints: [endpoint] } } }), why);
  }
});
