// Driver for netavark (bridges, veths, NAT, DNAT for published ports, aardvark-dns) and for the
// named network namespaces it configures. netavark is stateless: teardown needs the same JSON that
// setup got, which the caller rebuilds from its own records.
import { promises as fsp, existsSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { run } from '../lib/exec';
import { unmount, newNetnsAt } from '../lib/mount';
import { systemError } from '../lib/errors';
import { netnsOwnedBy } from '../lib/idmap';
import { log } from '../lib/log';

export const NETNS_DIR = '/run/netns';

export interface NetavarkNetwork {
  name: string;
  id: string;
  driver: 'bridge';
  network_interface: string;
  subnets: { subnet: string; gateway: string }[];
  ipv6_enabled: boolean;
  internal: boolean;
  dns_enabled: boolean;
  options?: Record<string, string>;
}

export interface NetavarkPortMapping { host_ip: string; container_port: number; host_port: number; range: number; protocol: 'tcp' | 'udp' | 'sctp' }

export interface NetavarkPerNetwork { interface_name: string; static_ips: string[]; aliases: string[]; static_mac?: string }

export interface NetavarkOptions {
  container_id: string;
  container_name: string;
  networks: Record<string, NetavarkPerNetwork>;
  network_info: Record<string, NetavarkNetwork>;
  port_mappings: NetavarkPortMapping[] | null;
  dns_servers: string[] | null;
}

export interface NetavarkNetworkStatus {
  interfaces: Record<string, { mac_address: string; subnets?: { ipnet: string; gateway?: string }[] }>;
  dns_server_ips?: string[];
  dns_search_domains?: string[];
}

export type NetavarkStatus = Record<string, NetavarkNetworkStatus>;

export interface NetavarkDriverOptions {
  /** Where netavark keeps aardvark-dns's state: one directory per daemon. */
  configDir: string;
  binary?: string;
  aardvarkBinary?: string;
}

const TIMEOUT_MS = 60_000;
const LOCK_FILE = '/run/dray-netavark.lock';
// flock's exit status when the wait runs out; netavark itself exits with 1.
const LOCK_TIMEOUT_EXIT = 75;

export class Netavark {
  private binary: string;
  private aardvark: string;
  constructor(private opts: NetavarkDriverOptions) {
    this.binary = opts.binary ?? '/usr/lib/podman/netavark';
    this.aardvark = opts.aardvarkBinary ?? '/usr/lib/podman/aardvark-dns';
  }

  async setup(netnsPath: string, o: NetavarkOptions): Promise<NetavarkStatus> {
    const out = await this.call('setup', netnsPath, o);
    await Promise.all(Object.values(o.network_info).map((n) => pinBridgeMac(n.network_interface)));
    try {
      return JSON.parse(out) as NetavarkStatus;
    } catch {
      throw systemError(`netavark setup: unexpected output: ${out.slice(0, 500)}`);
    }
  }

  async teardown(netnsPath: string, o: NetavarkOptions): Promise<void> {
    await this.call('teardown', netnsPath, o);
  }

  private async call(cmd: 'setup' | 'teardown', netnsPath: string, o: NetavarkOptions): Promise<string> {
    await fsp.mkdir(this.opts.configDir, { recursive: true });
    const args = ['--config', this.opts.configDir];
    if (existsSync(this.aardvark)) args.push('--aardvark-binary', this.aardvark);
    args.push(cmd, netnsPath);
    // netavark 1.4 edits iptables without a lock of its own, and every daemon on the host (and
    // every network of one daemon) shares those chains: concurrent calls failed with
    // "No chain/target/match". One host-wide lock file orders them.
    const r = await run('flock', ['-o', '-E', String(LOCK_TIMEOUT_EXIT), '-w', String(TIMEOUT_MS / 1000), LOCK_FILE, this.binary, ...args], {
      input: JSON.stringify(o), allowFailure: true, timeoutMs: TIMEOUT_MS + 5_000,
    });
    if (r.code === LOCK_TIMEOUT_EXIT) throw systemError(`netavark ${cmd}: timed out waiting for ${LOCK_FILE}`);
    if (r.code !== 0) throw systemError(`netavark ${cmd} failed: ${netavarkError(r.stdout, r.stderr, r.code)}`);
    return r.stdout;
  }
}

/**
 * Fixes a bridge's MAC address at its current value, once. netavark 1.4 leaves it to the kernel,
 * which gives a bridge the lowest MAC among its ports and changes it when a port with a lower one
 * joins: containers already on the bridge keep the old one for their gateway in their ARP cache,
 * and what they send to the gateway (DNS to aardvark-dns, traffic out) is not for the host any
 * more until that entry expires, 20–30 s of silence (seen after `network connect`, about every
 * other time). An address set explicitly stays, as Docker sets one on its bridges.
 */
export async function pinBridgeMac(bridge: string): Promise<void> {
  const dir = `/sys/class/net/${bridge}`;
  let assigned: string;
  let mac: string;
  try {
    [assigned, mac] = await Promise.all([fsp.readFile(`${dir}/addr_assign_type`, 'utf8'), fsp.readFile(`${dir}/address`, 'utf8')]);
  } catch { return; } // not a bridge of this host (macvlan and the like come later)
  // NET_ADDR_SET: set from user space already.
  if (assigned.trim() === '3') return;
  const r = await run('ip', ['link', 'set', 'dev', bridge, 'address', mac.trim()], { allowFailure: true });
  // Not worth failing a container over: the network works, with the hazard above.
  if (r.code !== 0) log.warn('could not fix the bridge MAC address', { bridge, error: r.stderr.trim() });
}

/** netavark reports failures as {"error": "…"} on stdout; fall back to whatever it printed. */
export function netavarkError(stdout: string, stderr: string, code: number): string {
  for (const text of [stdout, stderr]) {
    const t = text.trim();
    if (!t.startsWith('{')) continue;
    try {
      const j = JSON.parse(t);
      if (typeof j?.error === 'string') return j.error;
    } catch { /* not JSON */ }
  }
  return (stderr.trim() || stdout.trim() || `exit status ${code}`).slice(0, 2000);
}

export const netnsPath = (name: string): string => `${NETNS_DIR}/${name}`;

let netnsDirShared = false;

/**
 * A named network namespace, as `ip netns add` makes it. Once `ip` has made /run/netns a shared
 * mount (its first use on a host does), the namespace is made by system call, without a process.
 */
export async function createNetns(name: string, owner?: string): Promise<string> {
  const file = netnsPath(name);
  netnsDirShared ||= isSharedMount(NETNS_DIR);
  if (owner) {
    // Owned by a remapped container's user namespace (lib/idmap.ts netnsOwnedBy): only the addon
    // makes such a namespace. `ip` prepares /run/netns on a host where it never ran.
    if (!netnsDirShared) { await run('ip', ['netns', 'add', name]); await deleteNetns(name); netnsDirShared = isSharedMount(NETNS_DIR); }
    await netnsOwnedBy(file, owner);
    return file;
  }
  if (!netnsDirShared || !(await newNetnsAt(file))) await run('ip', ['netns', 'add', name]);
  return file;
}

/** Whether `dir` is a mount point with shared propagation (so mounts below it reach other namespaces). */
function isSharedMount(dir: string): boolean {
  try {
    return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => {
      const f = l.split(' ');
      return f[4] === dir && f.slice(6, f.indexOf('-')).some((o) => o.startsWith('shared:'));
    });
  } catch {
    return false;
  }
}

/**
 * Idempotent: a namespace that is already gone is not an error. What `ip netns delete` does (the
 * bind mount that keeps the namespace detached, its file unlinked), without starting `ip`; the
 * kernel frees the namespace once nothing else holds it.
 */
export async function deleteNetns(name: string): Promise<void> {
  const file = netnsPath(name);
  if (!existsSync(file)) return;
  await unmount(file, { lazy: true });
  await fsp.rm(file, { force: true });
}

/** Deletes an interface, in a named namespace or the host's; a veth takes its peer along. Idempotent. */
export async function deleteLink(netns: string | undefined, iface: string): Promise<void> {
  const r = await run('ip', [...(netns ? ['-n', netns] : []), 'link', 'del', iface], { allowFailure: true });
  if (r.code !== 0 && !/Cannot find device/.test(r.stderr)) throw systemError(`ip link del ${iface}: ${r.stderr.trim()}`);
}

export async function listNetns(prefix: string): Promise<string[]> {
  try {
    return (await fsp.readdir(NETNS_DIR)).filter((n) => n.startsWith(prefix));
  } catch {
    return [];
  }
}

/**
 * netavark's NAT chain for a network's published ports (NETAVARK-DN- and the first 13 hex digits
 * of the SHA-512 of the network's name, as netavark 1.4 names it).
 */
export function portChainName(networkName: string): string {
  return `NETAVARK-DN-${createHash('sha512').update(networkName).digest('hex').slice(0, 13).toUpperCase()}`;
}

/**
 * Deletes a network's port-forwarding chain once it holds no rule. netavark 1.4 deletes it only
 * when the network's last endpoint with published ports is torn down as the bridge goes; a bridge
 * released through an endpoint without ports (engine/networks.ts releaseBridge) left it behind,
 * empty, one per network that ever published a port. A chain with rules, or still referenced, stays.
 */
export async function removeEmptyPortChain(networkName: string, ipv6: boolean): Promise<void> {
  const chain = portChainName(networkName);
  for (const bin of ipv6 ? ['iptables', 'ip6tables'] : ['iptables']) {
    const r = await run(bin, ['-w', '-t', 'nat', '-S', chain], { allowFailure: true });
    if (r.code !== 0) continue; // no such chain
    if (r.stdout.trim().split('\n').some((l) => l.trim() && l.trim() !== `-N ${chain}`)) continue;
    await run(bin, ['-w', '-t', 'nat', '-X', chain], { allowFailure: true });
  }
}
