// The dashboard's listener without a drayd: its configuration, its access checks and its event
// stream, over real HTTP on 127.0.0.1 with drayd's own Router, dispatch and EventBus.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as https from 'node:https';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, mkdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Router } from '../../src/api/router';
import { dispatch } from '../../src/api/server';
import { sendJson } from '../../src/api/http';
import { EventBus } from '../../src/engine/events';
import { Dashboard, ALLOWED } from '../../src/dashboard/server';
import { dashboardConfigFromJson, defaultDashboardConfig, refusal } from '../../src/dashboard/config';

const dir = mkdtempSync('/tmp/dray-dash-unit-');
mkdirSync(path.join(dir, 'assets'));
writeFileSync(path.join(dir, 'index.html'), '<meta name="dray-csrf" content="__DRAY_CSRF__"><p>hello</p>');
writeFileSync(path.join(dir, 'assets', 'app-1.js'), 'console.log(1)');
const dashboards: Dashboard[] = [];
after(async () => {
  for (const d of dashboards) await d.close();
  rmSync(dir, { recursive: true, force: true });
});

function make(config = defaultDashboardConfig()) {
  const router = new Router();
  const calls: string[] = [];
  router.get('/containers/json', (req) => { calls.push(`GET ${req.path}?${req.query}`); sendJson(req.res, 200, [{ Id: 'x' }]); });
  router.post('/containers/create', (req) => { calls.push('create'); sendJson(req.res, 201, { Id: 'y' }); });
  router.post('/containers/:id/stop', (req) => { calls.push(`stop ${req.params.id}`); req.res.writeHead(204); req.res.end(); });
  router.post('/images/create', (req) => { calls.push(`pull ${req.query.get('fromImage')}`); sendJson(req.res, 200, {}); });
  const events = new EventBus();
  const dash = new Dashboard(config, { router, dispatch, events, staticDir: dir });
  dashboards.push(dash);
  return { dash, events, calls };
}

function req(u: URL, method: string, p: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const r = http.request({ host: u.hostname, port: u.port, method, path: p, headers }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    r.setTimeout(3000, () => r.destroy(new Error('timeout')));
    r.on('error', reject);
    r.end();
  });
}

test('daemon.json dashboard: false, true, an object; unknown keys and bad addresses are errors', () => {
  assert.deepEqual(dashboardConfigFromJson(undefined), { enabled: true, addr: '127.0.0.1:0', eager: false });
  assert.equal(dashboardConfigFromJson(false).enabled, false);
  assert.equal(dashboardConfigFromJson(true).eager, true);
  assert.deepEqual(dashboardConfigFromJson({ addr: '127.0.0.1:8089' }), { enabled: true, addr: '127.0.0.1:8089', eager: true });
  assert.throws(() => dashboardConfigFromJson({ adr: 'x' }), /unknown key "adr"/);
  assert.throws(() => dashboardConfigFromJson({ addr: '127.0.0.1' }), /expected host:port/);
  assert.throws(() => dashboardConfigFromJson('yes'), /expected false, true or an object/);
});

test('beyond loopback only with TLS', () => {
  const c = (addr: string, tls = false) => ({ ...defaultDashboardConfig(), addr, ...(tls ? { tlsCert: '/c.pem', tlsKey: '/k.pem' } : {}) });
  assert.equal(refusal(c('127.0.0.1:0')), undefined);
  assert.equal(refusal(c('[::1]:0')), undefined);
  assert.equal(refusal(c('localhost:9000')), undefined);
  assert.match(refusal(c('0.0.0.0:0'))!, /refusing to serve the dashboard on 0\.0\.0\.0:0 without TLS/);
  assert.match(refusal(c('192.168.1.5:80'))!, /without TLS/);
  assert.equal(refusal(c('0.0.0.0:8443', true)), undefined);
  assert.match(refusal({ ...c('127.0.0.1:0'), tlsCert: '/c.pem' })!, /go together/);
});

test('a disabled dashboard gives no URL; an enabled one listens only when first asked, then keeps its URL', async () => {
  await assert.rejects(make({ ...defaultDashboardConfig(), enabled: false }).dash.url(), /disabled/);
  const { dash } = make();
  const [a, b] = await Promise.all([dash.url(), dash.url()]);
  assert.equal(a, b);
  assert.match(a, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{43}$/);
  assert.equal(await dash.url(), a);
});

test('token, cookie, Host, CSRF and the route allow-list', async () => {
  const { dash, calls } = make();
  const u = new URL(await dash.url());
  const token = u.searchParams.get('token')!;
  assert.equal((await req(u, 'GET', '/')).status, 401);
  assert.equal((await req(u, 'GET', '/assets/app-1.js')).status, 401);
  assert.equal((await req(u, 'POST', `/?token=${token}`)).status, 401, 'the token opens with a GET only');
  const first = await req(u, 'GET', `/?token=${token}`);
  assert.equal(first.status, 303);
  const jar = String(first.headers['set-cookie']).split(';')[0];
  assert.equal(jar, `dray_dashboard_${u.port}=${token}`);
  const page = await req(u, 'GET', '/', { Cookie: jar });
  assert.equal(page.status, 200);
  assert.match(String(page.headers['content-security-policy']), /default-src 'self'/);
  assert.equal(page.headers['x-frame-options'], 'DENY');
  const csrf = /content="([^"]+)"/.exec(page.body)![1];
  assert.notEqual(csrf, '__DRAY_CSRF__');
  // Deep links are the page; assets are served as they are; unknown assets are not the page.
  assert.match((await req(u, 'GET', '/some/where', { Cookie: jar })).body, /hello/);
  assert.equal((await req(u, 'GET', '/assets/app-1.js', { Cookie: jar })).body, 'console.log(1)');
  assert.equal((await req(u, 'GET', '/assets/none.js', { Cookie: jar })).status, 404);
  assert.equal((await req(u, 'GET', '/', { Cookie: jar, Host: `localhost:${u.port}` })).status, 200);
  assert.equal((await req(u, 'GET', '/', { Cookie: jar, Host: `rebound.example:${u.port}` })).status, 403);
  // In-process through the router, query and all.
  const list = await req(u, 'GET', '/api/engine/containers/json?all=1', { Cookie: jar });
  assert.equal(list.status, 200);
  assert.deepEqual(JSON.parse(list.body), [{ Id: 'x' }]);
  assert.deepEqual(calls, ['GET /containers/json?all=1']);
  const good = { Cookie: jar, 'X-Dray-CSRF': csrf, Origin: u.origin };
  assert.equal((await req(u, 'POST', '/api/engine/containers/c1/stop', { Cookie: jar })).status, 403);
  assert.equal((await req(u, 'POST', '/api/engine/containers/c1/stop', { ...good, Origin: 'null' })).status, 403);
  assert.equal((await req(u, 'POST', '/api/engine/containers/c1/stop', { ...good, 'Sec-Fetch-Site': 'same-site' })).status, 403);
  assert.equal((await req(u, 'POST', '/api/engine/containers/c1/stop', good)).status, 204);
  assert.equal((await req(u, 'POST', '/api/engine/containers/create', good)).status, 403);
  assert.equal((await req(u, 'GET', '/api/engine/nothing/here', good)).status, 403);
  // /images/create pulls; an import (fromSrc: a tarball in the body, or any URL drayd would fetch) is refused.
  assert.equal((await req(u, 'POST', '/api/engine/images/create?fromSrc=-', good)).status, 403);
  assert.equal((await req(u, 'POST', '/api/engine/images/create?fromSrc=http://x/&fromImage=busybox', good)).status, 403);
  assert.equal((await req(u, 'POST', '/api/engine/images/create', good)).status, 403);
  assert.equal((await req(u, 'POST', '/api/engine/images/create?fromImage=busybox&tag=1', good)).status, 200);
  assert.deepEqual(calls, ['GET /containers/json?all=1', 'stop c1', 'pull busybox']);
  // The allow-list names no route that creates containers, executes or reads files; the only
  // ones that pull, push, prune or create are these (the images, disk, volumes and networks views),
  // and GET /dray/builds, which only reads the recent builds' records.
  const risky = Object.values(ALLOWED).flat().filter((p) => /create|exec|archive|export|build|commit|attach|prune|load|push/.test(p));
  assert.deepEqual(risky.sort(), ['/build/prune', '/containers/prune', '/dray/builds', '/images/*name/push', '/images/create', '/images/prune', '/networks/create', '/volumes/create', '/volumes/prune']);
  assert.ok(ALLOWED.GET.includes('/dray/builds') && !ALLOWED.POST.includes('/dray/builds'));
});

test('engine events reach the page on one server-sent-events stream', async () => {
  const { dash, events } = make();
  const u = new URL(await dash.url());
  const jar = String((await req(u, 'GET', `/?token=${u.searchParams.get('token')}`)).headers['set-cookie']).split(';')[0];
  events.publish('container', 'start', 'abc', { name: 'web' });
  const got = await new Promise<string>((resolve, reject) => {
    const r = http.get({ host: u.hostname, port: u.port, path: '/api/events', headers: { Cookie: jar } }, (res) => {
      assert.equal(res.headers['content-type'], 'text/event-stream');
      let buf = '';
      let sent = false;
      res.on('data', (c) => {
        buf += c;
        if (!sent && buf.includes(': connected')) { sent = true; events.publish('container', 'die', 'abc', { name: 'web' }); }
        const m = /data: (.*)\n\n/.exec(buf);
        if (m) { r.destroy(); resolve(m[1]); }
      });
    });
    r.setTimeout(3000, () => r.destroy(new Error('no event')));
    r.on('error', reject);
  });
  const e = JSON.parse(got);
  assert.equal(e.Action, 'die', 'only events after the stream opened (the history is its own route)');
  assert.equal(e.Actor.Attributes.name, 'web');
  const history = JSON.parse((await req(u, 'GET', '/api/events/history', { Cookie: jar })).body);
  assert.deepEqual(history.map((h: any) => h.Action), ['start', 'die']);
});

test('with TLS configured: https, and the cookie is Secure', async (t) => {
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8' });
  if (r.status !== 0) { t.skip(`openssl: ${r.stderr}`); return; }
  const { dash } = make({ ...defaultDashboardConfig(), tlsCert: cert, tlsKey: key });
  const u = new URL(await dash.url());
  assert.equal(u.protocol, 'https:');
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const q = https.get({ host: u.hostname, port: u.port, path: `/?token=${u.searchParams.get('token')}`, ca: readFileSync(cert) }, resolve);
    q.on('error', reject);
  });
  res.resume();
  assert.equal(res.statusCode, 303);
  assert.match(String(res.headers['set-cookie']), /; Secure/);
});
