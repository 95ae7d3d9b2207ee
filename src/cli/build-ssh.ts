// dray build --ssh default|ID[=SOCKET|KEYFILE[,KEYFILE…]]: the user's SSH agent, or keys, forwarded
// to RUN --mount=type=ssh steps. The CLI serves, for the build's lifetime only, a socket of its own
// per id in a private temporary directory: for an agent socket, each connection piped to the
// agent; for key files, the socket of an ssh-agent it starts there and loads them into
// (build-ssh-agent.ts). drayd (on the same host) relays a socket of its own in the step to that
// one (builder/ssh-agents.ts). When the build ends — done, failed, or interrupted by a signal —
// the sockets and the agents go: nothing of the keys outlives it.
import * as os from 'node:os';
import * as path from 'node:path';
import { promises as fsp, rmSync, statSync } from 'node:fs';
import { relaySocket, Relay } from '../lib/socket-relay';
import { startAgent, PrivateAgent } from './build-ssh-agent';

export type SshSpec = { id: string; socket: string } | { id: string; keys: string[] };

/** buildx's grammar: `default` ($SSH_AUTH_SOCK), `ID=SOCKET`, `ID=KEY[,KEY…]`. */
export function parseSshSpec(v: string): SshSpec {
  const eq = v.indexOf('=');
  const id = eq < 0 ? v : v.slice(0, eq);
  if (!/^[A-Za-z0-9_.-]+$/.test(id)) throw new Error(`invalid ssh id ${JSON.stringify(id)}`);
  let paths = eq < 0 ? [] : v.slice(eq + 1).split(',').filter(Boolean);
  if (!paths.length) {
    const sock = process.env.SSH_AUTH_SOCK ?? '';
    if (!sock) throw new Error(`${id}: no path given and SSH_AUTH_SOCK is not set`);
    paths = [sock];
  }
  const sockets: string[] = [];
  const keys: string[] = [];
  for (const p of paths) {
    let st;
    try { st = statSync(p); } catch { throw new Error(`${id}: ${p}: no such file or directory`); }
    if (st.isSocket()) sockets.push(path.resolve(p));
    else if (st.isFile()) keys.push(path.resolve(p));
    else throw new Error(`${id}: ${p} is neither an agent socket nor a key file`);
  }
  if (sockets.length && (sockets.length > 1 || keys.length)) throw new Error(`${v}: one id takes one agent socket, or key files; several sockets, or a socket with keys, are not implemented in Dray`);
  return sockets.length ? { id, socket: sockets[0] } : { id, keys };
}

export interface SshForward { sockets: Record<string, string>; close(): Promise<void> }

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export async function forwardSsh(specs: SshSpec[]): Promise<SshForward> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'dray-ssh-'));
  const relays: Relay[] = [];
  const agents: PrivateAgent[] = [];
  const sockets: Record<string, string> = {};
  // An agent holds keys: a signal that would end this process first ends the agents (by PID) and
  // removes their directory, then takes its course; an exit without close() does the same.
  const onExit = () => {
    for (const a of agents) try { process.kill(a.pid, 'SIGKILL'); } catch { /* gone */ }
    try { rmSync(dir, { recursive: true, force: true }); } catch { /* nothing more to do on the way out */ }
  };
  const onSignal = (sig: NodeJS.Signals) => {
    detach();
    void close().finally(() => process.kill(process.pid, sig));
  };
  const attached = specs.some((s) => 'keys' in s);
  if (attached) { for (const s of SIGNALS) process.on(s, onSignal); process.on('exit', onExit); }
  function detach() { if (attached) { for (const s of SIGNALS) process.off(s, onSignal); process.off('exit', onExit); } }
  let closing: Promise<void> | undefined;
  const close = () => closing ??= (async () => {
    await Promise.all([...relays.map((r) => r.close()), ...agents.map((a) => a.stop())]);
    await fsp.rm(dir, { recursive: true, force: true });
    detach();
  })();
  try {
    let n = 0;
    for (const s of specs) {
      const p = path.join(dir, `agent-${n++}.sock`);
      if ('socket' in s) relays.push(await relaySocket(p, s.socket));
      else {
        try { agents.push(await startAgent(p, s.keys)); } catch (e) { throw new Error(`${s.id}: ${(e as Error).message}`); }
      }
      sockets[s.id] = p;
    }
    return { sockets, close };
  } catch (e) {
    await close();
    throw e;
  }
}
