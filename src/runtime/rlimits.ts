// Resource limits a container may get. The runtime inherits the daemon's limits and, without
// CAP_SYS_RESOURCE (HOST-STACK.md: missing here), cannot raise a hard limit above them: asking for
// more makes `crun create` fail with EPERM. So defaults are capped to the daemon's own limits and a
// user's ulimit beyond them is refused up front with a message that says why.
import { readFileSync } from 'node:fs';
import { invalid } from '../lib/errors';
import { daemonCapabilities } from './caps';

export interface OciRlimit { type: string; soft: number; hard: number }

/**
 * Stands for RLIM_INFINITY (2^64-1), which a JS number cannot hold exactly. Plain JSON.stringify
 * writes it as a huge finite limit; specToJson (spec.ts) writes the exact value.
 */
export const RLIM_INFINITY = Number.MAX_SAFE_INTEGER;

// Docker's (go-units) ulimit names.
const TYPES: Record<string, string> = {
  core: 'RLIMIT_CORE', cpu: 'RLIMIT_CPU', data: 'RLIMIT_DATA', fsize: 'RLIMIT_FSIZE', locks: 'RLIMIT_LOCKS',
  memlock: 'RLIMIT_MEMLOCK', msgqueue: 'RLIMIT_MSGQUEUE', nice: 'RLIMIT_NICE', nofile: 'RLIMIT_NOFILE',
  nproc: 'RLIMIT_NPROC', rss: 'RLIMIT_RSS', rtprio: 'RLIMIT_RTPRIO', rttime: 'RLIMIT_RTTIME',
  sigpending: 'RLIMIT_SIGPENDING', stack: 'RLIMIT_STACK',
};

// Row titles of /proc/<pid>/limits.
const PROC_ROWS: Record<string, string> = {
  'Max cpu time': 'cpu', 'Max file size': 'fsize', 'Max data size': 'data', 'Max stack size': 'stack',
  'Max core file size': 'core', 'Max resident set': 'rss', 'Max processes': 'nproc', 'Max open files': 'nofile',
  'Max locked memory': 'memlock', 'Max address space': 'as', 'Max file locks': 'locks',
  'Max pending signals': 'sigpending', 'Max msgqueue size': 'msgqueue', 'Max nice priority': 'nice',
  'Max realtime priority': 'rtprio', 'Max realtime timeout': 'rttime',
};

/** Docker's default RLIMIT_NOFILE for containers (soft and hard). */
export const DEFAULT_NOFILE = 1048576;

export interface Limit { soft: number; hard: number }

let own: Map<string, Limit> | undefined;

/** The daemon's own limits by Docker name (read once); RLIM_INFINITY for "unlimited". */
export function daemonRlimits(): Map<string, Limit> {
  if (own) return own;
  own = new Map();
  let text = '';
  try { text = readFileSync('/proc/self/limits', 'utf8'); } catch { return own; }
  const val = (s: string) => (s === 'unlimited' ? RLIM_INFINITY : Number(s));
  for (const line of text.split('\n').slice(1)) {
    const m = /^(.+?)\s{2,}(\S+)\s+(\S+)/.exec(line);
    const name = m && PROC_ROWS[m[1].trim()];
    if (name) own.set(name, { soft: val(m[2]), hard: val(m[3]) });
  }
  return own;
}

/** For tests: forget the cached limits. */
export function resetRlimitCache(limits?: Map<string, Limit>): void { own = limits; }

const canRaise = () => daemonCapabilities().effective.has('CAP_SYS_RESOURCE');

function fromDocker(n: number): number {
  return n < 0 ? RLIM_INFINITY : n;
}

function show(n: number): string { return n >= RLIM_INFINITY ? 'unlimited' : String(n); }

/** Docker's default nofile plus the user's ulimits, checked against what the daemon can grant. */
export function containerRlimits(ulimits: { Name: string; Soft: number; Hard: number }[] | undefined): OciRlimit[] {
  const limits = daemonRlimits();
  const raise = canRaise();
  const byName = new Map<string, Limit>();
  const nofileCap = raise ? DEFAULT_NOFILE : Math.min(DEFAULT_NOFILE, limits.get('nofile')?.hard ?? DEFAULT_NOFILE);
  byName.set('nofile', { soft: nofileCap, hard: nofileCap });
  for (const u of ulimits ?? []) {
    const name = String(u.Name ?? '').toLowerCase();
    if (!TYPES[name]) throw invalid(`invalid ulimit type: ${u.Name}`);
    if (!Number.isInteger(u.Soft) || !Number.isInteger(u.Hard)) throw invalid(`invalid ulimit argument: ${u.Name}=${u.Soft}:${u.Hard}`);
    const soft = fromDocker(u.Soft);
    const hard = fromDocker(u.Hard);
    if (soft > hard) throw invalid(`ulimit soft limit must be less than or equal to hard limit: ${show(soft)} > ${show(hard)}`);
    const host = limits.get(name);
    if (!raise && host && hard > host.hard) {
      throw invalid(`ulimit ${name}: hard limit ${show(hard)} exceeds the daemon's own hard limit ${show(host.hard)}; the daemon lacks CAP_SYS_RESOURCE to raise it`);
    }
    byName.set(name, { soft, hard });
  }
  return [...byName].map(([name, l]) => ({ type: TYPES[name], soft: l.soft, hard: l.hard }));
}
