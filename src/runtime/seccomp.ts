// Seccomp for a container, from a Docker-format profile (HOST-STACK.md "seccomp"). crun would take
// the Docker format as-is but ignores archMap/includes/excludes, turning every conditional rule on;
// so each container gets the profile filtered for its capabilities, the host arch and kernel.
import { readFileSync } from 'node:fs';
import * as os from 'node:os';
import { invalid, systemError, errorMessage } from '../lib/errors';

export const DEFAULT_SECCOMP_PROFILE = '/usr/share/containers/seccomp.json';

export interface OciSeccompArg { index: number; value: number; valueTwo?: number; op: string }
export interface OciSyscall { names: string[]; action: string; errnoRet?: number; args?: OciSeccompArg[] }
export interface OciSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: OciSyscall[];
}

interface Filter { caps?: string[] | null; arches?: string[] | null; minKernel?: string | null }
interface DockerSyscall {
  name?: string;
  names?: string[] | null;
  action: string;
  args?: OciSeccompArg[] | null;
  errnoRet?: number | null;
  includes?: Filter | null;
  excludes?: Filter | null;
}
export interface DockerSeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number | null;
  architectures?: string[] | null;
  archMap?: { architecture: string; subArchitectures?: string[] | null }[] | null;
  flags?: string[] | null;
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: DockerSyscall[] | null;
}

export interface HostInfo {
  /** Go's GOARCH name: rules name arches the Go way (`amd64`), not libseccomp's way. */
  goArch: string;
  /** os.release(), e.g. "6.18.44-fc-v595". */
  kernel: string;
}

const GOARCH: Record<string, string> = {
  x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x',
  riscv64: 'riscv64', mips64el: 'mips64le', mipsel: 'mipsle', loong64: 'loong64',
};
const NATIVE_SCMP: Record<string, string> = {
  amd64: 'SCMP_ARCH_X86_64', '386': 'SCMP_ARCH_X86', arm64: 'SCMP_ARCH_AARCH64', arm: 'SCMP_ARCH_ARM',
  ppc64le: 'SCMP_ARCH_PPC64LE', s390x: 'SCMP_ARCH_S390X', riscv64: 'SCMP_ARCH_RISCV64',
  mips64le: 'SCMP_ARCH_MIPSEL64', mipsle: 'SCMP_ARCH_MIPSEL', loong64: 'SCMP_ARCH_LOONGARCH64',
};

export function hostInfo(): HostInfo {
  return { goArch: GOARCH[process.arch] ?? process.arch, kernel: os.release() };
}

function kernelAtLeast(kernel: string, min: string): boolean {
  const parse = (v: string) => (/^(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(v) ?? []).slice(1, 4).map((n) => Number(n ?? 0));
  const a = parse(kernel);
  const b = parse(min);
  if (b.length === 0 || b.some(Number.isNaN)) return true;
  for (let i = 0; i < 3; i++) {
    if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  }
  return true;
}

const nonEmpty = <T>(l: T[] | null | undefined): l is T[] => Array.isArray(l) && l.length > 0;

/**
 * Docker's setupSeccomp: a rule stays when its includes all hold and none of its excludes do.
 * `caps` is the container's bounding set (CAP_ names).
 */
export function convertProfile(p: DockerSeccompProfile, caps: Iterable<string>, host: HostInfo = hostInfo()): OciSeccomp {
  if (nonEmpty(p.architectures) && nonEmpty(p.archMap)) {
    throw invalid("'architectures' and 'archMap' were specified in the seccomp profile, use either 'architectures' or 'archMap'");
  }
  const capSet = new Set(caps);
  const out: OciSeccomp = { defaultAction: p.defaultAction };
  if (typeof p.defaultErrnoRet === 'number') out.defaultErrnoRet = p.defaultErrnoRet;
  if (nonEmpty(p.architectures)) out.architectures = [...p.architectures];
  else if (nonEmpty(p.archMap)) {
    const native = NATIVE_SCMP[host.goArch];
    const entry = p.archMap.find((a) => a.architecture === native);
    if (entry) out.architectures = [entry.architecture, ...(entry.subArchitectures ?? [])];
  }
  if (nonEmpty(p.flags)) out.flags = [...p.flags];
  if (p.listenerPath) out.listenerPath = p.listenerPath;
  if (p.listenerMetadata) out.listenerMetadata = p.listenerMetadata;

  const syscalls: OciSyscall[] = [];
  for (const s of p.syscalls ?? []) {
    const inc = s.includes ?? {};
    const exc = s.excludes ?? {};
    if (nonEmpty(exc.arches) && exc.arches.includes(host.goArch)) continue;
    if (nonEmpty(inc.arches) && !inc.arches.includes(host.goArch)) continue;
    if (nonEmpty(exc.caps) && exc.caps.some((c) => capSet.has(c))) continue;
    if (nonEmpty(inc.caps) && !inc.caps.every((c) => capSet.has(c))) continue;
    if (inc.minKernel && !kernelAtLeast(host.kernel, inc.minKernel)) continue;
    const names = nonEmpty(s.names) ? [...s.names] : s.name ? [s.name] : [];
    if (names.length === 0) continue;
    const rule: OciSyscall = { names, action: s.action };
    if (typeof s.errnoRet === 'number') rule.errnoRet = s.errnoRet;
    if (nonEmpty(s.args)) {
      rule.args = s.args.map((a) => ({ index: a.index, value: a.value, valueTwo: a.valueTwo ?? 0, op: a.op }));
    }
    syscalls.push(rule);
  }
  out.syscalls = syscalls;
  return out;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as object)) deepFreeze(v);
  }
  return o;
}

function parseProfile(text: string, origin: string): DockerSeccompProfile {
  let p: DockerSeccompProfile;
  try { p = JSON.parse(text); } catch (e) { throw invalid(`Error parsing seccomp profile ${origin}: ${errorMessage(e)}`); }
  if (!p || typeof p !== 'object' || typeof p.defaultAction !== 'string') {
    throw invalid(`Error parsing seccomp profile ${origin}: defaultAction is missing`);
  }
  return p;
}

let defaultProfile: DockerSeccompProfile | undefined;
const defaultByCaps = new Map<string, OciSeccomp>();

function loadDefault(): DockerSeccompProfile {
  if (!defaultProfile) {
    let text: string;
    try { text = readFileSync(DEFAULT_SECCOMP_PROFILE, 'utf8'); } catch (e) {
      throw systemError(`cannot read the default seccomp profile ${DEFAULT_SECCOMP_PROFILE}: ${errorMessage(e)} (install containers-common, or run with --security-opt seccomp=unconfined)`);
    }
    defaultProfile = parseProfile(text, DEFAULT_SECCOMP_PROFILE);
  }
  return defaultProfile;
}

/**
 * The seccomp section for a container. `profile` is the value of `--security-opt seccomp=…`:
 * undefined/"default"/"builtin" for the default profile, "unconfined" for none, otherwise the
 * profile's JSON text (what the Docker CLI sends) or a path to it. The default profile's result is
 * shared between containers with the same capabilities and frozen: never mutate it.
 */
export function seccompFor(profile: string | undefined, caps: string[]): OciSeccomp | undefined {
  const p = profile?.trim();
  if (p === 'unconfined') return undefined;
  if (!p || p === 'default' || p === 'builtin') {
    const key = [...new Set(caps)].sort().join(',');
    let s = defaultByCaps.get(key);
    if (!s) {
      s = deepFreeze(convertProfile(loadDefault(), caps));
      defaultByCaps.set(key, s);
    }
    return s;
  }
  if (p.startsWith('{')) return convertProfile(parseProfile(p, '(inline)'), caps);
  let text: string;
  try { text = readFileSync(p, 'utf8'); } catch (e) {
    throw invalid(`opening seccomp profile (${p}) failed: ${errorMessage(e)}`);
  }
  return convertProfile(parseProfile(text, p), caps);
}
