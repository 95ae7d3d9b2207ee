// `ps` against an ssh:// host, each engine's own way: `dray -H ssh://…` runs `ssh … dray system
// dial-stdio` and speaks HTTP over it, `docker -H ssh://…` (CLI 28) runs `ssh … docker system
// dial-stdio`. One sshd of the bench's own on 127.0.0.1 (its own host key, config and
// authorized_keys under /tmp/bench-ssh) serves both; its sessions run as root here, with the
// remote `dray` and `docker` on PATH and DRAY_HOST / DOCKER_HOST naming the bench's daemons.
// The floor is `ssh … true`: the connection and the session (root's shell start-up included),
// which both sides pay once per command. The client's ssh options (key, known_hosts) reach
// dray through DRAY_SSH_OPTS, and the docker CLI, which takes none, through an `ssh` on its
// PATH that adds them (one `sh` more on Docker's side).
import { spawn, ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { newRow } from '../model';
import { Scenario, ab, reps, setError, sleep, timed } from '../scenario';
import { DOCKER_CLI, DRAY_CLI, dockerEnv, nodeEnv } from '../engines';
import { run } from '../proc';
import { accepts, freePort } from '../net';

const DIR = '/tmp/bench-ssh';

async function keygen(name: string): Promise<void> {
  const r = await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', path.join(DIR, name)]);
  if (r.code !== 0) throw new Error(`ssh-keygen: ${r.stderr.trim()}`);
}

export const sshHosts: Scenario = {
  id: 'ssh',
  title: 'ps against an ssh:// host (dray -H ssh:// vs docker -H ssh://)',
  async run(ctx) {
    const row = newRow('ssh-ps', 'ps through an ssh:// host (each CLI; floor: ssh … true)', 'ms', [{ kind: 'ratio', max: 1.0 }]);
    row.note = 'sshd on 127.0.0.1, sessions as root; Dray: dray -H ssh://root@127.0.0.1:PORT ps (remote dray system dial-stdio); Docker: docker CLI 28 -H ssh://… ps (remote docker system dial-stdio)';
    const dray = ctx.engines.find((e) => e.side === 'dray');
    const docker = ctx.engines.find((e) => e.side === 'docker');
    let sshd: ChildProcess | undefined;
    let log = '';
    rmSync(DIR, { recursive: true, force: true });
    mkdirSync(path.join(DIR, 'bin'), { recursive: true });
    try {
      const port = await freePort();
      for (const k of ['host_key', 'user_key']) await keygen(k);
      writeFileSync(path.join(DIR, 'authorized_keys'), readFileSync(path.join(DIR, 'user_key.pub')), { mode: 0o600 });
      writeFileSync(path.join(DIR, 'known_hosts'), `[127.0.0.1]:${port} ${readFileSync(path.join(DIR, 'host_key.pub'), 'utf8')}`);
      writeFileSync(path.join(DIR, 'ssh_config'), ['Host *', `  IdentityFile ${DIR}/user_key`, '  IdentitiesOnly yes', '  IdentityAgent none',
        `  UserKnownHostsFile ${DIR}/known_hosts`, '  GlobalKnownHostsFile /dev/null', '  StrictHostKeyChecking yes', '  LogLevel ERROR', ''].join('\n'));
      // The remote side's commands, and the docker CLI's ssh with the bench's options.
      symlinkSync(DRAY_CLI, path.join(DIR, 'bin', 'dray'));
      symlinkSync(DOCKER_CLI, path.join(DIR, 'bin', 'docker'));
      mkdirSync(path.join(DIR, 'client-bin'));
      writeFileSync(path.join(DIR, 'client-bin', 'ssh'), `#!/bin/sh\nexec /usr/bin/ssh -F ${DIR}/ssh_config "$@"\n`);
      chmodSync(path.join(DIR, 'client-bin', 'ssh'), 0o755);
      const remoteEnv = [`PATH=${DIR}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`];
      if (dray) remoteEnv.push(`DRAY_HOST=${dray.host}`, `DRAY_CLI_SOCKET=${dray.root}/run/cli.sock`);
      if (docker) remoteEnv.push(`DOCKER_HOST=${docker.host}`);
      writeFileSync(path.join(DIR, 'sshd_config'), [`Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${DIR}/host_key`, `AuthorizedKeysFile ${DIR}/authorized_keys`,
        'PidFile none', 'UsePAM no', 'StrictModes no', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'PermitRootLogin prohibit-password',
        'MaxStartups 64', 'LogLevel ERROR', `SetEnv ${remoteEnv.join(' ')}`, ''].join('\n'));
      mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
      sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', path.join(DIR, 'sshd_config')], { stdio: ['ignore', 'pipe', 'pipe'] });
      sshd.stdout!.on('data', (b) => { log += b; });
      sshd.stderr!.on('data', (b) => { log += b; });
      for (let i = 0; ; i++) {
        if (sshd.exitCode !== null) throw new Error(`sshd exited: ${log.trim().slice(0, 300)}`);
        if (await accepts(port)) break;
        if (i > 100) throw new Error('sshd did not listen');
        await sleep(50);
      }
      const url = `ssh://root@127.0.0.1:${port}`;
      const drayEnv = nodeEnv({ DRAY_SSH_OPTS: `-F ${DIR}/ssh_config`, DRAY_HOST: '', DOCKER_HOST: '' });
      const dockerCliEnv = { ...dockerEnv(url), PATH: `${DIR}/client-bin:${process.env.PATH}` };
      await ab(ctx, row, reps(ctx, 10, 3), (e) => e.side === 'dray'
        ? timed(run(DRAY_CLI, ['-H', url, 'ps'], { env: drayEnv, timeoutMs: 30_000 }), 'dray -H ssh:// ps')
        : timed(run(DOCKER_CLI, ['ps'], { env: dockerCliEnv, timeoutMs: 30_000 }), 'docker -H ssh:// ps'), 1, async () => {
        try { (row.samples.floor ??= []).push(await timed(run('/usr/bin/ssh', ['-F', `${DIR}/ssh_config`, '-p', String(port), 'root@127.0.0.1', 'true'], { timeoutMs: 30_000 }), 'ssh true')); } catch (e) { setError(row, 'floor', e); }
      });
    } finally {
      if (sshd && sshd.exitCode === null) {
        const exited = new Promise((r) => sshd!.once('exit', r));
        sshd.kill('SIGTERM');
        await Promise.race([exited, sleep(5000)]);
      }
      rmSync(DIR, { recursive: true, force: true });
    }
    return [row];
  },
};
