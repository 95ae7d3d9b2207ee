// crun compiles the spec's seccomp profile into BPF on every `create`: about 13 ms of the ~30 ms
// it takes on this host (HOST-STACK.md), for a profile that is the same for nearly every container.
// crun leaves the compiled program in its state directory (seccomp.bpf) and accepts a compiled one
// back through the run.oci.seccomp_bpf_data annotation, so the first container with a given
// profile teaches the cache and the others skip the compilation. Memory only: a restarted daemon
// pays one compilation per profile again, and nothing on disk can go stale across a crun upgrade.
import { createHash } from 'node:crypto';
import { promises as fsp, statSync } from 'node:fs';
import * as path from 'node:path';
import { log } from '../lib/log';

const ANNOTATION = 'run.oci.seccomp_bpf_data';
// Bounded: profiles differ only by capability set and security options, so a few are the norm.
const MAX_ENTRIES = 64;

interface SpecLike { annotations?: Record<string, string>; linux?: { seccomp?: unknown } }

export class SeccompCache {
  private programs = new Map<string, string>();

  /** @param stateRoot the runtime's state directory (crun's default is /run/crun). */
  constructor(private runtimePath: string, private stateRoot = '/run/crun') {}

  /** Only crun reads the annotation; other runtimes compile the profile themselves. */
  static supports(runtimePath: string): boolean { return path.basename(runtimePath) === 'crun'; }

  /**
   * Puts the compiled program into the spec when one is known; returns the key to learn it under
   * after a successful create, or undefined when there is nothing to learn.
   */
  apply(spec: SpecLike): string | undefined {
    const profile = spec.linux?.seccomp;
    if (!profile) return undefined;
    const key = this.keyOf(profile);
    const bpf = this.programs.get(key);
    if (!bpf) return key;
    spec.annotations = { ...(spec.annotations ?? {}), [ANNOTATION]: bpf };
    return undefined;
  }

  /** After `create` succeeded without the annotation: keep what crun compiled for the next one. */
  async learn(key: string, containerId: string): Promise<void> {
    if (this.programs.has(key)) return;
    try {
      const bpf = await fsp.readFile(path.join(this.stateRoot, containerId, 'seccomp.bpf'));
      // A seccomp program is a whole number of 8-byte sock_filter instructions.
      if (!bpf.length || bpf.length % 8 !== 0) return;
      if (this.programs.size >= MAX_ENTRIES) this.programs.delete(this.programs.keys().next().value!);
      this.programs.set(key, bpf.toString('base64'));
    } catch (e) {
      log.debug('seccomp program not cached', { container: containerId, error: (e as Error).message });
    }
  }

  private keyOf(profile: unknown): string {
    // The binary's identity enters the key: an upgraded crun may compile differently.
    let stamp = '';
    try { const st = statSync(this.runtimePath); stamp = `${st.size}:${st.mtimeMs}`; } catch { /* checked at create */ }
    return createHash('sha256').update(stamp).update(JSON.stringify(profile)).digest('hex');
  }
}
