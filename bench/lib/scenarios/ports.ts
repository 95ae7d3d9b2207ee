// Published-port throughput, Dray against itself (no Docker involved): one keep-alive HTTP server
// in a container on the default bridge with `-p 127.0.0.1:<free port>:80`, serving a 1 KiB and a
// 1 MiB file from a bind-mounted directory. Requests/s with wrk (-t2 -c16 -d2s) through the
// published port (http://127.0.0.1:<port>/…) against the same server at its container address
// (http://<container IP>:80/…, which the host routes to over Dray's bridge). The direct address is
// the row's floor; the target is published ≥ 0.9 × direct, judged on the median of the paired
// ratios (each published run against the direct run next to it: the host's load drifts). Traffic
// goes only to 127.0.0.1 and the container's address.
//
// The server is Node.js's http module in `bench-httpd-node` (see ../httpd-image.ts: FROM scratch,
// the host's own node binary and the libraries ldd lists, built with `dray build` at the start and
// removed at the end). wrk's 16 connections then stay open for the whole run, so what is measured
// is the forwarding path (DNAT + bridge vs bridge alone). busybox httpd, which this scenario used
// first, closes every connection after one response: wrk then opens thousands of connections a
// second, tens of thousands of sockets pile up in TIME_WAIT, ephemeral ports (and on the
// published path the NAT's source ports) run out, and the numbers swing by 4× with whatever the
// previous runs left behind. It stays only as a fallback when the image cannot be built; the row
// says which server answered.
//
// Run length: 12 pairs of 2 s runs (2 in --quick). With keep-alive a 2 s run is ~80,000 requests
// of 1 KiB or ~4,000 of 1 MiB, steady on its own; what moves the numbers on a 2-core host is other
// work, and shorter runs put each published run closer in time to its direct partner. Measured on
// a shared, busy host (load 1–4): pairs of 3 s × 8 spread 0.58–1.88 (1 KiB), pairs of 2 s × 12
// 0.78–1.15.
//
// wrk comes from Debian (apt-get install -y wrk, tried once if it is missing). Without it, a
// bounded Node.js loop of keep-alive GETs (a fixed count, 16 in flight) stands in; the row notes
// which tool measured.
import { mkdirSync, writeFileSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import * as path from 'node:path';
import { newRow, Row } from '../model';
import { Scenario, cliOk, reps, setError, sleep } from '../scenario';
import { CLI_DIR, Engine } from '../engines';
import { median } from '../stats';
import { run } from '../proc';
import { HTTPD_NODE_TAG, buildNodeHttpd, removeNodeHttpd } from '../httpd-image';
import { freePort } from '../net';

const WWW = path.join(CLI_DIR, 'www');
const NAME = 'bench-httpd';
const FILES: [string, number, string][] = [['f1k', 1024, '1 KiB'], ['f1m', 1024 * 1024, '1 MiB']];
const WRK_ARGS = ['-t2', '-c16', '-d2s'];
const NODE_LOOP = { f1k: 20_000, f1m: 2_000 } as Record<string, number>;

function which(cmd: string): string | undefined {
  for (const d of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    if (existsSync(path.join(d, cmd))) return path.join(d, cmd);
  }
  return undefined;
}

async function ensureWrk(log: (m: string) => void): Promise<string | undefined> {
  if (which('wrk')) return which('wrk');
  if (!which('apt-get')) return undefined;
  log('  installing wrk (apt-get install -y wrk)…');
  const r = await run('apt-get', ['install', '-y', '--no-install-recommends', 'wrk'], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeoutMs: 300_000 }).catch(() => undefined);
  if (r?.code !== 0) log(`  apt-get install wrk failed: ${(r?.stderr ?? '').trim().split('\n').slice(-1)[0] ?? ''}`);
  return which('wrk');
}

/** One HTTP GET; resolves with the status and byte count (without an agent: a one-off connection). */
function get(url: string, agent: http.Agent | false = false, timeoutMs = 5000): Promise<{ status: number; bytes: number; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, timeout: timeoutMs }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => { bytes += c.length; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, reused: req.reusedSocket }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timed out`)));
    req.on('error', reject);
  });
}

async function waitServing(url: string, size: number): Promise<void> {
  let last = '';
  for (let i = 0; i < 100; i++) {
    try {
      const r = await get(url, false, 1000);
      if (r.status === 200 && r.bytes === size) return;
      last = `HTTP ${r.status}, ${r.bytes} bytes`;
    } catch (e) { last = (e as Error).message; }
    await sleep(100);
  }
  throw new Error(`${url} not serving ${size} bytes after 10 s: ${last}`);
}

/** Whether the server keeps a connection open: two GETs over one keep-alive socket, the second reusing it. */
async function keepsAlive(url: string): Promise<boolean> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    await get(url, agent);
    await sleep(50); // the socket goes back to the agent's free list after 'end'
    return (await get(url, agent)).reused;
  } catch { return false; } finally { agent.destroy(); }
}

/** TCP sockets in TIME_WAIT on the host (the `tw` of /proc/net/sockstat): what connection churn leaves behind. */
function timeWait(): number | undefined {
  try {
    return Number(/TCP:.*\btw (\d+)/.exec(readFileSync('/proc/net/sockstat', 'utf8'))?.[1] ?? NaN);
  } catch { return undefined; }
}

/** Requests/s from one wrk run; throws on socket errors or non-2xx answers. */
async function wrkRps(wrk: string, url: string): Promise<{ rps: number; transfer: string }> {
  const r = await run(wrk, [...WRK_ARGS, url], { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`wrk ${url}: exit ${r.code}: ${r.stderr.trim().slice(0, 200)}`);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout);
  if (!rps) throw new Error(`wrk ${url}: no Requests/sec in: ${r.stdout.trim().slice(0, 300)}`);
  const bad = /Non-2xx or 3xx responses:\s+(\d+)/.exec(r.stdout);
  if (bad) throw new Error(`wrk ${url}: ${bad[1]} non-2xx answers`);
  const sock = /Socket errors:.*/.exec(r.stdout);
  if (sock && /(connect|read|write|timeout) [1-9]/.test(sock[0])) throw new Error(`wrk ${url}: ${sock[0]}`);
  return { rps: Number(rps[1]), transfer: /Transfer\/sec:\s+(\S+)/.exec(r.stdout)?.[1] ?? '' };
}

/** The fallback: `count` keep-alive GETs, 16 in flight; requests/s. */
async function nodeRps(url: string, count: number, size: number): Promise<{ rps: number; transfer: string }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  let next = 0;
  const t0 = process.hrtime.bigint();
  try {
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < count) {
        next++;
        const r = await get(url, agent, 10_000);
        if (r.status !== 200 || r.bytes !== size) throw new Error(`GET ${url}: HTTP ${r.status}, ${r.bytes} bytes`);
      }
    }));
  } finally { agent.destroy(); }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return { rps: count / s, transfer: `${((count * size) / s / 1048576).toFixed(1)}MB` };
}

function containerIp(inspect: any): string {
  const nets = inspect?.NetworkSettings?.Networks ?? {};
  const ip = nets.bridge?.IPAddress || Object.values<any>(nets).find((n) => n?.IPAddress)?.IPAddress || inspect?.NetworkSettings?.IPAddress;
  if (!ip) throw new Error(`no container IP address in inspect: ${JSON.stringify(inspect?.NetworkSettings ?? {}).slice(0, 300)}`);
  return ip;
}

export const publishedPorts: Scenario = {
  id: 'ports',
  title: 'published-port throughput (Dray: 127.0.0.1:port vs container IP)',
  async run(ctx) {
    const n = reps(ctx, 12, 2);
    const rows: Row[] = FILES.map(([f, , label]) => ({ ...newRow(`port-${f}`, `published port, GET ${label} (req/s; floor: container IP)`, 'req/s', [{ kind: 'floor-min', min: 0.9 }]), pairedFloor: true }));
    const dray: Engine | undefined = ctx.dray;
    if (!dray) { for (const r of rows) setError(r, 'dray', 'no Dray in this run'); return rows; }
    const wrk = await ensureWrk(ctx.log);
    const tool = wrk ? `wrk ${WRK_ARGS.join(' ')}` : `Node.js loop, 16 keep-alive connections, ${NODE_LOOP.f1k} (1 KiB) / ${NODE_LOOP.f1m} (1 MiB) GETs`;

    // the server: Node.js http with keep-alive in an image built here; busybox httpd if that fails
    let server: { kind: 'node-keepalive' | 'busybox-httpd'; desc: string; image: string[]; build?: Record<string, unknown> };
    try {
      const b = await buildNodeHttpd(dray);
      server = { kind: 'node-keepalive', desc: `Node.js ${process.version} http (keep-alive) in ${HTTPD_NODE_TAG} (FROM scratch + the host's ${b.node} and its ${b.libs.length} libraries)`, image: [HTTPD_NODE_TAG], build: { ms: Math.round(b.ms), node: b.node, libs: b.libs, imageId: b.id } };
      ctx.log(`  built ${HTTPD_NODE_TAG} in ${(b.ms / 1000).toFixed(1)} s`);
    } catch (e) {
      const why = (e as Error).message.replace(/\s+/g, ' ').slice(0, 300);
      ctx.log(`  cannot build ${HTTPD_NODE_TAG} (${why}); falling back to busybox httpd, which closes every connection`);
      server = { kind: 'busybox-httpd', desc: `busybox httpd -f (FALLBACK, ${HTTPD_NODE_TAG} could not be built: ${why}; it closes every connection, so this measures connection set-up and port exhaustion, not forwarding)`, image: ['busybox', 'httpd', '-f', '-p', '80', '-h', '/www'], build: { error: why } };
    }
    rows[0].note = `Dray only: ${server.desc} on the default bridge, -p 127.0.0.1:<port>:80; Dray = http://127.0.0.1:<port>, floor = http://<container IP>:80, the same server; measured with ${tool}`;
    rmSync(WWW, { recursive: true, force: true });
    mkdirSync(WWW, { recursive: true });
    for (const [f, size] of FILES) writeFileSync(path.join(WWW, f), randomBytes(size));
    try {
      const port = await freePort();
      const id = (await cliOk(dray, ['run', '-d', '--name', NAME, '-p', `127.0.0.1:${port}:80`, '-v', `${WWW}:/www:ro`, ...server.image])).stdout.trim();
      const ip = containerIp((await dray.apiOk('GET', `/containers/${id}/json`)).json);
      ctx.log(`  ${server.kind} in ${id.slice(0, 12)}: published 127.0.0.1:${port}, container ${ip}:80`);
      const measure = (url: string, f: string, size: number) => (wrk ? wrkRps(wrk, url) : nodeRps(url, NODE_LOOP[f], size));
      for (const [k, [f, size]] of FILES.entries()) {
        const row = rows[k];
        const pub = `http://127.0.0.1:${port}/${f}`;
        const direct = `http://${ip}:80/${f}`;
        const transfers: Record<string, string[]> = { published: [], direct: [] };
        const tw: (number | undefined)[] = [timeWait()];
        let keepAlive: Record<string, boolean> = {};
        try {
          await waitServing(direct, size);
          await waitServing(pub, size);
          keepAlive = { direct: await keepsAlive(direct), published: await keepsAlive(pub) };
          // warm-up (unrecorded), then direct and published alternately, starting side swapped each time
          if (wrk) for (const url of [direct, pub]) await run(wrk, ['-t2', '-c16', '-d1s', url], { timeoutMs: 20_000 });
          for (let i = 0; i < n; i++) {
            const order: ['dray' | 'floor', string][] = i % 2 ? [['dray', pub], ['floor', direct]] : [['floor', direct], ['dray', pub]];
            for (const [side, url] of order) {
              const m = await measure(url, f, size);
              (row.samples[side] ??= []).push(m.rps);
              transfers[side === 'dray' ? 'published' : 'direct'].push(m.transfer);
            }
          }
        } catch (e) { setError(row, 'dray', e); ctx.log(`  ${row.id}: ${(e as Error).message}`); }
        tw.push(timeWait());
        // the host's load drifts over the minute this takes; each published run sits next to its
        // direct one, so the paired ratios are steadier than the ratio of the medians
        const pairs = (row.samples.dray ?? []).map((v, i) => v / (row.samples.floor?.[i] ?? NaN)).filter(Number.isFinite);
        const pm = median(pairs);
        row.extra = { server: server.kind, serverDesc: server.desc, serverBuild: server.build, keepAlive, port, containerIp: ip, tool, transferPerSec: transfers, pairedRatios: pairs, pairedRatioMedian: pm, timeWaitBeforeAfter: tw };
        const ka = keepAlive.direct && keepAlive.published ? 'keep-alive' : `NO keep-alive (direct ${keepAlive.direct ?? '?'}, published ${keepAlive.published ?? '?'})`;
        const pre = k === 0 ? '' : `server ${server.kind}; `;
        if (pm !== undefined) row.note = `${row.note ? row.note + '; ' : pre}${ka}; paired published/direct: ${pairs.map((x) => x.toFixed(2)).join(' ')} (their median is Dray/floor; ratio of the medians ${((median(row.samples.dray ?? []) ?? NaN) / (median(row.samples.floor ?? []) ?? NaN)).toFixed(3)})`;
      }
    } finally {
      const r = await dray.api('DELETE', `/containers/${NAME}?force=1&v=1`, undefined, 60_000).catch(() => undefined);
      if (r && r.status !== 204 && r.status !== 404) ctx.log(`  removing ${NAME}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
      if (server.kind === 'node-keepalive') { const msg = await removeNodeHttpd(dray); if (msg) ctx.log(`  ${msg}`); }
      rmSync(WWW, { recursive: true, force: true });
    }
    return rows;
  },
};
