// How the client opens a connection to the daemon: a Unix socket, TCP (with TLS when asked), or
// ssh running `system dial-stdio` on the daemon's host (client/ssh.ts). The HTTP client
// (client/http.ts) and `dray system dial-stdio` both take their connections from here.
import * as net from 'node:net';
import type { Endpoint } from './host';

export interface Dialer {
  /** A new connection to the daemon; connection errors come as its 'error' event. */
  dial(): net.Socket;
  /**
   * The error to report for a connection that failed with `e`, when the dialer knows more than
   * the socket did (ssh's exit status and stderr). May wait a bounded time for that knowledge.
   */
  explain?(conn: net.Socket, e: Error): Promise<Error>;
  /** Ends whatever the dialer started that is still running (ssh processes). */
  close?(): void;
}

export function dialerFor(e: Endpoint): Dialer {
  if (e.ssh) {
    // Only an ssh:// host pays for loading the ssh transport.
    const { SshDialer } = require('./ssh') as typeof import('./ssh');
    return new SshDialer(e.ssh, e.display);
  }
  return { dial: () => dialDirect(e) };
}

function dialDirect(t: Endpoint): net.Socket {
  if (t.tls && !t.socketPath) {
    // Required here only: node:tls is a few ms of start-up that a Unix-socket command never needs.
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const tls = require('node:tls') as typeof import('node:tls');
    const s = tls.connect({
      host: t.host, port: t.port ?? 2376, servername: net.isIP(t.host ?? '') ? undefined : t.host,
      ca: t.tls.ca, cert: t.tls.cert, key: t.tls.key, rejectUnauthorized: t.tls.verify,
    });
    s.setNoDelay(true);
    return s;
  }
  const s = t.socketPath ? net.createConnection(t.socketPath) : net.createConnection({ host: t.host, port: t.port ?? 80 });
  if (!t.socketPath) s.setNoDelay(true);
  return s;
}
