// The web dashboard in a real browser: Debian's chromium driven by playwright-core, against a
// private drayd. Access control (token, cookie, CSRF, Host, the route allow-list) is checked with
// raw HTTP; the views with the page itself. Screenshots of each view go to test/artifacts/dashboard/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, existsSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { chromium, Browser, BrowserContext, Page } from 'playwright-core';
import { TestDaemon, drayLauncher, draydJs, sleep, until } from '../helpers/daemon';

const CHROMIUM = '/usr/bin/chromium';
const artifacts = path.resolve(__dirname, '..', 'artifacts', 'dashboard');
const d = new TestDaemon();
let browser: Browser | undefined;
let context: BrowserContext | undefined;
let page: Page;
let url: string;
let origin: string;

/** A loop that writes to stdout and stderr and ends at once on SIGTERM (sh as PID 1 ignores it otherwise). */
const chatty = ['sh', '-c', 'trap "exit 0" TERM; i=0; while true; do i=$((i+1)); echo out-$i; echo err-$i >&2; sleep 0.2; done'];

function raw(method: string, p: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const u = new URL(origin);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method, path: p, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.setTimeout(5000, () => req.destroy(new Error(`timeout: ${method} ${p}`)));
    req.on('error', reject);
    req.end();
  });
}

function drayAsync(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(drayLauncher, args, { env: d.env, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof (err as any).code === 'number' ? (err as any).code : -1) : 0, stdout, stderr });
    });
  });
}

async function inspect(id: string): Promise<any> {
  const r = await d.api('GET', `/containers/${id}/json`);
  assert.equal(r.status, 200, r.body.toString());
  return r.json;
}

const runNamed = (name: string, cmd: string[], extra: Record<string, unknown> = {}) => d.runNamed(name, cmd, extra);

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: path.join(artifacts, `${name}.png`) });
}

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  await d.start();
  await d.bootstrapBusybox();
  const r = d.dray(['dashboard', '--no-open']);
  assert.equal(r.code, 0, r.stderr);
  url = r.stdout.split('\n')[0];
  origin = new URL(url).origin;
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/install-deps.sh installs Debian's chromium`);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  page = await context.newPage();
  page.on('dialog', (dlg) => void dlg.accept());
});

after(async () => {
  await context?.close().catch(() => {});
  await browser?.close();
  assert.deepEqual(await d.stop(), [], 'nothing may be left behind');
});

test('dray dashboard prints the URL with its token first, the same at each call', async () => {
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{43}$/);
  const again = d.dray(['dashboard', '--no-open']);
  assert.equal(again.stdout.split('\n')[0], url);
  const api = await d.api('GET', '/dray/dashboard');
  assert.equal(api.json.URL, url);
  // Without a desktop there is no browser to open: the URL still comes first, and a word on stderr.
  const env = { DISPLAY: '', WAYLAND_DISPLAY: '' };
  const plain = d.dray(['dashboard'], undefined, { env });
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal(plain.stdout, `${url}\n`);
  assert.match(plain.stderr, /No browser to open here/);
});

test('no request without the token or its cookie is answered', async () => {
  const token = new URL(url).searchParams.get('token')!;
  for (const p of ['/', '/index.html', '/assets/x.js', '/api/events', '/api/engine/containers/json', '/api/events/history', '/api/stats', '/api/files/x?path=/', '/api/files/x/download?path=/etc/passwd']) {
    assert.equal((await raw('GET', p)).status, 401, p);
  }
  assert.equal((await raw('GET', '/?token=wrong')).status, 401);
  assert.equal((await raw('GET', '/api/engine/containers/json', { Cookie: `dray_dashboard_${new URL(url).port}=wrong` })).status, 401);
  // The right token: a redirect without it, and the cookie.
  const first = await raw('GET', `/?token=${token}`);
  assert.equal(first.status, 303);
  assert.equal(first.headers.location, '/');
  const cookie = String(first.headers['set-cookie']);
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
  const jar = cookie.split(';')[0];
  assert.equal((await raw('GET', '/api/engine/containers/json', { Cookie: jar })).status, 200);
  // A DNS-rebound name is refused even with the cookie.
  assert.equal((await raw('GET', '/api/engine/containers/json', { Cookie: jar, Host: `evil.example:${new URL(url).port}` })).status, 403);
  // State changes need the CSRF header (its secret is in the served page) and a same-origin Origin.
  const id = await d.runDetached(['sleep', '30']);
  assert.equal((await raw('POST', `/api/engine/containers/${id}/stop`, { Cookie: jar })).status, 403);
  assert.equal((await raw('POST', `/api/engine/containers/${id}/stop`, { Cookie: jar, 'X-Dray-CSRF': 'guess' })).status, 403);
  const html = (await raw('GET', '/', { Cookie: jar })).body;
  const csrf = /name="dray-csrf" content="([^"]+)"/.exec(html)?.[1];
  assert.ok(csrf && csrf !== '__DRAY_CSRF__', 'the page carries the CSRF secret');
  assert.equal((await raw('POST', `/api/engine/containers/${id}/pause`, { Cookie: jar, 'X-Dray-CSRF': csrf!, Origin: 'http://evil.example' })).status, 403);
  assert.equal((await raw('POST', `/api/engine/containers/${id}/pause`, { Cookie: jar, 'X-Dray-CSRF': csrf!, 'Sec-Fetch-Site': 'cross-site' })).status, 403);
  assert.equal((await inspect(id)).State.Status, 'running', 'nothing refused was done');
  // Only the allow-listed routes: no create, exec, archive, build, kill, … even with every secret.
  const all = { Cookie: jar, 'X-Dray-CSRF': csrf!, Origin: origin };
  for (const [m, p] of [['POST', '/containers/create'], ['POST', `/containers/${id}/exec`], ['POST', `/containers/${id}/kill`], ['GET', `/containers/${id}/archive?path=/`],
    ['GET', `/containers/${id}/export`], ['POST', '/build'], ['POST', '/images/create?fromSrc=-'], ['POST', '/images/load'], ['POST', '/networks/prune'], ['GET', '/v1.43/containers/json'], ['PUT', `/containers/${id}/archive?path=/`]]) {
    assert.equal((await raw(m, `/api/engine${p}`, all)).status, 403, `${m} ${p}`);
  }
  const ok = await raw('POST', `/api/engine/containers/${id}/pause`, all);
  assert.equal(ok.status, 204, ok.body);
  assert.equal((await inspect(id)).State.Status, 'paused');
  assert.equal((await raw('DELETE', `/api/engine/containers/${id}?force=1`, all)).status, 204);
});

test('drayd refuses a dashboard beyond loopback without TLS, and says why', () => {
  const dir = mkdtempSync('/tmp/dray-dash-');
  try {
    const empty = path.join(dir, 'empty.json');
    writeFileSync(empty, '{}');
    const wide = path.join(dir, 'wide.json');
    writeFileSync(wide, JSON.stringify({ dashboard: { addr: '0.0.0.0:8089' } }));
    const args = ['-H', `unix://${dir}/d.sock`, '--data-root', `${dir}/data`, '--exec-root', `${dir}/run`];
    for (const extra of [['--config-file', empty, '--dashboard-addr', '0.0.0.0:0'], ['--config-file', wide]]) {
      const r = spawnSync(draydJs, [...args, ...extra], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /refusing to serve the dashboard on 0\.0\.0\.0:\d+ without TLS/);
      assert.ok(!existsSync(`${dir}/data`), 'refused before anything started');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the page renders the container list', async () => {
  const id = await runNamed('dash-pre', ['sleep', '300']);
  const t0 = Date.now();
  await page.goto(url);
  assert.equal(new URL(page.url()).search, '', 'the token leaves the address bar');
  await page.getByRole('heading', { name: /Containers/ }).waitFor();
  const row = page.locator('tr[data-name="dash-pre"]');
  await row.waitFor({ timeout: 5000 });
  const loadMs = Date.now() - t0;
  assert.equal(await row.getAttribute('data-state'), 'running');
  assert.equal(await row.getAttribute('data-id'), id);
  await page.locator('.live[data-live="live"]').waitFor({ timeout: 5000 });
  // Controls carry accessible names, and the keyboard reaches them: Tab to Pause, Enter, then Enter on Unpause.
  assert.equal(await page.getByRole('button', { name: 'Stop dash-pre' }).count(), 1);
  const focused = () => page.evaluate(() => document.activeElement?.getAttribute('aria-label') ?? document.activeElement?.textContent ?? '');
  for (let i = 0; i < 80 && (await focused()) !== 'Pause dash-pre'; i++) await page.keyboard.press('Tab');
  assert.equal(await focused(), 'Pause dash-pre', 'Tab reaches the row\'s buttons');
  await page.keyboard.press('Enter');
  await until(async () => (await inspect(id)).State.Status === 'paused', 'paused from the keyboard');
  await page.getByRole('button', { name: 'Unpause dash-pre' }).waitFor({ timeout: 2000 });
  await page.getByRole('button', { name: 'Unpause dash-pre' }).focus();
  await page.keyboard.press('Enter');
  await until(async () => (await inspect(id)).State.Status === 'running', 'unpaused from the keyboard');
  console.log(`# dashboard: page with its container list shown in ${loadMs} ms`);
});

test('a container started from the CLI appears within a second, with no polling; stopping it from the page stops it', async () => {
  await sleep(500); // the previous test's last events settle
  let listRequests = 0;
  const seen: string[] = [];
  const onReq = (r: import('playwright-core').Request) => { seen.push(r.url()); if (r.url().includes('/api/engine/containers/json')) listRequests++; };
  page.on('request', onReq);
  await sleep(1500);
  assert.equal(listRequests, 0, `an idle page sends no list requests: ${seen.join(', ')}`);
  const r = await drayAsync(['run', '-d', '--name', 'dash-live', 'busybox', ...chatty]);
  assert.equal(r.code, 0, r.stderr);
  const ran = Date.now();
  const row = page.locator('tr[data-name="dash-live"][data-state="running"]');
  await row.waitFor({ timeout: 1000 });
  const ms = Date.now() - ran;
  console.log(`# dashboard: a container run from the CLI showed ${ms} ms after dray run returned (${listRequests} filtered list requests)`);
  assert.ok(ms < 1000, `shown after ${ms} ms`);
  page.off('request', onReq);
  await page.getByRole('button', { name: 'Stop dash-live' }).click();
  const id = r.stdout.trim();
  await until(async () => !(await inspect(id)).State.Running, 'the container stops', 10_000);
  await page.locator('tr[data-name="dash-live"][data-state="exited"]').waitFor({ timeout: 2000 });
});

test('a compose-labelled container shows in its project group', async () => {
  for (const svc of ['web', 'db']) {
    await runNamed(`shop-${svc}-1`, ['sleep', '300'], {
      Labels: { 'com.docker.compose.project': 'shop', 'com.docker.compose.service': svc, 'com.docker.compose.container-number': '1' },
      ...(svc === 'web' ? { HostConfig: { PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] } }, ExposedPorts: { '80/tcp': {} } } : {}),
    });
  }
  const group = page.locator('section[data-project="shop"]');
  await group.locator('tr[data-name="shop-web-1"]').waitFor({ timeout: 2000 });
  await group.locator('tr[data-name="shop-db-1"]').waitFor({ timeout: 2000 });
  assert.equal(await page.locator('section:not([data-project]) tr[data-name="shop-web-1"]').count(), 0);
  // A published port is a link to it.
  const link = group.locator('tr[data-name="shop-web-1"] a[href^="http://127.0.0.1:"]');
  await link.waitFor({ timeout: 2000 });
  await shot('containers');
  // A phone's width: nothing wider than the screen (tables scroll inside their panels).
  await page.setViewportSize({ width: 390, height: 844 });
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390), 'the page fits 390 px');
  await shot('containers-phone');
  await page.setViewportSize({ width: 1280, height: 720 });
  // Multi-select: the whole project, removed at once.
  await page.getByRole('checkbox', { name: 'Select all of project shop' }).check();
  await page.getByRole('button', { name: 'Remove selected' }).click();
  await group.waitFor({ state: 'detached', timeout: 5000 });
  const left = await d.api('GET', `/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ label: ['com.docker.compose.project=shop'] }))}`);
  assert.deepEqual(left.json, []);
});

test('the container page streams logs (stdout and stderr apart) and live CPU and memory', async () => {
  const id = await runNamed('dash-logs', chatty);
  await page.locator('tr[data-name="dash-logs"] a').first().click();
  await page.waitForURL(new RegExp(`#/container/${id}`));
  await page.getByRole('heading', { name: /dash-logs/ }).waitFor();
  const out = page.locator('.logs [data-stream="stdout"]');
  const err = page.locator('.logs [data-stream="stderr"]');
  await out.first().waitFor({ timeout: 5000 });
  await err.first().waitFor({ timeout: 5000 });
  assert.match(await out.first().innerText(), /^out-\d+$/);
  assert.match(await err.first().innerText(), /^err-\d+$/);
  const n = await out.count();
  await until(async () => (await out.count()) > n + 2, 'more lines stream in', 5000);
  // The stats stream's first sample comes after a second (it needs two readings for CPU).
  await until(async () => (await page.getByTestId('memory').innerText()) !== '—', 'memory shows', 6000);
  assert.match(await page.getByTestId('cpu').innerText(), /^\d+\.\d %$/);
  // A new sample each second, from the one stats stream.
  await until(async () => Number(await page.locator('.stats').getAttribute('data-samples')) >= 3, 'stats samples keep coming', 5000);
  await shot('container');
});

test('a terminal on the container page echoes what is typed (exec through a WebSocket)', async () => {
  const dbg: string[] = [];
  page.on('console', (m) => dbg.push(`console: ${m.text()}`));
  page.on('pageerror', (e) => dbg.push(`pageerror: ${e.message}`));
  page.on('websocket', (ws) => { dbg.push(`ws ${ws.url()}`); ws.on('framereceived', (f) => dbg.push(`recv ${String(f.payload).slice(0, 80)}`)); ws.on('close', () => dbg.push('ws closed')); ws.on('socketerror', (e) => dbg.push(`wserr ${e}`)); });
  await page.getByRole('button', { name: 'Open a shell in the container' }).click();
  const term = page.locator('.terminal .xterm-rows');
  await term.waitFor({ timeout: 5000 });
  await until(async () => /built-in shell[\s\S]*[#$] /.test(await term.textContent() ?? ''), 'the shell prompts', 5000).catch(async (e) => {
    await shot('terminal-failed');
    throw new Error(`${e.message}: ${dbg.join('\n')} terminal shows ${JSON.stringify(await term.textContent() ?? '')}; drayd: ${d.log.slice(-2000)}`);
  });
  await page.locator('.terminal .xterm-helper-textarea').focus();
  await page.keyboard.type('echo typed-$((6*7))');
  await page.keyboard.press('Enter');
  await until(async () => (await term.textContent() ?? '').includes('typed-42'), 'the shell answers', 5000);
  assert.match(await term.textContent() ?? '', /echo typed-\$\(\(6\*7\)\)/, 'what was typed is echoed');
  await shot('terminal');
  // A WebSocket from another origin is refused, even with the cookie.
  const u = new URL(url);
  const jar = (await context!.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
  const refused = await new Promise<string>((resolve) => {
    const req = http.request({ host: u.hostname, port: u.port, path: '/api/terminal/dash-logs?csrf=x', headers: {
      Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', Origin: 'http://evil.example', Cookie: jar,
    } });
    req.on('response', (res) => { resolve(String(res.statusCode)); res.resume(); });
    req.on('upgrade', (_res, sock) => { sock.destroy(); resolve('101'); });
    req.on('error', (e) => resolve(e.message));
    req.end();
  });
  assert.equal(refused, '403');
  const shells = async () => ((await d.api('GET', '/containers/dash-logs/top')).json.Processes as string[][]).filter((p) => p[p.length - 1] === 'sh').length;
  assert.equal(await shells(), 1, 'the terminal runs one shell');
  await page.getByRole('button', { name: 'Close the terminal' }).click();
  // The shell ends with its input: no exec session is left running.
  await until(async () => (await shells()) === 0, 'the shell ends when the terminal closes', 5000);
});

test('images, volumes, networks and the events timeline', async () => {
  assert.equal((await d.api('POST', '/volumes/create', { Name: 'dash-data', Labels: { 'com.docker.compose.project': 'shop' } })).status, 201);
  await page.getByRole('link', { name: 'Images' }).click();
  await page.locator('tr[data-ref="busybox:latest"]').waitFor({ timeout: 3000 });
  await shot('images');
  await page.getByRole('link', { name: 'Volumes' }).click();
  await page.locator('tr[data-name="dash-data"]').waitFor({ timeout: 3000 });
  // Removing from the page removes it (and the row goes, from the volume's destroy event).
  await page.getByRole('button', { name: 'Remove volume dash-data' }).click();
  await page.locator('tr[data-name="dash-data"]').waitFor({ state: 'detached', timeout: 3000 });
  assert.equal((await d.api('GET', '/volumes/dash-data')).status, 404);
  assert.equal((await d.api('POST', '/volumes/create', { Name: 'dash-cache' })).status, 201);
  await page.locator('tr[data-name="dash-cache"]').waitFor({ timeout: 3000 });
  await shot('volumes');
  await page.getByRole('link', { name: 'Networks' }).click();
  await page.locator('tr[data-name="bridge"]').waitFor({ timeout: 3000 });
  await shot('networks');
  await page.getByRole('link', { name: 'Events' }).click();
  // History from before the page opened, then live ones.
  await page.locator('li[data-action="start"]').first().waitFor({ timeout: 3000 });
  const id = await d.runDetached(['true']);
  await page.locator('li[data-action="die"]').first().waitFor({ timeout: 3000 });
  await page.locator(`li[data-type="container"]`).first().waitFor();
  await shot('events');
  await d.api('DELETE', `/containers/${id}?force=1`);
});
