// Linux capabilities by Docker's rules: names as the API spells them (with or without CAP_, any
// case, "ALL"), Docker's default set, and the set this daemon can actually hand out.
import { readFileSync } from 'node:fs';
import { invalid } from '../lib/errors';

/** Index = capability number (linux/capability.h). */
export const KNOWN_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT',
  'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE',
  'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG',
  'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

/** Docker's default set, in Docker's order (it shows in `docker inspect`-like output of the spec). */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

let daemonCaps: { bounding: Set<string>; effective: Set<string> } | undefined;

function capsFromMask(hex: string): Set<string> {
  const mask = BigInt('0x' + hex);
  return new Set(KNOWN_CAPABILITIES.filter((_, i) => (mask >> BigInt(i)) & 1n));
}

/**
 * The daemon's own capability sets. A runtime it spawns cannot grant a capability outside the
 * daemon's bounding set (here CAP_SYS_RESOURCE is missing), so "all capabilities" means these.
 */
export function daemonCapabilities(): { bounding: Set<string>; effective: Set<string> } {
  if (!daemonCaps) {
    let status = '';
    try { status = readFileSync('/proc/self/status', 'utf8'); } catch { /* not Linux: assume all */ }
    const field = (name: string) => new RegExp(`^${name}:\\s*([0-9a-f]+)$`, 'm').exec(status)?.[1];
    const bnd = field('CapBnd');
    const eff = field('CapEff');
    daemonCaps = {
      bounding: bnd ? capsFromMask(bnd) : new Set(KNOWN_CAPABILITIES),
      effective: eff ? capsFromMask(eff) : new Set(KNOWN_CAPABILITIES),
    };
  }
  return daemonCaps;
}

/** Every capability this daemon can give a container, in kernel order. */
export function allCapabilities(): string[] {
  const b = daemonCapabilities().bounding;
  return KNOWN_CAPABILITIES.filter((c) => b.has(c));
}

/** Docker's NormalizeLegacyCapabilities: upper case, CAP_ prefix, "ALL" kept, unknown names rejected. */
export function normalizeCapabilities(list: string[] | undefined): string[] {
  const out: string[] = [];
  for (const raw of list ?? []) {
    let c = raw.trim().toUpperCase();
    if (c !== 'ALL') {
      if (!c.startsWith('CAP_')) c = 'CAP_' + c;
      if (!KNOWN_CAPABILITIES.includes(c)) throw invalid(`unknown capability: "${c}"`);
    }
    if (!out.includes(c)) out.push(c);
  }
  return out;
}

/**
 * Docker's TweakCapabilities: privileged or "ALL" added gives everything (minus drops); "ALL"
 * dropped leaves only the adds; otherwise defaults minus drops plus adds. An explicit add of a
 * capability the daemon itself lacks is refused here, with a message, rather than by the runtime.
 */
export function tweakCapabilities(adds: string[] | undefined, drops: string[] | undefined, privileged = false): string[] {
  if (privileged) return allCapabilities();
  const capAdd = normalizeCapabilities(adds);
  const capDrop = normalizeCapabilities(drops);
  let caps: string[];
  if (capAdd.includes('ALL')) caps = allCapabilities().filter((c) => !capDrop.includes(c));
  else if (capDrop.includes('ALL')) caps = [...capAdd];
  else caps = [...DEFAULT_CAPABILITIES.filter((c) => !capDrop.includes(c)), ...capAdd.filter((c) => !DEFAULT_CAPABILITIES.includes(c))];
  const bounding = daemonCapabilities().bounding;
  for (const c of caps) {
    if (!bounding.has(c)) throw invalid(`capability ${c} is not available: the daemon does not hold it in its bounding set`);
  }
  return caps;
}

/** The 16-hex mask as /proc/<pid>/status shows it (CapEff etc.). */
export function capabilityMask(caps: Iterable<string>): string {
  let mask = 0n;
  for (const c of caps) {
    const i = KNOWN_CAPABILITIES.indexOf(c);
    if (i >= 0) mask |= 1n << BigInt(i);
  }
  return mask.toString(16).padStart(16, '0');
}
