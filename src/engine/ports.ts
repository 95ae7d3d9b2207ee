// Published ports: Docker's -p grammar, the choice of host ports, and the shapes netavark and the
// API want. netavark only writes DNAT rules, nothing listens on the host port, so conflicts are
// ours to find: against our own allocations (Docker's "port is already allocated") and against
// whatever else on the host already listens there (a trial bind).
import * as net from 'node:net';
import * as dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { invalid, notImplemented, systemError } from '../lib/errors';
import type { NetavarkPortMapping } from '../runtime/netavark';
import { byBytes } from '../lib/compare';

export type Proto = 'tcp' | 'udp' | 'sctp';

export interface PortMapping { hostIp: string; hostPort: number; containerPort: number; protocol: Proto }

/** One port to publish: a fixed host port, a host port range to choose from, or any (0..0). */
export interface PortRequest { hostIp: string; hostPortFrom: number; hostPortTo: number; containerPort: number; protocol: Proto }

export interface Binding { HostIp?: string; HostPort?: string }

export function parsePortKey(key: string): { port: number; protocol: Proto } {
  const [p, proto = 'tcp'] = key.split('/');
  const port = Number(p);
  if (!/^\d+$/.test(p) || port < 1 || port > 65535) throw invalid(`invalid port: ${key}`);
  if (proto !== 'tcp' && proto !== 'udp' && proto !== 'sctp') throw invalid(`invalid proto: ${proto}`);
  return { port, protocol: proto };
}

function parseRange(s: string, what: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(s);
  if (!m) throw invalid(`invalid ${what}: ${s}`);
  const a = Number(m[1]);
  const b = m[2] === undefined ? a : Number(m[2]);
  if (a < 1 || b > 65535 || b < a) throw invalid(`invalid ${what}: ${s}`);
  return [a, b];
}

/**
 * Docker's -p/--publish grammar (nat.ParsePortSpec): `80`, `8080:80`, `127.0.0.1:8080:80`,
 * `127.0.0.1::80`, `8000-8001:80-81`, `8000-8010:80`, `[::1]:8080:80`, each with an optional
 * `/udp` or `/sctp`. Returns the exposed keys and the PortBindings the API expects.
 */
export function parsePublishSpec(spec: string): { exposed: string[]; bindings: Record<string, Binding[]> } {
  let rest = spec;
  let proto = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash !== -1) { proto = rest.slice(slash + 1); rest = rest.slice(0, slash); }
  if (proto !== 'tcp' && proto !== 'udp' && proto !== 'sctp') throw invalid(`invalid proto: ${proto}`);
  let hostIp = '';
  if (rest.startsWith('[')) {
    const end = rest.indexOf(']');
    if (end === -1) throw invalid(`invalid IP address: ${spec}`);
    hostIp = rest.slice(1, end);
    rest = rest.slice(end + 1).replace(/^:/, '');
  }
  const parts = rest.split(':');
  let hostPart = '';
  let ctrPart: string;
  if (parts.length === 1) ctrPart = parts[0];
  else if (parts.length === 2) { hostPart = parts[0]; ctrPart = parts[1]; }
  else if (parts.length === 3 && !hostIp) { hostIp = parts[0]; hostPart = parts[1]; ctrPart = parts[2]; }
  else throw invalid(`invalid port format for --publish: ${spec}`);
  if (hostIp && !net.isIP(hostIp)) throw invalid(`invalid IP address: ${hostIp}`);
  if (!ctrPart) throw invalid(`no port specified: ${spec}<empty>`);
  const [c0, c1] = parseRange(ctrPart, 'containerPort');
  const cn = c1 - c0 + 1;
  let h: [number, number] | undefined;
  if (hostPart && hostPart !== '0') {
    h = parseRange(hostPart, 'hostPort');
    const hn = h[1] - h[0] + 1;
    if (hn !== cn && !(cn === 1 && hn > 1)) throw invalid(`invalid ranges specified for container and host Ports: ${ctrPart} and ${hostPart}`);
  }
  const exposed: string[] = [];
  const bindings: Record<string, Binding[]> = {};
  for (let i = 0; i < cn; i++) {
    const key = `${c0 + i}/${proto}`;
    exposed.push(key);
    let hostPort = '';
    if (h) hostPort = cn === 1 && h[1] > h[0] ? `${h[0]}-${h[1]}` : String(h[0] + i);
    else if (hostPart === '0') hostPort = '0';
    (bindings[key] ??= []).push({ HostIp: hostIp, HostPort: hostPort });
  }
  return { exposed, bindings };
}

/** What a container asks for: its PortBindings, plus every other exposed port when -P is given. */
export function portRequests(portBindings: Record<string, Binding[] | null | undefined>, publishAll: boolean, exposedPorts: string[]): PortRequest[] {
  const out: PortRequest[] = [];
  const bound = new Set<string>();
  for (const [key, list] of Object.entries(portBindings ?? {})) {
    const { port, protocol } = parsePortKey(key);
    bound.add(`${port}/${protocol}`);
    for (const b of list ?? []) {
      const hostIp = normaliseHostIp(b.HostIp);
      if (hostIp === undefined) continue;
      // Empty or "0": any free port, as Docker takes them (testcontainers sends "0" for every port).
      const [from, to] = b.HostPort && b.HostPort !== '0' ? parseRange(b.HostPort, 'hostPort') : [0, 0];
      out.push({ hostIp, hostPortFrom: from, hostPortTo: to, containerPort: port, protocol });
    }
  }
  if (publishAll) {
    for (const key of exposedPorts) {
      const { port, protocol } = parsePortKey(key);
      if (bound.has(`${port}/${protocol}`)) continue;
      bound.add(`${port}/${protocol}`);
      out.push({ hostIp: '', hostPortFrom: 0, hostPortTo: 0, containerPort: port, protocol });
    }
  }
  return out;
}

/**
 * '' for all IPv4 addresses. Published ports are IPv4 only here: "::" (the IPv6 any address,
 * which Docker's own inspect output lists beside 0.0.0.0 and clients send back) is skipped, and a
 * particular IPv6 address is refused rather than dropped.
 */
function normaliseHostIp(ip: string | undefined): string | undefined {
  if (!ip || ip === '0.0.0.0') return '';
  if (net.isIPv6(ip)) {
    if (ip === '::') return undefined;
    throw notImplemented(`publishing on the IPv6 address ${ip} is not implemented: published ports are IPv4 only`);
  }
  if (!net.isIPv4(ip)) throw invalid(`invalid host IP address: ${ip}`);
  return ip;
}

const overlaps = (a: PortMapping, b: PortMapping): boolean =>
  a.protocol === b.protocol && a.hostPort === b.hostPort && (a.hostIp === b.hostIp || a.hostIp === '' || b.hostIp === '');

/** The engine's own host-port allocations, by owner (container id). */
export class PortBook {
  private byOwner = new Map<string, PortMapping[]>();

  conflicts(m: PortMapping): boolean {
    for (const list of this.byOwner.values()) if (list.some((x) => overlaps(x, m))) return true;
    return false;
  }
  take(owner: string, m: PortMapping): void {
    const list = this.byOwner.get(owner) ?? [];
    list.push(m);
    this.byOwner.set(owner, list);
  }
  drop(owner: string, m: PortMapping): void {
    const list = this.byOwner.get(owner);
    if (!list) return;
    const i = list.indexOf(m);
    if (i !== -1) list.splice(i, 1);
    if (!list.length) this.byOwner.delete(owner);
  }
  releaseOwner(owner: string): void { this.byOwner.delete(owner); }
  owned(owner: string): PortMapping[] { return [...(this.byOwner.get(owner) ?? [])]; }
}

export type Probe = (m: PortMapping) => Promise<boolean>;

const display = (m: { hostIp: string }) => m.hostIp || '0.0.0.0';

/**
 * Chooses host ports for `reqs` and books them under `owner`. Each choice is booked before its
 * trial bind is awaited, so concurrent callers never pick the same port. On failure nothing stays
 * booked for this call.
 */
export async function allocatePorts(reqs: PortRequest[], book: PortBook, owner: string, probe: Probe = probeHostPort, ephemeral = ephemeralRange()): Promise<PortMapping[]> {
  const taken: PortMapping[] = [];
  try {
    for (const r of reqs) taken.push(await allocateOne(r, book, owner, probe, ephemeral));
    return taken;
  } catch (e) {
    for (const m of taken) book.drop(owner, m);
    throw e;
  }
}

async function allocateOne(r: PortRequest, book: PortBook, owner: string, probe: Probe, ephemeral: [number, number]): Promise<PortMapping> {
  const base = { hostIp: r.hostIp, containerPort: r.containerPort, protocol: r.protocol };
  if (r.hostPortFrom && r.hostPortFrom === r.hostPortTo) {
    const m = { ...base, hostPort: r.hostPortFrom };
    if (book.conflicts(m)) throw systemError(`Bind for ${display(m)}:${m.hostPort} failed: port is already allocated`);
    book.take(owner, m);
    if (await probe(m)) return m;
    book.drop(owner, m);
    throw systemError(`Error starting userland proxy: listen ${m.protocol}4 ${display(m)}:${m.hostPort}: bind: address already in use`);
  }
  const [lo, hi] = r.hostPortFrom ? [r.hostPortFrom, r.hostPortTo] : ephemeral;
  const size = hi - lo + 1;
  // A random start spreads concurrent daemons apart; the bound keeps a full range from spinning.
  const start = r.hostPortFrom ? 0 : Math.floor(Math.random() * size);
  const attempts = Math.min(size, 256);
  for (let i = 0; i < attempts; i++) {
    const m = { ...base, hostPort: lo + ((start + i) % size) };
    if (book.conflicts(m)) continue;
    book.take(owner, m);
    if (await probe(m)) return m;
    book.drop(owner, m);
  }
  const what = r.hostPortFrom ? `${lo}-${hi}` : 'a free port';
  throw systemError(`Bind for ${display(base)}:${what} failed: port is already allocated`);
}

export function ephemeralRange(): [number, number] {
  try {
    const [a, b] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (a > 0 && b >= a) return [a, b];
  } catch { /* not Linux: fall through */ }
  return [32768, 60999];
}

/** True when nothing on the host holds the port: a trial bind, released at once. */
export function probeHostPort(m: PortMapping): Promise<boolean> {
  const host = m.hostIp || '0.0.0.0';
  if (m.protocol === 'udp') {
    return new Promise((resolve) => {
      const s = dgram.createSocket('udp4');
      s.once('error', () => { s.close(); resolve(false); });
      s.bind({ port: m.hostPort, address: host, exclusive: true }, () => s.close(() => resolve(true)));
    });
  }
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ port: m.hostPort, host, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/** Consecutive mappings (8000-8009 → 80-89) become one netavark entry with a range. */
export function toNetavarkPorts(ms: PortMapping[]): NetavarkPortMapping[] {
  const sorted = [...ms].sort((a, b) => byBytes(a.protocol, b.protocol) || byBytes(a.hostIp, b.hostIp) || a.hostPort - b.hostPort);
  const out: NetavarkPortMapping[] = [];
  for (const m of sorted) {
    const prev = out[out.length - 1];
    if (prev && prev.protocol === m.protocol && prev.host_ip === m.hostIp &&
        m.hostPort === prev.host_port + prev.range && m.containerPort === prev.container_port + prev.range) {
      prev.range++;
      continue;
    }
    out.push({ host_ip: m.hostIp, container_port: m.containerPort, host_port: m.hostPort, range: 1, protocol: m.protocol });
  }
  return out;
}

/** NetworkSettings.Ports: every exposed or published port, null where nothing is published. */
export function portsSetting(ms: PortMapping[], exposedPorts: string[]): Record<string, { HostIp: string; HostPort: string }[] | null> {
  const out: Record<string, { HostIp: string; HostPort: string }[] | null> = {};
  for (const key of exposedPorts) {
    const { port, protocol } = parsePortKey(key);
    out[`${port}/${protocol}`] = null;
  }
  for (const m of ms) {
    const key = `${m.containerPort}/${m.protocol}`;
    (out[key] ??= []).push({ HostIp: display(m), HostPort: String(m.hostPort) });
  }
  return out;
}
