// `dray registry serve` against Debian's docker-registry (distribution 2.8) as the server, the same
// client on both: skopeo push and pull of one ~200 MB image of two layers (random, so gzip leaves
// them as they are: an OCI layout written here, pushed as is), the reference registry being the
// row's floor (target: Dray ≥ 1.5× its throughput, judged on the median of paired ratios, each
// Dray run against the reference run next to it). skopeo hashes every byte on both sides (Go's
// SHA-256), so it bounds both servers alike; the (info) rows take the client out: one 100 MB
// blob sent or fetched by curl (no hashing), and 16 curls fetching both layers at once, during
// which each server's RSS is sampled every 50 ms (peak). RSS idle is read 32 s after the last
// request, past the quiet time after which dray gives a burst's memory back.
//
// The same image pushed and pulled by drayd (the docker CLI 28 against a private drayd: its own
// data root, exec root, socket, bridge and subnet under /tmp/bench-registry-server/drayd, started
// and stopped here by PID; the suite's engines are not involved): each push sends both layers,
// each pull fetches, verifies and unpacks both (the image is removed from drayd before it).
//
// Both servers run here on 127.0.0.1 with free ports over directories under
// /tmp/bench-registry-server, which is removed at the end; the servers are stopped by PID.
// Each push goes into an emptied store: skopeo remembers where it saw each blob (as root, in
// /var/lib/containers/cache, which this leaves alone) and would otherwise mount instead of upload.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import * as http from 'node:http';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tarStream from 'tar-stream';
import { newRow, Row } from '../model';
import { Scenario, reps, setError, sleep } from '../scenario';
import { DIST, DOCKER_CLI, dockerEnv, nodeEnv } from '../engines';
import { api, apiOk } from '../api';
import { PrivateDrayd } from '../private-drayd';
import { run } from '../proc';
import { alive, procInfo } from '../procfs';
import { IDLE_GC_QUIET_MS } from '../../../src/lib/idle-gc';
import { freePort } from '../net';

const ROOT = '/tmp/bench-registry-server';
const LAYER = 100_000_000;
const MB = 1e6;

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function tarOf(size: number, name: string): Promise<Buffer> {
  const pack = tarStream.pack();
  const parts: Buffer[] = [];
  pack.on('data', (c: unknown) => parts.push(c as Buffer));
  const done = new Promise<void>((r) => pack.on('end', () => r()));
  pack.entry({ name, size, mode: 0o644, mtime: new Date(0) }, randomBytes(size));
  pack.finalize();
  await done;
  return Buffer.concat(parts);
}

interface Image { layers: { digest: string; size: number; file: string }[]; config: string; bytes: number; dir: string }

/** An OCI layout of two random gzip layers, tag v1. */
async function makeImage(dir: string): Promise<Image> {
  const blobs = path.join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (b: Buffer) => { const d = sha256(b); writeFileSync(path.join(blobs, d.slice(7)), b); return d; };
  const layers: Image['layers'] = [];
  const diffIds: string[] = [];
  for (let i = 0; i < 2; i++) {
    const tar = await tarOf(LAYER, `layer${i}.bin`);
    diffIds.push(sha256(tar));
    const gz = gzipSync(tar, { level: 1 });
    const digest = put(gz);
    layers.push({ digest, size: gz.length, file: path.join(blobs, digest.slice(7)) });
  }
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds }, config: {} }));
  const cd = put(config);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cd, size: config.length },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.size })),
  }));
  const md = put(manifest);
  writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: md, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }] }));
  return { layers, config: cd, bytes: layers.reduce((n, l) => n + l.size, 0) + config.length + manifest.length, dir };
}

interface RegServer { name: string; url: string; port: number; pid: number; log: string }

function get(url: string, timeoutMs = 10_000): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => { bytes += c.length; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timed out`)));
    req.on('error', reject);
  });
}

async function startServer(name: string, cmd: string, args: string[], port: number, log: string): Promise<RegServer> {
  const fd = openSync(log, 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], detached: true, env: nodeEnv() });
  closeSync(fd);
  child.unref();
  if (!child.pid) throw new Error(`${name} did not start`);
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 150; i++) {
    if (!alive(child.pid)) break;
    try { if ((await get(`${url}/v2/`, 1000)).status === 200) return { name, url, port, pid: child.pid, log }; } catch { /* not yet */ }
    await sleep(100);
  }
  await stopServer({ name, url, port, pid: child.pid, log });
  throw new Error(`${name} did not answer /v2/ within 15 s: ${readFileSync(log, 'utf8').trim().split('\n').slice(-3).join(' | ').slice(0, 400)}`);
}

async function stopServer(s: RegServer): Promise<void> {
  if (!alive(s.pid)) return;
  try { process.kill(s.pid, 'SIGTERM'); } catch { return; }
  for (let i = 0; i < 100 && alive(s.pid); i++) await sleep(100);
  if (alive(s.pid)) try { process.kill(s.pid, 'SIGKILL'); } catch { /* gone */ }
}

let homes = 0;
/** One skopeo copy; its time in ms (its $HOME, policy and auth files its own). */
async function skopeoCopy(src: string, dst: string): Promise<number> {
  const home = path.join(ROOT, `home-${homes++}`);
  mkdirSync(home, { recursive: true });
  const policy = path.join(home, 'policy.json');
  writeFileSync(policy, '{"default":[{"type":"insecureAcceptAnything"}]}');
  try {
    const r = await run('skopeo', ['--policy', policy, 'copy', '--src-tls-verify=false', '--dest-tls-verify=false', src, dst], { env: { ...process.env, HOME: home }, timeoutMs: 300_000 });
    if (r.code !== 0) throw new Error(`skopeo copy ${src} ${dst}: exit ${r.code}: ${r.stderr.trim().split('\n').slice(-2).join(' | ').slice(0, 300)}`);
    return r.ms;
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

/** curl, timed; its output goes to /dev/null. */
async function curl(args: string[], what: string): Promise<number> {
  const r = await run('curl', ['-sS', '--fail', '-o', '/dev/null', ...args], { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`${what}: curl exit ${r.code}: ${r.stderr.trim().slice(0, 200)}`);
  return r.ms;
}

/** One 100 MB blob in one monolithic upload (POST, then PUT of the file), by curl. */
async function rawPush(s: RegServer, repo: string, file: string, digest: string): Promise<number> {
  const loc = await new Promise<string>((resolve, reject) => {
    const req = http.request(`${s.url}/v2/${repo}/blobs/uploads/`, { method: 'POST', agent: false }, (res) => { res.resume(); res.on('end', () => resolve(res.headers.location ?? '')); });
    req.on('error', reject);
    req.end();
  });
  const u = new URL(loc, s.url);
  u.searchParams.set('digest', digest);
  return curl(['-X', 'PUT', '-H', 'Content-Type: application/octet-stream', '-T', file, u.toString()], `${s.name}: PUT of a 100 MB blob`);
}

const rawPull = (s: RegServer, repo: string, digest: string) => curl([`${s.url}/v2/${repo}/blobs/${digest}`], `${s.name}: GET of a blob`);

const rssMiB = (pid: number) => (procInfo(pid)?.rssKiB ?? 0) / 1024;

/** 16 curl processes fetch both layers at once: total MB/s and the server's peak RSS meanwhile. */
async function pull16(s: RegServer, repo: string, img: Image): Promise<{ mbps: number; peak: number }> {
  let peak = rssMiB(s.pid);
  const timer = setInterval(() => { peak = Math.max(peak, rssMiB(s.pid)); }, 50);
  const t0 = process.hrtime.bigint();
  const urls = img.layers.flatMap((l) => ['-o', '/dev/null', `${s.url}/v2/${repo}/blobs/${l.digest}`]);
  try {
    await Promise.all(Array.from({ length: 16 }, () => curl(urls, `${s.name}: 16 clients`)));
  } finally { clearInterval(timer); }
  peak = Math.max(peak, rssMiB(s.pid));
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  return { mbps: (16 * img.layers.reduce((n, l) => n + l.size, 0)) / MB / (ms / 1000), peak };
}

/**
 * The image as drayd loads it: the OCI layout with a docker-archive manifest.json beside it (the
 * layers stay the gzip blobs skopeo pushes, so drayd pushes the same bytes).
 */
async function imageArchive(img: Image, file: string): Promise<void> {
  const rel = (d: string) => `blobs/sha256/${d.slice(7)}`;
  writeFileSync(path.join(img.dir, 'manifest.json'), JSON.stringify([{ Config: rel(img.config), RepoTags: [`${DRAYD_TAG}`], Layers: img.layers.map((l) => rel(l.digest)) }]));
  const r = await run('tar', ['-c', '-f', file, '-C', img.dir, '.'], { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`tar of the image: exit ${r.code}: ${r.stderr.trim().slice(0, 200)}`);
}

const DRAYD_TAG = 'bench/regsrv:v1';

/** The docker CLI's output, or an error naming the command. */
async function dockerOk(d: PrivateDrayd, args: string[], timeoutMs = 300_000): Promise<{ ms: number; out: string }> {
  const r = await run(DOCKER_CLI, args, { env: dockerEnv(d.host), timeoutMs });
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} (drayd): exit ${r.code}: ${(r.stderr.trim() || r.stdout.trim()).split('\n').slice(-2).join(' | ').slice(0, 300)}`);
  return { ms: r.ms, out: r.stdout };
}

/**
 * drayd as the client, through the docker CLI: per round and server, the image tagged for it,
 * pushed (timed), removed from drayd (rmi -f of its ID: every tag, its layers), pulled back
 * (timed: fetched, verified, unpacked), then the server's store emptied. A round where drayd
 * skipped or mounted a layer, or found one already there, is an error, not a sample.
 */
async function draydRounds(ctx: Parameters<Scenario['run']>[0], img: Image, sides: [RegServer, 'dray' | 'floor'][], n: number, push: Row, pull: Row): Promise<void> {
  const d = new PrivateDrayd({ dir: path.join(ROOT, 'drayd'), bridge: 'drbenchs0', bip: '10.215.0.1/24' });
  const archive = path.join(ROOT, 'image.tar');
  await imageArchive(img, archive);
  try {
    await d.start();
    ctx.log(`  drayd (pid ${d.pid}) on ${d.host}: loading the image…`);
    await dockerOk(d, ['load', '-i', archive]);
    rmSync(archive, { force: true });
    const id = img.config;
    for (let i = -1; i < n; i++) {
      const order = i % 2 ? sides : [...sides].reverse();
      for (const [s, side] of order) {
        const repo = `127.0.0.1:${s.port}/bench/d${i + 1}`;
        const ref = `${repo}:v1`;
        await apiOk(d.socket, 'POST', `/images/${id}/tag?repo=${encodeURIComponent(repo)}&tag=v1`);
        const p = await dockerOk(d, ['push', ref]);
        if (/already exists|Mounted from/.test(p.out)) throw new Error(`drayd's push to ${s.name} skipped a layer: ${p.out.trim().split('\n').slice(-4).join(' | ')}`);
        const rm = await api(d.socket, 'DELETE', `/images/${id}?force=1`, undefined, 120_000);
        if (rm.status !== 200) throw new Error(`rmi -f ${id.slice(7, 19)}: HTTP ${rm.status} ${rm.body.slice(0, 200)}`);
        const q = await dockerOk(d, ['pull', ref]);
        if (/Already exists/.test(q.out)) throw new Error(`drayd's pull from ${s.name} found a layer already there: ${q.out.trim().split('\n').slice(-4).join(' | ')}`);
        rmSync(path.join(ROOT, side === 'dray' ? 'dray' : 'reference'), { recursive: true, force: true });
        if (i < 0) continue;
        (push.samples[side] ??= []).push(img.bytes / MB / (p.ms / 1000));
        (pull.samples[side] ??= []).push(img.bytes / MB / (q.ms / 1000));
        ctx.log(`  ${s.name}, drayd as the client: push ${(img.bytes / MB / (p.ms / 1000)).toFixed(0)} MB/s, pull ${(img.bytes / MB / (q.ms / 1000)).toFixed(0)} MB/s`);
      }
    }
    await api(d.socket, 'DELETE', `/images/${id}?force=1`, undefined, 120_000);
  } finally {
    await d.stop();
    const left = d.leaks();
    if (left.length) ctx.log(`  the private drayd left: ${left.join(', ')}`);
  }
}

export const registryServer: Scenario = {
  id: 'registry-server',
  title: 'dray registry serve vs docker-registry (distribution 2.8), skopeo and drayd as the clients',
  async run(ctx) {
    const n = reps(ctx, 5, 2);
    const note = 'Dray = dray registry serve, floor = Debian\'s docker-registry (distribution 2.8), both on 127.0.0.1 over a local directory';
    const push = { ...newRow('regsrv-push', 'registry server: skopeo push, 200 MB image of 2 layers (MB/s; floor: docker-registry)', 'MB/s', [{ kind: 'floor-min', min: 1.5 }]), pairedFloor: true, note } as Row;
    const pull = { ...newRow('regsrv-pull', 'registry server: skopeo pull of the same (MB/s; floor: docker-registry)', 'MB/s', [{ kind: 'floor-min', min: 1.5 }]), pairedFloor: true } as Row;
    const rawPushRow = { ...newRow('regsrv-push-raw', '(info) one 100 MB blob pushed by curl, no client hashing (MB/s)', 'MB/s'), pairedFloor: true } as Row;
    const rawPullRow = { ...newRow('regsrv-pull-raw', '(info) one 100 MB blob pulled by curl (MB/s)', 'MB/s'), pairedFloor: true } as Row;
    const p16 = { ...newRow('regsrv-pull16', '(info) 16 curls pulling both layers at once (total MB/s)', 'MB/s'), pairedFloor: true } as Row;
    const rssIdle = newRow('regsrv-rss-idle', 'registry server RSS, idle (32 s) after the pushes and pulls (MiB; floor: docker-registry)', 'MiB');
    const rss16 = newRow('regsrv-rss-16', 'registry server RSS, peak during the 16-client pull (MiB)', 'MiB');
    const pushD = { ...newRow('regsrv-push-drayd', 'registry server: docker push through drayd (docker CLI 28), the same image (MB/s; floor: docker-registry)', 'MB/s', [{ kind: 'floor-min', min: 1.5 }]), pairedFloor: true } as Row;
    const pullD = { ...newRow('regsrv-pull-drayd', 'registry server: docker pull through drayd of the same, unpacked (MB/s; floor: docker-registry)', 'MB/s', [{ kind: 'floor-min', min: 1.5 }]), pairedFloor: true } as Row;
    const rows = [push, pull, pushD, pullD, rawPushRow, rawPullRow, p16, rssIdle, rss16];
    const drayJs = path.join(DIST, 'dray.js');
    const nodeBin = path.join(DIST, 'node');
    const fail = (e: unknown) => { for (const r of rows) setError(r, 'dray', e); return rows; };
    if (!existsSync(drayJs) || !existsSync(path.join(DIST, 'dray-registry.js'))) return fail(new Error(`${DIST}/dray-registry.js is missing (run node scripts/build.mjs)`));
    if (!existsSync('/usr/bin/docker-registry') || !existsSync('/usr/bin/skopeo')) return fail(new Error('needs Debian\'s docker-registry and skopeo (apt-get install docker-registry skopeo)'));
    rmSync(ROOT, { recursive: true, force: true });
    mkdirSync(ROOT, { recursive: true });
    const servers: RegServer[] = [];
    try {
      ctx.log('  making a 200 MB OCI image of two random layers…');
      const img = await makeImage(path.join(ROOT, 'image'));
      const [dp, rp] = [await freePort(), await freePort()];
      const dray = await startServer('dray registry serve', nodeBin, [drayJs, 'registry', 'serve', '--listen', `127.0.0.1:${dp}`, '--storage', path.join(ROOT, 'dray'), '--gc-interval', '0', '--scrub-interval', '0'], dp, path.join(ROOT, 'dray.log'));
      servers.push(dray);
      const refCfg = path.join(ROOT, 'reference.yml');
      writeFileSync(refCfg, `version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: ${path.join(ROOT, 'reference')}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${rp}\n`);
      const ref = await startServer('docker-registry', '/usr/bin/docker-registry', ['serve', refCfg], rp, path.join(ROOT, 'reference.log'));
      servers.push(ref);
      ctx.log(`  dray registry serve pid ${dray.pid} on ${dray.url}, docker-registry pid ${ref.pid} on ${ref.url}`);
      const sides: [RegServer, 'dray' | 'floor'][] = [[dray, 'dray'], [ref, 'floor']];
      const add = (r: Row, side: 'dray' | 'floor', v: number) => { (r.samples[side] ??= []).push(v); };
      // warm-up pair (unrecorded), then n pairs; which side goes first alternates
      for (let i = -1; i < n; i++) {
        const order = i % 2 ? sides : [...sides].reverse();
        for (const [s, side] of order) {
          const repo = `bench/r${i + 1}`;
          const pushMs = await skopeoCopy(`oci:${img.dir}:v1`, `docker://127.0.0.1:${s.port}/${repo}:v1`);
          const out = path.join(ROOT, `pulled-${side}`);
          const pullMs = await skopeoCopy(`docker://127.0.0.1:${s.port}/${repo}:v1`, `dir:${out}`);
          rmSync(out, { recursive: true, force: true });
          // Empty the store again: skopeo's blob-info cache (as root, /var/lib/containers/cache,
          // which this does not touch) would turn the next push into mounts from this repository.
          rmSync(path.join(ROOT, side === 'dray' ? 'dray' : 'reference'), { recursive: true, force: true });
          if (i < 0) continue;
          add(push, side, img.bytes / MB / (pushMs / 1000));
          add(pull, side, img.bytes / MB / (pullMs / 1000));
          ctx.log(`  ${s.name}: push ${(img.bytes / MB / (pushMs / 1000)).toFixed(0)} MB/s, pull ${(img.bytes / MB / (pullMs / 1000)).toFixed(0)} MB/s`);
        }
      }
      try { await draydRounds(ctx, img, sides, n, pushD, pullD); } catch (e) {
        for (const r of [pushD, pullD]) { setError(r, 'dray', e); delete r.samples.dray; delete r.samples.floor; }
        ctx.log(`  registry-server, drayd as the client: ${(e as Error).message}`);
      }
      // once more into each (unmeasured), for the rows below to pull
      for (const [s] of sides) await skopeoCopy(`oci:${img.dir}:v1`, `docker://127.0.0.1:${s.port}/bench/final:v1`);
      // idle: past the quiet time after which dray gives a burst's memory back (src/lib/idle-gc.ts)
      await sleep(IDLE_GC_QUIET_MS + 2000);
      for (const [s, side] of sides) add(rssIdle, side, rssMiB(s.pid));
      const l0 = img.layers[0];
      for (let i = 0; i < n; i++) {
        const order = i % 2 ? sides : [...sides].reverse();
        for (const [s, side] of order) {
          add(rawPushRow, side, l0.size / MB / ((await rawPush(s, `bench/raw${i}`, l0.file, l0.digest)) / 1000));
          add(rawPullRow, side, l0.size / MB / ((await rawPull(s, 'bench/final', l0.digest)) / 1000));
        }
      }
      for (let i = 0; i < Math.min(n, 3); i++) {
        const order = i % 2 ? sides : [...sides].reverse();
        for (const [s, side] of order) {
          const r = await pull16(s, 'bench/final', img);
          add(p16, side, r.mbps);
          add(rss16, side, r.peak);
        }
      }
    } catch (e) {
      for (const r of rows) if (!r.samples.dray?.length) setError(r, 'dray', e);
      ctx.log(`  registry-server: ${(e as Error).message}`);
    } finally {
      for (const s of servers) await stopServer(s);
      rmSync(ROOT, { recursive: true, force: true });
    }
    return rows;
  },
};
