// The two engines under test, as one interface: start, CLIs, API, processes, stop.
//
//   /tmp/bench-dray/   d.sock, data/ (--data-root), run/ (--exec-root), drayd.log, daemon.json
//   /tmp/bench-docker/ docker.sock, root/ (--data-root), exec/ (--exec-root, holds containerd's
//                      socket), dockerd.pid, dockerd.log, daemon.json
//   /tmp/bench-cli/    DOCKER_CONFIG for the docker CLI (so ~/.docker never leaks in)
//
// Both daemons are private: their own sockets and roots, started here in the background (no
// systemd) and stopped here by PID. Docker runs with --bridge none --iptables=false, so it makes
// no bridge, veth or firewall rule; stop() still checks.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readdirSync, writeFileSync, readFileSync, unlinkSync } from 'node:fs';
import * as path from 'node:path';
import type { Side } from './model';
import { run, runOk, Spawned, SpawnOpts, sleep, firstLine } from './proc';
import { api, apiOk, apiDownload, ApiResult, ping } from './api';
import { allProcs, alive, mountsUnder, ProcInfo } from './procfs';

export const REPO = path.resolve(__dirname, '..', '..');
export const DOCKER_CLI = '/usr/local/bin/docker';
/** BENCH_DIST points at another build of dray.js/drayd.js (default: the repository's dist/) */
export const DIST = process.env.BENCH_DIST ? path.resolve(process.env.BENCH_DIST) : path.join(REPO, 'dist');
export const DRAY_JS = path.join(DIST, 'dray.js');
/** The `dray` command as installed: the launcher (native/launch.c) in front of dray.js. */
export const DRAY_CLI = path.join(DIST, 'dray');
export const DRAYD_JS = path.join(DIST, 'drayd.js');
const BENCH_BRIDGE = 'drbench0';
const BENCH_BIP = '10.213.0.1/16';
export const CLI_DIR = '/tmp/bench-cli';

export type Log = (msg: string) => void;

/**
 * The environment for the Node.js processes we time (dray, drayd, `node -e 0`): the suite's own,
 * minus NODE_EXTRA_CA_CERTS. Some hosts (CI sandboxes) set it globally; Node then parses a CA
 * bundle at every start-up (~50 ms here) although nothing in the suite speaks TLS. A Go binary
 * pays nothing for it, so keeping it would measure the host, not Dray. main.ts records whether
 * it was set.
 */
export const STRIPPED_NODE_ENV = ['NODE_EXTRA_CA_CERTS'];
export function nodeEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  for (const k of STRIPPED_NODE_ENV) delete env[k];
  return env;
}

export interface Engine {
  side: Side;
  title: string;
  /** everything this engine owns lives under here */
  root: string;
  socket: string;
  host: string;
  pid: number;
  /** the engine's own CLI: `dray` for Dray, `docker` for Docker */
  cli(args: string[], opts?: SpawnOpts): Promise<Spawned>;
  /** the real docker CLI pointed at this engine */
  docker(args: string[], opts?: SpawnOpts): Promise<Spawned>;
  api(method: string, p: string, body?: unknown, timeoutMs?: number): Promise<ApiResult>;
  apiOk(method: string, p: string, body?: unknown, timeoutMs?: number): Promise<ApiResult>;
  /** the daemon itself (Dray: drayd; Docker: dockerd + containerd) */
  daemonProcs(): ProcInfo[];
  /** daemon plus per-container monitors (Dray: + conmon; Docker: + containerd-shim) */
  engineProcs(): ProcInfo[];
  /** CLI processes the daemon keeps started for its CLI (Dray's warm CLI; Docker: none) */
  cliProcs(): ProcInfo[];
  /** stops the daemon by PID and reports anything it left behind */
  stop(log: Log): Promise<string[]>;
}

/** The environment of the docker CLI pointed at `host` (private DOCKER_CONFIG, no context). */
export function dockerEnv(host: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: host, DOCKER_CONFIG: path.join(CLI_DIR, 'docker-config'), DOCKER_CLI_HINTS: 'false' };
  delete env.DOCKER_CONTEXT;
  delete env.DOCKER_TLS_VERIFY;
  return env;
}

function spawnDaemon(cmd: string, args: string[], logFile: string): number {
  const fd = openSync(logFile, 'a');
  // detached: a Ctrl-C on the suite reaches only the suite, whose handler stops the daemons in order
  const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], detached: true, env: nodeEnv() });
  closeSync(fd);
  child.unref();
  if (!child.pid) throw new Error(`${cmd} did not start`);
  return child.pid;
}

async function waitReady(socket: string, pid: number, logFile: string, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive(pid)) throw new Error(`${what} exited during start-up: ${tail(logFile)}`);
    if (await ping(socket)) return;
    await sleep(100);
  }
  throw new Error(`${what} did not answer /_ping within ${timeoutMs / 1000} s: ${tail(logFile)}`);
}

export function tail(file: string, n = 5): string {
  try { return readFileSync(file, 'utf8').trim().split('\n').slice(-n).join(' | ').slice(0, 800); } catch { return '(no log)'; }
}

async function stopPid(pid: number, what: string, graceMs: number, log: Log): Promise<void> {
  if (!alive(pid)) return;
  try { process.kill(pid, 'SIGTERM'); } catch { return; }
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await sleep(100);
  if (alive(pid)) {
    log(`${what} (pid ${pid}) did not stop within ${graceMs / 1000} s of SIGTERM; SIGKILL`);
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    for (let i = 0; i < 50 && alive(pid); i++) await sleep(100);
  }
}

/** A process is a zombie or gone: either way it holds nothing. */
function isGone(pid: number): boolean {
  if (!alive(pid)) return true;
  try { return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8')); } catch { return true; }
}

// ---------------------------------------------------------------- Dray

export async function startDray(log: Log): Promise<Engine> {
  for (const f of [DRAYD_JS, DRAY_JS, DRAY_CLI]) if (!existsSync(f)) throw new Error(`${f.startsWith(REPO + "/") ? path.relative(REPO, f) : f} is missing (run \`node scripts/build.mjs\`)`);
  const root = '/tmp/bench-dray';
  mkdirSync(root, { recursive: true });
  const socket = path.join(root, 'd.sock');
  const host = `unix://${socket}`;
  const logFile = path.join(root, 'drayd.log');
  const cfg = path.join(root, 'daemon.json');
  writeFileSync(cfg, '{}\n');
  // Executed as installed, so its shebang's V8 flags apply (scripts/build.mjs).
  // Its own default bridge: sharing dray0 with a drayd already running here, each would keep the
  // other's bridge in use, and netavark would leave the stopped one's NAT rules behind.
  const pid = spawnDaemon(DRAYD_JS, ['-H', host, '--data-root', path.join(root, 'data'), '--exec-root', path.join(root, 'run'), '--config-file', cfg, '--bridge', BENCH_BRIDGE, '--bip', BENCH_BIP], logFile);
  log(`drayd started (pid ${pid}) on ${host}`);
  try { await waitReady(socket, pid, logFile, 'drayd', 30_000); } catch (e) {
    await stopPid(pid, 'drayd', 5000, log);
    throw e;
  }
  // The daemon's warm CLI socket (src/daemon/cli-pool.ts): `dray` hands it each command.
  const env = nodeEnv({ DOCKER_HOST: host, DRAY_HOST: host, DRAY_CLI_SOCKET: path.join(root, 'run', 'cli.sock') });
  const mine = (p: ProcInfo) => p.pid === pid || (p.comm === 'conmon' && p.cmdline.includes(root + '/'));
  const eng: Engine = {
    side: 'dray', title: 'Dray', root, socket, host, pid,
    cli: (args, opts = {}) => run(DRAY_CLI, ['-H', host, ...args], { env, ...opts }),
    docker: (args, opts = {}) => run(DOCKER_CLI, args, { env: dockerEnv(host), ...opts }),
    api: (m, p, b, t) => api(socket, m, p, b, t),
    apiOk: (m, p, b, t) => apiOk(socket, m, p, b, [], t),
    daemonProcs: () => allProcs().filter((p) => p.pid === pid),
    engineProcs: () => allProcs().filter(mine),
    // The zygote (drayd's child running dray.js) and what it forked: its spare, and any command
    // still running at that moment.
    cliProcs: () => {
      const procs = allProcs().filter((p) => p.cmdline.includes(DRAY_JS));
      const zygotes = new Set(procs.filter((p) => p.ppid === pid).map((p) => p.pid));
      return procs.filter((p) => zygotes.has(p.pid) || zygotes.has(p.ppid));
    },
    async stop(log) {
      const leaks: string[] = [];
      const dataContainers = path.join(root, 'data', 'containers');
      const ids = existsSync(dataContainers) ? readdirSync(dataContainers) : [];
      await stopPid(pid, 'drayd', 20_000, log);
      for (let i = 0; i < 30 && allProcs().some((p) => p.comm === 'conmon' && p.cmdline.includes(root + '/')); i++) await sleep(100);
      for (const p of allProcs().filter((p) => p.comm === 'conmon' && p.cmdline.includes(root + '/'))) {
        leaks.push(`drayd left conmon ${p.pid} running`);
        try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ }
      }
      for (const id of ids) {
        if (existsSync(`/run/crun/${id}`)) {
          leaks.push(`drayd left crun state /run/crun/${id}`);
          await run('crun', ['delete', '-f', id], { timeoutMs: 10_000 }).catch(() => undefined);
        }
      }
      // not unmounted here (the suite unmounts nothing it did not mount): reported, and the
      // directory is then left in place
      for (const m of mountsUnder(root + '/')) leaks.push(`drayd left mount ${m}`);
      return leaks;
    },
  };
  return eng;
}

// ---------------------------------------------------------------- Docker

function which(cmd: string): string | undefined {
  for (const d of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const p = path.join(d, cmd);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** apt-get install -y docker.io unless dockerd is there; with a policy-rc.d so apt starts no service. */
export async function ensureDockerInstalled(log: Log): Promise<void> {
  if (which('dockerd')) return;
  if (!which('apt-get')) throw new Error('dockerd is not installed and there is no apt-get');
  const policy = '/usr/sbin/policy-rc.d';
  const madePolicy = !existsSync(policy);
  if (madePolicy) writeFileSync(policy, '#!/bin/sh\n# written by dray bench/ for the duration of apt-get install docker.io\nexit 101\n', { mode: 0o755 });
  try {
    log('installing docker.io (apt-get install -y docker.io; may take a few minutes)…');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    let r = await run('apt-get', ['install', '-y', '--no-install-recommends', 'docker.io'], { env, timeoutMs: 900_000 });
    if (r.code !== 0) {
      log('apt-get install failed; apt-get update and retry');
      await run('apt-get', ['update'], { env, timeoutMs: 600_000 });
      r = await run('apt-get', ['install', '-y', '--no-install-recommends', 'docker.io'], { env, timeoutMs: 900_000 });
    }
    if (r.code !== 0) throw new Error(`apt-get install docker.io failed: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    if (!which('dockerd')) throw new Error('docker.io installed but dockerd is not on PATH');
  } finally {
    if (madePolicy) try { unlinkSync(policy); } catch { /* gone */ }
  }
}

async function linkExists(name: string): Promise<boolean> {
  const r = await run('ip', ['link', 'show', name], { timeoutMs: 5000 }).catch(() => undefined);
  return r?.code === 0;
}

async function iptablesRules(): Promise<string[]> {
  if (!which('iptables')) return [];
  const out: string[] = [];
  for (const table of ['filter', 'nat']) {
    const r = await run('iptables', ['-t', table, '-S'], { timeoutMs: 10_000 }).catch(() => undefined);
    if (r?.code === 0) out.push(...r.stdout.trim().split('\n').map((l) => `${table} ${l}`));
  }
  return out;
}

export async function startDocker(log: Log): Promise<Engine> {
  await ensureDockerInstalled(log);
  if (!existsSync(DOCKER_CLI)) throw new Error(`${DOCKER_CLI} (the docker CLI) is missing`);
  const dockerd = which('dockerd')!;
  if (existsSync('/run/containerd/containerd.sock')) log('note: /run/containerd/containerd.sock exists; dockerd 20.10 may share that containerd instead of starting its own');
  const hadDocker0 = await linkExists('docker0');
  const rulesBefore = new Set(await iptablesRules());
  const root = '/tmp/bench-docker';
  mkdirSync(root, { recursive: true });
  const socket = path.join(root, 'docker.sock');
  const host = `unix://${socket}`;
  const logFile = path.join(root, 'dockerd.log');
  const cfg = path.join(root, 'daemon.json');
  writeFileSync(cfg, '{}\n');
  const pid = spawnDaemon(dockerd, [
    '-H', host, '--config-file', cfg,
    '--data-root', path.join(root, 'root'), '--exec-root', path.join(root, 'exec'), '--pidfile', path.join(root, 'dockerd.pid'),
    '--bridge', 'none', '--iptables=false', '--ip-masq=false', '--log-level', 'warn',
  ], logFile);
  log(`dockerd started (pid ${pid}) on ${host}`);
  const stop = async (log: Log): Promise<string[]> => {
    const leaks: string[] = [];
    const children = allProcs().filter((p) => p.ppid === pid).map((p) => p.pid);
    await stopPid(pid, 'dockerd', 30_000, log);
    for (const c of children) {
      for (let i = 0; i < 100 && !isGone(c); i++) await sleep(100);
      if (!isGone(c)) { leaks.push(`dockerd left its child ${c} running`); await stopPid(c, 'containerd', 10_000, log); }
    }
    for (const p of allProcs().filter((p) => p.cmdline.includes(root + '/'))) {
      leaks.push(`dockerd left ${p.comm} ${p.pid} running`);
      await stopPid(p.pid, p.comm, 5000, log);
    }
    for (const m of mountsUnder(root)) leaks.push(`dockerd left mount ${m}`);
    if (!hadDocker0 && await linkExists('docker0')) {
      leaks.push('dockerd created docker0; deleted');
      await run('ip', ['link', 'del', 'docker0'], { timeoutMs: 10_000 }).catch(() => undefined);
    }
    const added = (await iptablesRules()).filter((r) => !rulesBefore.has(r) && /docker/i.test(r));
    for (const r of added) leaks.push(`iptables rule appeared while Docker ran (not removed, check it): ${r}`);
    return leaks;
  };
  try { await waitReady(socket, pid, logFile, 'dockerd', 60_000); } catch (e) {
    await stop(log);
    throw e;
  }
  const env = dockerEnv(host);
  const mine = (p: ProcInfo) => p.pid === pid || (p.ppid === pid && p.comm.startsWith('containerd'))
    || (p.comm.startsWith('containerd-shim') && p.cmdline.includes(root + '/'));
  return {
    side: 'docker', title: 'Docker', root, socket, host, pid,
    cli: (args, opts = {}) => run(DOCKER_CLI, args, { env, ...opts }),
    docker: (args, opts = {}) => run(DOCKER_CLI, args, { env, ...opts }),
    api: (m, p, b, t) => api(socket, m, p, b, t),
    apiOk: (m, p, b, t) => apiOk(socket, m, p, b, [], t),
    daemonProcs: () => allProcs().filter((p) => p.pid === pid || (p.ppid === pid && p.comm.startsWith('containerd'))),
    engineProcs: () => allProcs().filter(mine),
    cliProcs: () => [],
    stop,
  };
}

// ---------------------------------------------------------------- the shared image

/** Builds a busybox root filesystem from Debian's busybox-static: the binary and its applet links. */
export async function busyboxRootfs(dir: string): Promise<void> {
  const bb = ['/bin/busybox', '/usr/bin/busybox'].find(existsSync);
  if (!bb) throw new Error('no /bin/busybox (apt-get install busybox-static)');
  const file = await firstLine('file', ['-L', bb]);
  if (file && !/statically linked/.test(file)) throw new Error(`${bb} is not static (apt-get install busybox-static)`);
  for (const d of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev']) mkdirSync(path.join(dir, d), { recursive: true });
  await runOk('cp', [bb, path.join(dir, 'bin', 'busybox')]);
  const list = await runOk(bb, ['--list']);
  for (const a of list.stdout.split('\n').map((s) => s.trim()).filter((s) => s && s !== 'busybox')) {
    const link = path.join(dir, 'bin', a);
    if (!existsSync(link)) await runOk('ln', ['-s', 'busybox', link]);
  }
  writeFileSync(path.join(dir, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n');
  writeFileSync(path.join(dir, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
}

/** busybox:latest on Dray, made offline by the daemon (CLI first, the API if the CLI cannot). */
export async function bootstrapDray(dray: Engine, notes: string[]): Promise<void> {
  const b = await dray.cli(['image', 'bootstrap', 'busybox'], { timeoutMs: 180_000 });
  if (b.code !== 0) {
    notes.push(`dray image bootstrap busybox failed (${b.stderr.trim().slice(0, 200)}); used POST /dray/images/bootstrap`);
    await dray.apiOk('POST', '/dray/images/bootstrap?name=busybox', undefined, 180_000);
  }
}

/** Gives Docker the very same image: `dray save busybox` → `docker load`. */
export async function shareBusybox(dray: Engine, docker: Engine, notes: string[]): Promise<void> {
  const tar = path.join(CLI_DIR, 'busybox.tar');
  const s = await dray.cli(['save', 'busybox', '-o', tar], { timeoutMs: 120_000 });
  if (s.code !== 0 || !existsSync(tar)) {
    notes.push(`dray save busybox failed (${s.stderr.trim().slice(0, 200)}); used GET /images/busybox/get`);
    await apiDownload(dray.socket, '/images/busybox/get', tar);
  }
  await runOk(DOCKER_CLI, ['load', '-i', tar], { env: dockerEnv(docker.host), timeoutMs: 120_000 });
  unlinkSync(tar);
  const a = await dray.api('GET', '/images/busybox/json');
  const b = await docker.api('GET', '/images/busybox/json');
  if (b.status !== 200) throw new Error(`docker load gave no busybox: HTTP ${b.status}`);
  if (a.json?.Id !== b.json?.Id) notes.push(`image ids differ after load: dray ${a.json?.Id} docker ${b.json?.Id}`);
}

/** Without Dray, Docker gets busybox:latest imported from Debian's busybox-static. */
export async function importBusybox(docker: Engine, notes: string[]): Promise<void> {
  const stage = path.join(CLI_DIR, 'busybox-rootfs');
  await busyboxRootfs(stage);
  const tar = path.join(CLI_DIR, 'busybox-rootfs.tar');
  await runOk('tar', ['-C', stage, '-cf', tar, '.']);
  await runOk(DOCKER_CLI, ['import', '--change', 'CMD ["sh"]', tar, 'busybox:latest'], { env: dockerEnv(docker.host), timeoutMs: 120_000 });
  notes.push("Docker's busybox:latest was imported from Debian's busybox-static (no Dray image to load)");
}
