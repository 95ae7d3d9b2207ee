// The /networks routes over a real HTTP server; only records change (no container is running, so
// netavark is never called).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { mkdtempSync, rmSync, readdirSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Router } from '../../src/api/router';
import { createServer } from '../../src/api/server';
import { registerNetworkRoutes } from '../../src/api/networks';
import { NetworkService } from '../../src/engine/networks';
import { EventBus, EngineEvent } from '../../src/engine/events';
import { notFound } from '../../src/lib/errors';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'dray-netapi-'));
const sock = path.join(tmp, 'api.sock');
const events = new EventBus();
const seen: EngineEvent[] = [];
events.subscribe((e) => seen.push(e));
const svc = new NetworkService({ dataRoot: tmp, execRoot: path.join(tmp, 'exec'), events, defaultBridge: 'drtapi0', defaultSubnet: '10.213.240.0/24' });
const connected: string[] = [];
const ctr = { id: 'c'.repeat(64), name: '/web', hostname: 'cccccccccccc', running: false };
let server: http.Server;

function api(method: string, p: string, body?: unknown): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request({ socketPath: sock, method, path: p, headers: data ? { 'Content-Type': 'application/json' } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode!, json: text ? JSON.parse(text) : undefined });
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}

before(async () => {
  await svc.init();
  const r = new Router();
  registerNetworkRoutes(r, svc, {
    lookup: (ref) => { if (ref === 'web' || ref === ctr.id) return ctr; throw notFound(`No such container: ${ref}`); },
    onConnect: (id, n) => { connected.push(`${id.slice(0, 1)}>${n.Name}`); },
    onDisconnect: (id, n) => { connected.push(`${id.slice(0, 1)}<${n.Name}`); },
  });
  server = createServer(r);
  await new Promise<void>((res) => server.listen(sock, res));
});

after(async () => {
  await new Promise((res) => server.close(res));
  rmSync(tmp, { recursive: true, force: true });
});

test('create, inspect, list with filters, remove', async () => {
  const c = await api('POST', '/v1.47/networks/create', { Name: 'apinet', CheckDuplicate: true, Driver: 'bridge', Labels: { team: 'a' }, IPAM: { Driver: 'default', Config: [] }, Options: {} });
  assert.equal(c.status, 201);
  assert.match(c.json.Id, /^[0-9a-f]{64}$/);
  assert.equal(c.json.Warning, '');
  const dup = await api('POST', '/networks/create', { Name: 'apinet' });
  assert.deepEqual(dup, { status: 409, json: { message: 'network with name apinet already exists' } });

  const i = await api('GET', `/networks/${c.json.Id.slice(0, 12)}`);
  assert.equal(i.status, 200);
  assert.equal(i.json.Name, 'apinet');
  assert.equal(i.json.Driver, 'bridge');
  assert.equal(i.json.Scope, 'local');
  assert.match(i.json.IPAM.Config[0].Subnet, /^10\.\d+\.0\.0\/16$/);
  assert.deepEqual(i.json.Containers, {});
  assert.deepEqual(i.json.Labels, { team: 'a' });
  assert.equal(readdirSync(path.join(tmp, 'networks')).filter((f) => f.endsWith('.json')).length, 4);

  const all = await api('GET', '/networks');
  assert.deepEqual(all.json.map((n: any) => n.Name).sort(), ['apinet', 'bridge', 'host', 'none']);
  const custom = await api('GET', `/networks?filters=${encodeURIComponent(JSON.stringify({ type: ['custom'] }))}`);
  assert.deepEqual(custom.json.map((n: any) => n.Name), ['apinet']);
  const lab = await api('GET', `/networks?filters=${encodeURIComponent(JSON.stringify({ label: { 'team=a': true } }))}`);
  assert.deepEqual(lab.json.map((n: any) => n.Name), ['apinet']);
  const bad = await api('GET', `/networks?filters=${encodeURIComponent(JSON.stringify({ colour: ['red'] }))}`);
  assert.equal(bad.status, 400);

  assert.equal((await api('GET', '/networks/nothere')).status, 404);
  assert.deepEqual(await api('DELETE', '/networks/host'), { status: 403, json: { message: 'host is a pre-defined network and cannot be removed' } });
  assert.equal((await api('DELETE', '/networks/apinet')).status, 204);
  assert.equal((await api('GET', '/networks/apinet')).status, 404);
  assert.deepEqual(seen.filter((e) => e.Type === 'network').map((e) => e.Action), ['create', 'destroy']);
});

test('connect and disconnect of a stopped container go to the container side', async () => {
  await api('POST', '/networks/create', { Name: 'apinet2', IPAM: { Config: [{ Subnet: '10.213.241.0/24' }] } });
  const r = await api('POST', '/networks/apinet2/connect', { Container: 'web', EndpointConfig: { Aliases: ['w'] } });
  assert.equal(r.status, 200);
  const alias = await api('POST', '/networks/bridge/connect', { Container: 'web', EndpointConfig: { Aliases: ['w'] } });
  assert.equal(alias.status, 400);
  assert.equal((await api('POST', '/networks/apinet2/connect', { Container: 'nobody' })).status, 404);
  assert.equal((await api('POST', '/networks/apinet2/disconnect', { Container: 'web' })).status, 200);
  assert.equal((await api('POST', '/networks/apinet2/disconnect', { Container: 'nobody', Force: true })).status, 200);
  assert.deepEqual(connected, ['c>apinet2', 'c<apinet2']);
});

test('prune removes unused custom networks and reports their names', async () => {
  await api('POST', '/networks/create', { Name: 'keepme', Labels: { keep: '1' } });
  const p = await api('POST', `/networks/prune?filters=${encodeURIComponent(JSON.stringify({ 'label!': ['keep'] }))}`);
  assert.deepEqual(p, { status: 200, json: { NetworksDeleted: ['apinet2'] } });
  const p2 = await api('POST', '/networks/prune');
  assert.deepEqual(p2.json, { NetworksDeleted: ['keepme'] });
  assert.deepEqual((await api('POST', '/networks/prune')).json, { NetworksDeleted: null });
});

test('a bridge name that is a host device other than a bridge is refused', async () => {
  const r = await api('POST', '/networks/create', { Name: 'lonet', Options: { 'com.docker.network.bridge.name': 'lo' } });
  assert.equal(r.status, 400);
  assert.match(r.json.message, /not a bridge/);
});

test('overlapping subnets are refused with 403', async () => {
  const r = await api('POST', '/networks/create', { Name: 'over', IPAM: { Config: [{ Subnet: '10.213.240.128/25' }] } });
  assert.deepEqual(r, { status: 403, json: { message: 'Pool overlaps with other one on this address space' } });
});
