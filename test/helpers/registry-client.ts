// What the registry client's tests stand up on 127.0.0.1, each a real component: Debian's
// docker-registry (plain, htpasswd, token auth, TLS), a test CA made with openssl, a small token
// issuer signing with a key made here (jose), and an HTTP proxy in front of a registry that counts
// the blob bytes it relays and can cut a transfer after N bytes, tamper with a blob, or stall.
// Everything lives under one temp directory; stop() ends only what was started here, by PID.
import { spawn, spawnSync, ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { within, type TestDaemon } from './daemon';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import * as tarStream from 'tar-stream';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function tempDir(prefix = 'dray-regc-'): string { return mkdtempSync(path.join('/tmp', prefix)); }

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); });
  });
}

// ---- TLS material -----------------------------------------------------------------------------------

export interface Pki { caCert: string; caKey: string; cert: string; key: string }

/** A CA and a server certificate for 127.0.0.1 and localhost, signed by it. */
export function makePki(dir: string, name = 'reg'): Pki {
  mkdirSync(dir, { recursive: true });
  const f = (n: string) => path.join(dir, `${name}-${n}`);
  const ossl = (args: string[]) => {
    const r = spawnSync('openssl', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args[0]}: ${r.stderr}`);
  };
  ossl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=Dray test CA ${name}`, '-keyout', f('ca.key'), '-out', f('ca.crt')]);
  ossl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', f('server.key'), '-out', f('server.csr')]);
  writeFileSync(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  ossl(['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', f('ext.cnf'), '-out', f('server.crt')]);
  return { caCert: f('ca.crt'), caKey: f('ca.key'), cert: f('server.crt'), key: f('server.key') };
}

// ---- docker-registry ----------------------------------------------------------------------------------

export interface RegistryOpts {
  htpasswd?: Record<string, string>;
  token?: { realm: string; service: string; issuer: string; rootCert: string };
  tls?: { cert: string; key: string };
}

export class Registry {
  proc?: ChildProcess;
  port = 0;
  log = '';
  readonly root: string;
  constructor(readonly dir: string, readonly opts: RegistryOpts = {}) { this.root = path.join(dir, 'storage'); }

  get host() { return `127.0.0.1:${this.port}`; }
  get url() { return `${this.opts.tls ? 'https' : 'http'}://${this.host}`; }

  async start(): Promise<this> {
    this.port = await freePort();
    mkdirSync(this.dir, { recursive: true });
    const lines = ['version: 0.1', 'log:', '  level: warn', '  accesslog:', '    disabled: true', 'storage:', '  filesystem:', `    rootdirectory: ${this.root}`, '  delete:', '    enabled: true', 'http:', `  addr: 127.0.0.1:${this.port}`];
    if (this.opts.tls) lines.push('  tls:', `    certificate: ${this.opts.tls.cert}`, `    key: ${this.opts.tls.key}`);
    if (this.opts.htpasswd) {
      const bcrypt = require('bcryptjs') as typeof import('bcryptjs');
      const file = path.join(this.dir, 'htpasswd');
      writeFileSync(file, Object.entries(this.opts.htpasswd).map(([u, p]) => `${u}:${bcrypt.hashSync(p, 4)}`).join('\n') + '\n');
      lines.push('auth:', '  htpasswd:', '    realm: dray-test', `    path: ${file}`);
    }
    if (this.opts.token) {
      const t = this.opts.token;
      lines.push('auth:', '  token:', `    realm: ${t.realm}`, `    service: ${t.service}`, `    issuer: ${t.issuer}`, `    rootcertbundle: ${t.rootCert}`);
    }
    const cfg = path.join(this.dir, 'config.yml');
    writeFileSync(cfg, lines.join('\n') + '\n');
    this.proc = spawn('/usr/bin/docker-registry', ['serve', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout!.on('data', (b) => { this.log += b; });
    this.proc.stderr!.on('data', (b) => { this.log += b; });
    for (let i = 0; i < 100; i++) {
      if (this.proc.exitCode !== null) throw new Error(`docker-registry exited: ${this.log}`);
      if (await canConnect(this.port)) return this;
      await sleep(50);
    }
    throw new Error(`docker-registry did not listen: ${this.log}`);
  }

  async stop(): Promise<void> {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode) return;
    const done = new Promise((r) => this.proc!.once('exit', r));
    this.proc.kill('SIGTERM');
    await within(done, 5000, undefined);
    if (this.proc.exitCode === null && !this.proc.signalCode) { this.proc.kill('SIGKILL'); await done; }
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

// ---- token issuer ---------------------------------------------------------------------------------------

/**
 * A token server as the distribution token spec describes one: GET /token?service&scope with basic
 * credentials (or a POST with a refresh token) → a JWT the registry trusts through rootcertbundle.
 */
export class TokenIssuer {
  server?: http.Server;
  port = 0;
  requests: { method: string; scopes: string[]; user?: string; grant?: string }[] = [];
  readonly cert: string;
  private readonly key: string;
  readonly service = 'dray-test-registry';
  readonly issuer = 'dray-test-issuer';

  constructor(readonly dir: string, readonly users: Record<string, string>, readonly ttlSeconds = 300) {
    mkdirSync(dir, { recursive: true });
    this.cert = path.join(dir, 'token.crt');
    this.key = path.join(dir, 'token.key');
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=dray test token signer', '-keyout', this.key, '-out', this.cert], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl: ${r.stderr}`);
  }

  get realm() { return `http://127.0.0.1:${this.port}/token`; }

  async start(): Promise<this> {
    const jose = await import('jose');
    const pkcs8 = readFileSync(this.key, 'utf8');
    const signKey = await jose.importPKCS8(pkcs8, 'RS256');
    const der = readFileSync(this.cert, 'utf8').replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
    this.port = await freePort();
    this.server = http.createServer((req, res) => {
      void (async () => {
        const u = new URL(req.url ?? '/', 'http://x');
        let body = '';
        for await (const c of req) body += c;
        let user: string | undefined;
        let scopes: string[] = u.searchParams.getAll('scope');
        let grant: string | undefined;
        if (req.method === 'POST') {
          const f = new URLSearchParams(body);
          grant = f.get('grant_type') ?? undefined;
          scopes = (f.get('scope') ?? '').split(' ').filter(Boolean);
          const rt = f.get('refresh_token') ?? '';
          if (grant === 'refresh_token' && rt.startsWith('rt-') && this.users[rt.slice(3)] !== undefined) user = rt.slice(3);
          else if (grant === 'password' && this.users[f.get('username') ?? ''] === f.get('password')) user = f.get('username')!;
        } else {
          const a = req.headers.authorization;
          if (a?.startsWith('Basic ')) {
            const [name, ...pw] = Buffer.from(a.slice(6), 'base64').toString().split(':');
            if (this.users[name] !== undefined && this.users[name] === pw.join(':')) user = name;
            else {
              this.requests.push({ method: req.method!, scopes, grant });
              res.writeHead(401, { 'Content-Type': 'application/json' });
              res.end(JSON.stringify({ details: 'incorrect username or password' }));
              return;
            }
          }
        }
        this.requests.push({ method: req.method!, scopes, user, grant });
        if (!user) { res.writeHead(401, { 'Content-Type': 'application/json' }); res.end(JSON.stringify({ details: 'authentication required' })); return; }
        const access = scopes.map((s) => { const [type, name, actions] = [s.slice(0, s.indexOf(':')), s.slice(s.indexOf(':') + 1, s.lastIndexOf(':')), s.slice(s.lastIndexOf(':') + 1)]; return { type, name, actions: actions.split(',') }; });
        const now = Math.floor(Date.now() / 1000);
        const token = await new jose.SignJWT({ access })
          .setProtectedHeader({ alg: 'RS256', typ: 'JWT', x5c: [der] })
          .setIssuer(this.issuer).setSubject(user).setAudience(this.service)
          .setIssuedAt(now).setNotBefore(now - 5).setExpirationTime(now + this.ttlSeconds).setJti(randomBytes(8).toString('hex'))
          .sign(signKey);
        const out: Record<string, unknown> = { token, access_token: token, expires_in: this.ttlSeconds, issued_at: new Date(now * 1000).toISOString() };
        if (u.searchParams.get('offline_token') === 'true' || req.method === 'POST') out.refresh_token = `rt-${user}`;
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(out));
      })().catch((e) => { res.writeHead(500); res.end(String(e)); });
    });
    await new Promise<void>((r) => this.server!.listen(this.port, '127.0.0.1', r));
    return this;
  }

  stop(): Promise<void> { return new Promise((r) => (this.server ? this.server.close(() => r()) : r())); }
}

// ---- a proxy in front of a registry ------------------------------------------------------------------

export interface ProxyRule {
  /** Drop the connection once this many bytes of a blob body went to the client. */
  cutAfter?: number;
  /** Flip a byte in the middle of the blob. */
  tamper?: boolean;
  /** Send the header and then nothing (a stalled registry). */
  stall?: boolean;
  /** Rules apply to this many blob requests (then it relays plainly). */
  times?: number;
  /** Called with the bytes relayed so far; true stops relaying (the connection is held, silent). */
  onBytes?: (sent: number, size: number) => boolean | void;
  /**
   * From this many body bytes on, relay 32 KiB every 5 ms: the client catches up with what piled up
   * in socket buffers and its own queue, so what it holds at a given `sent` is known.
   */
  paceFrom?: number;
}

export class Proxy {
  server?: http.Server;
  port = 0;
  /** Blob body bytes relayed to the client, and the Range headers asked for. */
  blobBytes = 0;
  ranges: string[] = [];
  requests: string[] = [];
  rules = new Map<string, ProxyRule>();
  /** Hangs every request, /v2/ included: a registry that accepts connections and says nothing. */
  stallAll = false;
  private sockets = new Set<net.Socket>();

  constructor(readonly upstreamPort: number) {}
  get host() { return `127.0.0.1:${this.port}`; }

  async start(): Promise<this> {
    this.port = await freePort();
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.on('connection', (s) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
    await new Promise<void>((r) => this.server!.listen(this.port, '127.0.0.1', r));
    return this;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.requests.push(`${req.method} ${req.url}`);
    if (this.stallAll) return; // never answered
    const m = /\/blobs\/(sha256:[a-f0-9]{64})$/.exec(req.url ?? '');
    const digest = m?.[1];
    const rule = digest && req.method === 'GET' ? this.rules.get(digest) : undefined;
    if (digest && req.method === 'GET' && req.headers.range) this.ranges.push(String(req.headers.range));
    const headers = { ...req.headers, host: `127.0.0.1:${this.upstreamPort}` };
    const up = http.request({ host: '127.0.0.1', port: this.upstreamPort, method: req.method, path: req.url, headers }, (ur) => {
      // Redirects and Locations name the upstream: they must name the proxy.
      const h = { ...ur.headers };
      if (h.location) h.location = String(h.location).replace(`127.0.0.1:${this.upstreamPort}`, this.host);
      res.writeHead(ur.statusCode ?? 502, h);
      const active = rule && (rule.times === undefined || rule.times > 0);
      if (active && rule!.times !== undefined) rule!.times--;
      if (active && rule!.stall) { res.flushHeaders(); ur.pause(); return; }
      let sent = 0;
      const size = Number(ur.headers['content-length'] ?? 0);
      ur.on('data', (c: Buffer) => {
        if (digest && req.method === 'GET' && ur.statusCode && ur.statusCode < 300) {
          if (active && rule!.tamper && sent <= size / 2 && sent + c.length > size / 2) {
            c = Buffer.from(c);
            c[Math.floor(size / 2) - sent] ^= 0xff;
          }
          if (active && rule!.cutAfter !== undefined && sent + c.length > rule!.cutAfter) {
            const part = c.subarray(0, Math.max(0, rule!.cutAfter - sent));
            this.blobBytes += part.length;
            res.write(part);
            ur.destroy();
            res.socket?.destroy();
            return;
          }
          sent += c.length;
          this.blobBytes += c.length;
          if (active && rule!.onBytes?.(sent, size)) { res.write(c); ur.pause(); ur.removeAllListeners('data'); return; }
        }
        if (active && rule!.paceFrom !== undefined && sent >= rule!.paceFrom) { ur.pause(); void paced(c); return; }
        // Relayed at the client's pace: what was sent is what it took, not what piles up here.
        if (!res.write(c)) { ur.pause(); res.once('drain', () => ur.resume()); }
      });
      const paced = async (c: Buffer) => {
        for (let o = 0; o < c.length && !res.destroyed; o += 32 * 1024) {
          if (!res.write(c.subarray(o, o + 32 * 1024))) await new Promise((r) => res.once('drain', r));
          await new Promise((r) => setTimeout(r, 5));
        }
        ur.resume();
      };
      ur.on('end', () => res.end());
      ur.on('error', () => res.destroy());
    });
    up.on('error', () => { res.writeHead(502); res.end(); });
    req.pipe(up);
  }

  stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

// ---- images --------------------------------------------------------------------------------------------

/** A root filesystem tar (for POST /images/create?fromSrc=-) with one random file of `bytes`. */
export async function randomRootfsTar(bytes: number, name = 'big'): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => { chunks.push(c as Buffer); });
  const done = new Promise<void>((r) => pack.on('end', () => r()));
  pack.entry({ name: 'data/', type: 'directory', mode: 0o755 });
  pack.entry({ name: `data/${name}`, size: bytes, mode: 0o644 }, randomBytes(bytes));
  pack.entry({ name: 'data/hello.txt', mode: 0o644 }, 'hello from a pulled image\n');
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Reads a JSON-lines progress stream into its messages. */
export function jsonLines(body: Buffer): any[] {
  return body.toString().split('\n').map((l) => l.trim()).filter(Boolean).map((l) => JSON.parse(l));
}

/**
 * Runs a command without blocking this process (spawnSync would: the token issuer and proxies
 * here live in the test's own event loop, and the command under test talks to them).
 */
export function runAsync(cmd: string, args: string[], o: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { env: o.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (b) => { stdout += b; });
    p.stderr!.on('data', (b) => { stderr += b; });
    const t = setTimeout(() => p.kill('SIGKILL'), o.timeoutMs ?? 60_000);
    p.on('close', (code) => { clearTimeout(t); resolve({ code: code ?? -1, stdout, stderr }); });
    // A command that exits without reading its input (or a launcher that hands it on) closes the
    // pipe: EPIPE on a write nobody waits for must not fail the test; the exit code tells.
    p.stdin!.on('error', () => {});
    p.stdin!.end(o.input ?? '');
  });
}

/** A request to a daemon's socket that settles however the connection ends (a killed daemon included). */
export function apiUntilClosed(socket: string, method: string, p: string): Promise<{ status?: number; body: string; error?: string }> {
  return new Promise((resolve) => {
    let body = '';
    const req = http.request({ socketPath: socket, method, path: p }, (res) => {
      res.on('data', (c) => { body += c; });
      res.on('error', () => {});
      res.on('close', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', (e) => resolve({ body, error: e.message }));
    req.end();
  });
}

// ---- raw uploads (images made by hand: indexes, zstd layers) ---------------------------------------------

/** A tar of the given entries (directories end in '/', a `link` makes a symlink), for hand-made layers. */
export async function tarOf(entries: { name: string; data?: string | Buffer; link?: string; mode?: number }[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => { chunks.push(c as Buffer); });
  const done = new Promise<void>((r) => pack.on('end', () => r()));
  for (const e of entries) {
    if (e.link !== undefined) pack.entry({ name: e.name, type: 'symlink', linkname: e.link, mode: 0o777, mtime: new Date(0) });
    else if (e.name.endsWith('/')) pack.entry({ name: e.name, type: 'directory', mode: e.mode ?? 0o755, mtime: new Date(0) });
    else pack.entry({ name: e.name, mode: e.mode ?? 0o644, mtime: new Date(0) }, e.data ?? '');
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Uploads a blob to `base` (http://host:port) with a POST and a monolithic PUT; returns its digest. */
export async function putBlob(base: string, repo: string, data: Buffer): Promise<string> {
  const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
  const start = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  if (start.status !== 202) throw new Error(`POST upload: HTTP ${start.status} ${await start.text()}`);
  const loc = new URL(start.headers.get('location')!, base);
  loc.searchParams.set('digest', digest);
  const put = await fetch(loc, { method: 'PUT', body: new Uint8Array(data), headers: { 'Content-Type': 'application/octet-stream' } });
  if (put.status !== 201) throw new Error(`PUT blob ${digest}: HTTP ${put.status} ${await put.text()}`);
  return digest;
}

/** PUTs manifest bytes as `reference` (a tag or the digest); returns the digest the registry reports. */
export async function putManifest(base: string, repo: string, reference: string, bytes: Buffer, mediaType: string): Promise<string> {
  const r = await fetch(`${base}/v2/${repo}/manifests/${reference}`, { method: 'PUT', body: new Uint8Array(bytes), headers: { 'Content-Type': mediaType } });
  if (r.status !== 201) throw new Error(`PUT manifest ${repo}:${reference}: HTTP ${r.status} ${await r.text()}`);
  return r.headers.get('docker-content-digest')!;
}

/**
 * A registry test file's end: its drayd must still be alive (one that died is the failure to
 * report), is stopped and checked for leaks, then whatever else the file started is stopped and
 * its directory removed, whatever happened. Returns the leaks.
 */
export async function stopAll(d: TestDaemon, dir: string, others: Array<{ stop(): Promise<unknown> } | undefined>): Promise<string[]> {
  try {
    if (d.proc?.exitCode !== null) throw new Error(`drayd died during the tests: ${d.log.slice(-3000)}`);
    return await d.stop();
  } finally {
    await d.stopDaemon();
    for (const o of others) await o?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
