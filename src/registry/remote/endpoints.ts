// Where a registry's API can be reached, in the order to try: its mirrors (pulls only), then the
// registry itself over HTTPS, then — only for loopback addresses and daemon.json
// "insecure-registries" — plain HTTP, as Docker does. Where Docker skips certificate verification
// for an insecure registry outright, Dray verifies first and only accepts an unverified
// certificate after verification failed (logged), so a CA put in certs.d is really checked.
//
// daemon.json "registry-mirrors" is Docker's list of Docker Hub mirrors, or an object that names
// the registries each list serves, Docker Hub included:
//   {"registry-mirrors": ["https://mirror.example"]}
//   {"registry-mirrors": {"docker.io": ["https://mirror.example"], "localhost:5000": ["http://127.0.0.1:6000"]}}
// A mirror URL may carry a path prefix (https://cache.example/v2-proxy): requests go below it.
import * as dns from 'node:dns';
import * as net from 'node:net';
import { regError, REG_ERR } from './errors';

export interface Endpoint {
  /** Base URL: requests for /v2/... go below it. */
  base: URL;
  /** The host[:port] of certs.d and of the agent. */
  host: string;
  mirror: boolean;
  /** false: HTTPS without certificate verification. */
  verify: boolean;
  /** An insecure registry: a certificate that fails verification may still be accepted. */
  allowUnverified: boolean;
}

export interface EndpointConfig {
  mirrors: Record<string, string[]>;
  /** host[:port] names and CIDRs (127.0.0.0/8 and ::1/128 are always in). */
  insecure: string[];
}

/** Turns daemon.json "registry-mirrors" (list or object) into registry → URLs. */
export function parseMirrors(v: unknown): Record<string, string[]> {
  if (v === undefined || v === null) return {};
  const out: Record<string, string[]> = {};
  const urls = (list: unknown, key: string): string[] => {
    if (!Array.isArray(list) || !list.every((u) => typeof u === 'string')) throw regError(REG_ERR.CONFIG, `registry-mirrors for ${key}: expected a list of URLs`);
    return list.map((u) => validMirror(u));
  };
  if (Array.isArray(v)) { out['docker.io'] = urls(v, 'docker.io'); return out; }
  if (typeof v !== 'object') throw regError(REG_ERR.CONFIG, 'registry-mirrors: expected a list of URLs or an object of registry → URLs');
  for (const [k, list] of Object.entries(v as Record<string, unknown>)) {
    const key = k === 'index.docker.io' || k === 'registry-1.docker.io' ? 'docker.io' : k;
    out[key] = [...(out[key] ?? []), ...urls(list, k)];
  }
  return out;
}

function validMirror(u: string): string {
  let url: URL;
  try { url = new URL(u); } catch { throw regError(REG_ERR.CONFIG, `invalid mirror: "${u}" is not a valid URI`); }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw regError(REG_ERR.CONFIG, `invalid mirror: unsupported scheme "${url.protocol.slice(0, -1)}" in "${u}"`);
  if (url.username || url.password) throw regError(REG_ERR.CONFIG, `invalid mirror: "${u}" contains credentials`);
  if (url.search || url.hash) throw regError(REG_ERR.CONFIG, `invalid mirror: "${u}" has a query or fragment`);
  return url.toString().replace(/\/+$/, '');
}

/** Checks daemon.json "insecure-registries" entries: host[:port] or a CIDR. */
export function parseInsecure(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw regError(REG_ERR.CONFIG, 'insecure-registries: expected a list of strings');
  return v.map((x) => {
    const s = x.replace(/^https?:\/\//, '').replace(/\/+$/, '');
    if (s.includes('/') && !cidr(s)) throw regError(REG_ERR.CONFIG, `insecure registry ${x} is not valid: a host[:port] or a CIDR`);
    return s;
  });
}

function cidr(s: string): { addr: string; bits: number; family: 4 | 6 } | undefined {
  const m = /^(.+)\/(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const fam = net.isIP(m[1]);
  const bits = Number(m[2]);
  if (!fam || bits > (fam === 4 ? 32 : 128)) return undefined;
  return { addr: m[1], bits, family: fam as 4 | 6 };
}

function inCidr(ip: string, c: { addr: string; bits: number; family: 4 | 6 }): boolean {
  const list = new net.BlockList();
  list.addSubnet(c.addr, c.bits, c.family === 4 ? 'ipv4' : 'ipv6');
  return list.check(ip, net.isIP(ip) === 6 ? 'ipv6' : 'ipv4');
}

const LOOPBACK = ['127.0.0.0/8', '::1/128'];

export function splitHostPort(hostport: string): { hostname: string; port?: string } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(hostport);
  if (m) return { hostname: m[1], port: m[2] };
  const i = hostport.lastIndexOf(':');
  if (i > 0 && hostport.indexOf(':') === i) return { hostname: hostport.slice(0, i), port: hostport.slice(i + 1) };
  return { hostname: hostport };
}

export class EndpointResolver {
  private readonly lookups = new Map<string, { at: number; addrs: string[] }>();

  constructor(private readonly cfg: EndpointConfig) {}

  mirrorsOf(registry: string): string[] { return this.cfg.mirrors[registry] ?? []; }

  /** Docker's rule: a registry is insecure when listed by name, or when an address it resolves to is in a listed CIDR or loopback. */
  async isInsecure(hostport: string): Promise<boolean> {
    const { hostname } = splitHostPort(hostport);
    for (const e of this.cfg.insecure) {
      if (!cidr(e) && (e === hostport || e === hostname)) return true;
    }
    const ranges = [...LOOPBACK, ...this.cfg.insecure].map(cidr).filter((c): c is NonNullable<ReturnType<typeof cidr>> => !!c);
    const addrs = net.isIP(hostname) ? [hostname] : await this.resolve(hostname);
    return addrs.some((a) => ranges.some((r) => inCidr(a, r)));
  }

  private async resolve(hostname: string): Promise<string[]> {
    const c = this.lookups.get(hostname);
    if (c && Date.now() - c.at < 60_000) return c.addrs;
    // Bounded: a resolver that does not answer must not hold a pull (the dial reports the failure).
    const addrs = await Promise.race([
      dns.promises.lookup(hostname, { all: true }).then((r) => r.map((x) => x.address), () => [] as string[]),
      new Promise<string[]>((r) => setTimeout(() => r([]), 3000).unref()),
    ]);
    this.lookups.set(hostname, { at: Date.now(), addrs });
    return addrs;
  }

  /** Endpoints of `registry`'s own API host, in the order Docker tries them. */
  async origin(apiHost: string, registry: string): Promise<Endpoint[]> {
    const out: Endpoint[] = [{ base: new URL(`https://${apiHost}`), host: registry === 'docker.io' ? apiHost : registry, mirror: false, verify: true, allowUnverified: false }];
    if (await this.isInsecure(apiHost)) {
      out[0].allowUnverified = true;
      out.push({ base: new URL(`http://${apiHost}`), host: registry, mirror: false, verify: false, allowUnverified: false });
    }
    return out;
  }

  /** Mirrors of `registry` (for pulls), then the origin. */
  async forPull(apiHost: string, registry: string): Promise<Endpoint[]> {
    const mirrors = this.mirrorsOf(registry).map((u) => {
      const base = new URL(u);
      return { base, host: base.host, mirror: true, verify: base.protocol === 'https:', allowUnverified: false } as Endpoint;
    });
    for (const m of mirrors) if (m.base.protocol === 'https:' && await this.isInsecure(m.host)) m.allowUnverified = true;
    return [...mirrors, ...await this.origin(apiHost, registry)];
  }
}
