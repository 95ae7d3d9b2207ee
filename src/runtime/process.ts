// The OCI `process` object for an exec session: the same defaults as a container's process
// (capabilities, rlimits, no_new_privileges), taken from the one spec builder.
import { buildSpec, SpecInput } from './spec';

export interface ProcessInput {
  args: string[];
  env: string[];
  cwd: string;
  user: SpecInput['user'];
  tty: boolean;
  privileged?: boolean;
  capAdd?: string[];
  capDrop?: string[];
}

export function buildProcess(p: ProcessInput): unknown {
  const spec = buildSpec({
    id: 'exec', rootfs: '/', args: p.args, env: p.env, cwd: p.cwd, user: p.user, tty: p.tty, hostname: '',
    privileged: p.privileged, capAdd: p.capAdd, capDrop: p.capDrop, network: { mode: 'none' }, mounts: [], cgroupsPath: '',
  } as SpecInput) as { process: unknown };
  return spec.process;
}
