// Platforms as OCI indexes and Docker manifest lists name them, normalised and matched the way
// containerd's platforms package does (Docker resolves --platform through it): "aarch64" is arm64,
// arm64's "v8" is its default variant, bare "arm" means arm/v7; an arm/v7 host also runs v6 and v5
// images, and a wanted platform without a variant takes the best variant on offer.
import { invalid } from '../../lib/errors';

export interface Platform { os: string; architecture: string; variant?: string }

const KNOWN_OS = new Set(['aix', 'android', 'darwin', 'dragonfly', 'freebsd', 'illumos', 'ios', 'js', 'linux', 'netbsd', 'openbsd', 'plan9', 'solaris', 'wasip1', 'windows']);
const KNOWN_ARCH = new Set(['386', 'amd64', 'amd64p32', 'arm', 'armbe', 'arm64', 'arm64be', 'loong64', 'mips', 'mipsle', 'mips64', 'mips64le', 'mips64p32', 'mips64p32le', 'ppc', 'ppc64', 'ppc64le', 'riscv', 'riscv64', 's390', 's390x', 'sparc', 'sparc64', 'wasm']);

/** Normalises the architecture and its variant (containerd's normalizeArch). */
export function normalizeArch(arch: string, variant = ''): { architecture: string; variant: string } {
  let a = arch.toLowerCase();
  let v = variant.toLowerCase();
  switch (a) {
    case 'i386': a = '386'; v = ''; break;
    case 'x86_64': case 'x86-64': case 'amd64': a = 'amd64'; if (v === 'v1') v = ''; break;
    case 'aarch64': case 'arm64':
      a = 'arm64';
      if (v === '8' || v === 'v8' || v === 'v8.0') v = '';
      else if (v === '9' || v === '9.0' || v === 'v9.0') v = 'v9';
      break;
    case 'armhf': a = 'arm'; v = 'v7'; break;
    case 'armel': a = 'arm'; v = 'v6'; break;
    case 'arm':
      if (v === '' || v === '7') v = 'v7';
      else if (v === '5' || v === '6' || v === '8') v = `v${v}`;
      break;
  }
  return { architecture: a, variant: v };
}

export function normalize(p: Platform): Platform {
  let os = p.os.toLowerCase();
  if (os === 'macos') os = 'darwin';
  const { architecture, variant } = normalizeArch(p.architecture, p.variant ?? '');
  return variant ? { os, architecture, variant } : { os, architecture };
}

/** The platform drayd runs on, in Go's words (runtime.GOOS/GOARCH). */
export function hostPlatform(): Platform {
  const m: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64' };
  const arch = m[process.arch] ?? process.arch;
  // Node reports no ARM variant; v7 is what Debian's armhf (the only 32-bit ARM Node runs on) is.
  return normalize({ os: 'linux', architecture: arch, variant: arch === 'arm' ? 'v7' : undefined });
}

/**
 * Parses "os[/arch[/variant]]" or a bare architecture, as containerd's platforms.Parse: the
 * error wording is its own (`"x": unknown operating system or architecture: invalid argument`).
 */
export function parsePlatform(s: string): Platform {
  const bad = () => invalid(`"${s}": unknown operating system or architecture: invalid argument`);
  const parts = s.trim().split('/');
  if (parts.some((p) => !/^[A-Za-z0-9_.-]+$/.test(p)) || parts.length > 3) throw invalid(`"${s}": invalid platform specifier: invalid argument`);
  if (parts.length === 1) {
    const one = parts[0].toLowerCase();
    const asArch = normalizeArch(one);
    if (KNOWN_ARCH.has(asArch.architecture)) return normalize({ os: 'linux', architecture: one });
    if (KNOWN_OS.has(one === 'macos' ? 'darwin' : one)) return normalize({ os: one, architecture: hostPlatform().architecture, variant: hostPlatform().variant });
    throw bad();
  }
  const [os, arch, variant] = parts;
  const n = normalize({ os, architecture: arch, variant });
  if (!KNOWN_OS.has(n.os) || !KNOWN_ARCH.has(n.architecture)) throw bad();
  return n;
}

/** "linux/amd64", "linux/arm/v7" (containerd's platforms.Format). */
export function formatPlatform(p: Platform): string {
  const n = normalize(p);
  return [n.os, n.architecture, n.variant].filter(Boolean).join('/');
}

/** The display form Docker uses in "no matching manifest for …": the wanted platform as given, normalised. */
export const describePlatform = formatPlatform;

// Variants a CPU of a given variant also runs, best first.
const ARM_FALLBACK: Record<string, string[]> = { v8: ['v8', 'v7', 'v6', 'v5'], v7: ['v7', 'v6', 'v5'], v6: ['v6', 'v5'], v5: ['v5'] };

/**
 * How well `candidate` serves `wanted`: undefined if it cannot, else a rank (lower is better).
 * Exact variant first, then older variants the CPU runs, then an entry without a variant.
 */
export function platformRank(wanted: Platform, candidate: Platform): number | undefined {
  const w = normalize(wanted);
  const c = normalize(candidate);
  if (w.os !== c.os) return undefined;
  if (w.architecture !== c.architecture) {
    // A 64-bit ARM host runs 32-bit ARM images (arm/v8 and below) when nothing better exists.
    if (w.architecture === 'arm64' && c.architecture === 'arm') {
      const i = ARM_FALLBACK.v8.indexOf(c.variant ?? 'v7');
      return i < 0 ? undefined : 100 + i;
    }
    return undefined;
  }
  const wv = w.variant ?? '';
  const cv = c.variant ?? '';
  if (wv === cv) return 0;
  if (wv === '') return cv === '' ? 0 : 10; // no variant wanted: any variant will do, the default best
  if (w.architecture === 'arm') {
    const i = (ARM_FALLBACK[wv] ?? [wv]).indexOf(cv || 'v7');
    return i < 0 ? undefined : i;
  }
  return cv === '' ? 50 : undefined;
}

/** Index of the best entry for `wanted` among `candidates`, or -1. The first of equal ranks wins. */
export function selectPlatform(wanted: Platform, candidates: (Platform | undefined)[]): number {
  let best = -1;
  let bestRank = Infinity;
  candidates.forEach((c, i) => {
    if (!c || !c.os || !c.architecture) return;
    const r = platformRank(wanted, c);
    if (r !== undefined && r < bestRank) { best = i; bestRank = r; }
  });
  return best;
}
