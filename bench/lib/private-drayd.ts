// A drayd of a scenario's own, apart from the suite's (engines.ts): its own data root, exec root,
// socket, default bridge name and subnet under one directory, started and stopped here by PID, so
// a scenario may kill and restart it, or run it while the suite's engines are not involved.
//
//   <dir>/ d.sock, daemon.json (empty), data/ (--data-root), run/ (--exec-root), drayd.log
import * as http from 'node:http';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { DRAYD_JS, nodeEnv, tail } from './engines';
import { ping } from './api';
import { alive, allProcs, mountsUnder } from './procfs';
import { sleep } from './proc';
import { spawnChild } from '../../src/lib/spawn';

export interface PrivateDraydOpts {
  dir: string;
  /** its default bridge: a name no other drayd here uses, and a subnet of its own */
  bridge: string;
  bip: string;
}

export class PrivateDrayd {
  pid = 0;
  constructor(readonly opts: PrivateDraydOpts) {}
  get dir() { return this.opts.dir; }
  get socket() { return path.join(this.dir, 'd.sock'); }
  get host() { return `unix://${this.socket}`; }
  get log() { return path.join(this.dir, 'drayd.log'); }

  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(path.join(this.dir, 'daemon.json'), '{}\n');
    const fd = openSync(this.log, 'a');
    const child = spawnChild(DRAYD_JS, ['-H', this.host, '--data-root', path.join(this.dir, 'data'), '--exec-root', path.join(this.dir, 'run'),
      '--config-file', path.join(this.dir, 'daemon.json'), '--bridge', this.opts.bridge, '--bip', this.opts.bip, '--cli-workers', '0'], { stdio: ['ignore', fd, fd], env: nodeEnv() });
    closeSync(fd);
    this.pid = child.pid!;
    for (let i = 0; i < 150; i++) {
      if (!alive(this.pid)) throw new Error(`the private drayd exited during start-up: ${tail(this.log)}`);
      if (await ping(this.socket)) return;
      await sleep(100);
    }
    await this.stop();
    throw new Error(`the private drayd did not answer within 15 s: ${tail(this.log)}`);
  }

  kill(): void { try { process.kill(this.pid, 'SIGKILL'); } catch { /* gone */ } }

  async stop(): Promise<void> {
    if (!this.pid) return;
    try { process.kill(this.pid, 'SIGTERM'); } catch { return; }
    for (let i = 0; i < 100; i++) { if (!alive(this.pid)) return; await sleep(100); }
    this.kill();
  }

  /** What a stopped drayd left behind under its directory (conmon processes, mounts). */
  leaks(): string[] {
    const out = allProcs().filter((p) => p.comm === 'conmon' && p.cmdline.includes(this.dir + '/')).map((p) => `conmon ${p.pid}`);
    return [...out, ...mountsUnder(this.dir + '/').map((m) => `mount ${m}`)];
  }

  /** POST /images/create through to the end of its stream, or to the connection's end (a killed drayd). */
  pull(ref: string): Promise<string> {
    return new Promise((resolve) => {
      let body = '';
      const req = http.request({ socketPath: this.socket, method: 'POST', path: `/images/create?fromImage=${encodeURIComponent(ref.slice(0, ref.lastIndexOf(':')))}&tag=${ref.slice(ref.lastIndexOf(':') + 1)}` }, (res) => {
        res.on('data', (c) => { body += c; });
        res.on('error', () => {});
        res.on('close', () => resolve(body));
      });
      req.on('error', () => resolve(body));
      req.end();
    });
  }
}
