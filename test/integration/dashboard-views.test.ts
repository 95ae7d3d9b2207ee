// The dashboard's richer views in a real browser (Debian's chromium through playwright-core)
// against a private drayd: the list's sparklines from the one stats stream, a compose project's
// depends_on graph (from a real `dray compose up`), the container page's network and block I/O
// charts, inspect tree and file browser, images (history, users, pull and push with progress
// against `dray registry serve` on 127.0.0.1, prune), disk usage with what each prune frees, and
// the theme button. Screenshots go to test/artifacts/dashboard/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { chromium, Browser, BrowserContext, Page } from 'playwright-core';
import { TestDaemon, sleep, until } from '../helpers/daemon';
import { startDray, request, Server } from '../helpers/registry';

const CHROMIUM = '/usr/bin/chromium';
const artifacts = path.resolve(__dirname, '..', 'artifacts', 'dashboard');
const d = new TestDaemon();
const dirs: string[] = [];
let browser: Browser | undefined;
let context: BrowserContext | undefined;
let page: Page;
let url: string;
let registry: Server | undefined;
let composeDir: string | undefined;

const runNamed = (name: string, cmd: string[], extra: Record<string, unknown> = {}) => d.runNamed(name, cmd, extra);

async function waitExit(id: string): Promise<void> {
  const r = await d.api('POST', `/containers/${id}/wait`);
  assert.equal(r.status, 200, r.body.toString());
}

const shot = (name: string) => page.screenshot({ path: path.join(artifacts, `${name}.png`) });
const view = async (hash: string) => { await page.evaluate((h) => { location.hash = h; }, hash); };

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  await d.start();
  await d.bootstrapBusybox();
  url = (await d.api('GET', '/dray/dashboard')).json.URL;
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  context = await browser.newContext({ viewport: { width: 1280, height: 720 }, acceptDownloads: true, colorScheme: 'light' });
  page = await context.newPage();
  page.on('dialog', (dlg) => void dlg.accept());
  await page.goto(url);
  await page.locator('.live[data-live="live"]').waitFor({ timeout: 5000 });
});

after(async () => {
  await context?.close().catch(() => {});
  await browser?.close();
  await registry?.stop();
  if (composeDir) d.dray(['compose', '-p', 'graphdemo', 'down', '-t', '1'], undefined, { cwd: composeDir, env: { NO_COLOR: '1' } });
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(await d.stop(), [], 'nothing may be left behind');
});

test('the container list draws CPU and memory sparklines from one stats stream, not one per row', async () => {
  const requests: string[] = [];
  const onReq = (r: import('playwright-core').Request) => requests.push(new URL(r.url()).pathname);
  page.on('request', onReq);
  // A busy loop (a core's worth while it lasts) and an idle one.
  await runNamed('spark-busy', ['sh', '-c', 'trap "exit 0" TERM; while :; do :; done']);
  await runNamed('spark-idle', ['sleep', '300']);
  await view('#/containers');
  const busy = page.locator('tr[data-name="spark-busy"]');
  // Samples come every 2 s, the first a round after a container is seen: three rounds, bounded.
  await until(async () => Number(await busy.locator('[data-usage="cpu"]').getAttribute('data-samples').catch(() => '0')) >= 2, 'two CPU samples of spark-busy', 10_000);
  const cpu = await busy.locator('[data-usage="cpu"] .usage-value').innerText();
  const m = /^(\d+\.\d) %$/.exec(cpu);
  assert.ok(m, `CPU shown as a percentage: ${cpu}`);
  assert.ok(Number(m![1]) > 1, `a busy loop uses CPU: ${cpu}`);
  assert.match(await busy.locator('[data-usage="mem"] .usage-value').innerText(), /^\d+(\.\d)? (B|kB|MB)$/);
  assert.equal(await busy.getByRole('img', { name: 'CPU of spark-busy, last minute' }).count(), 1, 'the sparkline has an accessible name');
  await page.locator('tr[data-name="spark-idle"] [data-usage="mem"]').waitFor({ timeout: 5000 });
  // The page's only stats request is the one stream, whatever the number of rows.
  assert.deepEqual(requests.filter((p) => /stats/.test(p)), requests.includes('/api/stats') ? ['/api/stats'] : [], requests.join(', '));
  assert.equal(requests.filter((p) => /\/containers\/[^/]+\/stats/.test(p)).length, 0, 'no per-container stats stream');
  page.off('request', onReq);
  // A container that stops leaves the stream: its row goes back to a dash.
  await d.api('POST', '/containers/spark-busy/stop?t=1');
  await busy.locator('[data-usage="cpu"]').waitFor({ state: 'detached', timeout: 6000 });
  await shot('containers-sparklines');
});

test('a compose project shows its services as a graph of depends_on, each a link to its container', async () => {
  const dir = mkdtempSync('/tmp/dray-dash-compose-');
  dirs.push(dir);
  writeFileSync(path.join(dir, 'compose.yaml'), `x-idle: &idle ["sh", "-c", "trap 'exit 0' TERM; sleep 300 & wait"]
services:
  db:
    image: busybox
    command: *idle
  cache:
    image: busybox
    command: *idle
  api:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; i=0; while :; do i=$$((i+1)); echo GET /orders/$$i 200; ping -c 1 -W 1 db >/dev/null 2>&1; seq 1 5000 >/dev/null; sleep 0.3; done"]
    depends_on:
      db: { condition: service_started }
      cache: { condition: service_started }
  web:
    image: busybox
    command: *idle
    depends_on: [api]
`);
  const up = d.dray(['compose', '-p', 'graphdemo', 'up', '-d'], undefined, { cwd: dir, env: { NO_COLOR: '1' } });
  assert.equal(up.code, 0, up.stderr);
  await view('#/containers');
  const graph = page.locator('section[data-project="graphdemo"] details.graph svg.deps');
  await graph.waitFor({ timeout: 5000 });
  for (const s of ['db', 'cache', 'api', 'web']) await graph.locator(`a[data-service="${s}"]`).waitFor({ timeout: 2000 });
  const edges = (await graph.locator('path.edge').evaluateAll((ps) => ps.map((p) => p.getAttribute('data-edge')))).sort();
  assert.deepEqual(edges, ['api>cache', 'api>db', 'web>api']);
  // Dependencies stand left of what needs them.
  const x = async (s: string) => Number(await graph.locator(`a[data-service="${s}"] rect`).getAttribute('x'));
  assert.ok(await x('db') < await x('api') && await x('api') < await x('web'), 'db, then api, then web');
  assert.equal(await x('db'), await x('cache'));
  assert.match(await graph.getAttribute('aria-label') ?? '', /web depends on api \(service started\)/);
  await shot('compose-graph');
  // The keyboard reaches a service and opens its container's page.
  const webLink = graph.locator('a[data-service="web"]');
  assert.match(await webLink.getAttribute('aria-label') ?? '', /^Service web \(running\), container graphdemo-web-1$/);
  await webLink.focus();
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: /graphdemo-web-1/ }).waitFor({ timeout: 5000 });
  composeDir = dir; // the project stays up for the overview screenshots at the end
});

test('the container page: network and block I/O charts, inspect as a folding tree, files to browse and download', async () => {
  const gw = (await d.api('GET', '/networks/bridge')).json.IPAM.Config[0].Gateway;
  const id = await runNamed('dash-files', ['sh', '-c', `trap "exit 0" TERM; mkdir -p /srv/app && echo hello-from-the-container > /srv/app/greeting.txt && ln -s greeting.txt /srv/app/link; while :; do ping -c 1 -W 1 ${gw} >/dev/null 2>&1; sleep 0.2; done`]);
  await view(`#/container/${id}`);
  await page.getByRole('heading', { name: /dash-files/ }).waitFor({ timeout: 5000 });
  // Pings to the bridge's gateway: bytes each way.
  await until(async () => /↓ [1-9][\d.]* (B|kB)\/s ↑ [1-9]/.test(await page.getByTestId('network').innerText()), 'the network chart shows traffic', 8000);
  assert.match(await page.getByTestId('blkio').innerText(), /^R \d+(\.\d)? (B|kB|MB)\/s W \d+(\.\d)? (B|kB|MB)\/s$/);
  assert.equal(await page.getByRole('img', { name: 'Network, last minute' }).count(), 1);
  assert.equal(await page.getByRole('img', { name: 'Block I/O, last minute' }).count(), 1);
  // Inspect: the top level open, deeper levels folded; Enter on a summary unfolds it.
  const tree = page.locator('ul.tree');
  const config = tree.locator(':scope > li[data-key="Config"] > details');
  assert.equal(await config.getAttribute('open'), '');
  const labels = config.locator(':scope > ul > li[data-key="Cmd"] > details');
  assert.equal(await labels.getAttribute('open'), null, 'a second level is folded');
  await labels.locator('summary').focus();
  await page.keyboard.press('Enter');
  assert.equal(await labels.getAttribute('open'), '');
  assert.match(await labels.innerText(), /"sh"/);
  assert.match(await tree.locator(':scope > li[data-key="Id"]').innerText(), new RegExp(id));
  await page.getByRole('button', { name: 'Collapse the whole inspect tree' }).click();
  assert.equal(await tree.locator('details[open]').count(), 0);
  // Files: from / down to /srv/app, a file downloaded as itself.
  await page.getByRole('button', { name: "Browse the container's files" }).click();
  const files = page.locator('section[aria-label="Files"] .panel');
  await files.locator('tr[data-entry="etc"][data-type="dir"]').waitFor({ timeout: 5000 });
  await page.getByRole('link', { name: 'Open directory /srv' }).click();
  await page.getByRole('link', { name: 'Open directory /srv/app' }).click();
  await files.locator('[data-dir="/srv/app"] tr[data-entry="greeting.txt"]').waitFor({ timeout: 5000 }).catch(async () => {
    await files.locator('tr[data-entry="greeting.txt"]').waitFor({ timeout: 5000 });
  });
  assert.match(await files.locator('tr[data-entry="link"]').innerText(), /→ greeting\.txt/);
  assert.equal(await files.locator('tr[data-entry="link"] a').count(), 0, 'a symlink is not offered for download');
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 5000 }), page.getByRole('link', { name: 'Download /srv/app/greeting.txt' }).click()]);
  assert.equal(download.suggestedFilename(), 'greeting.txt');
  assert.equal(readFileSync(await download.path()).toString(), 'hello-from-the-container\n');
  await shot('container-files');
  // A path that is not there, and one that is not a directory: clear errors.
  const get = (p: string) => page.evaluate(async (u) => { const r = await fetch(u); return { status: r.status, body: await r.json() }; }, p);
  const missing = await get(`/api/files/${id}?path=/nope`);
  assert.equal(missing.status, 404);
  assert.equal(missing.body.message, 'Could not find the file /nope in container');
  assert.equal((await get(`/api/files/${id}?path=/srv/app/greeting.txt`)).status, 400);
  assert.equal((await get(`/api/files/${id}/download?path=/srv`)).status, 400);
  // The breadcrumb goes back up.
  await page.getByRole('button', { name: 'Go to the root directory' }).click();
  await files.locator('tr[data-entry="srv"]').waitFor({ timeout: 5000 });
  await d.api('DELETE', `/containers/${id}?force=1`);
});

test('images: history, who uses them, push and pull with live progress against a local registry, prune with what it frees', async () => {
  const dir = mkdtempSync('/tmp/dray-dash-reg-');
  dirs.push(dir);
  registry = await startDray(dir, { args: ['--storage', path.join(dir, 'store')] });
  const repo = `127.0.0.1:${registry.port}/dash/busybox`;
  assert.equal((await d.api('POST', `/images/busybox:latest/tag?repo=${encodeURIComponent(repo)}&tag=v1`)).status, 201);
  const user = await runNamed('img-user', ['sh', '-c', 'head -c 50000 /dev/urandom > /data.bin; exec sleep 300']);
  await view('#/images');
  const row = page.locator('tr[data-ref="busybox:latest"]');
  await row.waitFor({ timeout: 5000 });
  await row.locator('[data-used-by]').getByRole('link', { name: 'img-user' }).waitFor({ timeout: 5000 });
  // History: the image's steps.
  await page.getByRole('button', { name: 'Show the layers of busybox:latest' }).click();
  const history = page.locator('table[data-history]');
  await history.locator('tr[data-step="0"]').waitFor({ timeout: 5000 });
  assert.ok(await history.locator('tbody tr').count() >= 1);
  assert.match(await history.locator('tbody tr').first().innerText(), /\d+(\.\d)? (B|kB|MB)/);
  await shot('images-history');
  await page.getByRole('button', { name: 'Hide the layers of busybox:latest' }).click();
  // Push: progress as it goes, then the registry has the manifest.
  await page.getByRole('button', { name: `Push ${repo}:v1` }).click();
  const pushed = page.locator(`[aria-label="Push progress of ${repo}:v1"]`);
  await pushed.and(page.locator('[data-progress="done"]')).waitFor({ timeout: 20_000 });
  assert.match(await pushed.innerText(), /Pushed|Layer already exists/);
  assert.match(await pushed.innerText(), /v1: digest: sha256:[0-9a-f]{64}/);
  const manifest = await request('GET', `${registry.url}/v2/dash/busybox/manifests/v1`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' } });
  assert.equal(manifest.status, 200);
  // Pull it back under another tag through the form (the keyboard: type, Enter).
  assert.equal((await d.api('POST', `/images/${encodeURIComponent(`${repo}:v1`)}/tag?repo=${encodeURIComponent(repo)}&tag=v2`)).status, 201);
  const push2 = d.dray(['push', `${repo}:v2`]);
  assert.equal(push2.code, 0, push2.stderr);
  assert.equal((await d.api('DELETE', `/images/${encodeURIComponent(`${repo}:v2`)}`)).status, 200);
  await page.locator(`tr[data-ref="${repo}:v2"]`).waitFor({ state: 'detached', timeout: 5000 });
  await page.getByLabel('Pull', { exact: true }).fill(`${repo}:v2`);
  await page.keyboard.press('Enter');
  const pulled = page.locator('[aria-label="Pull progress"]');
  await pulled.and(page.locator('[data-progress="done"]')).waitFor({ timeout: 20_000 });
  assert.match(await pulled.innerText(), /Status: (Downloaded newer image|Image is up to date) for/);
  await page.locator(`tr[data-ref="${repo}:v2"]`).waitFor({ timeout: 5000 });
  // A pull that fails says why, in the page.
  await page.getByLabel('Pull', { exact: true }).fill(`127.0.0.1:${registry.port}/dash/nothing-here:v9`);
  await page.getByRole('button', { name: 'Pull the image' }).click();
  await pulled.and(page.locator('[data-progress="failed"]')).waitFor({ timeout: 20_000 });
  assert.match(await pulled.getByRole('alert').innerText(), /not found|unknown|manifest/i);
  await shot('images-pull');
  // Prune: a dangling image (a commit without a tag) no container uses; the button says what it
  // frees: its own layer, not busybox's under it, which a tagged image keeps.
  await until(async () => (await d.api('GET', `/containers/${user}/archive?path=/data.bin`)).status === 200, 'the container wrote its file', 5000);
  const commit = await d.api('POST', `/commit?container=${user}`);
  assert.equal(commit.status, 201, commit.body.toString());
  const danglingId = commit.json.Id as string;
  const prune = page.locator('button[data-prune-frees]');
  await until(async () => /Prune dangling \(1, frees [\d.]+ (kB|MB)\)/.test(await prune.innerText()), 'the prune button counts the dangling image', 5000)
    .catch(async (e) => { throw new Error(`${e.message}: ${await prune.innerText()} ${JSON.stringify((await d.api('GET', '/images/json')).json)}`); });
  const size = (await d.api('GET', `/images/${danglingId}/json`)).json.Size - (await d.api('GET', '/images/busybox/json')).json.Size;
  assert.ok(size >= 50_000, `the commit's own layer holds the file: ${size}`);
  const frees = Number(await prune.getAttribute('data-prune-frees'));
  assert.equal(frees, size);
  const answer = page.waitForResponse((r) => r.url().endsWith('/api/engine/images/prune'), { timeout: 10_000 });
  await prune.click();
  assert.equal((await (await answer).json()).SpaceReclaimed, frees, 'it freed what it said it would');
  await page.getByRole('status').filter({ hasText: /Removed \d+ entries/ }).waitFor({ timeout: 5000 });
  assert.equal((await d.api('GET', `/images/${danglingId}/json`)).status, 404);
  assert.equal((await d.api('GET', '/images/busybox:latest/json')).status, 200, 'a tagged image stays');
  await d.api('DELETE', `/containers/${user}?force=1`);
});

test('disk usage: totals, what each prune frees, pruning from the page; the theme button', async () => {
  // A stopped container with 256 kB in its writable layer, and an unused anonymous volume with 128 kB.
  const c = await runNamed('disk-rw', ['dd', 'if=/dev/zero', 'of=/blob', 'bs=1024', 'count=256']);
  await waitExit(c);
  assert.equal((await d.api('POST', '/volumes/create', { Name: 'disk-anon', Labels: { 'com.docker.volume.anonymous': '' } })).status, 201);
  const v = await runNamed('disk-vol', ['dd', 'if=/dev/zero', 'of=/data/blob', 'bs=1024', 'count=128'], { HostConfig: { Binds: ['disk-anon:/data'] } });
  await waitExit(v);
  assert.equal((await d.api('DELETE', `/containers/${v}`)).status, 204);
  const df = (await d.api('GET', '/system/df')).json;
  const rw = df.Containers.filter((x: any) => x.State === 'exited').reduce((n: number, x: any) => n + (x.SizeRw ?? 0), 0);
  assert.ok(rw >= 256 * 1024, `the stopped container holds its blob: ${rw}`);
  await page.getByRole('link', { name: 'Disk usage' }).click();
  const card = (k: string) => page.locator(`section[data-disk="${k}"]`);
  await card('containers').waitFor({ timeout: 5000 });
  assert.equal(Number(await card('containers').locator('[data-frees]').getAttribute('data-frees')), rw);
  assert.ok(Number(await card('volumes').locator('[data-frees]').getAttribute('data-frees')) >= 128 * 1024);
  for (const k of ['images', 'containers', 'volumes', 'build-cache']) await card(k).getByRole('button', { name: /^Prune / }).waitFor({ timeout: 2000 });
  await shot('disk');
  await card('containers').getByRole('button', { name: /^Prune containers, frees/ }).click();
  await page.getByRole('status').filter({ hasText: /Pruned stopped containers: [\d.]+ (kB|MB) freed/ }).waitFor({ timeout: 5000 });
  assert.equal((await d.api('GET', `/containers/${c}/json`)).status, 404);
  await until(async () => Number(await card('containers').locator('[data-frees]').getAttribute('data-frees')) === 0, 'the card updates from the events', 5000);
  await card('volumes').getByRole('button', { name: /^Prune volumes, frees/ }).click();
  await until(async () => (await d.api('GET', '/volumes/disk-anon')).status === 404, 'the anonymous volume is pruned', 5000);
  // Themes: the button cycles auto → light → dark, and the page follows.
  const bg = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(await bg(), 'rgb(247, 248, 250)', 'light, as the browser prefers');
  await page.getByRole('button', { name: /^Theme: auto; switch to light$/ }).click();
  await page.getByRole('button', { name: /^Theme: light; switch to dark$/ }).click();
  await until(async () => (await bg()) === 'rgb(13, 17, 23)', 'the dark theme applies', 2000);
  await shot('disk-dark');
  await page.getByRole('button', { name: /^Theme: dark; switch to auto$/ }).click();
  await until(async () => (await bg()) === 'rgb(247, 248, 250)', 'back to the browser\'s preference', 2000);
});

test('volumes and networks: created from the page, who uses each, removed; a bad subnet is refused with its reason', async () => {
  await page.getByRole('link', { name: 'Volumes' }).click();
  await page.getByLabel('New volume').fill('vol-ui');
  await page.keyboard.press('Enter');
  const vrow = page.locator('tr[data-name="vol-ui"]');
  await vrow.waitFor({ timeout: 5000 });
  assert.equal((await d.api('GET', '/volumes/vol-ui')).status, 200);
  await page.getByRole('link', { name: 'Networks' }).click();
  await page.getByLabel('New network').fill('net-ui');
  await page.getByLabel('Subnet').fill('10.1.2.3/99');
  await page.getByRole('button', { name: 'Create the network' }).click();
  await page.getByRole('alert').filter({ hasText: /10\.1\.2\.3\/99/ }).waitFor({ timeout: 5000 });
  assert.equal((await d.api('GET', '/networks/net-ui')).status, 404, 'nothing made of a bad subnet');
  await page.getByLabel('Subnet').fill(`10.${d.subnetByte}.77.0/24`);
  await page.getByLabel('Internal').check();
  await page.getByRole('button', { name: 'Create the network' }).click();
  const nrow = page.locator('tr[data-name="net-ui"]');
  await nrow.waitFor({ timeout: 5000 });
  assert.match(await nrow.innerText(), new RegExp(`net-ui \\(internal\\)[\\s\\S]*10\\.${d.subnetByte}\\.77\\.0/24`));
  // A container on both: each row names it, as a link to its page.
  const id = await runNamed('uses-both', ['sleep', '300'], { HostConfig: { NetworkMode: 'net-ui', Binds: ['vol-ui:/data'] } });
  await nrow.getByRole('link', { name: 'uses-both' }).waitFor({ timeout: 5000 });
  await page.getByRole('link', { name: 'Volumes' }).click();
  await vrow.getByRole('link', { name: 'uses-both' }).waitFor({ timeout: 5000 });
  await shot('volumes-used');
  assert.equal((await d.api('DELETE', `/containers/${id}?force=1`)).status, 204);
  await vrow.locator('[data-used-by]').waitFor({ state: 'detached', timeout: 5000 });
  await page.getByRole('button', { name: 'Remove volume vol-ui' }).click();
  await vrow.waitFor({ state: 'detached', timeout: 5000 });
  await page.getByRole('link', { name: 'Networks' }).click();
  await page.getByRole('button', { name: 'Remove network net-ui' }).click();
  await nrow.waitFor({ state: 'detached', timeout: 5000 });
  assert.equal((await d.api('GET', '/networks/net-ui')).status, 404);
});

test('builds: the recent builds step by step (a miss with its reason, then a hit), and the step cache with its hits', async () => {
  const dir = mkdtempSync('/tmp/dray-dash-build-');
  dirs.push(dir);
  writeFileSync(path.join(dir, 'Dockerfile'), 'FROM busybox\nRUN echo dash-built > /built.txt\n');
  for (let i = 0; i < 2; i++) {
    const b = d.dray(['build', '-q', '--explain-cache', '-t', 'dash-built', dir]);
    assert.equal(b.code, 0, b.stderr);
  }
  // A build that fails is recorded too, with the step that failed.
  writeFileSync(path.join(dir, 'Dockerfile'), 'FROM busybox\nRUN exit 3\n');
  assert.notEqual(d.dray(['build', '-q', '-t', 'dash-broken', dir]).code, 0);
  const builds = (await d.api('GET', '/dray/builds')).json;
  assert.deepEqual(builds.slice(0, 3).map((b: any) => [b.tags.join(), b.steps.map((x: any) => x.failed ? 'failed' : x.cached ? 'hit' : 'miss').join()]),
    [['dash-broken:latest', 'failed'], ['dash-built:latest', 'hit'], ['dash-built:latest', 'miss']]);
  assert.match(builds[2].steps[0].missReason, /.+/, 'the first build ran with --explain-cache: its miss says why');
  assert.match(builds[0].error, /exit code: 3|returned a non-zero code: 3/);
  await page.getByRole('link', { name: 'Builds' }).click();
  const recent = page.locator('ul[aria-label="Recent builds"] > li');
  await recent.nth(2).waitFor({ timeout: 5000 });
  assert.deepEqual(await recent.evaluateAll((els) => els.slice(0, 3).map((e) => `${e.getAttribute('data-hits')}/${e.getAttribute('data-steps')}`)), ['0/1', '1/1', '0/1']);
  await recent.nth(2).locator('summary').click();
  await recent.nth(2).locator('tr[data-cached="no"]', { hasText: 'missed:' }).waitFor({ timeout: 5000 });
  const step = page.locator('table[aria-label="Cached build steps"] tr[data-step*="echo dash-built"]');
  await step.waitFor({ timeout: 5000 });
  assert.equal(await step.getAttribute('data-hits'), '1', 'built once (a miss), then found once (a hit)');
  await shot('builds');
  // A phone's width: the new views fit (tables scroll inside their panels).
  await page.setViewportSize({ width: 390, height: 844 });
  for (const h of ['#/builds', '#/disk', '#/images', '#/containers']) {
    await view(h);
    await page.locator('main h1').waitFor({ timeout: 5000 });
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390), `${h} fits 390 px`);
    await shot(`phone-${h.slice(2)}`);
  }
  await page.setViewportSize({ width: 1280, height: 720 });
  assert.equal((await d.api('DELETE', '/images/dash-built')).status, 200);
});

test('overview screenshots: the list with a project graph and a minute of sparklines, a container page with its four charts', async () => {
  await page.setViewportSize({ width: 1280, height: 900 });
  await view('#/containers');
  await page.locator('section[data-project="graphdemo"] details.graph svg.deps').waitFor({ timeout: 5000 });
  await until(async () => Number(await page.locator('tr[data-name="graphdemo-db-1"] [data-usage="mem"]').getAttribute('data-samples').catch(() => '0')) >= 3, 'a few rounds of samples', 12_000);
  await shot('overview-containers');
  const api = page.locator('tr[data-name="graphdemo-api-1"] a').first();
  await api.click();
  await page.getByRole('heading', { name: /graphdemo-api-1/ }).waitFor({ timeout: 5000 });
  await until(async () => Number(await page.locator('.stats').getAttribute('data-samples')) >= 5, 'a few stats samples', 10_000);
  await page.locator('.logs [data-stream="stdout"]').first().waitFor({ timeout: 5000 });
  await shot('overview-container');
  await page.setViewportSize({ width: 1280, height: 720 });
  const down = d.dray(['compose', '-p', 'graphdemo', 'down', '-t', '1'], undefined, { cwd: composeDir, env: { NO_COLOR: '1' } });
  assert.equal(down.code, 0, down.stderr);
  composeDir = undefined;
});
