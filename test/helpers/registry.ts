// Helpers for the registry server's tests: images made here (an OCI layout or a docker-archive
// with random, incompressible layers), `dray registry serve` and Debian's docker-registry started
// on 127.0.0.1 with free ports, skopeo, and raw HTTP requests. Everything lives under one temp dir
// per test file; stop() and cleanup end only what was started here.
import { spawn, ChildProcess, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tarStream from 'tar-stream';

const root = path.resolve(__dirname, '..', '..');
export const nodeBin = path.join(root, 'dist', 'node');
export const drayJs = path.join(root, 'dist', 'dray.js');

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

export const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function tempDir(prefix = 'dray-reg-'): string {
  return mkdtempSync(path.join('/tmp', prefix));
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** An uncompressed tar holding one file of `size` random bytes (what a layer holds). */
export async function layerTar(size: number, name = 'data.bin'): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((r) => pack.on('end', () => r()));
  pack.entry({ name, size, mode: 0o644, mtime: new Date(0) }, randomBytes(size));
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export interface Blob { digest: string; size: number; data: Buffer; mediaType: string }
export interface TestImage {
  config: Blob;
  layers: Blob[];
  /** uncompressed layer tars, by index (for docker-archive) */
  tars: Buffer[];
  manifest: Buffer;
  manifestDigest: string;
}

/** An image of `sizes.length` gzip layers of random content, as an OCI image manifest. */
export async function makeImage(sizes: number[], mediaType = OCI_MANIFEST): Promise<TestImage> {
  const tars: Buffer[] = [];
  for (const [i, s] of sizes.entries()) tars.push(await layerTar(s, `layer${i}.bin`));
  return composeImage(tars, mediaType);
}

/** An image of the given layer tars (gzip'd here; the same tar gives the same layer blob). */
export function composeImage(tars: Buffer[], mediaType = OCI_MANIFEST): TestImage {
  const docker = mediaType === DOCKER_MANIFEST;
  const layers: Blob[] = tars.map((tar) => {
    const gz = gzipSync(tar, { level: 1 });
    return { digest: sha256(gz), size: gz.length, data: gz, mediaType: docker ? 'application/vnd.docker.image.rootfs.diff.tar.gzip' : 'application/vnd.oci.image.layer.v1.tar+gzip' };
  });
  const cfgJson = Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', created: '2026-01-01T00:00:00Z',
    config: { Cmd: ['/bin/sh'], Env: [`NONCE=${randomBytes(8).toString('hex')}`] },
    rootfs: { type: 'layers', diff_ids: tars.map((t) => sha256(t)) },
    history: tars.map(() => ({ created: '2026-01-01T00:00:00Z', created_by: 'test' })),
  }));
  const config: Blob = { digest: sha256(cfgJson), size: cfgJson.length, data: cfgJson, mediaType: docker ? 'application/vnd.docker.container.image.v1+json' : 'application/vnd.oci.image.config.v1+json' };
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType,
    config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  }, null, 3));
  return { config, layers, tars, manifest, manifestDigest: sha256(manifest) };
}

/** Writes `img` as an OCI image layout in `dir`, tagged `tag`. */
export function writeOciLayout(dir: string, img: TestImage, tag = 'latest'): void {
  mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  for (const b of [img.config, ...img.layers, { digest: img.manifestDigest, data: img.manifest }]) {
    writeFileSync(path.join(dir, 'blobs', 'sha256', b.digest.slice(7)), b.data);
  }
  writeFileSync(path.join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2, mediaType: OCI_INDEX,
    manifests: [{ mediaType: OCI_MANIFEST, digest: img.manifestDigest, size: img.manifest.length, annotations: { 'org.opencontainers.image.ref.name': tag } }],
  }));
}

/** Writes `img` as a `docker save` archive (uncompressed layers) tagged `repoTag`. */
export async function writeDockerArchive(file: string, img: TestImage, repoTag: string): Promise<void> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((r) => pack.on('end', () => r()));
  const add = (name: string, data: Buffer) => pack.entry({ name, size: data.length, mode: 0o644, mtime: new Date(0) }, data);
  const cfgName = `${img.config.digest.slice(7)}.json`;
  add(cfgName, img.config.data);
  const layerNames = img.tars.map((t) => `${sha256(t).slice(7)}/layer.tar`);
  img.tars.forEach((t, i) => add(layerNames[i], t));
  add('manifest.json', Buffer.from(JSON.stringify([{ Config: cfgName, RepoTags: [repoTag], Layers: layerNames }])));
  pack.finalize();
  await done;
  writeFileSync(file, Buffer.concat(chunks));
}

export interface Reply { status: number; headers: http.IncomingHttpHeaders; body: Buffer; json: any }

/** One raw HTTP(S) request; `ca` trusts a test CA. */
export function request(method: string, url: string, opts: { headers?: Record<string, string | number>; body?: Buffer | string; ca?: Buffer; timeoutMs?: number } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : http;
    const req = mod.request(u, { method, headers: opts.headers, ca: opts.ca, agent: false, timeout: opts.timeoutMs ?? 30_000 }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => {
        const body = Buffer.concat(parts);
        let json: any;
        try { json = JSON.parse(body.toString()); } catch { /* not JSON */ }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: timed out`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

export const errCode = (r: Reply): string | undefined => r.json?.errors?.[0]?.code;

/** Pushes an image with raw requests (monolithic uploads), the way a minimal client does. */
export async function pushImage(base: string, repo: string, img: TestImage, tag: string, headers: Record<string, string> = {}): Promise<void> {
  for (const b of [img.config, ...img.layers]) {
    let r = await request('POST', `${base}/v2/${repo}/blobs/uploads/?digest=${b.digest}`, { headers: { ...headers, 'Content-Type': 'application/octet-stream', 'Content-Length': b.data.length }, body: b.data });
    // distribution 2.8 takes no single-POST upload: it answers 202 and wants the body in a PUT
    if (r.status === 202) {
      const loc = new URL(r.headers.location as string, base);
      loc.searchParams.set('digest', b.digest);
      r = await request('PUT', loc.toString(), { headers: { ...headers, 'Content-Type': 'application/octet-stream', 'Content-Length': b.data.length }, body: b.data });
    }
    if (r.status !== 201) throw new Error(`push blob ${b.digest}: HTTP ${r.status} ${r.body}`);
  }
  const ct = JSON.parse(img.manifest.toString()).mediaType ?? OCI_MANIFEST;
  const r = await request('PUT', `${base}/v2/${repo}/manifests/${tag}`, { headers: { ...headers, 'Content-Type': ct }, body: img.manifest });
  if (r.status !== 201) throw new Error(`push manifest: HTTP ${r.status} ${r.body}`);
}

export interface Server {
  url: string;
  port: number;
  proc: ChildProcess;
  log(): string;
  stop(): Promise<void>;
}

function waitExit(proc: ChildProcess, ms: number): Promise<boolean> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    proc.once('exit', () => { clearTimeout(t); resolve(true); });
  });
}

async function stopProc(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill('SIGTERM');
  if (!(await waitExit(proc, 10_000))) { proc.kill('SIGKILL'); await waitExit(proc, 5000); }
}

/**
 * Starts `dray registry serve` with `args` (and a config file when `config` is given) on a free
 * port of 127.0.0.1; resolves once it listens.
 */
export async function startDray(dir: string, opts: { config?: object; args?: string[]; env?: Record<string, string> } = {}): Promise<Server> {
  const args = [drayJs, 'registry', 'serve', '--listen', '127.0.0.1:0', ...(opts.args ?? [])];
  if (opts.config) {
    const f = path.join(dir, `config-${randomBytes(4).toString('hex')}.json`);
    writeFileSync(f, JSON.stringify(opts.config));
    args.push('--config', f);
  }
  const proc = spawn(nodeBin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
  let out = '';
  proc.stdout!.on('data', (c) => { out += c; });
  proc.stderr!.on('data', (c) => { out += c; });
  const deadline = Date.now() + 15_000;
  let m: RegExpMatchArray | null = null;
  while (Date.now() < deadline) {
    m = /"url":"(https?:\/\/127\.0\.0\.1:(\d+))"/.exec(out);
    if (m || proc.exitCode !== null) break;
    await sleep(25);
  }
  if (!m) {
    await stopProc(proc);
    throw new Error(`dray registry serve did not start:\n${out}`);
  }
  return { url: m[1], port: Number(m[2]), proc, log: () => out, stop: () => stopProc(proc) };
}

/** Debian's docker-registry (distribution 2.8) over `dir`, with deletes enabled. */
export async function startReference(dir: string, extra = ''): Promise<Server> {
  const port = await freePort();
  mkdirSync(path.join(dir, 'data'), { recursive: true });
  const cfg = path.join(dir, 'config.yml');
  writeFileSync(cfg, `version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${path.join(dir, 'data')}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:${port}
${extra}`);
  const proc = spawn('/usr/bin/docker-registry', ['serve', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (c) => { out += c; });
  proc.stderr!.on('data', (c) => { out += c; });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    if (proc.exitCode !== null) break;
    try { if ((await request('GET', `${url}/v2/`, { timeoutMs: 1000 })).status === 200) return { url, port, proc, log: () => out, stop: () => stopProc(proc) }; } catch { /* not yet */ }
    await sleep(50);
  }
  await stopProc(proc);
  throw new Error(`docker-registry did not start:\n${out}`);
}

export interface RunResult { code: number; stdout: string; stderr: string }

/** skopeo with a bounded run time; its policy allows everything (a private policy file). */
export function skopeo(dir: string, args: string[], timeoutMs = 60_000): Promise<RunResult> {
  const policy = path.join(dir, 'policy.json');
  writeFileSync(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  return run('skopeo', ['--policy', policy, ...args], timeoutMs, { ...process.env, HOME: dir });
}

export function run(cmd: string, args: string[], timeoutMs = 60_000, env: NodeJS.ProcessEnv = process.env): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c) => { stdout += c; });
    p.stderr.on('data', (c) => { stderr += c; });
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', (e) => { clearTimeout(t); reject(e); });
    p.on('close', (code) => { clearTimeout(t); resolve({ code: code ?? 1, stdout, stderr }); });
  });
}

export async function skopeoOk(dir: string, args: string[], timeoutMs = 60_000): Promise<string> {
  const r = await skopeo(dir, args, timeoutMs);
  if (r.code !== 0) throw new Error(`skopeo ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** A CA and a server certificate for 127.0.0.1 signed by it, made with openssl. */
export function makeTestCA(dir: string): { ca: string; cert: string; key: string; certDir: string } {
  const o = (args: string[]) => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  };
  o(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=dray test CA']);
  o(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
  writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n');
  o(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'ext.cnf']);
  // skopeo's --*-cert-dir takes every *.crt in a directory as a trusted CA
  const certDir = path.join(dir, 'certs');
  mkdirSync(certDir, { recursive: true });
  writeFileSync(path.join(certDir, 'ca.crt'), require('node:fs').readFileSync(path.join(dir, 'ca.crt')));
  return { ca: path.join(dir, 'ca.crt'), cert: path.join(dir, 'server.crt'), key: path.join(dir, 'server.key'), certDir };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
