// daemon start|stop|status (Dray extension): drayd in the background with a pid file and a log.
import { spawn } from 'node:child_process';
import { openSync, readFileSync, mkdirSync, existsSync, realpathSync } from 'node:fs';
import * as path from 'node:path';
import type { Command, Ctx } from '../command';
import type { DockerClient } from '../../client';
import { StatusError } from '../command';
import { strFlag, listFlag, boolFlag, intFlag } from '../flags';

const DEFAULT_PIDFILE = '/run/dray/drayd.pid';
const DEFAULT_LOG = '/var/log/dray/drayd.log';

const common = [
  strFlag('pidfile', undefined, 'Path of the daemon pid file', DEFAULT_PIDFILE),
];

function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    process.kill(pid, 0);
    return pid;
  } catch (e: any) {
    if (e?.code === 'EPERM') return Number(readFileSync(file, 'utf8').trim());
    return undefined;
  }
}

async function pingOk(client: DockerClient): Promise<boolean> {
  try { await client.transport.ping(); return true; } catch { return false; }
}

export const start: Command = {
  usage: '[OPTIONS]',
  description: 'Start drayd in the background (options are passed to drayd)',
  flags: [
    ...common,
    strFlag('log-file', undefined, 'Where the daemon writes its log', DEFAULT_LOG),
    strFlag('data-root', undefined, 'Root of persistent state'),
    strFlag('exec-root', undefined, 'Root of runtime state'),
    strFlag('runtime', undefined, 'Default OCI runtime'),
    strFlag('config-file', undefined, 'Daemon JSON config file'),
    listFlag('host', 'H', 'Daemon socket(s) to listen on'),
    boolFlag('debug', 'D', 'Debug logging'),
    intFlag('timeout', undefined, 'Seconds to wait for the daemon to answer', 10),
  ],
  args: { exact: 0 },
  async run(ctx, f) {
    const running = readPid(f.pidfile);
    if (running) { process.stdout.write(`drayd is already running (pid ${running})\n`); return 0; }
    const hosts: string[] = f.host.length ? f.host : ctx.hostFlag ? [ctx.hostFlag] : [];
    // dray may be reached through a symlink (/usr/local/bin/dray): drayd.js sits beside the real file.
    const script = path.join(path.dirname(realpathSync(process.argv[1])), 'drayd.js');
    if (!existsSync(script)) throw new StatusError(1, `cannot find drayd at ${script}`);
    const dargs = ['--pidfile', f.pidfile];
    for (const h of hosts) dargs.push('--host', h);
    for (const k of ['data-root', 'exec-root', 'runtime', 'config-file']) if (f[k]) dargs.push(`--${k}`, f[k]);
    if (f.debug) dargs.push('--debug');
    mkdirSync(path.dirname(f['log-file']), { recursive: true });
    mkdirSync(path.dirname(f.pidfile), { recursive: true });
    const log = openSync(f['log-file'], 'a');
    // Executed, not passed to node: drayd's shebang carries its V8 flags (scripts/build.mjs).
    // The CA bundle the shebang of dray set aside (scripts/build.mjs) is drayd's again.
    const env = { ...process.env };
    if (env.DRAY_SAVED_CA_CERTS) env.NODE_EXTRA_CA_CERTS = env.DRAY_SAVED_CA_CERTS;
    delete env.DRAY_SAVED_CA_CERTS;
    const child = spawn(script, dargs, { detached: true, stdio: ['ignore', log, log], env });
    let exited: number | null = null;
    child.on('exit', (code) => { exited = code ?? 1; });
    child.unref();
    // The drayd just started answers where its own -H says, not where DOCKER_HOST points (another
    // daemon may answer there).
    const { DockerClient } = require('../../client') as typeof import('../../client');
    const own = f.host.length ? new DockerClient({ host: f.host[0] }) : undefined;
    const client = own ?? ctx.client();
    const deadline = Date.now() + f.timeout * 1000;
    try {
      while (Date.now() < deadline) {
        if (exited !== null) throw new StatusError(1, `drayd exited with status ${exited}; see ${f['log-file']}`);
        if (await pingOk(client)) {
          process.stdout.write(`drayd started (pid ${child.pid}), listening on ${client.host}\n`);
          return 0;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      own?.close();
    }
    throw new StatusError(1, `drayd did not answer on ${client.host} within ${f.timeout}s; see ${f['log-file']}`);
  },
};

export const stop: Command = {
  usage: '[OPTIONS]',
  description: 'Stop the background drayd',
  flags: [...common, intFlag('timeout', 't', 'Seconds to wait for the daemon to exit', 30)],
  args: { exact: 0 },
  async run(_ctx, f) {
    const pid = readPid(f.pidfile);
    if (!pid) { process.stdout.write('drayd is not running\n'); return 0; }
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + f.timeout * 1000;
    while (Date.now() < deadline) {
      try { process.kill(pid, 0); } catch { process.stdout.write(`drayd stopped (pid ${pid})\n`); return 0; }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new StatusError(1, `drayd (pid ${pid}) did not exit within ${f.timeout}s`);
  },
};

export const status: Command = {
  usage: '[OPTIONS]',
  description: 'Show whether drayd runs',
  flags: common,
  args: { exact: 0 },
  async run(ctx, f) {
    const pid = readPid(f.pidfile);
    const answering = await pingOk(ctx.client());
    if (pid || answering) {
      process.stdout.write(`drayd is running${pid ? ` (pid ${pid})` : ''}, socket ${ctx.client().host}${answering ? '' : ' (not answering)'}\n`);
      return 0;
    }
    process.stdout.write(`drayd is stopped (socket ${ctx.client().host})\n`);
    return 3;
  },
};
