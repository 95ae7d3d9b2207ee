// A bridge keeper is one end of a veth pair enslaved to a network's bridge, with nothing on the
// other end. netavark deletes a bridge, and the network's NAT and isolation rules, when the last
// container leaves it, and builds them all again for the next one: about 250 ms each way on this
// host (HOST-STACK.md), paid by every `run --rm` and every build step on an otherwise idle network.
// While a keeper is enslaved netavark sees a port still in use and leaves the bridge alone, as
// Docker keeps docker0. (A dummy device would be lighter, but this kernel has no dummy driver.)
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { run } from '../lib/exec';
import { deleteLink, pinBridgeMac } from '../runtime/netavark';

/** Interface names are at most 15 bytes; the network id prefix keeps daemons' keepers apart. */
export const keeperName = (networkId: string): string => `drk-${networkId.slice(0, 10)}`;
const peerName = (networkId: string): string => `drkp-${networkId.slice(0, 10)}`;

export const keeperExists = (networkId: string): boolean => existsSync(`/sys/class/net/${keeperName(networkId)}`);

/** Enslaves a keeper to `bridge`, which must exist (netavark made it for the first container). */
export async function addKeeper(networkId: string, bridge: string): Promise<void> {
  if (keeperExists(networkId)) return;
  // A bridge left by a drayd from before bridges had a fixed MAC: the containers that follow may
  // join it without netavark (plain endpoints), so it is fixed here too.
  await pinBridgeMac(bridge);
  const name = keeperName(networkId);
  // One `ip` process for both steps; a failure half-way is undone below.
  const r = await run('ip', ['-batch', '-'], {
    input: `link add ${name} type veth peer name ${peerName(networkId)}\nlink set ${name} master ${bridge}\n`,
    allowFailure: true,
  });
  if (r.code !== 0) {
    await removeKeeper(networkId);
    throw new Error(`cannot add bridge keeper ${name} to ${bridge}: ${r.stderr.trim()}`);
  }
}

/** Deleting one end of a veth pair deletes both. Idempotent. */
export async function removeKeeper(networkId: string): Promise<void> {
  if (keeperExists(networkId)) await deleteLink(undefined, keeperName(networkId)).catch(() => {});
}

export interface PlainEndpoint { netns: string; iface: string; bridge: string; address: string; prefixLen: number; gateway: string; mtu?: number; mac?: string }

/**
 * Plugs a container into a bridge that a keeper holds, for an endpoint with no published port on
 * a network without DNS: all netavark would do then is this veth, since the bridge, NAT and
 * isolation rules exist already. netavark re-checks those rules each time with ~21 iptables
 * processes (about 60 ms here); two `ip` processes do the rest. Returns the container side's MAC.
 * The result mirrors netavark 1.4's: eth0 with the address, lo up, the default route via the
 * gateway with metric 100, a host-side veth enslaved to the bridge.
 */
export async function plugVeth(e: PlainEndpoint): Promise<string> {
  const host = `veth${randomBytes(4).toString('hex').slice(0, 7)}`;
  const mtu = e.mtu ? ` mtu ${e.mtu}` : '';
  const mac = e.mac ? ` address ${e.mac}` : '';
  const r = await run('ip', ['-batch', '-'], {
    input: `link add ${host}${mtu} type veth peer name ${e.iface}${mtu}${mac} netns ${e.netns}\nlink set ${host} master ${e.bridge} up\n`,
    allowFailure: true,
  });
  if (r.code !== 0) {
    await deleteLink(undefined, host).catch(() => {});
    throw new Error(`cannot add a veth to ${e.bridge}: ${r.stderr.trim()}`);
  }
  const ns = await run('ip', ['-j', '-n', e.netns, '-batch', '-'], {
    input: `link set lo up\naddr add ${e.address}/${e.prefixLen} dev ${e.iface}\nlink set ${e.iface} up\nroute add default via ${e.gateway} dev ${e.iface} proto static metric 100\nlink show ${e.iface}\n`,
    allowFailure: true,
  });
  // The veth's host side lives as long as its container side: deleting one removes both.
  if (ns.code !== 0) {
    await deleteLink(e.netns, e.iface).catch(() => {});
    throw new Error(`cannot configure ${e.iface} in ${e.netns}: ${ns.stderr.trim()}`);
  }
  const m = /"address"\s*:\s*"([0-9a-f:]{17})"/.exec(ns.stdout);
  return m?.[1] ?? '';
}
