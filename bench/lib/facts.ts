// Machine facts recorded with every result file.
import * as os from 'node:os';
import { readFileSync, existsSync } from 'node:fs';
import { firstLine } from './proc';
import * as path from 'node:path';
import { DIST, DOCKER_CLI, DRAY_JS, REPO, STRIPPED_NODE_ENV } from './engines';

export interface Facts { [k: string]: unknown }

export async function machineFacts(): Promise<Facts> {
  const osRelease = (() => { try { return readFileSync('/etc/os-release', 'utf8').match(/^PRETTY_NAME="?(.*?)"?$/m)?.[1]; } catch { return undefined; } })();
  const v2 = existsSync('/sys/fs/cgroup/cgroup.controllers') ? 'v2' : existsSync('/sys/fs/cgroup/unified') ? 'hybrid' : 'v1';
  return {
    hostname: os.hostname(),
    nproc: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memTotalMiB: Math.round(os.totalmem() / 1048576),
    kernel: os.release(),
    os: osRelease,
    cgroups: v2,
    loadavgAtStart: os.loadavg(),
    node: process.version,
    nodeEnvStripped: STRIPPED_NODE_ENV.filter((k) => process.env[k] !== undefined),
    versions: {
      dray: await firstLine(process.execPath, [DRAY_JS, '--version']),
      crun: await firstLine('crun', ['--version']),
      conmon: await firstLine('conmon', ['--version']),
      runc: await firstLine('runc', ['--version']),
      containerd: await firstLine('containerd', ['--version']),
      dockerd: await firstLine('dockerd', ['--version']),
      dockerCli: await firstLine(DOCKER_CLI, ['--version']),
    },
  };
}

/** The commit of the Dray measured: with BENCH_DIST, the checkout that build belongs to (named in `dist`). */
export async function gitSha(): Promise<{ sha: string; dirty: boolean; dist?: string }> {
  const repo = process.env.BENCH_DIST ? path.dirname(DIST) : REPO;
  const sha = (await firstLine('git', ['-C', repo, 'rev-parse', '--short', 'HEAD'])) ?? 'nogit';
  const st = await firstLine('git', ['-C', repo, 'status', '--porcelain', '--untracked-files=no']);
  return { sha, dirty: !!st, ...(process.env.BENCH_DIST ? { dist: DIST } : {}) };
}
