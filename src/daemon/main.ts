// drayd: the daemon. Foreground process for supervisors; `dray daemon start` backgrounds it.
import { promises as fsp, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { defaultConfig, DaemonConfig } from '../engine/config';
import { defaultRegistryConfig } from '../registry/remote/client';
import { registryConfigFromJson } from '../registry/remote/daemon-config';
import { isUnpackWorker, serveUnpackJobs } from '../store/unpack-worker';
import { Engine } from '../engine/engine';
import { buildRouter } from '../api';
import { createServer, dispatch, listen, ServerTls, StreamBudget } from '../api/server';
import { enableIdleGc, noteActivity } from '../lib/idle-gc';
import { log, setDebug } from '../lib/log';
import { errorMessage } from '../lib/errors';
import { prepareCgroups } from '../runtime/cgroups';
import { ENGINE_VERSION } from '../api/version';
import { resolveLogConfig } from '../engine/log-drivers';
import { CliPool } from './cli-pool';
import { lockDataRoot } from './data-root-lock';
import { resolveRemap } from '../runtime/userns';
import { checkTraversable, remapLayersMode, remappedRoot } from '../lib/idmap';
import { installEngineMetrics } from '../engine/metrics';
import { metrics } from '../lib/metrics';
import { DRAY_CLIENT_AGENT, WARM_AGENT_MARK } from '../lib/warm-cli';
import { Dashboard } from '../dashboard/server';
import { dashboardConfigFromJson, defaultDashboardConfig, parseAddr, refusal as dashboardRefusal } from '../dashboard/config';
import { registerDashboardRoute } from '../dashboard/route';

const usage = `Usage: drayd [OPTIONS]

A Docker-compatible container engine daemon.

Options:
  -H, --host list            Daemon socket(s) to listen on (default unix:///run/dray.sock)
      --data-root string     Root of persistent state (default /var/lib/dray)
      --exec-root string     Root of runtime state (default /run/dray)
      --runtime string       Default OCI runtime: crun or runc (default crun)
      --config-file string   Daemon JSON config file (default /etc/dray/daemon.json)
      --pidfile string       Path of the pid file (default <exec-root>/drayd.pid)
      --log-max-size bytes   Rotate a container log past this size (default 20971520)
      --log-max-files n      Container log files kept, the live one included (default 3)
  -b, --bridge string        Device name of the default bridge network (default dray0)
      --bip string           Address of the default bridge, in CIDR (default 10.88.0.1/16)
      --cli-workers n        0: keep no dray CLI process waiting for the dray command (default 1: one, forking per command)
      --tls                  TLS on TCP hosts (implied by --tlsverify)
      --tlsverify            TLS on TCP hosts, and only clients with a certificate --tlscacert signed
      --tlscacert string     CA of the accepted client certificates
      --tlscert string       The daemon's TLS certificate
      --tlskey string        The daemon's TLS key
      --insecure-tcp         Allow a TCP host without TLS (root access for anyone who reaches it)
  -G, --group string         Group of the Unix sockets (mode 0660)
      --metrics-addr string  Serve Prometheus metrics on host:port (GET /metrics)
      --dashboard-addr string  Serve the web dashboard on host:port from the start (default: 127.0.0.1, a random port, at the first \`dray dashboard\`)
      --userns-remap string  User/Group setting for user namespaces: "default" (the user dray) or user[:group]
      --max-attached-streams n  Attach and exec streams open at once (default 2000)
      --no-new-privileges    Set no-new-privileges by default for new containers
  -D, --debug                Debug logging
  -v, --version              Print version and exit
`;

interface Flags { config: Partial<DaemonConfig>; configFile: string; pidfile?: string }

function parseArgs(argv: string[]): Flags {
  const out: Flags = { config: {}, configFile: '/etc/dray/daemon.json' };
  const hosts: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let val: string | undefined;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) { val = a.slice(eq + 1); a = a.slice(0, eq); }
    const next = () => {
      if (val !== undefined) return val;
      const v = argv[++i];
      if (v === undefined) fail(`flag needs an argument: ${a}`);
      return v;
    };
    switch (a) {
      case '-H': case '--host': hosts.push(next()); break;
      case '--data-root': out.config.dataRoot = path.resolve(next()); break;
      case '--exec-root': out.config.execRoot = path.resolve(next()); break;
      case '--runtime': case '--default-runtime': out.config.defaultRuntime = next(); break;
      case '--config-file': out.configFile = next(); break;
      case '--pidfile': case '-p': out.pidfile = next(); break;
      case '--log-max-size': out.config.logMaxSize = Number(next()); break;
      case '--log-max-files': out.config.logMaxFiles = Number(next()); break;
      case '-b': case '--bridge': out.config.bridge = next(); break;
      case '--bip': out.config.bridgeSubnet = subnetOf(next()); break;
      case '--cli-workers': out.config.cliWorkers = count(next(), a); break;
      case '--tls': out.config.tls = { ...(out.config.tls ?? { enabled: true, verify: false }), enabled: val === undefined || val !== 'false' }; break;
      case '--tlsverify': out.config.tls = { ...(out.config.tls ?? { enabled: true, verify: true }), enabled: true, verify: val === undefined || val !== 'false' }; break;
      case '--tlscacert': out.config.tls = { ...(out.config.tls ?? { enabled: false, verify: false }), ca: path.resolve(next()) }; break;
      case '--tlscert': out.config.tls = { ...(out.config.tls ?? { enabled: false, verify: false }), cert: path.resolve(next()) }; break;
      case '--tlskey': out.config.tls = { ...(out.config.tls ?? { enabled: false, verify: false }), key: path.resolve(next()) }; break;
      case '--insecure-tcp': out.config.insecureTcp = true; break;
      case '-G': case '--group': out.config.socketGroup = next(); break;
      case '--metrics-addr': out.config.metricsAddr = next(); break;
      case '--dashboard-addr': {
        const addr = next();
        try { parseAddr(addr); } catch (e) { fail(errorMessage(e)); }
        out.config.dashboard = { ...defaultDashboardConfig(), addr, eager: true };
        break;
      }
      case '--userns-remap': out.config.usernsRemap = next(); break;
      case '--max-attached-streams': out.config.maxAttachedStreams = positive(next(), a); break;
      case '--no-new-privileges': out.config.noNewPrivileges = val === undefined ? true : parseBool(val, a); break;
      case '-D': case '--debug': out.config.debug = true; break;
      case '-v': case '--version': process.stdout.write(`Dray daemon version ${ENGINE_VERSION}\n`); process.exit(0);
      // falls through (unreachable)
      case '-h': case '--help': process.stdout.write(usage); process.exit(0);
      // falls through (unreachable)
      default: fail(`unknown flag: ${a}`);
    }
  }
  if (hosts.length) out.config.hosts = hosts;
  return out;
}

/** "10.88.0.1/16" (Docker's --bip: the bridge's address) → "10.88.0.0/16". */
function subnetOf(cidr: string): string {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(cidr);
  if (!m || Number(m[5]) > 30 || m.slice(1, 5).some((x) => Number(x) > 255)) fail(`invalid --bip ${cidr}: expected an IPv4 CIDR like 10.88.0.1/16`);
  const ip = m.slice(1, 5).reduce((a, x) => a * 256 + Number(x), 0);
  const bits = Number(m[5]);
  const net = bits === 0 ? 0 : Math.floor(ip / 2 ** (32 - bits)) * 2 ** (32 - bits);
  return `${[24, 16, 8, 0].map((sh) => Math.floor(net / 2 ** sh) % 256).join('.')}/${bits}`;
}

function fail(msg: string): never {
  process.stderr.write(`drayd: ${msg}\nSee 'drayd --help'.\n`);
  process.exit(1);
}

function loadConfigFile(file: string, explicit: boolean): Partial<DaemonConfig> {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (e: any) {
    if (e.code === 'ENOENT' && !explicit) return {};
    fail(`cannot read config file ${file}: ${e.message}`);
  }
  let raw: any;
  try { raw = JSON.parse(text); } catch (e: any) { fail(`invalid JSON in ${file}: ${e.message}`); }
  // Docker's daemon.json spellings where they exist.
  const c: Partial<DaemonConfig> = {};
  if (raw.hosts) c.hosts = raw.hosts;
  if (raw['data-root']) c.dataRoot = raw['data-root'];
  if (raw['exec-root']) c.execRoot = raw['exec-root'];
  if (raw['default-runtime']) c.defaultRuntime = raw['default-runtime'];
  if (raw.runtimes) c.runtimes = Object.fromEntries(Object.entries(raw.runtimes).map(([k, v]: [string, any]) => [k, v.path ?? v]));
  if (raw.debug !== undefined) c.debug = !!raw.debug;
  if (raw.bridge) c.bridge = raw.bridge;
  if (raw.bip) c.bridgeSubnet = subnetOf(raw.bip);
  if (raw['log-driver'] !== undefined) c.logDriver = String(raw['log-driver']);
  if (raw['log-opts'] !== undefined) c.logOpts = Object.fromEntries(Object.entries(raw['log-opts'] ?? {}).map(([k, v]) => [k, String(v)]));
  if (raw['cli-workers'] !== undefined) c.cliWorkers = count(String(raw['cli-workers']), 'cli-workers');
  if (raw.tls !== undefined || raw.tlsverify !== undefined || raw.tlscacert || raw.tlscert || raw.tlskey) {
    c.tls = { enabled: !!raw.tls || !!raw.tlsverify, verify: !!raw.tlsverify, ca: raw.tlscacert, cert: raw.tlscert, key: raw.tlskey };
  }
  if (raw['insecure-tcp'] !== undefined) c.insecureTcp = !!raw['insecure-tcp'];
  if (raw.group !== undefined) c.socketGroup = String(raw.group);
  if (raw['metrics-addr']) c.metricsAddr = String(raw['metrics-addr']);
  try { c.dashboard = dashboardConfigFromJson(raw.dashboard); } catch (e) { fail(`${file}: ${errorMessage(e)}`); }
  if (raw['userns-remap'] !== undefined && raw['userns-remap'] !== '') c.usernsRemap = String(raw['userns-remap']);
  if (raw['max-attached-streams'] !== undefined) c.maxAttachedStreams = positive(String(raw['max-attached-streams']), 'max-attached-streams');
  if (raw['no-new-privileges'] !== undefined) {
    if (typeof raw['no-new-privileges'] !== 'boolean') fail(`${file}: no-new-privileges must be true or false`);
    c.noNewPrivileges = raw['no-new-privileges'];
  }
  try { c.registry = { ...defaultRegistryConfig(), ...registryConfigFromJson(raw) }; } catch (e: any) { fail(`${file}: ${e.message}`); }
  return c;
}

function parseBool(s: string, name: string): boolean {
  if (/^(1|t|true)$/i.test(s)) return true;
  if (/^(0|f|false)$/i.test(s)) return false;
  return fail(`invalid boolean value "${s}" for ${name}`);
}

function positive(s: string, name: string): number {
  const n = Number(s);
  if (!/^\d+$/.test(s) || n < 1 || n > 1_000_000) fail(`invalid ${name}: ${s} (a number from 1 to 1000000)`);
  return n;
}

function count(s: string, name: string): number {
  const n = Number(s);
  if (!/^\d+$/.test(s) || n > 16) fail(`invalid ${name}: ${s} (a number from 0 to 16)`);
  return n;
}

/**
 * TLS for the TCP hosts, or why drayd will not listen there. The Engine API is root on this host:
 * as with dockerd, a TCP host needs --tlsverify (clients present a certificate the CA signed) or
 * at least --tls, and plain TCP needs the explicit --insecure-tcp.
 */
function serverTls(config: DaemonConfig): ServerTls | undefined {
  const tcp = config.hosts.filter((h) => h.startsWith('tcp://'));
  const t = config.tls;
  if (!t.enabled) {
    if (tcp.length && !config.insecureTcp) {
      fail(`refusing to listen on ${tcp.join(', ')} without TLS: whoever reaches it is root on this host. Use --tlsverify with --tlscacert, --tlscert and --tlskey (or --insecure-tcp to accept the risk)`);
    }
    if (tcp.length) {
      const warn = `WARNING: the API on ${tcp.join(', ')} is plain TCP without authentication (--insecure-tcp): anyone who can reach it has root access to this host`;
      log.warn(warn);
      process.stderr.write(`drayd: ${warn}\n`);
    }
    return undefined;
  }
  if (!t.cert || !t.key) fail('--tls and --tlsverify need --tlscert and --tlskey');
  if (t.verify && !t.ca) fail('--tlsverify needs --tlscacert: the CA whose client certificates are accepted');
  const read = (f: string, what: string) => { try { return readFileSync(f); } catch (e) { return fail(`cannot read the TLS ${what} ${f}: ${errorMessage(e)}`); } };
  return { key: read(t.key!, 'key'), cert: read(t.cert!, 'certificate'), ca: t.verify ? read(t.ca!, 'CA certificate') : undefined };
}

/** GET /metrics on `addr` (host:port), Prometheus' text format; nothing else is served there. */
async function serveMetrics(addr: string, engine: Engine): Promise<void> {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(addr);
  if (!m) fail(`invalid metrics-addr ${addr}: expected host:port, e.g. 127.0.0.1:9323`);
  const host = m![1].replace(/^\[|\]$/g, '');
  if (!['127.0.0.1', '::1', 'localhost'].includes(host)) log.warn('metrics are served beyond loopback', { addr });
  installEngineMetrics({ events: engine.events, containerStates: () => engine.containers.list().map((c) => c.State.Status) });
  const http = await import('node:http');
  const srv = http.createServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') { res.writeHead(404, { 'Content-Type': 'text/plain' }); res.end('404 page not found\n'); return; }
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
    res.end(metrics.render());
  });
  await new Promise<void>((resolve, reject) => { srv.once('error', reject); srv.listen(Number(m![2]), host, () => resolve()); });
  srv.unref();
  log.info('metrics served', { addr });
}

/** dockerd's --group: a group name or number for the Unix sockets. */
function socketGroup(g: string | undefined): number | undefined {
  if (g === undefined || g === '') return undefined;
  if (/^\d+$/.test(g)) return Number(g);
  for (const line of (() => { try { return readFileSync('/etc/group', 'utf8').split('\n'); } catch { return []; } })()) {
    const [name, , gid] = line.split(':');
    if (name === g) return Number(gid);
  }
  return fail(`group ${g} not found (--group)`);
}

async function main(): Promise<void> {
  const flags = parseArgs(process.argv.slice(2));
  const explicitConfig = process.argv.includes('--config-file') || process.argv.some((a) => a.startsWith('--config-file='));
  const fileConfig = loadConfigFile(flags.configFile, explicitConfig);
  const config: DaemonConfig = { ...defaultConfig(), ...fileConfig, ...flags.config };
  // Flags refine the file's TLS settings rather than replace them (--tlsverify with the file's certs).
  if (fileConfig.tls && flags.config.tls) config.tls = { ...fileConfig.tls, ...Object.fromEntries(Object.entries(flags.config.tls).filter(([, v]) => v !== undefined)) } as DaemonConfig['tls'];
  const tls = serverTls(config);
  // The dashboard's TLS files (if any) come from the file; the address may come from the flag.
  // Beyond loopback without TLS it is refused here, before anything starts.
  const dashboardConfig = { ...defaultDashboardConfig(), ...fileConfig.dashboard, ...flags.config.dashboard, tlsCert: fileConfig.dashboard?.tlsCert, tlsKey: fileConfig.dashboard?.tlsKey };
  const dashboardRefused = dashboardConfig.enabled ? dashboardRefusal(dashboardConfig) : undefined;
  if (dashboardRefused) fail(dashboardRefused);
  const group = socketGroup(config.socketGroup);
  // As dockerd, a bad log driver or option in daemon.json keeps drayd from starting.
  try { resolveLogConfig({ Type: config.logDriver, Config: config.logOpts }, { Type: config.logDriver, Config: {} }); } catch (e) { fail(`failed to set log opts: ${errorMessage(e)}`); }
  if (!config.runtimes[config.defaultRuntime]) fail(`unknown runtime ${config.defaultRuntime} (known: ${Object.keys(config.runtimes).join(', ')})`);
  setDebug(config.debug);
  if (process.getuid?.() !== 0) fail('drayd must run as root');

  for (const line of await prepareCgroups()) log.info(line);

  await lockDataRoot(config.dataRoot);
  if (config.usernsRemap) {
    try {
      config.userns = await resolveRemap(config.usernsRemap);
      checkTraversable(config.dataRoot, remappedRoot(config.userns.map));
      config.userns.layers = await remapLayersMode(config.dataRoot, config.userns.map);
    } catch (e) { fail(`userns-remap ${config.usernsRemap}: ${errorMessage(e)}`); }
    log.info('containers run in user namespaces (userns-remap)', { user: config.userns!.user, group: config.userns!.group, uids: config.userns!.map.uids, gids: config.userns!.map.gids, layers: config.userns!.layers });
  }
  const engine = new Engine(config);
  await engine.init();
  const router = buildRouter(engine);
  const dashboard = new Dashboard(dashboardConfig, { router, dispatch, events: engine.events, execs: engine.execs, containers: engine.containers, images: engine.images });
  registerDashboardRoute(router, dashboard);
  const streams = new StreamBudget(config.maxAttachedStreams);
  const server = createServer(router, undefined, streams);
  const tlsServer = tls ? createServer(router, tls, streams) : undefined;
  const servers = tlsServer ? [server, tlsServer] : [server];
  for (const h of config.hosts) await listen(h.startsWith('tcp://') && tlsServer ? tlsServer : server, h, group);
  if (config.metricsAddr) await serveMetrics(config.metricsAddr, engine);
  if (dashboardConfig.enabled && dashboardConfig.eager) await dashboard.url();
  const cliPool = new CliPool(config.execRoot, config.cliWorkers > 0, config.hosts.find((h) => h.startsWith('unix://')));
  // The dray CLI is in use: keep one of it waiting for the next command (cli-pool.ts).
  for (const s of servers) {
    s.on('request', (req: import('node:http').IncomingMessage) => {
      const agent = req.headers['user-agent'];
      if (agent?.startsWith(DRAY_CLIENT_AGENT) && !agent.endsWith(WARM_AGENT_MARK)) cliPool.onDrayRequest();
    });
  }
  enableIdleGc();
  noteActivity(); // start-up itself leaves garbage
  const pidfile = flags.pidfile ?? path.join(config.execRoot, 'drayd.pid');
  await fsp.writeFile(pidfile, `${process.pid}\n`);
  log.info('drayd ready', { hosts: config.hosts, dataRoot: config.dataRoot, execRoot: config.execRoot, runtime: config.defaultRuntime, pid: process.pid });

  let stopping = false;
  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down; containers keep running under conmon', { signal: sig });
    cliPool.stop();
    for (const s of servers) { s.close(); s.closeAllConnections?.(); }
    await dashboard.close().catch(() => {});
    await engine.shutdown().catch(() => {});
    await fsp.rm(pidfile, { force: true });
    for (const h of config.hosts) if (h.startsWith('unix://')) await fsp.rm(h.slice(7), { force: true });
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGPIPE', () => {});
  process.on('unhandledRejection', (e) => log.error('unhandled rejection', { error: errorMessage(e), stack: (e as Error)?.stack }));
}

// The same bundle runs drayd's layer-unpacking worker threads (store/unpack-worker.ts).
if (isUnpackWorker()) serveUnpackJobs();
else main().catch((e) => {
  log.error('drayd failed to start', { error: errorMessage(e) });
  process.stderr.write(`drayd: ${errorMessage(e)}\n`);
  process.exit(1);
});
