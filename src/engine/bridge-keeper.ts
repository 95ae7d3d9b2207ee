// A bridge keeper is one end of a veth pair enslaved to a network's bridge, with nothing on the
// other end. netavark deletes a bridge, and the network's NAT and isolation rules, when the last
// container leaves it, and builds them all again for the next one: about 250 ms each way on this
// host (HOST-STACK.md), paid by every `run --rm` and every build step on an otherwise idle network.
// While a keeper is enslaved netavark sees a port still in use and leaves the bridge alone, as
// Docker keeps docker0. (A dummy device would be lighter, but this kernel has no dummy driver.)
import { existsSync } from 'node:fs';
import { run } from '../lib/exec';

/** Interface names are at most 15 bytes; the network id prefix keeps daemons' keepers apart. */
export const keeperName = (networkId: string): string => `drk-${networkId.slice(0, 10)}`;
const peerName = (networkId: string): string => `drkp-${networkId.slice(0, 10)}`;

export const keeperExists = (networkId: string): boolean => existsSync(`/sys/class/net/${keeperName(networkId)}`);

/** Enslaves a keeper to `bridge`, which must exist (netavark made it for the first container). */
export async function addKeeper(networkId: string, bridge: string): Promise<void> {
  if (keeperExists(networkId)) return;
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
  if (!keeperExists(networkId)) return;
  await run('ip', ['link', 'del', keeperName(networkId)], { allowFailure: true });
}
