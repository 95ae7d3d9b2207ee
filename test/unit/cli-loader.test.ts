// The CLI loader (src/cli/loader.ts): one V8 code cache per command, beside a copy of the bundle.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const dist = path.join(__dirname, '..', '..', 'dist');
const dir = mkdtempSync(path.join(os.tmpdir(), 'dray-loader-'));
after(() => rmSync(dir, { recursive: true, force: true }));
for (const f of ['dray.js', 'dray-main.js']) copyFileSync(path.join(dist, f), path.join(dir, f));
const caches = path.join(dir, 'dray-main.js.caches');

const dray = (...args: string[]) => {
  const r = spawnSync(process.execPath, [path.join(dir, 'dray.js'), ...args], { encoding: 'utf8', env: { ...process.env, DOCKER_HOST: 'unix:///nonexistent/dray.sock' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

test('each command gets its own cache, made once and then used', () => {
  assert.match(dray('--version').out, /^Dray version /);
  const version = path.join(caches, '_.cache');
  assert.ok(existsSync(version));
  const first = statSync(version).mtimeMs;
  assert.match(dray('--version').out, /^Dray version /);
  assert.equal(statSync(version).mtimeMs, first, 'a valid cache is not written again');
  dray('volume', 'ls');
  assert.deepEqual(readdirSync(caches).sort(), ['_.cache', 'volume-ls.cache']);
  assert.ok(statSync(path.join(caches, 'volume-ls.cache')).size > statSync(version).size, 'it holds what volume ls compiled');
});

test('a broken cache is ignored and replaced; a full cache directory takes no new command', () => {
  const version = path.join(caches, '_.cache');
  writeFileSync(version, 'garbage');
  assert.match(dray('--version').out, /^Dray version /);
  assert.ok(statSync(version).size > 1000, 'rewritten');
  assert.notEqual(readFileSync(version, 'utf8').slice(4, 11), 'garbage');
  for (let i = readdirSync(caches).length; i < 64; i++) writeFileSync(path.join(caches, `filler-${i}.cache`), '');
  assert.match(dray('network', 'ls').err, /Cannot connect/);
  assert.ok(!existsSync(path.join(caches, 'network-ls.cache')));
});
