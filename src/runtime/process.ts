// The OCI `process` object for an exec session, with the same defaults as a container's process
// (capabilities as Docker computes them, rlimits the daemon can grant).
import { tweakCapabilities } from './caps';
import { containerRlimits } from './rlimits';
import { specToJson, DEFAULT_PATH, OciSpec } from './spec';
import { mergeEnv } from '../lib/env';

export interface ProcessInput {
  args: string[];
  env: string[];
  cwd: string;
  user: { uid: number; gid: number; additionalGids: number[] };
  tty: boolean;
  privileged?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  /** The container's: an exec runs with no-new-privileges when its container does, as in Docker. */
  noNewPrivileges?: boolean;
}

export function buildProcess(p: ProcessInput): OciSpec['process'] {
  const caps = tweakCapabilities(p.capAdd, p.capDrop, !!p.privileged);
  return {
    terminal: p.tty,
    user: { uid: p.user.uid, gid: p.user.gid, additionalGids: [...p.user.additionalGids] },
    args: p.args,
    env: mergeEnv([`PATH=${DEFAULT_PATH}`, ...(p.tty ? ['TERM=xterm'] : [])], p.env),
    cwd: p.cwd || '/',
    capabilities: { bounding: [...caps], effective: [...caps], permitted: [...caps] },
    rlimits: containerRlimits(undefined),
    noNewPrivileges: !!p.noNewPrivileges,
  };
}

/** JSON text of a process object (unlimited rlimits written exactly, as for config.json). */
export function processToJson(p: OciSpec['process']): string {
  return specToJson(p as unknown as OciSpec);
}
