// drayd's CPU with the dashboard open on many containers (issue 24: < 2% of a core for 100).
//   dist/node --import tsx bench/dashboard-cpu.ts [containers=100] [seconds=20]
// A private drayd (test/helpers/daemon.ts) with N running containers; Debian's chromium through
// playwright-core. Measures drayd's own CPU time (utime+stime of /proc/<pid>/stat, children not
// included) over a window: with no page, with the containers list open, and with one container's
// page open (its logs and stats streams). The list's window includes its CPU/memory sparklines (the
// dashboard's one /api/stats stream, every running container sampled every 2 s). Prints the list's
// load time too. Cleans up after itself.
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { TestDaemon, sleep } from '../test/helpers/daemon';

const N = Number(process.argv[2] ?? 100);
const SECONDS = Number(process.argv[3] ?? 20);
const TICKS = 100; // USER_HZ

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime, stime
}

async function window(pid: number, what: string): Promise<number> {
  const a = cpuTicks(pid);
  const t0 = Date.now();
  await sleep(SECONDS * 1000);
  const pct = ((cpuTicks(pid) - a) / TICKS) / ((Date.now() - t0) / 1000) * 100;
  console.log(`${what.padEnd(44)} drayd CPU ${pct.toFixed(2)} % of a core over ${SECONDS} s`);
  return pct;
}

async function main(): Promise<void> {
  const d = new TestDaemon();
  let browser: import('playwright-core').Browser | undefined;
  try {
    await d.start();
    await d.bootstrapBusybox();
    const ids: string[] = [];
    for (let i = 0; i < N; i += 4) {
      ids.push(...await Promise.all(Array.from({ length: Math.min(4, N - i) }, (_, k) => {
        const n = i + k;
        const labels = n % 5 === 0 ? {} : { 'com.docker.compose.project': `proj${n % 5}`, 'com.docker.compose.service': `svc${n}` };
        return d.runDetached(['sh', '-c', 'echo started; exec sleep 3600'], { Labels: labels });
      })));
    }
    console.log(`${N} containers running`);
    const pid = d.proc!.pid!;
    await sleep(2000);
    await window(pid, 'no dashboard page');
    const url = (await d.api('GET', '/dray/dashboard')).json.URL as string;
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 720 } })).newPage();
    const t0 = Date.now();
    await page.goto(url);
    await page.waitForFunction((n) => document.querySelectorAll('tr[data-id]').length >= n, N, { timeout: 30_000 });
    console.log(`containers list with ${N} rows shown ${Date.now() - t0} ms after navigation (token redirect included)`);
    // The sparklines: the one stats stream's rounds reach every row.
    await page.waitForFunction((n) => document.querySelectorAll('[data-usage="mem"]').length >= n, N, { timeout: 30_000 });
    const rounds = async () => Number(await page.evaluate(() => document.documentElement.dataset.statsRounds ?? '0'));
    const r0 = await rounds();
    await window(pid, `containers list open (${N} containers, sparklines)`);
    console.log(`  ${(await rounds()) - r0} stats rounds of ${N} containers each reached the page in the window`);
    await page.goto(`${new URL(url).origin}/#/container/${ids[0]}`);
    await page.locator('.stats[data-samples="2"]').waitFor({ timeout: 10_000 });
    await window(pid, 'one container page open (logs + stats)');
  } finally {
    await browser?.close();
    const leaks = await d.stop();
    if (leaks.length) { console.error('left behind:', leaks); process.exitCode = 1; }
  }
}

void main();
