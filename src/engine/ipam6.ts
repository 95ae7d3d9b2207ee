// IPv6 address management for dual-stack bridge networks (`network create --ipv6`). As with
// IPv4 (ipam.ts) the engine decides every address and netavark only applies them. A subnet is
// given (--subnet fd…::/64) or, as Docker 27 does, taken at random from the unique local range
// (RFC 4193: fd00::/8, a random 40-bit global ID, subnet 0), so two hosts' networks do not clash.
// Addresses are handed out in order from the subnet's second address (the first is the gateway);
// a /64 never runs out in practice, so the pool keeps the used set and a cursor, not a bitmap.
import { isIPv6 } from 'node:net';
import { randomBytes } from 'node:crypto';
import { conflict, forbidden, invalid, systemError } from '../lib/errors';

export interface Cidr6 { base: bigint; prefix: number }

const ALL = (1n << 128n) - 1n;

export function ip6ToBig(s: string): bigint | undefined {
  const ip = s.trim();
  if (!isIPv6(ip) || ip.includes('%')) return undefined;
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const parse = (part: string | undefined): number[] => {
    if (!part) return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (g.includes('.')) {
        const o = g.split('.').map(Number);
        out.push((o[0] << 8) | o[1], (o[2] << 8) | o[3]);
      } else out.push(parseInt(g, 16));
    }
    return out;
  };
  const h = parse(head);
  const t = parse(tail);
  const groups = tail === undefined ? h : [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

/** RFC 5952's canonical text: lowercase, no leading zeros, the longest run of zero groups as "::". */
export function bigToIp6(n: bigint): string {
  const g: number[] = [];
  for (let i = 7; i >= 0; i--) g.push(Number((n >> BigInt(i * 16)) & 0xffffn));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

const mask6 = (prefix: number): bigint => (prefix === 0 ? 0n : (ALL << BigInt(128 - prefix)) & ALL);

export function parseCidr6(s: string, strict = true): Cidr6 {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s.trim());
  const ip = m ? ip6ToBig(m[1]) : undefined;
  const prefix = m ? Number(m[2]) : NaN;
  if (ip === undefined || !(prefix >= 0 && prefix <= 128)) throw invalid(`invalid CIDR address: ${s}`);
  const base = ip & mask6(prefix);
  if (strict && base !== ip) throw invalid(`invalid subnet ${s} : it should be ${bigToIp6(base)}/${prefix}`);
  return { base, prefix };
}

export const cidr6String = (c: Cidr6): string => `${bigToIp6(c.base)}/${c.prefix}`;
const last6 = (c: Cidr6): bigint => c.base | (~mask6(c.prefix) & ALL);
export const cidr6Contains = (c: Cidr6, ip: bigint): boolean => ip >= c.base && ip <= last6(c);
export const overlap6 = (a: Cidr6, b: Cidr6): boolean => cidr6Contains(a, b.base) || cidr6Contains(b, a.base);

/** A random unique local /64 (RFC 4193) that overlaps none of `taken`. */
function randomUla(taken: Cidr6[]): Cidr6 {
  for (let i = 0; i < 16; i++) {
    const id = BigInt('0x' + randomBytes(5).toString('hex'));
    const c = { base: (0xfdn << 120n) | (id << 80n), prefix: 64 };
    if (!taken.some((t) => overlap6(t, c))) return c;
  }
  throw systemError('could not find an available, non-overlapping IPv6 address pool');
}

/** An IPv6 IPAM config (Docker's --subnet/--gateway for the v6 side), checked and completed. */
export function resolvePool6Config(req: { Subnet?: string; Gateway?: string; IPRange?: string }, taken: string[]): { Subnet: string; Gateway: string } {
  const takenCidrs = taken.map((t) => parseCidr6(t, false));
  if (req.IPRange) throw invalid(`--ip-range ${req.IPRange}: IPv6 address ranges are not implemented`);
  let subnet: Cidr6;
  if (req.Subnet) {
    subnet = parseCidr6(req.Subnet);
    if (subnet.prefix > 120) throw invalid(`subnet ${req.Subnet} is too small for a bridge network: at most a /120`);
    if (takenCidrs.some((t) => overlap6(t, subnet))) throw forbidden('Pool overlaps with other one on this address space');
  } else subnet = randomUla(takenCidrs);
  let gw = subnet.base + 1n;
  if (req.Gateway) {
    const g = ip6ToBig(req.Gateway);
    if (g === undefined) throw invalid(`invalid gateway address ${req.Gateway}`);
    if (!cidr6Contains(subnet, g)) throw invalid(`gateway ${req.Gateway} is not in subnet ${cidr6String(subnet)}`);
    gw = g;
  }
  return { Subnet: cidr6String(subnet), Gateway: bigToIp6(gw) };
}

export class AddressPool6 {
  private readonly cidr: Cidr6;
  private readonly gateway: bigint;
  private readonly used = new Set<bigint>();
  private cursor: bigint;

  constructor(cfg: { Subnet: string; Gateway: string }, inUse: string[] = []) {
    this.cidr = parseCidr6(cfg.Subnet, false);
    this.gateway = ip6ToBig(cfg.Gateway)!;
    for (const a of inUse) { const n = ip6ToBig(a); if (n !== undefined) this.used.add(n); }
    this.cursor = this.cidr.base + 1n;
  }

  get prefix(): number { return this.cidr.prefix; }

  allocate(): string {
    const last = last6(this.cidr);
    // At most one lap of a small subnet; a /64 finds a free address at once.
    const room = last - this.cidr.base + 1n;
    for (let tries = 0n; tries < room && tries < 1_000_000n; tries++) {
      this.cursor = this.cursor >= last ? this.cidr.base + 1n : this.cursor + 1n;
      const c = this.cursor;
      if (c === this.gateway || c === last || this.used.has(c)) continue;
      this.used.add(c);
      return bigToIp6(c);
    }
    throw conflict(`no available IPv6 addresses on subnet ${cidr6String(this.cidr)}`);
  }

  reserve(ip: string): string {
    const n = ip6ToBig(ip);
    if (n === undefined) throw invalid(`invalid IPv6 address: ${ip}`);
    if (!cidr6Contains(this.cidr, n)) throw invalid(`no configured subnet contains IP address ${ip}`);
    if (n === this.gateway || this.used.has(n)) throw conflict(`Address already in use: ${ip}`);
    this.used.add(n);
    return bigToIp6(n);
  }

  release(ip: string | undefined): void {
    const n = ip ? ip6ToBig(ip) : undefined;
    if (n !== undefined) this.used.delete(n);
  }
}
