// A Unix socket at `listen` whose every connection is piped to a new connection to `target`:
// how an SSH agent reaches a build step (the CLI's relay to the user's agent, then drayd's
// relay, owned and moded as the step's mount asks, to the CLI's).
import * as net from 'node:net';

export interface Relay { close(): Promise<void> }

export async function relaySocket(listen: string, target: string): Promise<Relay> {
  const conns = new Set<net.Socket>();
  const server = net.createServer((down) => {
    const up = net.connect(target);
    conns.add(down); conns.add(up);
    const end = () => { down.destroy(); up.destroy(); conns.delete(down); conns.delete(up); };
    down.on('error', end); up.on('error', end); down.on('close', end); up.on('close', end);
    down.pipe(up); up.pipe(down);
  });
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(listen, () => resolve()); });
  server.unref();
  return {
    async close() {
      for (const c of conns) c.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
