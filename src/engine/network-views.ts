// The network records as persisted, and the shapes Docker clients read from them: the Network
// object of /networks, a container's NetworkSettings, its /etc/resolv.conf. Pure functions only.
import { createHash } from 'node:crypto';
import { invalid } from '../lib/errors';
import type { PoolConfig } from './ipam';
import { PortMapping, portsSetting } from './ports';

export interface EndpointRecord {
  ContainerId: string;
  /** Container name without Docker's leading slash. */
  Name: string;
  EndpointID: string;
  MacAddress: string;
  IPv4Address: string;
  PrefixLen: number;
  Gateway: string;
  /** Interface name inside the container: eth0 for the first network, eth1… for connected ones. */
  Interface: string;
  Netns: string;
  /** User-given aliases (--network-alias), as Docker reports them. */
  Aliases: string[];
  StaticIP: string;
  StaticMac: string;
  /** On an IPv6-enabled network (absent elsewhere): the endpoint's global address, its prefix and gateway. */
  IPv6Address?: string;
  IPv6PrefixLen?: number;
  IPv6Gateway?: string;
  StaticIP6?: string;
  /** --link-local-ip addresses, added to the interface as given. */
  LinkLocalIPs?: string[];
  /** Published ports travel with the container's first network only. */
  PortMappings: PortMapping[];
  DnsServers: string[] | null;
  /** What netavark answered: aardvark's addresses and search domains (empty without DNS). */
  DnsServerIps: string[];
  DnsSearch: string[];
}

export interface NetworkRecord {
  Name: string;
  Id: string;
  Created: string;
  Driver: 'bridge' | 'host' | 'null';
  Internal: boolean;
  Attachable: boolean;
  Labels: Record<string, string>;
  Options: Record<string, string>;
  IPAM: { Driver: 'default'; Options: Record<string, string> | null; Config: PoolConfig[] };
  /** Bridge device netavark creates on first use and removes with the last endpoint. */
  BridgeName: string;
  DnsEnabled: boolean;
  /** Dual stack: IPAM.Config[0] is the IPv4 subnet, [1] the IPv6 one. */
  EnableIPv6?: boolean;
  Predefined: boolean;
  Endpoints: Record<string, EndpointRecord>;
}

export const PREDEFINED = ['bridge', 'host', 'none'];

export function inspectNetwork(n: NetworkRecord, withContainers = true): Record<string, unknown> {
  const containers: Record<string, unknown> = {};
  if (withContainers) {
    for (const ep of Object.values(n.Endpoints)) {
      containers[ep.ContainerId] = {
        Name: ep.Name, EndpointID: ep.EndpointID, MacAddress: ep.MacAddress,
        IPv4Address: ep.IPv4Address ? `${ep.IPv4Address}/${ep.PrefixLen}` : '', IPv6Address: ep.IPv6Address ? `${ep.IPv6Address}/${ep.IPv6PrefixLen}` : '',
      };
    }
  }
  return {
    Name: n.Name, Id: n.Id, Created: n.Created, Scope: 'local', Driver: n.Driver, EnableIPv6: !!n.EnableIPv6,
    IPAM: { Driver: n.IPAM.Driver, Options: n.IPAM.Options, Config: n.IPAM.Config.map((c) => ({ ...c })) },
    Internal: n.Internal, Attachable: n.Attachable, Ingress: false, ConfigFrom: { Network: '' }, ConfigOnly: false,
    Containers: containers, Options: { ...n.Options }, Labels: { ...n.Labels },
  };
}

export function endpointSettings(n: NetworkRecord, ep: EndpointRecord): Record<string, unknown> {
  const dnsNames = n.DnsEnabled ? dnsNamesOf(ep) : null;
  return {
    IPAMConfig: ep.StaticIP || ep.StaticIP6 || ep.LinkLocalIPs ? {
      ...(ep.StaticIP ? { IPv4Address: ep.StaticIP } : {}), ...(ep.StaticIP6 ? { IPv6Address: ep.StaticIP6 } : {}), ...(ep.LinkLocalIPs ? { LinkLocalIPs: [...ep.LinkLocalIPs] } : {}),
    } : null,
    Links: null,
    Aliases: ep.Aliases.length ? [...ep.Aliases] : null,
    MacAddress: ep.MacAddress,
    DriverOpts: null,
    NetworkID: n.Id,
    EndpointID: ep.EndpointID,
    Gateway: n.Internal ? '' : ep.Gateway,
    IPAddress: ep.IPv4Address,
    IPPrefixLen: ep.PrefixLen,
    IPv6Gateway: n.Internal ? '' : ep.IPv6Gateway ?? '',
    GlobalIPv6Address: ep.IPv6Address ?? '',
    GlobalIPv6PrefixLen: ep.IPv6PrefixLen ?? 0,
    DNSNames: dnsNames,
  };
}

/** Names aardvark answers for this endpoint besides the container name: aliases and the short id. */
export function dnsAliases(ep: EndpointRecord): string[] {
  return [...new Set([...ep.Aliases, ep.ContainerId.slice(0, 12)])].filter((a) => a && a !== ep.Name);
}

const dnsNamesOf = (ep: EndpointRecord): string[] => [ep.Name, ...dnsAliases(ep)];

export const sandboxId = (netns: string): string => createHash('sha256').update(netns).digest('hex');

/**
 * A container's NetworkSettings. As in Docker, the top-level address fields describe the default
 * bridge only; containers on user networks find theirs under Networks.
 */
export function networkSettings(
  entries: { net: NetworkRecord; ep: EndpointRecord }[],
  exposedPorts: string[],
): Record<string, unknown> {
  const networks: Record<string, unknown> = {};
  let ports: PortMapping[] = [];
  let netns = '';
  for (const { net, ep } of entries) {
    networks[net.Name] = endpointSettings(net, ep);
    ports = ports.concat(ep.PortMappings);
    netns ||= ep.Netns;
  }
  const bridge = entries.find((e) => e.net.Predefined && e.net.Name === 'bridge');
  const b = bridge?.ep;
  return {
    Bridge: '',
    SandboxID: netns ? sandboxId(netns) : '',
    SandboxKey: netns ? `/run/netns/${netns}` : '',
    Ports: portsSetting(ports, exposedPorts),
    HairpinMode: false,
    LinkLocalIPv6Address: '',
    LinkLocalIPv6PrefixLen: 0,
    SecondaryIPAddresses: null,
    SecondaryIPv6Addresses: null,
    EndpointID: b?.EndpointID ?? '',
    Gateway: b?.Gateway ?? '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    IPAddress: b?.IPv4Address ?? '',
    IPPrefixLen: b?.PrefixLen ?? 0,
    IPv6Gateway: '',
    MacAddress: b?.MacAddress ?? '',
    Networks: networks,
  };
}

export interface HostResolv { nameservers: string[]; search: string[]; options: string[] }

export function parseResolvConf(text: string): HostResolv {
  const r: HostResolv = { nameservers: [], search: [], options: [] };
  for (const line of text.split('\n')) {
    const [key, ...vals] = line.replace(/[#;].*$/, '').trim().split(/\s+/);
    if (key === 'nameserver' && vals[0]) r.nameservers.push(vals[0]);
    else if (key === 'search' || key === 'domain') r.search = vals;
    else if (key === 'options') r.options.push(...vals);
  }
  return r;
}

/**
 * The container's /etc/resolv.conf. On DNS-enabled networks the only nameserver is aardvark (it
 * forwards other names to the host's resolvers); on the default bridge the host's resolvers are
 * copied, minus loopback ones, which mean nothing inside the container's namespace.
 */
export function resolvConf(
  dnsServerIps: string[],
  dnsSearch: string[],
  host: HostResolv,
  user: { dns?: string[]; dnsSearch?: string[]; dnsOptions?: string[] } = {},
): string {
  let servers: string[];
  if (dnsServerIps.length) servers = dnsServerIps;
  else if (user.dns?.length) servers = user.dns;
  else {
    servers = host.nameservers.filter((s) => !/^127\./.test(s) && s !== '::1');
    if (!servers.length) servers = ['8.8.8.8', '8.8.4.4'];
  }
  const search = user.dnsSearch?.length ? user.dnsSearch.filter((s) => s !== '.') : [...new Set([...dnsSearch, ...host.search])];
  const options = user.dnsOptions?.length ? user.dnsOptions : host.options;
  const lines: string[] = [];
  if (search.length) lines.push(`search ${search.join(' ')}`);
  for (const s of [...new Set(servers)]) lines.push(`nameserver ${s}`);
  if (options.length) lines.push(`options ${options.join(' ')}`);
  return lines.join('\n') + '\n';
}

/** GET /networks filters: name, id, driver, label, type, scope, dangling. */
export function matchesFilters(n: NetworkRecord, f: Map<string, string[]>): boolean {
  const any = (key: string, pred: (v: string) => boolean): boolean => {
    const vals = f.get(key);
    return !vals || vals.length === 0 || vals.some(pred);
  };
  if (!any('name', (v) => n.Name.includes(v))) return false;
  if (!any('id', (v) => n.Id.startsWith(v))) return false;
  if (!any('driver', (v) => n.Driver === v)) return false;
  if (!any('scope', (v) => v === 'local')) return false;
  for (const v of f.get('type') ?? []) if (v !== 'custom' && v !== 'builtin') throw invalid(`invalid filter: 'type'='${v}'`);
  if (!any('type', (v) => (v === 'builtin') === n.Predefined)) return false;
  for (const v of f.get('label') ?? []) if (!labelMatches(n.Labels, v)) return false;
  for (const v of f.get('label!') ?? []) if (labelMatches(n.Labels, v)) return false;
  const dangling = f.get('dangling');
  if (dangling?.length) {
    const want = dangling[0];
    if (!['true', 'false', '1', '0'].includes(want)) throw invalid(`invalid filter 'dangling=${want}'`);
    const isDangling = !n.Predefined && Object.keys(n.Endpoints).length === 0;
    if (isDangling !== (want === 'true' || want === '1')) return false;
  }
  return true;
}

export function labelMatches(labels: Record<string, string>, expr: string): boolean {
  const eq = expr.indexOf('=');
  if (eq === -1) return expr in labels;
  return labels[expr.slice(0, eq)] === expr.slice(eq + 1);
}
