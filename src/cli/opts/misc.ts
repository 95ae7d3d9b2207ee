// Small value parsers of docker run/create flags: --ulimit, --restart, --env-file, -e, labels,
// --device, --add-host, --sysctl, --cpus, --security-opt, --log-opt, --health-*.
import { readFileSync } from 'node:fs';
import type { Ulimit } from '../../client/types';

const ulimitNames = new Set(['core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack']);

/** go-units ParseUlimit: "nofile=1024:2048", "nproc=64". */
export function parseUlimit(v: string): Ulimit {
  const eq = v.indexOf('=');
  if (eq < 0) throw new Error(`invalid ulimit argument: ${v}`);
  const name = v.slice(0, eq);
  if (!ulimitNames.has(name)) throw new Error(`invalid ulimit type: ${name}`);
  const [softS, hardS, extra] = v.slice(eq + 1).split(':');
  if (extra !== undefined) throw new Error(`too many limit value arguments - ${v.slice(eq + 1)}, can only have up to two, \`soft[:hard]\``);
  const num = (s: string, which: string) => {
    if (!/^-?\d+$/.test(s)) throw new Error(`invalid ulimit ${which} value: ${JSON.stringify(s)}`);
    return Number(s);
  };
  const soft = num(softS, 'soft');
  const hard = hardS === undefined ? soft : num(hardS, 'hard');
  if (soft > hard) throw new Error(`ulimit soft limit must be less than or equal to hard limit: ${soft} > ${hard}`);
  return { Name: name, Soft: soft, Hard: hard };
}

/** --restart no|always|unless-stopped|on-failure[:N] (the daemon validates the name). */
export function parseRestartPolicy(v: string): { Name: string; MaximumRetryCount: number } {
  if (v === '') return { Name: '', MaximumRetryCount: 0 };
  const i = v.indexOf(':');
  const name = i >= 0 ? v.slice(0, i) : v;
  if (i >= 0 && name === '') throw new Error('invalid restart policy format: no policy provided before colon');
  let count = 0;
  if (i >= 0) {
    const c = v.slice(i + 1);
    if (!/^[+-]?\d+$/.test(c)) throw new Error('invalid restart policy format: maximum retry count must be an integer');
    count = Number(c);
  }
  return { Name: name, MaximumRetryCount: count };
}

/**
 * Lines of an --env-file/--label-file: "#" comments and blank lines skipped, KEY=VALUE kept
 * verbatim (no quote handling, as Docker), a bare KEY takes its value from our environment.
 */
export function parseKeyValueFile(text: string, file: string, lookup: (k: string) => string | undefined = (k) => process.env[k]): string[] {
  const out: string[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    const key = eq >= 0 ? line.slice(0, eq) : line;
    if (key === '') throw new Error(`no variable name on line '${line}'`);
    if (/\s/.test(key)) throw new Error(`variable '${key.trimEnd()}' contains whitespaces`);
    void file; void i;
    if (eq >= 0) out.push(line);
    else {
      const v = lookup(key);
      if (v !== undefined) out.push(`${key}=${v}`);
      else out.push(key);
    }
  });
  return out;
}

export function readEnvFile(file: string): string[] {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (e: any) {
    throw new Error(`open ${file}: ${e.code === 'ENOENT' ? 'no such file or directory' : e.message}`);
  }
  return parseKeyValueFile(text, file);
}

/** -e KEY=V as is; -e KEY takes our value if we have one (else stays "KEY": unset in the container). */
export function normalizeEnv(v: string, lookup: (k: string) => string | undefined = (k) => process.env[k]): string {
  const eq = v.indexOf('=');
  if (eq === 0) throw new Error(`invalid environment variable: ${v}`);
  if (eq > 0) return v;
  const val = lookup(v);
  return val !== undefined ? `${v}=${val}` : v;
}

/** -l k=v / --label k → {k: v} (a bare key has an empty value). */
export function labelsToMap(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of list) {
    const eq = l.indexOf('=');
    if (eq === 0) throw new Error(`invalid label '${l}': empty name`);
    out[eq >= 0 ? l.slice(0, eq) : l] = eq >= 0 ? l.slice(eq + 1) : '';
  }
  return out;
}

/** --device /dev/fuse[:/dev/fuse[:rwm]]. */
export function parseDevice(v: string): { PathOnHost: string; PathInContainer: string; CgroupPermissions: string } {
  const parts = v.split(':');
  let src = parts[0];
  let dst = src;
  let perms = 'rwm';
  if (parts.length === 2) {
    if (/^[rwm]+$/.test(parts[1]) && !parts[1].startsWith('/')) perms = parts[1];
    else dst = parts[1];
  } else if (parts.length === 3) { dst = parts[1]; perms = parts[2]; if (!/^[rwm]+$/.test(perms)) throw new Error(`invalid device specification: ${v}`); }
  else if (parts.length > 3) throw new Error(`invalid device specification: ${v}`);
  if (!dst.startsWith('/')) throw new Error(`${dst} is not an absolute path`);
  src = src || dst;
  return { PathOnHost: src, PathInContainer: dst, CgroupPermissions: perms };
}

/** --add-host name:ip (also name=ip, and IPv6 addresses in brackets or bare). */
export function parseExtraHost(v: string): string {
  let i = v.indexOf('=');
  if (i < 0) i = v.indexOf(':');
  if (i <= 0) throw new Error(`bad format for add-host: ${JSON.stringify(v)}`);
  const host = v.slice(0, i);
  let ip = v.slice(i + 1).replace(/^\[(.*)\]$/, '$1');
  if (ip === 'host-gateway') return `${host}:${ip}`;
  if (!/^[0-9.]+$/.test(ip) && !(ip.includes(':') && /^[0-9a-fA-F:.]+$/.test(ip))) throw new Error(`invalid IP address in add-host: ${JSON.stringify(ip)}`);
  ip = ip.trim();
  return `${host}:${ip}`;
}

/** --sysctl k=v. */
export function parseKeyValue(v: string, what: string): [string, string] {
  const i = v.indexOf('=');
  if (i <= 0) throw new Error(`invalid ${what}: ${v}`);
  return [v.slice(0, i), v.slice(i + 1)];
}

/** --cpus 1.5 → NanoCpus. */
export function parseCpus(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new Error(`failed to parse ${v} as a rational number`);
  const nano = Math.round(n * 1e9);
  if (!Number.isInteger(nano)) throw new Error('value is too precise');
  return nano;
}

/** --security-opt seccomp=profile.json reads the file into the value, as the docker CLI does. */
export function parseSecurityOpts(list: string[]): string[] {
  return list.map((o) => {
    const k = o.includes('=') ? o.slice(0, o.indexOf('=')) : o.includes(':') ? o.slice(0, o.indexOf(':')) : o;
    const v = o.includes('=') ? o.slice(o.indexOf('=') + 1) : o.includes(':') ? o.slice(o.indexOf(':') + 1) : '';
    if (o === 'no-new-privileges') return o;
    if (k === 'seccomp' && v !== 'unconfined' && v !== 'builtin' && v !== '') {
      let text: string;
      try { text = readFileSync(v, 'utf8'); } catch (e: any) { throw new Error(`opening seccomp profile (${v}) failed: ${e.message}`); }
      try { return `seccomp=${JSON.stringify(JSON.parse(text))}`; } catch { throw new Error(`compacting json for seccomp profile (${v}) failed`); }
    }
    if (!o.includes('=') && !o.includes(':')) throw new Error(`Invalid --security-opt: ${JSON.stringify(o)}`);
    return o;
  });
}

/** --log-opt k=v → map. */
export function logOptsToMap(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of list) { const [k, v] = parseKeyValue(l, 'log-opt'); out[k] = v; }
  return out;
}

/** --health-cmd: CMD-SHELL form like Docker. */
export function healthTest(cmd: string | undefined, none: boolean): string[] | undefined {
  if (none) return ['NONE'];
  if (cmd === undefined || cmd === '') return undefined;
  return ['CMD-SHELL', cmd];
}

/** --stop-signal, kill -s: a name (SIGTERM, TERM) or a number; the daemon validates. */
export function normalizeSignal(s: string): string { return s; }
