// Networks: the records (one JSON per network), address and port allocation, and the netavark
// work that attaches a container's network namespace to bridges.
//
// Lifecycle of an endpoint (a container on a network):
//   attach: address and host ports booked in memory (synchronous, so no two starts get the same) →
//           endpoint persisted in the network's JSON → netns created → netavark setup → persisted
//           again with the MAC address.
//   detach: netavark teardown → netns deleted → booking released → persisted.
// Since the endpoint is on disk before anything exists on the host, a crash at any point leaves a
// record that init() can tear down; init() keeps only endpoints of containers still running.
//
// Layout:  <dataRoot>/networks/<network id>.json     NetworkRecord, endpoints included
//          <execRoot>/netavark/                      netavark's and aardvark-dns's state
//          /run/netns/dray-<container short id>      one namespace per container
import { timeOrDurationAgo } from '../lib/units';
import { promises as fsp, existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { run } from '../lib/exec';
import { readJson, sweepTempFiles, writeJsonAtomic } from '../lib/atomic';
import { conflict, errorMessage, forbidden, invalid, notFound, notImplemented, DrayError } from '../lib/errors';
import { KeyedMutex } from '../lib/lock';
import { log } from '../lib/log';
import { newId } from '../lib/ids';
import type { EventBus } from './events';
import { AddressPool, cidrsOverlap, defaultCandidates, intToIp, parseCidr, resolvePoolConfig } from './ipam';
import { allocatePorts, Binding, PortBook, portRequests, Probe, probeHostPort, toNetavarkPorts } from './ports';
import {
  EndpointRecord, NetworkRecord, dnsAliases, endpointSettings, inspectNetwork, labelMatches,
  matchesFilters, networkSettings, parseResolvConf, resolvConf,
} from './network-views';
import { Netavark, NetavarkOptions, createNetns, deleteLink, deleteNetns, listNetns, netnsPath, removeEmptyPortChain } from '../runtime/netavark';
import { addKeeper, keeperExists, plugVeth, removeKeeper } from './bridge-keeper';
import { AardvarkEntries } from './aardvark-entries';
import { byBytes } from '../lib/compare';
import { AddressPool6, overlap6, parseCidr6, resolvePool6Config } from './ipam6';

export type { NetworkRecord, EndpointRecord } from './network-views';

export interface EndpointConfig { Aliases?: string[] | null; IPAMConfig?: { IPv4Address?: string; IPv6Address?: string; LinkLocalIPs?: string[] | null } | null; MacAddress?: string }

/** What an endpoint may ask for that is not implemented here: refused with a clear error, never ignored. */
export function checkEndpointSupport(cfg: EndpointConfig | undefined | null): void {
  for (const ip of cfg?.IPAMConfig?.LinkLocalIPs ?? []) {
    // Docker's check: a link-local unicast address, 169.254.0.0/16 or fe80::/10.
    const v4 = /^169\.254\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
    const ok = v4 ? Number(v4[1]) <= 255 && Number(v4[2]) <= 255 : isIPv6(ip) && /^fe[89ab]/i.test(ip);
    if (!ok) throw invalid(`invalid link-local IP address: ${ip}`);
  }
}

export interface ContainerNetSpec {
  id: string;
  name: string;
  hostname: string;
  /** "bridge" or "default" for the default bridge, else a network name or id. */
  networkMode: string;
  endpoints: Record<string, EndpointConfig>;
  portBindings: Record<string, Binding[] | null | undefined>;
  publishAll: boolean;
  exposedPorts: string[];
  /** HostConfig.Dns, DnsSearch, DnsOptions. */
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  /** A remapped container's user namespace (a file keeping it): its network namespace is made owned by it. */
  usernsPath?: string;
}

/** The container side of `network connect`; `running` defaults to the container lookup's answer. */
export interface ConnectTarget { id: string; name: string; hostname?: string; networkMode?: string; running?: boolean; dns?: string[] }

export interface AttachResult {
  netnsPath: string;
  settings: Record<string, unknown>;
  resolvConf: string;
  hostsEntries: string;
}

export interface CreateNetworkRequest {
  Name: string;
  Driver?: string;
  Internal?: boolean;
  Attachable?: boolean;
  Labels?: Record<string, string> | null;
  Options?: Record<string, string> | null;
  IPAM?: { Driver?: string; Config?: { Subnet?: string; Gateway?: string; IPRange?: string; AuxiliaryAddresses?: Record<string, string> | null }[] | null; Options?: Record<string, string> | null } | null;
  CheckDuplicate?: boolean;
  EnableIPv6?: boolean;
}

export type ContainerLookup = (id: string) => { running: boolean; name: string } | undefined;

export interface NetworkServiceOptions {
  dataRoot: string;
  execRoot: string;
  events: EventBus;
  /** Device name of the default bridge, e.g. "dray0". */
  defaultBridge: string;
  /** Subnet of the default bridge, e.g. "10.88.0.0/16". */
  defaultSubnet: string;
  /** Replaceable for tests: the trial bind of a host port. */
  probe?: Probe;
  netavarkBinary?: string;
  aardvarkBinary?: string;
}

const BRIDGE_NAME_OPT = 'com.docker.network.bridge.name';
const MTU_OPT = 'com.docker.network.driver.mtu';
const NETNS_PREFIX = 'dray-';

/**
 * The name netavark knows a network by. It names its iptables chains after a hash of it, and
 * every daemon on the host has a "bridge" (and compose projects repeat names): tearing one network
 * down would flush another daemon's NAT rules. The network's id is unique, so netavark gets that.
 */
const netavarkName = (net: NetworkRecord): string => net.Id;

/** Whether two subnets of the same family overlap (a malformed one overlaps nothing: create refuses it later). */
function subnetsOverlap(a: string, b: string): boolean {
  try {
    if (a.includes(':') !== b.includes(':')) return false;
    return a.includes(':') ? overlap6(parseCidr6(a, false), parseCidr6(b, false)) : cidrsOverlap(parseCidr(a, false), parseCidr(b, false));
  } catch { return false; }
}

export class NetworkService {
  private nets = new Map<string, NetworkRecord>();
  private pools = new Map<string, AddressPool>();
  /** The IPv6 side of dual-stack networks. */
  private pools6 = new Map<string, AddressPool6>();
  private ports = new PortBook();
  private netLock = new KeyedMutex();
  private ctrLock = new KeyedMutex();
  private writes = new KeyedMutex();
  /** Bridges of removed networks still being taken down (see remove). */
  private releasing = new Map<string, Promise<void>>();
  /** The records of removed networks whose bridges are still going (keyed as `releasing`). */
  private releasingNets = new Map<string, NetworkRecord>();
  private lookup?: ContainerLookup;
  private driver: Netavark;
  /** aardvark-dns's files, for the endpoints plugged in without netavark. */
  private aardvark: AardvarkEntries;
  /**
   * Containers' veths still being deleted after their exit was announced (detachLocked): deleting
   * one takes the kernel 10-30 ms here. Their addresses stay booked, and their namespace stays,
   * until it is done; a new attach of the container, a bridge's release and shutdown wait for it.
   */
  private unplugging = new Map<string, Promise<void>>();
  /** A DNS network's nameservers and search domains as netavark last answered them. */
  private dnsSettings = new Map<string, { servers: string[]; search: string[] }>();
  private dir: string;
  private probe: Probe;

  constructor(private opts: NetworkServiceOptions) {
    this.dir = path.join(opts.dataRoot, 'networks');
    const configDir = path.join(opts.execRoot, 'netavark');
    this.driver = new Netavark({ configDir, binary: opts.netavarkBinary, aardvarkBinary: opts.aardvarkBinary });
    this.aardvark = new AardvarkEntries(configDir);
    this.probe = opts.probe ?? probeHostPort;
  }

  setContainerLookup(fn: ContainerLookup): void { this.lookup = fn; }

  // ---- records ------------------------------------------------------------------------------

  async init(): Promise<void> {
    await fsp.mkdir(this.dir, { recursive: true });
    await sweepTempFiles(this.dir);
    for (const f of await fsp.readdir(this.dir)) {
      if (!f.endsWith('.json')) continue;
      try {
        const n = await readJson<NetworkRecord>(path.join(this.dir, f));
        this.nets.set(n.Id, n);
        const pool = this.poolOf(n);
        if (pool) this.pools.set(n.Id, pool);
        const pool6 = pool6Of(n);
        if (pool6) this.pools6.set(n.Id, pool6);
        for (const ep of Object.values(n.Endpoints)) for (const m of ep.PortMappings) this.ports.take(ep.ContainerId, m);
      } catch (e) {
        log.warn('skipping unreadable network record', { file: f, error: errorMessage(e) });
      }
    }
    await this.ensurePredefined();
    await this.reconcile();
    await this.finishInterruptedReleases();
  }

  /** Where a removed network's record waits while its bridge is taken down. */
  private get releaseDir(): string { return path.join(this.dir, 'releasing'); }

  /** A drayd killed while a removed network's bridge went: the release is done now, from its journal. */
  private async finishInterruptedReleases(): Promise<void> {
    let files: string[] = [];
    try { files = await fsp.readdir(this.releaseDir); } catch { return; }
    for (const f of files) {
      const file = path.join(this.releaseDir, f);
      if (!f.endsWith('.json')) { await fsp.rm(file, { force: true }); continue; }
      try {
        const n = await readJson<NetworkRecord>(file);
        log.info('finishing the release of a removed network\'s bridge', { network: n.Name, bridge: n.BridgeName });
        await this.releaseBridge(n, this.poolOf(n), true);
        // The release may have been cut after its teardown, before its namespace went.
        await deleteNetns(releaseNetns(n)).catch(() => {});
      } catch (e) {
        log.warn('bridge release not finished', { file: f, error: errorMessage(e) });
      }
      await fsp.rm(file, { force: true });
    }
  }

  /**
   * Waits for the releases of removed networks whose bridge name or subnet `req` asks for (their
   * bridge still holds it); any other network is created at once, beside them. It waited for every
   * release: a compose `down` then `up` paid the old bridges' teardown in the new network's create.
   */
  private async releasesHolding(req: CreateNetworkRequest): Promise<void> {
    const bridge = req.Options?.[BRIDGE_NAME_OPT];
    const wanted = (req.IPAM?.Config ?? []).map((c) => c?.Subnet).filter((x): x is string => !!x);
    for (let i = 0; i < 100; i++) {
      const holding = [...this.releasingNets.values()].filter((n) => (bridge && n.BridgeName === bridge)
        || n.IPAM.Config.some((c) => wanted.some((w) => subnetsOverlap(w, c.Subnet))));
      if (!holding.length) return;
      await Promise.all(holding.map((n) => this.releasing.get(n.Id)));
    }
  }

  /** Resolves once the bridges of removed networks are gone from the host. */
  async releasesSettled(): Promise<void> {
    while (this.releasing.size) await Promise.all(this.releasing.values());
  }

  /** At daemon stop: bridges no container uses go, as they came, with their rules. */
  async shutdown(): Promise<void> {
    await this.unplugged();
    await this.releasesSettled();
    for (const n of this.nets.values()) {
      if (n.Driver === 'bridge' && !Object.keys(n.Endpoints).length) await this.releaseBridge(n);
    }
  }

  private poolOf(n: NetworkRecord): AddressPool | undefined {
    const cfg = n.IPAM.Config[0];
    if (n.Driver !== 'bridge' || !cfg) return undefined;
    return new AddressPool(cfg, Object.values(n.Endpoints).map((e) => e.IPv4Address));
  }

  private async ensurePredefined(): Promise<void> {
    const byName = (name: string) => [...this.nets.values()].find((n) => n.Name === name && n.Predefined);
    for (const name of ['host', 'none']) {
      if (byName(name)) continue;
      const n = baseRecord(name, name === 'host' ? 'host' : 'null');
      n.Predefined = true;
      this.nets.set(n.Id, n);
      await this.save(n);
    }
    let b = byName('bridge');
    const subnet = parseCidr(this.opts.defaultSubnet, false);
    const cfg = { Subnet: this.opts.defaultSubnet, Gateway: intToIp(subnet.base + 1) };
    const options = {
      'com.docker.network.bridge.default_bridge': 'true',
      'com.docker.network.bridge.enable_icc': 'true',
      'com.docker.network.bridge.enable_ip_masquerade': 'true',
      'com.docker.network.bridge.host_binding_ipv4': '0.0.0.0',
      [BRIDGE_NAME_OPT]: this.opts.defaultBridge,
      [MTU_OPT]: '1500',
    };
    const changed = b && (b.BridgeName !== this.opts.defaultBridge || b.IPAM.Config[0]?.Subnet !== cfg.Subnet);
    // The daemon's flags may have changed since the record was written; follow them unless
    // containers still hold addresses of the old subnet.
    if (!b || (changed && Object.keys(b.Endpoints).length === 0)) {
      b ??= baseRecord('bridge', 'bridge');
      b.Predefined = true;
      b.IPAM = { Driver: 'default', Options: null, Config: [cfg] };
      b.Options = options;
      b.BridgeName = this.opts.defaultBridge;
      b.DnsEnabled = false;
      this.nets.set(b.Id, b);
      this.pools.set(b.Id, this.poolOf(b)!);
      await this.save(b);
    }
  }

  /** After a crash: endpoints of containers that no longer run, and their namespaces, go. */
  private async reconcile(): Promise<void> {
    if (!this.lookup) return;
    const stale = new Set<string>();
    for (const n of this.nets.values()) {
      for (const ep of Object.values(n.Endpoints)) {
        if (!this.lookup(ep.ContainerId)?.running) stale.add(ep.ContainerId);
      }
    }
    for (const id of stale) {
      log.info('removing network endpoints of a container that is not running', { container: id });
      await this.detachContainer(id).catch((e) => log.warn('stale endpoint cleanup failed', { container: id, error: errorMessage(e) }));
    }
    // Namespaces are created only after their endpoint is on disk, so one without an endpoint is
    // a leftover. Only those of containers this daemon knows are touched: another daemon on the
    // same host may use the same prefix.
    const owned = new Set<string>();
    for (const n of this.nets.values()) for (const ep of Object.values(n.Endpoints)) owned.add(ep.Netns);
    // A release interrupted by a crash: its namespace holds the veth that would keep the bridge.
    for (const n of this.nets.values()) await deleteNetns(releaseNetns(n)).catch(() => {});
    for (const name of await listNetns(NETNS_PREFIX)) {
      if (owned.has(name)) continue;
      const c = this.lookup(name.slice(NETNS_PREFIX.length));
      if (c && !c.running) await deleteNetns(name).catch((e) => log.warn('netns cleanup failed', { netns: name, error: errorMessage(e) }));
    }
  }

  /** Serialised per network, each write taking the state current when it runs: the last wins. */
  private save(n: NetworkRecord): Promise<void> {
    return this.writes.run(n.Id, async () => {
      const file = path.join(this.dir, `${n.Id}.json`);
      if (this.nets.get(n.Id) === n) await writeJsonAtomic(file, n);
      else await fsp.rm(file, { force: true });
    });
  }

  get(ref: string): NetworkRecord {
    const all = [...this.nets.values()];
    const hit = all.find((n) => n.Id === ref) ?? all.find((n) => n.Name === ref);
    if (hit) return hit;
    const byPrefix = ref ? all.filter((n) => n.Id.startsWith(ref)) : [];
    if (byPrefix.length === 1) return byPrefix[0];
    if (byPrefix.length > 1) throw invalid(`network ${ref} is ambiguous (${byPrefix.length} matches found based on ID prefix)`);
    throw notFound(`network ${ref} not found`);
  }

  list(filters: Map<string, string[]> = new Map()): NetworkRecord[] {
    const allowed = ['name', 'id', 'driver', 'label', 'label!', 'type', 'scope', 'dangling'];
    for (const k of filters.keys()) if (!allowed.includes(k)) throw invalid(`invalid filter '${k}'`);
    return [...this.nets.values()].filter((n) => matchesFilters(n, filters)).sort((a, b) => byBytes(a.Created, b.Created) || byBytes(a.Name, b.Name));
  }

  inspect(n: NetworkRecord, withContainers = true): Record<string, unknown> { return inspectNetwork(n, withContainers); }

  async create(req: CreateNetworkRequest): Promise<{ Id: string; Warning: string }> {
    await this.releasesHolding(req);
    const name = req.Name ?? '';
    if (!name) throw invalid('network name is required');
    // Docker takes nearly any name ("my net" included); not a slash (names become file names for
    // aardvark-dns, so not "." or ".." either), control characters, or one a network ID could be mistaken for.
    if (name.length > 128 || /[/\x00-\x1f\x7f]/.test(name) || name !== name.trim() || name === '.' || name === '..') {
      throw invalid(`invalid network name "${name}": it may not be "." or "..", contain a slash or control characters, nor start or end with a space`);
    }
    const driver = req.Driver || 'bridge';
    if (driver === 'host' || driver === 'null') throw forbidden(`only one instance of "${driver}" network is allowed`);
    if (driver !== 'bridge') throw notFound(`plugin "${driver}" not found`);
    if ([...this.nets.values()].some((n) => n.Name === name)) throw conflict(`network with name ${name} already exists`);
    if (req.IPAM?.Driver && req.IPAM.Driver !== 'default') throw notFound(`plugin "${req.IPAM.Driver}" not found`);
    const configs = (req.IPAM?.Config ?? []).filter((c) => c && (c.Subnet || c.Gateway || c.IPRange || Object.keys(c.AuxiliaryAddresses ?? {}).length));
    const isV6 = (c: { Subnet?: string; Gateway?: string }) => (c.Subnet ?? c.Gateway ?? '').includes(':');
    const v4 = configs.filter((c) => !isV6(c));
    const v6 = configs.filter(isV6);
    if (v4.length > 1) throw notImplemented('more than one IPv4 subnet per network is not supported');
    if (v6.length > 1) throw notImplemented('more than one IPv6 subnet per network is not supported');
    if (v6.length && !req.EnableIPv6) throw invalid(`IPv6 subnet ${v6[0].Subnet ?? v6[0].Gateway} given for a network without IPv6: add --ipv6`);

    const options = { ...(req.Options ?? {}) };
    const id = newId();
    const bridgeName = options[BRIDGE_NAME_OPT] || `dray-${id.slice(0, 8)}`;
    if (!/^[a-zA-Z0-9_.-]{1,15}$/.test(bridgeName)) throw invalid(`invalid bridge name "${bridgeName}": at most 15 characters of [a-zA-Z0-9_.-]`);
    if ([...this.nets.values()].some((n) => n.BridgeName === bridgeName)) throw conflict(`bridge name ${bridgeName} is already used by another network`);
    // netavark would enslave veths to any device of that name; only an existing bridge may be reused.
    if (existsSync(`/sys/class/net/${bridgeName}`) && !existsSync(`/sys/class/net/${bridgeName}/bridge`)) {
      throw invalid(`cannot use ${bridgeName} as the bridge: a device of that name exists and is not a bridge`);
    }
    if (options[MTU_OPT] && !/^\d+$/.test(options[MTU_OPT])) throw invalid(`invalid MTU ${options[MTU_OPT]}`);

    // A bridge still going keeps its subnet until it is gone: a new network picks another.
    const taken = [...this.nets.values(), ...this.releasingNets.values()].flatMap((n) => n.IPAM.Config.map((c) => c.Subnet));
    const pool = resolvePoolConfig(v4[0] ?? {}, taken.filter((t) => !t.includes(':')), defaultCandidates, v4[0]?.Subnet ? [] : hostRoutes());
    const pool6 = req.EnableIPv6 ? resolvePool6Config(v6[0] ?? {}, taken.filter((t) => t.includes(':'))) : undefined;
    const n = baseRecord(name, 'bridge', id);
    n.Internal = !!req.Internal;
    n.Attachable = !!req.Attachable;
    n.Labels = { ...(req.Labels ?? {}) };
    n.Options = options;
    n.IPAM = { Driver: 'default', Options: req.IPAM?.Options ?? {}, Config: pool6 ? [pool, pool6] : [pool] };
    if (pool6) n.EnableIPv6 = true;
    n.BridgeName = bridgeName;
    n.DnsEnabled = true;
    // Registered before the first await: a concurrent create of the same name or subnet sees it.
    this.nets.set(n.Id, n);
    this.pools.set(n.Id, this.poolOf(n)!);
    if (pool6) this.pools6.set(n.Id, pool6Of(n)!);
    try {
      await this.save(n);
    } catch (e) {
      this.nets.delete(n.Id);
      this.pools.delete(n.Id);
      this.pools6.delete(n.Id);
      throw e;
    }
    this.opts.events.publish('network', 'create', n.Id, { name: n.Name, type: n.Driver });
    return { Id: n.Id, Warning: '' };
  }

  async remove(ref: string): Promise<void> {
    const n = this.get(ref);
    if (n.Predefined) throw forbidden(`${n.Name} is a pre-defined network and cannot be removed`);
    if (Object.keys(n.Endpoints).length) throw forbidden(`error while removing network: network ${n.Name} id ${n.Id} has active endpoints`);
    // The bridge goes after the answer: netavark's complete teardown takes ~250 ms (most of a
    // `compose down`), and nothing waits on it but a new network, which may want the same
    // subnet or bridge name (create waits for releases) and drayd's stop. A journal of the record
    // lets a drayd killed in between finish the release at start.
    const pool = this.pools.get(n.Id);
    const journal = n.Driver === 'bridge' && keeperExists(n.Id) ? path.join(this.releaseDir, `${n.Id}.json`) : undefined;
    if (journal) {
      await fsp.mkdir(this.releaseDir, { recursive: true });
      await writeJsonAtomic(journal, n);
    }
    this.nets.delete(n.Id);
    this.pools.delete(n.Id);
    this.pools6.delete(n.Id);
    this.dnsSettings.delete(n.Id);
    await this.save(n);
    this.opts.events.publish('network', 'destroy', n.Id, { name: n.Name, type: n.Driver });
    if (journal) {
      const done = this.releaseBridge(n, pool)
        .catch((e) => log.warn('bridge release failed', { network: n.Name, error: errorMessage(e) }))
        .then(() => fsp.rm(journal, { force: true }))
        .finally(() => { this.releasing.delete(n.Id); this.releasingNets.delete(n.Id); });
      this.releasing.set(n.Id, done);
      this.releasingNets.set(n.Id, n);
    }
  }

  async prune(filters: Map<string, string[]> = new Map()): Promise<string[]> {
    for (const k of filters.keys()) if (!['until', 'label', 'label!'].includes(k)) throw invalid(`invalid filter '${k}'`);
    const until = filters.get('until')?.[0];
    const cutoff = until ? untilCutoff(until) : undefined;
    const removed: string[] = [];
    for (const n of [...this.nets.values()]) {
      if (n.Predefined || Object.keys(n.Endpoints).length) continue;
      if (cutoff !== undefined && Date.parse(n.Created) >= cutoff) continue;
      if (!(filters.get('label') ?? []).every((l) => labelMatches(n.Labels, l))) continue;
      if ((filters.get('label!') ?? []).some((l) => labelMatches(n.Labels, l))) continue;
      try {
        await this.remove(n.Id);
        removed.push(n.Name);
      } catch (e) {
        log.warn('prune: network not removed', { network: n.Name, error: errorMessage(e) });
      }
    }
    return removed;
  }

  // ---- containers ---------------------------------------------------------------------------

  /**
   * Called at container start, before the runtime starts the container. `onNetns` hears the
   * namespace's path as soon as it exists, before the endpoints are set up in it: the runtime
   * may create the container in it meanwhile, since nothing in it runs before the start.
   */
  attachContainer(c: ContainerNetSpec, onNetns?: (netnsPath: string) => void): Promise<AttachResult> {
    return this.ctrLock.run(c.id, async () => {
      // Its namespace's name is the one a pending unplug is about to delete.
      await this.unplugging.get(c.id);
      // Endpoints left by a previous run that was never detached (a crash) go first.
      await this.detachLocked(c.id);
      const primary = this.resolveMode(c.networkMode);
      const targets: { net: NetworkRecord; cfg: EndpointConfig }[] = [{ net: primary, cfg: configFor(c.endpoints, primary) }];
      for (const [key, cfg] of Object.entries(c.endpoints ?? {})) {
        const n = this.resolveMode(key);
        if (!targets.some((t) => t.net.Id === n.Id)) targets.push({ net: n, cfg: cfg ?? {} });
      }
      const netns = NETNS_PREFIX + c.id.slice(0, 12);
      const made: { net: NetworkRecord; ep: EndpointRecord }[] = [];
      const setUp = new Set<EndpointRecord>();
      try {
        const reserve = () => targets.forEach((t, i) => made.push({ net: t.net, ep: this.reserveEndpoint(t.net, c, t.cfg, `eth${i}`, netns) }));
        try { reserve(); } catch (e) {
          if (!this.unplugging.size) throw e;
          // The address asked for (or a small pool's last) may be a gone container's whose veth
          // is still going: free once it has.
          for (const m of made.splice(0)) { delete m.net.Endpoints[c.id]; this.releaseAddresses(m.net, m.ep); }
          await this.unplugged();
          reserve();
        }
        made[0].ep.PortMappings = await this.allocatePortsFor(c, made[0].ep);
        await Promise.all(made.map((m) => this.save(m.net)));
        await deleteNetns(netns);
        const nsPath = await createNetns(netns, c.usernsPath);
        onNetns?.(nsPath);
        for (const m of made) {
          // Counted before the call: a failed setup may have half-built what teardown undoes.
          setUp.add(m.ep);
          await this.setupEndpoint(m.net, m.ep);
        }
        await Promise.all(made.map((m) => this.save(m.net)));
      } catch (e) {
        for (const m of made.reverse()) await this.removeEndpoint(m.net, m.ep, false, setUp.has(m.ep));
        this.ports.releaseOwner(c.id);
        await deleteNetns(netns).catch(() => {});
        throw e;
      }
      for (const m of made) this.publish('connect', m.net, c.id);
      return this.attachResult(c, made);
    });
  }

  /** At container exit or removal: idempotent, and safe after a crash. */
  detachContainer(containerId: string): Promise<void> {
    return this.ctrLock.run(containerId, () => this.detachLocked(containerId));
  }

  /** The NetworkSettings of a running container, rebuilt from the records (e.g. after a restart). */
  containerSettings(containerId: string, exposedPorts: string[] = []): Record<string, unknown> | undefined {
    const entries = this.endpointsOf(containerId);
    return entries.length ? networkSettings(entries, exposedPorts) : undefined;
  }

  /**
   * `docker network connect`. For a running container the network is set up at once in its
   * namespace; for one that is not running only the checks run, and the caller records the
   * endpoint config for its next start.
   */
  connect(ref: string, c: ConnectTarget, opts: { Aliases?: string[]; IPv4Address?: string; IPv6Address?: string; LinkLocalIPs?: string[]; MacAddress?: string } = {}): Promise<Record<string, unknown>> {
    return this.ctrLock.run(c.id, async () => {
      const net = this.get(ref);
      if (net.Driver !== 'bridge') throw forbidden('container cannot be disconnected from host network or connected to host network');
      const mode = c.networkMode || 'default';
      if (mode === 'host' || mode === 'none' || mode.startsWith('container:')) {
        throw forbidden(`container sharing network namespace with another container or host cannot be connected to any other network`);
      }
      if (net.Endpoints[c.id]) throw forbidden(`endpoint with name ${stripSlash(c.name)} already exists in network ${net.Name}`);
      const ipam = opts.IPv4Address || opts.IPv6Address || opts.LinkLocalIPs?.length ? {
        ...(opts.IPv4Address ? { IPv4Address: opts.IPv4Address } : {}), ...(opts.IPv6Address ? { IPv6Address: opts.IPv6Address } : {}),
        ...(opts.LinkLocalIPs?.length ? { LinkLocalIPs: opts.LinkLocalIPs } : {}),
      } : undefined;
      const cfg: EndpointConfig = { Aliases: opts.Aliases, IPAMConfig: ipam, MacAddress: opts.MacAddress };
      const existing = this.endpointsOf(c.id);
      const running = c.running ?? this.lookup?.(c.id)?.running ?? existing.length > 0;
      if (!running) {
        checkEndpointConfig(net, cfg);
        if (opts.IPv6Address && !net.EnableIPv6) throw invalid(`user specified IPv6 address ${opts.IPv6Address} is supported only on networks with IPv6 (network create --ipv6)`);
        return { IPAMConfig: ipam ?? null, Aliases: opts.Aliases?.length ? opts.Aliases : null, NetworkID: net.Id };
      }
      // A running container without our namespace runs in the host's, or another container's.
      const netns = existing[0]?.ep.Netns ?? NETNS_PREFIX + c.id.slice(0, 12);
      if (!existsSync(netnsPath(netns))) throw forbidden('container sharing network namespace with another container or host cannot be connected to any other network');
      const used = new Set(existing.map((e) => e.ep.Interface));
      let i = 0;
      while (used.has(`eth${i}`)) i++;
      const ep = this.reserveEndpoint(net, c, cfg, `eth${i}`, netns);
      try {
        await this.save(net);
        await this.setupEndpoint(net, ep);
        await this.save(net);
      } catch (e) {
        await this.removeEndpoint(net, ep, false);
        throw e;
      }
      this.publish('connect', net, c.id);
      return endpointSettings(net, ep);
    });
  }

  /** Names of the networks a container has an endpoint on. */
  networkNamesOf(containerId: string): string[] {
    return this.endpointsOf(containerId).map((e) => e.net.Name);
  }

  disconnect(ref: string, containerId: string, force = false): Promise<void> {
    return this.ctrLock.run(containerId, async () => {
      const net = this.get(ref);
      const ep = net.Endpoints[containerId];
      if (!ep) {
        if (force) return;
        throw forbidden(`container ${containerId} is not connected to network ${net.Name}`);
      }
      await this.removeEndpoint(net, ep, true);
    });
  }

  // ---- internals ----------------------------------------------------------------------------

  private resolveMode(mode: string): NetworkRecord {
    const m = !mode || mode === 'default' ? 'bridge' : mode;
    if (m === 'host' || m === 'none' || m.startsWith('container:')) throw invalid(`network mode "${m}" does not use a bridge network`);
    const n = this.get(m);
    if (n.Driver !== 'bridge') throw invalid(`network mode "${m}" does not use a bridge network`);
    return n;
  }

  private endpointsOf(containerId: string): { net: NetworkRecord; ep: EndpointRecord }[] {
    const out: { net: NetworkRecord; ep: EndpointRecord }[] = [];
    for (const net of this.nets.values()) {
      const ep = net.Endpoints[containerId];
      if (ep) out.push({ net, ep });
    }
    return out.sort((a, b) => ifaceIndex(a.ep.Interface) - ifaceIndex(b.ep.Interface));
  }

  /** Synchronous: the address is booked before anything awaits. */
  private reserveEndpoint(net: NetworkRecord, c: ConnectTarget, cfg: EndpointConfig, iface: string, netns: string): EndpointRecord {
    checkEndpointConfig(net, cfg);
    if (net.Endpoints[c.id]) throw forbidden(`endpoint with name ${stripSlash(c.name)} already exists in network ${net.Name}`);
    const pool = this.pools.get(net.Id)!;
    const staticIp = cfg.IPAMConfig?.IPv4Address ?? '';
    const staticIp6 = cfg.IPAMConfig?.IPv6Address ?? '';
    const pool6 = this.pools6.get(net.Id);
    if (staticIp6 && !pool6) throw invalid(`user specified IPv6 address ${staticIp6} is supported only on networks with IPv6 (network create --ipv6)`);
    // Both booked before anything awaits; the v6 one first, so a refused v4 address leaves nothing booked.
    const ip6 = pool6 ? (staticIp6 ? pool6.reserve(staticIp6) : pool6.allocate()) : undefined;
    let ip: string;
    try { ip = staticIp ? pool.reserve(staticIp) : pool.allocate(); } catch (e) { pool6?.release(ip6); throw e; }
    const linkLocal = cfg.IPAMConfig?.LinkLocalIPs?.length ? [...cfg.IPAMConfig.LinkLocalIPs] : undefined;
    const ep: EndpointRecord = {
      ContainerId: c.id, Name: stripSlash(c.name), EndpointID: randomBytes(32).toString('hex'), MacAddress: '',
      IPv4Address: ip, PrefixLen: pool.prefix, Gateway: net.IPAM.Config[0].Gateway, Interface: iface, Netns: netns,
      Aliases: [...new Set(cfg.Aliases ?? [])], StaticIP: staticIp, StaticMac: cfg.MacAddress ?? '',
      PortMappings: [], DnsServers: c.dns?.length ? [...c.dns] : null, DnsServerIps: [], DnsSearch: [],
      ...(ip6 ? { IPv6Address: ip6, IPv6PrefixLen: pool6!.prefix, IPv6Gateway: net.IPAM.Config[1].Gateway, StaticIP6: staticIp6 } : {}),
      ...(linkLocal ? { LinkLocalIPs: linkLocal } : {}),
    };
    net.Endpoints[c.id] = ep;
    return ep;
  }

  private async allocatePortsFor(c: ContainerNetSpec, ep: EndpointRecord) {
    const reqs = portRequests(c.portBindings ?? {}, c.publishAll, c.exposedPorts ?? []);
    if (!reqs.length) return [];
    try {
      return await allocatePorts(reqs, this.ports, c.id, this.probe);
    } catch (e) {
      if (e instanceof DrayError) {
        throw new DrayError(e.kind, `driver failed programming external connectivity on endpoint ${ep.Name} (${ep.EndpointID}): ${e.message}`);
      }
      throw e;
    }
  }

  private netavarkOptions(net: NetworkRecord, ep: EndpointRecord): NetavarkOptions {
    const options: Record<string, string> = { isolate: 'true' };
    if (net.Options[MTU_OPT]) options.mtu = net.Options[MTU_OPT];
    const key = netavarkName(net);
    return {
      container_id: ep.ContainerId,
      container_name: ep.Name,
      networks: {
        [key]: {
          interface_name: ep.Interface,
          static_ips: ep.IPv6Address ? [ep.IPv4Address, ep.IPv6Address] : [ep.IPv4Address],
          aliases: net.DnsEnabled ? dnsAliases(ep) : [],
          ...(ep.StaticMac ? { static_mac: ep.StaticMac } : {}),
        },
      },
      network_info: {
        [key]: {
          name: key, id: net.Id, driver: 'bridge', network_interface: net.BridgeName,
          subnets: net.IPAM.Config.map((c) => ({ subnet: c.Subnet, gateway: c.Gateway })),
          ipv6_enabled: !!net.EnableIPv6, internal: net.Internal, dns_enabled: net.DnsEnabled, options,
        },
      },
      port_mappings: ep.PortMappings.length ? toNetavarkPorts(ep.PortMappings) : null,
      dns_servers: ep.DnsServers,
    };
  }

  /**
   * What netavark would only plug a veth for (see plugVeth and teardownEndpoint), with, on a
   * network with DNS, a line in aardvark-dns's file for it (aardvark-entries.ts). The latter needs
   * netavark to have made that file and started aardvark, and the DNS settings it answered then.
   */
  private plainNetwork(net: NetworkRecord, ep: EndpointRecord): boolean {
    return !net.Internal && !net.EnableIPv6 && !ep.PortMappings.length && keeperExists(net.Id);
  }

  /** plugVeth gives the interface the default route: a container's first only (a connect's eth1 is netavark's). */
  private pluggable(net: NetworkRecord, ep: EndpointRecord): boolean {
    return this.plainNetwork(net, ep) && ep.Interface === 'eth0';
  }

  /** Under the network's lock: the endpoint plugged in without netavark, or false for netavark to do it. */
  private async plugPlain(net: NetworkRecord, ep: EndpointRecord): Promise<boolean> {
    if (!this.pluggable(net, ep)) return false;
    const dns = net.DnsEnabled ? this.dnsSettings.get(net.Id) : undefined;
    if (net.DnsEnabled && (!dns || ep.DnsServers?.length || !this.aardvark.livePid() || !this.aardvark.has(netavarkName(net)))) return false;
    const mtu = Number(net.Options[MTU_OPT]) || undefined;
    ep.MacAddress = await plugVeth({
      netns: ep.Netns, iface: ep.Interface, bridge: net.BridgeName, address: ep.IPv4Address, prefixLen: ep.PrefixLen,
      gateway: ep.Gateway, mtu, mac: ep.StaticMac || undefined,
    });
    if (dns) {
      const file = netavarkName(net);
      try {
        await this.aardvark.add(file, { containerId: ep.ContainerId, ipv4: ep.IPv4Address, names: [ep.Name, ...dnsAliases(ep)] });
        // aardvark gone since the check: netavark starts another, with this endpoint in its file.
        if (!this.aardvark.notify()) { await this.aardvark.remove(file, ep.ContainerId); throw new Error('aardvark-dns is not running'); }
      } catch (e) {
        log.debug('endpoint left to netavark', { network: net.Name, error: errorMessage(e) });
        await deleteLink(ep.Netns, ep.Interface).catch(() => {});
        return false;
      }
    }
    ep.DnsServerIps = dns ? [...dns.servers] : [];
    ep.DnsSearch = dns ? [...dns.search] : [];
    return true;
  }

  private async setupEndpoint(net: NetworkRecord, ep: EndpointRecord): Promise<void> {
    const status = await this.netLock.run(net.Id, async () => {
      if (await this.plugPlain(net, ep)) return undefined;
      const st = await this.driver.setup(netnsPath(ep.Netns), this.netavarkOptions(net, ep));
      await addKeeper(net.Id, net.BridgeName).catch((e) => log.warn('bridge keeper not added', { network: net.Name, error: errorMessage(e) }));
      return st;
    });
    if (status) {
      const st = status[net.Id];
      const iface = st?.interfaces?.[ep.Interface];
      ep.MacAddress = iface?.mac_address ?? '';
      ep.DnsServerIps = st?.dns_server_ips ?? [];
      ep.DnsSearch = st?.dns_search_domains ?? [];
      if (net.DnsEnabled && ep.DnsServerIps.length) this.dnsSettings.set(net.Id, { servers: ep.DnsServerIps, search: ep.DnsSearch });
    }
    await addLinkLocal(ep);
  }

  /**
   * Best effort: what netavark cannot undo is logged, the booking is released regardless. With
   * `deferVeth` (the namespace goes next) a veth of our own is left for the caller to delete:
   * true then.
   */
  private async teardownEndpoint(net: NetworkRecord, ep: EndpointRecord, deferVeth = false): Promise<boolean> {
    const nsPath = netnsPath(ep.Netns);
    // netavark needs the namespace to undo its firewall rules; a crash may have lost it.
    const recreated = !existsSync(nsPath);
    // For such an endpoint netavark 1.4's teardown only deletes the veth, and its aardvark-dns
    // line: no rule is per container, and the keeper spares the network's (checked with
    // iptables-save around it). One `ip` instead of netavark's iptables round (~30 ms). A file
    // left with its first line only stays, and aardvark with it, until the bridge's release,
    // whose throwaway endpoint netavark sets up and tears down: then netavark deletes the file
    // (and stops aardvark after the last one).
    if (!recreated && this.plainNetwork(net, ep)) {
      const unplug = async () => {
        if (deferVeth) return;
        await deleteLink(ep.Netns, ep.Interface).catch((e) => log.warn('veth not deleted', { container: ep.ContainerId, error: errorMessage(e) }));
      };
      if (!net.DnsEnabled) { await unplug(); return deferVeth; }
      const done = await this.netLock.run(net.Id, async () => {
        // The name goes before the exit is told: nothing resolves a container that is gone.
        if (await this.aardvark.remove(netavarkName(net), ep.ContainerId)) this.aardvark.notify();
        await unplug();
        return true;
      }).catch((e) => { log.warn('aardvark-dns entry not removed', { container: ep.ContainerId, error: errorMessage(e) }); return false; });
      if (done) return deferVeth;
    }
    try {
      if (recreated) await createNetns(ep.Netns);
      await this.netLock.run(net.Id, () => this.driver.teardown(nsPath, this.netavarkOptions(net, ep)));
    } catch (e) {
      log.warn('netavark teardown failed', { network: net.Name, container: ep.ContainerId, error: errorMessage(e) });
    } finally {
      if (recreated) await deleteNetns(ep.Netns).catch(() => {});
    }
    return false;
  }

  /**
   * Takes down a bridge that a keeper holds and no container uses, with its NAT and isolation
   * rules. netavark undoes those only when the last endpoint leaves, so a throwaway endpoint is
   * plugged in, the keeper removed, and the endpoint torn down by netavark. On a network without
   * DNS the endpoint is a bare veth (plugVeth): netavark's teardown needs only the interface to be
   * there to see the bridge empty after it, and its setup would spend ~20 iptables runs
   * re-checking rules about to go.
   */
  private releaseBridge(net: NetworkRecord, pool = this.pools.get(net.Id), interrupted = false): Promise<void> {
    return this.netLock.run(net.Id, async () => {
      if (Object.keys(net.Endpoints).length) return;
      // netavark takes the bridge down only if it sees no port but the throwaway's on it.
      await this.unplugged();
      // An interrupted release may have removed the keeper already; the bridge and rules remain.
      if (!keeperExists(net.Id) && !(interrupted && existsSync(`/sys/class/net/${net.BridgeName}`))) return;
      if (!existsSync(`/sys/class/net/${net.BridgeName}`) || !pool) { await removeKeeper(net.Id); return; }
      const ns = releaseNetns(net);
      // netavark wants an address per subnet, the IPv6 one too (it panics on fewer).
      const pool6 = net.EnableIPv6 ? this.pools6.get(net.Id) ?? pool6Of(net) : undefined;
      const ep: EndpointRecord = {
        ContainerId: net.Id, Name: 'dray-bridge-release', EndpointID: '', MacAddress: '', IPv4Address: pool.allocate(),
        PrefixLen: pool.prefix, Gateway: net.IPAM.Config[0].Gateway, Interface: 'eth0', Netns: ns, Aliases: [], StaticIP: '',
        StaticMac: '', PortMappings: [], DnsServers: null, DnsServerIps: [], DnsSearch: [],
        ...(pool6 ? { IPv6Address: pool6.allocate(), IPv6PrefixLen: pool6.prefix, IPv6Gateway: net.IPAM.Config[1].Gateway } : {}),
      };
      try {
        await deleteNetns(ns);
        await createNetns(ns);
        // With DNS, netavark's teardown also takes the endpoint out of aardvark's config and stops
        // aardvark with the last one: it fails on an endpoint its setup never added (and left
        // aardvark running), so there the throwaway endpoint is netavark's own.
        if (net.DnsEnabled || net.EnableIPv6) await this.driver.setup(netnsPath(ns), this.netavarkOptions(net, ep));
        else await plugVeth({ netns: ns, iface: ep.Interface, bridge: net.BridgeName, address: ep.IPv4Address, prefixLen: ep.PrefixLen, gateway: ep.Gateway });
        await removeKeeper(net.Id);
        await this.driver.teardown(netnsPath(ns), this.netavarkOptions(net, ep));
        await removeEmptyPortChain(netavarkName(net), !!net.EnableIPv6);
      } catch (e) {
        log.warn('bridge not released', { network: net.Name, bridge: net.BridgeName, error: errorMessage(e) });
        await removeKeeper(net.Id);
      } finally {
        pool.release(ep.IPv4Address);
        pool6?.release(ep.IPv6Address);
        await deleteNetns(ns).catch(() => {});
      }
    });
  }

  /** `deferred`: where an endpoint whose veth is left to the caller goes, its addresses still booked. */
  private async removeEndpoint(net: NetworkRecord, ep: EndpointRecord, announce: boolean, teardown = true, deferred?: { net: NetworkRecord; ep: EndpointRecord }[]): Promise<void> {
    const left = teardown ? await this.teardownEndpoint(net, ep, !!deferred) : false;
    if (net.Endpoints[ep.ContainerId] === ep) delete net.Endpoints[ep.ContainerId];
    if (left) deferred!.push({ net, ep });
    else this.releaseAddresses(net, ep);
    for (const m of ep.PortMappings) this.ports.drop(ep.ContainerId, m);
    if (this.nets.get(net.Id) === net) await this.save(net);
    if (announce) this.publish('disconnect', net, ep.ContainerId);
  }

  private releaseAddresses(net: NetworkRecord, ep: EndpointRecord): void {
    this.pools.get(net.Id)?.release(ep.IPv4Address);
    this.pools6.get(net.Id)?.release(ep.IPv6Address);
  }

  private async detachLocked(containerId: string, announce = true): Promise<void> {
    const entries = this.endpointsOf(containerId);
    const deferred: { net: NetworkRecord; ep: EndpointRecord }[] = [];
    // Reverse order: the first network carries the published ports and the default route.
    for (const { net, ep } of entries.reverse()) await this.removeEndpoint(net, ep, announce, true, deferred);
    this.ports.releaseOwner(containerId);
    const netns = NETNS_PREFIX + containerId.slice(0, 12);
    if (!deferred.length) { await deleteNetns(netns); return; }
    // The veth is deleted (and then the namespace) after the exit is told, the addresses booked
    // until then: the kernel's 10-30 ms per veth were most of a container's stop. Deleting only
    // the namespace would leave the veth to the kernel's own pace, its address answering ARP
    // meanwhile for a container that may already have it again.
    const job = (async () => {
      for (const d of deferred) await deleteLink(netns, d.ep.Interface).catch((e) => log.warn('veth not deleted', { container: containerId, error: errorMessage(e) }));
      await deleteNetns(netns).catch((e) => log.warn('network namespace not deleted', { container: containerId, error: errorMessage(e) }));
      for (const d of deferred) this.releaseAddresses(d.net, d.ep);
    })();
    this.unplugging.set(containerId, job);
    void job.finally(() => { if (this.unplugging.get(containerId) === job) this.unplugging.delete(containerId); });
  }

  /** Settles when no veth of a gone container is still being deleted. */
  async unplugged(): Promise<void> {
    while (this.unplugging.size) await Promise.all([...this.unplugging.values()]);
  }

  private attachResult(c: ContainerNetSpec, made: { net: NetworkRecord; ep: EndpointRecord }[]): AttachResult {
    let host = { nameservers: [] as string[], search: [] as string[], options: [] as string[] };
    try { host = parseResolvConf(readFileSync('/etc/resolv.conf', 'utf8')); } catch { /* none on the host */ }
    const dnsIps = [...new Set(made.flatMap((m) => m.ep.DnsServerIps))];
    const search = [...new Set(made.flatMap((m) => m.ep.DnsSearch))];
    const first = made[0].ep;
    return {
      netnsPath: netnsPath(first.Netns),
      settings: networkSettings(made, c.exposedPorts ?? []),
      resolvConf: resolvConf(dnsIps, search, host, { dns: c.dns, dnsSearch: c.dnsSearch, dnsOptions: c.dnsOptions }),
      hostsEntries: `${first.IPv4Address}\t${c.hostname}\n${first.IPv6Address ? `${first.IPv6Address}\t${c.hostname}\n` : ''}`,
    };
  }

  private publish(action: 'connect' | 'disconnect', net: NetworkRecord, containerId: string): void {
    this.opts.events.publish('network', action, net.Id, { name: net.Name, type: net.Driver, container: containerId });
  }
}

function checkEndpointConfig(net: NetworkRecord, cfg: EndpointConfig): void {
  const isDefault = net.Predefined && net.Name === 'bridge';
  if (isDefault && cfg.Aliases?.length) throw invalid('network-scoped alias is supported only for containers in user defined networks');
  if (isDefault && cfg.IPAMConfig?.IPv4Address) throw invalid('user specified IP address is supported on user defined networks only');
  if (cfg.MacAddress && !/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(cfg.MacAddress)) throw invalid(`invalid MAC address: ${cfg.MacAddress}`);
}

/** The endpoint config the container gave for `net`, under its name, its id or an id prefix. */
function configFor(endpoints: Record<string, EndpointConfig>, net: NetworkRecord): EndpointConfig {
  for (const [k, v] of Object.entries(endpoints ?? {})) {
    if (k === net.Name || k === net.Id || (k.length >= 12 && net.Id.startsWith(k)) || (k === 'default' && net.Name === 'bridge')) return v ?? {};
  }
  return {};
}

function baseRecord(name: string, driver: NetworkRecord['Driver'], id = newId()): NetworkRecord {
  return {
    Name: name, Id: id, Created: new Date().toISOString(), Driver: driver, Internal: false, Attachable: false,
    Labels: {}, Options: {}, IPAM: { Driver: 'default', Options: null, Config: [] }, BridgeName: '', DnsEnabled: false,
    Predefined: false, Endpoints: {},
  };
}

/** The namespace of releaseBridge's throwaway endpoint. */
const releaseNetns = (n: NetworkRecord): string => `${NETNS_PREFIX}k-${n.Id.slice(0, 10)}`;

const stripSlash = (s: string): string => s.replace(/^\//, '');
const ifaceIndex = (iface: string): number => Number(iface.replace(/^\D+/, '')) || 0;

/** IPv4 routes on the host (eth0's subnet, other engines' bridges): automatic subnets avoid them. */
function hostRoutes(): string[] {
  try {
    const out: string[] = [];
    const lines = readFileSync('/proc/net/route', 'utf8').trim().split('\n').slice(1);
    for (const l of lines) {
      const f = l.trim().split(/\s+/);
      const dest = parseInt(f[1], 16);
      const mask = parseInt(f[7], 16);
      if (!mask) continue; // the default route overlaps everything
      const toIp = (le: number) => [le & 255, (le >>> 8) & 255, (le >>> 16) & 255, le >>> 24].join('.');
      const prefix = mask.toString(2).split('').filter((b) => b === '1').length;
      out.push(`${toIp(dest)}/${prefix}`);
    }
    return out;
  } catch {
    return [];
  }
}

function untilCutoff(v: string): number {
  try { return timeOrDurationAgo(v); } catch { throw invalid(`invalid filter 'until=${v}'`); }
}

/** The IPv6 pool of a dual-stack network, rebuilt from its endpoints. */
function pool6Of(n: NetworkRecord): AddressPool6 | undefined {
  const cfg = n.EnableIPv6 ? n.IPAM.Config[1] : undefined;
  if (!cfg) return undefined;
  return new AddressPool6(cfg, Object.values(n.Endpoints).map((e) => e.IPv6Address ?? ''));
}

/** --link-local-ip: extra addresses on the endpoint's interface, as Docker adds them (no route, no DNS). */
async function addLinkLocal(ep: EndpointRecord): Promise<void> {
  if (!ep.LinkLocalIPs?.length) return;
  const lines = ep.LinkLocalIPs.map((ip) => (ip.includes(':') ? `addr add ${ip}/64 dev ${ep.Interface} nodad` : `addr add ${ip}/16 dev ${ep.Interface}`));
  const r = await run('ip', ['-n', ep.Netns, '-batch', '-'], { input: lines.join('\n') + '\n', allowFailure: true });
  if (r.code !== 0) throw invalid(`cannot add link-local address ${ep.LinkLocalIPs.join(', ')}: ${r.stderr.trim()}`);
}
