// dray build --ssh default|ID[=SOCKET]: the user's SSH agent forwarded to RUN --mount=type=ssh
// steps. The CLI serves, for the build's lifetime only, a socket of its own per id in a private
// temporary directory, each connection piped to the agent; drayd (on the same host) relays a
// socket of its own in the step to that one (builder/ssh-agents.ts). When the build ends the
// sockets go: nothing of the agent outlives it.
import * as os from 'node:os';
import * as path from 'node:path';
import { promises as fsp, statSync } from 'node:fs';
import { relaySocket, Relay } from '../lib/socket-relay';

export interface SshSpec { id: string; socket: string }

/** buildx's grammar: `default` ($SSH_AUTH_SOCK), `ID=PATH`; key files are not implemented. */
export function parseSshSpec(v: string): SshSpec {
  const eq = v.indexOf('=');
  const id = eq < 0 ? v : v.slice(0, eq);
  if (!/^[A-Za-z0-9_.-]+$/.test(id)) throw new Error(`invalid ssh id ${JSON.stringify(id)}`);
  let socket = eq < 0 ? '' : v.slice(eq + 1);
  if (socket.includes(',')) throw new Error(`${v}: several paths for one id are not implemented in Dray (one agent socket)`);
  if (!socket) {
    socket = process.env.SSH_AUTH_SOCK ?? '';
    if (!socket) throw new Error(`${id}: no path given and SSH_AUTH_SOCK is not set`);
  }
  let st;
  try { st = statSync(socket); } catch { throw new Error(`${id}: ${socket}: no such file or directory`); }
  if (!st.isSocket()) throw new Error(`${id}: ${socket} is not an agent socket (key files are not implemented in Dray: load them into an ssh-agent)`);
  return { id, socket: path.resolve(socket) };
}

export interface SshForward { sockets: Record<string, string>; close(): Promise<void> }

export async function forwardSsh(specs: SshSpec[]): Promise<SshForward> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'dray-ssh-'));
  const relays: Relay[] = [];
  const sockets: Record<string, string> = {};
  const close = async () => {
    await Promise.all(relays.map((r) => r.close()));
    await fsp.rm(dir, { recursive: true, force: true });
  };
  try {
    let n = 0;
    for (const s of specs) {
      const p = path.join(dir, `agent-${n++}.sock`);
      relays.push(await relaySocket(p, s.socket));
      sockets[s.id] = p;
    }
    return { sockets, close };
  } catch (e) {
    await close();
    throw e;
  }
}
