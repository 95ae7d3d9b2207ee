// IPv4 address management for bridge networks. netavark does no IPAM, so the engine decides every
// subnet and address. Everything here is synchronous and in memory: two concurrent container starts
// can never be handed the same address, because allocation completes before the first await. The
// caller persists the result (the endpoints in the network's JSON); a pool is rebuilt from them.
import { conflict, forbidden, invalid, systemError } from '../lib/errors';

export interface Cidr { base: number; prefix: number }

export function ipToInt(ip: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip.trim());
  if (!m) return undefined;
  const o = m.slice(1).map(Number);
  if (o.some((x) => x > 255)) return undefined;
  return ((o[0] << 24) >>> 0) + (o[1] << 16) + (o[2] << 8) + o[3];
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

const maskOf = (prefix: number): number => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);

/** Parses "a.b.c.d/n"; `strict` demands the host bits be zero, as Docker does for --subnet. */
export function parseCidr(s: string, strict = true): Cidr {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(s.trim());
  const ip = m ? ipToInt(m[1]) : undefined;
  const prefix = m ? Number(m[2]) : NaN;
  if (ip === undefined || !(prefix >= 0 && prefix <= 32)) throw invalid(`invalid CIDR address: ${s}`);
  const base = (ip & maskOf(prefix)) >>> 0;
  if (strict && base !== ip) throw invalid(`invalid subnet ${s} : it should be ${intToIp(base)}/${prefix}`);
  return { base, prefix };
}

export const cidrString = (c: Cidr): string => `${intToIp(c.base)}/${c.prefix}`;
export const lastAddress = (c: Cidr): number => (c.base + 2 ** (32 - c.prefix) - 1) >>> 0;
export const cidrContains = (c: Cidr, ip: number): boolean => ip >= c.base && ip <= lastAddress(c);
export const cidrsOverlap = (a: Cidr, b: Cidr): boolean => cidrContains(a, b.base) || cidrContains(b, a.base);

/** AuxiliaryAddresses (--aux-address name=ip): addresses of the subnet that are never handed out. */
export interface PoolConfig { Subnet: string; Gateway: string; IPRange?: string; AuxiliaryAddresses?: Record<string, string> }

/**
 * Validates a requested IPAM config (Docker's --subnet, --gateway, --ip-range) against the subnets
 * already in use, and fills in what was left out: the subnet from `candidates`, the gateway as the
 * subnet's first address.
 */
export function resolvePoolConfig(
  req: { Subnet?: string; Gateway?: string; IPRange?: string; AuxiliaryAddresses?: Record<string, string> | null },
  taken: string[],
  candidates: () => Iterable<string>,
  avoid: string[] = [],
): PoolConfig {
  const takenCidrs = taken.map((t) => parseCidr(t, false));
  let subnet: Cidr;
  if (req.Subnet) {
    if (req.Subnet.includes(':')) throw invalid('IPv6 subnets are not supported');
    subnet = parseCidr(req.Subnet);
    if (subnet.prefix > 30) throw invalid(`subnet ${req.Subnet} is too small: a bridge network needs at least a /30`);
    if (takenCidrs.some((t) => cidrsOverlap(t, subnet))) throw forbidden('Pool overlaps with other one on this address space');
  } else {
    if (req.Gateway || req.IPRange || Object.keys(req.AuxiliaryAddresses ?? {}).length) throw invalid('a gateway, an IP range or an auxiliary address needs a subnet (--subnet)');
    const avoidCidrs = [...takenCidrs, ...avoid.map((a) => parseCidr(a, false))];
    let found: Cidr | undefined;
    for (const cand of candidates()) {
      const c = parseCidr(cand);
      if (!avoidCidrs.some((t) => cidrsOverlap(t, c))) { found = c; break; }
    }
    if (!found) throw systemError('could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network');
    subnet = found;
  }
  let gateway = subnet.base + 1;
  if (req.Gateway) {
    const g = ipToInt(req.Gateway);
    if (g === undefined) throw invalid(`invalid gateway address ${req.Gateway}`);
    if (!cidrContains(subnet, g) || g === subnet.base || g === lastAddress(subnet)) {
      throw invalid(`no matching subnet for gateway ${req.Gateway}`);
    }
    gateway = g;
  }
  const out: PoolConfig = { Subnet: cidrString(subnet), Gateway: intToIp(gateway) };
  if (req.IPRange) {
    const r = parseCidr(req.IPRange);
    if (!(cidrContains(subnet, r.base) && cidrContains(subnet, lastAddress(r)))) throw invalid(`no matching subnet for range ${req.IPRange}`);
    out.IPRange = cidrString(r);
  }
  const aux = Object.entries(req.AuxiliaryAddresses ?? {});
  if (aux.length) {
    out.AuxiliaryAddresses = {};
    for (const [k, ip] of aux) {
      const n = ipToInt(ip);
      if (n === undefined) throw invalid(`invalid auxiliary address ${k}=${ip}`);
      if (!cidrContains(subnet, n)) throw invalid(`no matching subnet for aux-address ${ip}`);
      out.AuxiliaryAddresses[k] = intToIp(n);
    }
  }
  return out;
}

/** 10.89.0.0/16, 10.90.0.0/16 … 10.255.0.0/16: where new networks get their subnet when none is given. */
export function* defaultCandidates(): Iterable<string> {
  for (let b = 89; b <= 255; b++) yield `10.${b}.0.0/16`;
}

/**
 * The addresses of one network. Dynamic addresses come from the IP range (or the whole subnet),
 * handed out in order after the last one given, like Docker: a just-released address is not reused
 * at once, so a peer's stale ARP or DNS entry does not point at a new container.
 */
export class AddressPool {
  readonly subnet: Cidr;
  readonly gateway: number;
  private range: Cidr;
  private used = new Set<number>();
  /** Auxiliary addresses: in the subnet, never a container's. */
  private reserved = new Set<number>();
  private cursor: number;

  constructor(cfg: PoolConfig, used: Iterable<string> = []) {
    this.subnet = parseCidr(cfg.Subnet, false);
    this.gateway = ipToInt(cfg.Gateway)!;
    this.range = cfg.IPRange ? parseCidr(cfg.IPRange, false) : this.subnet;
    this.cursor = this.range.base;
    for (const ip of Object.values(cfg.AuxiliaryAddresses ?? {})) { const n = ipToInt(ip); if (n !== undefined) this.reserved.add(n); }
    for (const ip of used) {
      const n = ipToInt(ip);
      if (n === undefined) continue;
      this.used.add(n);
      if (cidrContains(this.range, n) && n > this.cursor) this.cursor = n;
    }
  }

  get prefix(): number { return this.subnet.prefix; }
  get inUse(): number { return this.used.size; }
  has(ip: string): boolean { const n = ipToInt(ip); return n !== undefined && this.used.has(n); }

  private usable(n: number): boolean {
    return n !== this.subnet.base && n !== lastAddress(this.subnet) && n !== this.gateway && !this.used.has(n) && !this.reserved.has(n);
  }

  /** The next free address of the range; throws when the range is exhausted. */
  allocate(): string {
    const first = this.range.base;
    const last = lastAddress(this.range);
    const size = last - first + 1;
    for (let i = 1; i <= size; i++) {
      const n = first + ((this.cursor - first + i) % size);
      if (this.usable(n)) {
        this.used.add(n);
        this.cursor = n;
        return intToIp(n);
      }
    }
    throw systemError(`no available IPv4 addresses on this network's address pools: ${cidrString(this.range)}`);
  }

  /** Takes a user-chosen address (--ip): anywhere in the subnet but the reserved ones. */
  reserve(ip: string): string {
    const n = ipToInt(ip);
    if (n === undefined) throw invalid(`invalid IPv4 address: ${ip}`);
    if (!cidrContains(this.subnet, n)) throw invalid(`no configured subnet or ip-range contain the IP address ${ip}`);
    if (n === this.subnet.base || n === lastAddress(this.subnet) || n === this.gateway || this.reserved.has(n)) throw conflict(`Address already in use: ${ip} is reserved`);
    if (this.used.has(n)) throw conflict(`Address already in use: ${ip}`);
    this.used.add(n);
    return intToIp(n);
  }

  release(ip: string): void {
    const n = ipToInt(ip);
    if (n !== undefined) this.used.delete(n);
  }
}
