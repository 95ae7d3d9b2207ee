// Starts a private drayd for a test file: its own data root, exec root and socket under /tmp, so
// it never touches a daemon someone already runs. stop() removes every container it made, stops
// the daemon by PID and checks that nothing (mount, conmon, runtime state) is left behind.
import { spawn, ChildProcess, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { WARM_PARENT_ENV } from '../../src/lib/warm-cli';
import { within } from '../../src/lib/within';

const root = path.resolve(__dirname, '..', '..');
export const drayJs = path.join(root, 'dist', 'dray.js');
export const draydJs = path.join(root, 'dist', 'drayd.js');
/** The `dray` command as installed (native/launch.c): it hands commands to the daemon's waiting CLI process. */
export const drayLauncher = path.join(root, 'dist', 'dray');

export interface ApiResponse { status: number; headers: http.IncomingHttpHeaders; body: Buffer; json: any }

/**
 * A subnet byte (10.<b>.0.0/24) no other test daemon holds and the host does not use: two daemons
 * on one subnet would share routes and rules, and the leak check would take another run's rules
 * (or debris a killed run left) for this daemon's. Held across processes by a lock file naming the
 * holder's PID; a lock whose holder is gone is taken over.
 */
const subnetLockDir = '/run/dray-test-subnets';
const subnetBytesInUse = new Set<number>();
function hostUsesSubnet(b: number): boolean {
  const addrs = spawnSync('ip', ['-o', 'addr'], { encoding: 'utf8' }).stdout ?? '';
  const rules = spawnSync('iptables-save', [], { encoding: 'utf8' }).stdout ?? '';
  return addrs.includes(` 10.${b}.`) || rules.includes(`10.${b}.`);
}
function lockSubnetByte(b: number): boolean {
  mkdirSync(subnetLockDir, { recursive: true });
  const file = path.join(subnetLockDir, String(b));
  try {
    writeFileSync(file, String(process.pid), { flag: 'wx' });
    return true;
  } catch {
    const holder = Number(readFileSync(file, 'utf8') || 0);
    try { if (holder) { process.kill(holder, 0); return false; } } catch { /* holder gone: take it over */ }
    rmSync(file, { force: true });
    return false; // the next round may take it, unless another process was quicker
  }
}
function freeSubnetByte(): number {
  for (let round = 0; round < 500; round++) {
    const b = 200 + Math.floor(Math.random() * 50);
    if (subnetBytesInUse.has(b) || !lockSubnetByte(b)) continue;
    if (hostUsesSubnet(b)) { rmSync(path.join(subnetLockDir, String(b)), { force: true }); continue; }
    subnetBytesInUse.add(b);
    return b;
  }
  throw new Error('no free test subnet in 10.200.0.0-10.249.0.0: clean up the host or the stale locks in ' + subnetLockDir);
}
function releaseSubnetByte(b: number): void {
  if (!subnetBytesInUse.delete(b)) return;
  const file = path.join(subnetLockDir, String(b));
  try { if (readFileSync(file, 'utf8') === String(process.pid)) rmSync(file, { force: true }); } catch { /* already gone */ }
}

function releaseNetnsNow(): string[] {
  return existsSync('/run/netns') ? readdirSync('/run/netns').filter((n) => n.startsWith('dray-k-')) : [];
}

export class TestDaemon {
  proc?: ChildProcess;
  readonly dir: string;
  readonly socket: string;
  readonly dataRoot: string;
  readonly execRoot: string;
  log = '';
  /** A bridge device and subnet of its own, so no other daemon's network is touched. */
  readonly bridge = `drt${Math.random().toString(36).slice(2, 8)}`;
  readonly subnetByte = freeSubnetByte();
  /** Bridge releases' namespaces (dray-k-<network>) that existed before this daemon: not its leaks. */
  private readonly releaseNetnsBefore = new Set(releaseNetnsNow());

  /** draydPath: another build's drayd.js (its waiting CLI processes run that build's dray.js). */
  constructor(readonly extraArgs: string[] = [], readonly draydPath = draydJs, readonly extraEnv: Record<string, string> = {}) {
    this.dir = mkdtempSync('/tmp/dray-it-');
    this.socket = path.join(this.dir, 'd.sock');
    this.dataRoot = path.join(this.dir, 'data');
    this.execRoot = path.join(this.dir, 'run');
  }

  get host() { return `unix://${this.socket}`; }
  get cliSocket() { return path.join(this.execRoot, 'cli.sock'); }
  get env() { return { ...process.env, DOCKER_HOST: this.host, DRAY_HOST: this.host, DRAY_CLI_SOCKET: this.cliSocket }; }

  async start(): Promise<void> {
    // An empty config file of its own: a host's /etc/dray/daemon.json must not leak into tests.
    const cfg = path.join(this.dir, 'daemon.json');
    writeFileSync(cfg, '{}\n');
    this.proc = spawn(this.draydPath, ['-H', this.host, '--data-root', this.dataRoot, '--exec-root', this.execRoot, '--config-file', cfg,
      '--bridge', this.bridge, '--bip', `10.${this.subnetByte}.0.1/24`, ...this.extraArgs], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...this.extraEnv } });
    this.proc.stdout!.on('data', (b) => { this.log += b; });
    this.proc.stderr!.on('data', (b) => { this.log += b; });
    for (let i = 0; i < 100; i++) {
      if (this.proc.exitCode !== null) throw new Error(`drayd exited: ${this.log}`);
      try {
        const r = await this.api('GET', '/_ping');
        if (r.status === 200) return;
      } catch { /* not yet */ }
      await sleep(100);
    }
    throw new Error(`drayd did not answer: ${this.log}`);
  }

  api(method: string, p: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResponse> {
    return new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
      const req = http.request({ socketPath: this.socket, method, path: p, headers: { ...(data && !Buffer.isBuffer(body) ? { 'Content-Type': 'application/json' } : {}), ...headers } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const b = Buffer.concat(chunks);
          let json: any;
          try { json = JSON.parse(b.toString()); } catch { json = undefined; }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: b, json });
        });
      });
      req.on('error', reject);
      req.end(data);
    });
  }

  /** Runs the dray CLI against this daemon, as `dray` runs: in the daemon's waiting CLI process. */
  dray(args: string[], input?: string, o: { cwd?: string; env?: Record<string, string> } = {}): { code: number; stdout: string; stderr: string } {
    const r = spawnSync(drayLauncher, args, { env: { ...this.env, ...(o.env ?? {}) }, input, encoding: 'utf8', timeout: 60_000, cwd: o.cwd });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  /** Runs the real docker CLI against this daemon. */
  docker(args: string[], input?: string): { code: number; stdout: string; stderr: string } {
    const r = spawnSync('/usr/local/bin/docker', args, { env: { ...this.env, DOCKER_BUILDKIT: '0', DOCKER_CONFIG: path.join(this.dir, 'docker-config') }, input, encoding: 'utf8', timeout: 60_000 });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  async bootstrapBusybox(): Promise<string> {
    const r = await this.api('POST', '/dray/images/bootstrap?name=busybox');
    if (r.status !== 200) throw new Error(`bootstrap failed: ${r.status} ${r.body}`);
    return r.json.Id;
  }

  /** Creates and starts a container through the API; returns its id. */
  async runDetached(cmd: string[], extra: Record<string, unknown> = {}): Promise<string> {
    const c = await this.api('POST', '/containers/create', { Image: 'busybox', Cmd: cmd, ...extra });
    if (c.status !== 201) throw new Error(`create: ${c.status} ${c.body}`);
    const s = await this.api('POST', `/containers/${c.json.Id}/start`);
    if (s.status !== 204) throw new Error(`start: ${s.status} ${s.body}`);
    return c.json.Id;
  }

  conmonPids(): number[] { return this.pidsOf('/usr/bin/conmon'); }

  /** aardvark-dns serving this daemon's networks (netavark starts it with the config under the exec root). */
  aardvarkPids(): number[] { return this.pidsOf('/usr/lib/podman/aardvark-dns'); }

  private pidsOf(program: string): number[] {
    const out: number[] = [];
    for (const p of readdirSync('/proc')) {
      if (!/^\d+$/.test(p)) continue;
      try {
        const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
        if (cmd.startsWith(program) && cmd.includes(this.execRoot)) out.push(Number(p));
      } catch { /* gone */ }
    }
    return out;
  }

  /** The CLI processes this daemon keeps waiting for a command (src/daemon/cli-pool.ts). */
  cliWorkerPids(): number[] {
    const pid = this.proc?.pid;
    const out: number[] = [];
    for (const p of readdirSync('/proc')) {
      if (!/^\d+$/.test(p)) continue;
      try {
        if (readFileSync(`/proc/${p}/environ`, 'utf8').split('\0').includes(`${WARM_PARENT_ENV}=${pid}`)) out.push(Number(p));
      } catch { /* gone */ }
    }
    return out;
  }

  mounts(): string[] {
    return readFileSync('/proc/self/mounts', 'utf8').split('\n').filter((l) => l.includes(this.dir));
  }

  /** A busybox container created under `name` with `cmd` and started; its id. */
  async runNamed(name: string, cmd: string[], extra: Record<string, unknown> = {}): Promise<string> {
    const c = await this.api('POST', `/containers/create?name=${name}`, { Image: 'busybox', Cmd: cmd, ...extra });
    if (c.status !== 201) throw new Error(`create ${name}: ${c.status} ${c.body}`);
    const s = await this.api('POST', `/containers/${c.json.Id}/start`);
    if (s.status !== 204) throw new Error(`start ${name}: ${s.status} ${s.body}`);
    return c.json.Id;
  }

  /**
   * What a finished build may not leave: a build container, a mount, a half-made cache mount, a
   * secrets directory, a received context (drayd lets go of that after it answered: a bounded wait).
   */
  async buildLeftovers(): Promise<string[]> {
    const left: string[] = [];
    const cs = (await this.api('GET', '/containers/json?all=1')).json ?? [];
    if (cs.length) left.push(`build containers: ${cs.map((c: { Names: string[] }) => c.Names.join()).join(', ')}`);
    left.push(...this.mounts().map((m) => `mount: ${m}`));
    const cacheMounts = path.join(this.dataRoot, 'builder', 'cache-mounts');
    if (existsSync(cacheMounts)) left.push(...readdirSync(cacheMounts).filter((n) => n.startsWith('.')).map((n) => `half-made cache mount: ${n}`));
    const runDir = path.join(this.execRoot, 'builder');
    if (existsSync(runDir)) left.push(...readdirSync(runDir).map((n) => `secrets directory: ${n}`));
    const tmp = path.join(this.dataRoot, 'tmp');
    const contexts = () => (existsSync(tmp) ? readdirSync(tmp).filter((n) => n.startsWith('build-')) : []);
    for (let i = 0; i < 50 && contexts().length; i++) await sleep(100);
    left.push(...contexts().map((n) => `received context: ${n}`));
    return left;
  }

  /** Kills the daemon with SIGKILL, as a crash would. */
  async killDaemon(): Promise<void> {
    if (!this.proc || this.proc.exitCode !== null) return;
    const exited = new Promise((r) => this.proc!.once('exit', r));
    this.proc.kill('SIGKILL');
    await exited;
  }

  async stopDaemon(): Promise<void> {
    if (!this.proc || this.proc.exitCode !== null) return;
    const exited = new Promise((r) => this.proc!.once('exit', r));
    this.proc.kill('SIGTERM');
    await within(exited, 10_000, undefined);
    if (this.proc.exitCode === null && this.proc.signalCode === null) { this.proc.kill('SIGKILL'); await exited; }
  }

  /** Removes every container, stops the daemon and reports anything left behind. */
  async stop(): Promise<string[]> {
    const leaks: string[] = [];
    try {
      if (this.proc && this.proc.exitCode === null) {
        const list = await this.api('GET', '/containers/json?all=1');
        for (const c of list.json ?? []) await this.api('DELETE', `/containers/${c.Id}?force=1`);
      }
    } finally {
      await this.stopDaemon();
    }
    for (let i = 0; i < 20 && (this.conmonPids().length || this.cliWorkerPids().length); i++) await sleep(100);
    for (const pid of this.cliWorkerPids()) { leaks.push(`waiting CLI process ${pid}`); try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    for (const pid of this.conmonPids()) { leaks.push(`conmon ${pid}`); try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    for (const pid of this.aardvarkPids()) { leaks.push(`aardvark-dns ${pid}`); try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    for (const m of this.mounts()) {
      leaks.push(`mount ${m}`);
      spawnSync('umount', ['-l', m.split(' ')[1]]);
    }
    const crunDirs = existsSync('/run/crun') ? readdirSync('/run/crun') : [];
    const ours = existsSync(path.join(this.dataRoot, 'containers')) ? readdirSync(path.join(this.dataRoot, 'containers')) : [];
    for (const id of ours) if (crunDirs.includes(id)) { leaks.push(`crun state ${id}`); spawnSync('crun', ['delete', '-f', id]); }
    if (spawnSync('ip', ['link', 'show', this.bridge]).status === 0) leaks.push(`bridge ${this.bridge}`);
    const rules = spawnSync('iptables-save', [], { encoding: 'utf8' }).stdout ?? '';
    // Its default bridge's 10.<b>.0.0/24 and the user networks tests make under 10.<b>.*.
    if (rules.includes(`10.${this.subnetByte}.`)) leaks.push(`iptables rules for 10.${this.subnetByte}.0.0/16`);
    for (const ns of releaseNetnsNow()) {
      if (this.releaseNetnsBefore.has(ns)) continue;
      leaks.push(`netns ${ns} of a bridge release`);
      spawnSync('ip', ['netns', 'delete', ns]);
    }
    const netns = existsSync('/run/netns') ? readdirSync('/run/netns') : [];
    for (const id of ours) if (netns.includes(`dray-${id.slice(0, 12)}`)) leaks.push(`netns of ${id}`);
    // rm, not rmSync: a container may have left a tree deeper than a path Node.js can name.
    spawnSync('rm', ['-rf', '--', this.dir]);
    // A subnet whose rules leaked stays held until this process ends, so no other test takes it.
    if (!leaks.length) releaseSubnetByte(this.subnetByte);
    return leaks;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export { within };

/** Splits a Docker multiplexed stream into stdout and stderr. */
export function demux(buf: Buffer): { stdout: string; stderr: string } {
  let out = '';
  let err = '';
  let i = 0;
  while (i + 8 <= buf.length) {
    const t = buf[i];
    const n = buf.readUInt32BE(i + 4);
    const p = buf.subarray(i + 8, i + 8 + n).toString();
    if (t === 1) out += p; else if (t === 2) err += p;
    i += 8 + n;
  }
  return { stdout: out, stderr: err };
}

/** Waits (bounded) until `pred` holds; fails naming `what`. */
export async function until(pred: () => Promise<boolean> | boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(50);
  }
}
