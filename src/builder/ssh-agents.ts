// drayd's side of dray build --ssh: for each RUN --mount=type=ssh, a socket of drayd's own in
// the build's run directory, owned and moded as the mount asks (BuildKit's default: root, 0600),
// relaying to the socket the CLI serves for that id. The CLI's socket is only connected to,
// never changed: its path comes from the client, and drayd chowning a path a client names could
// hand any socket on the host (drayd's own API socket among them) to another user.
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { relaySocket, Relay } from '../lib/socket-relay';

export class SshAgents {
  private dir?: string;
  private relays: Relay[] = [];
  private n = 0;

  /** `targets`: the CLI's agent sockets by id (checked to be sockets on this host). */
  constructor(private targets: Map<string, string>, private runRoot: string) {}

  has(id: string): boolean { return this.targets.has(id); }

  /** A new socket for one mount of agent `id`, relaying to the CLI's. */
  async socket(id: string, uid: number, gid: number, mode: number): Promise<string> {
    const target = this.targets.get(id)!;
    if (!this.dir) {
      this.dir = path.join(this.runRoot, `ssh-${randomBytes(6).toString('hex')}`);
      await fsp.mkdir(this.dir, { recursive: true, mode: 0o711 });
    }
    const sock = path.join(this.dir, `${++this.n}.sock`);
    this.relays.push(await relaySocket(sock, target));
    await fsp.chown(sock, uid, gid);
    await fsp.chmod(sock, mode);
    return sock;
  }

  async close(): Promise<void> {
    await Promise.all(this.relays.map((r) => r.close()));
    this.relays = [];
    if (this.dir) await fsp.rm(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }
}
