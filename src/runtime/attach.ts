// Client side of conmon's attach socket: AF_UNIX SOCK_SEQPACKET; each message from conmon is one
// byte naming the stream (2 stdout, 3 stderr) and up to 8192 bytes of payload; input is raw bytes.
// Node's net module cannot open SEQPACKET sockets, hence node-unix-socket.
import { EventEmitter } from 'node:events';
import { systemError } from '../lib/errors';

// Loaded lazily: the native addon is only needed once something attaches.
let SeqpacketSocket: any;
function seqpacket(): any {
  if (!SeqpacketSocket) SeqpacketSocket = require('node-unix-socket').SeqpacketSocket;
  return SeqpacketSocket;
}

export interface AttachConnection extends EventEmitter {
  /** 'data' (stream: 1 | 2, payload: Buffer), 'end' once conmon closed the socket. */
  on(event: 'data', fn: (stream: 1 | 2, payload: Buffer) => void): this;
  on(event: 'end', fn: () => void): this;
  write(b: Buffer): void;
  /** Closes the container's stdin (half-close); only for stdin-attached sessions. */
  closeStdin(): void;
  close(): void;
}

export function connectAttach(socketPath: string): Promise<AttachConnection> {
  const Sock = seqpacket();
  return new Promise((resolve, reject) => {
    const ee = new EventEmitter() as AttachConnection;
    const s = new Sock();
    let connected = false;
    let ended = false;
    const finish = () => { if (!ended) { ended = true; ee.emit('end'); } };
    s.on('error', (e: Error) => {
      if (!connected) reject(systemError(`attach ${socketPath}: ${e.message}`));
      else finish();
    });
    s.on('data', (buf: Buffer) => {
      if (buf.length < 1) return;
      const t = buf[0];
      if (t === 2 || t === 3) ee.emit('data', t === 2 ? 1 : 2, buf.subarray(1));
    });
    s.on('end', finish);
    s.on('close', finish);
    ee.write = (b: Buffer) => { if (!ended) { try { s.write(b); } catch { /* closed */ } } };
    ee.closeStdin = () => { if (!ended) { try { s.end(); } catch { /* closed */ } } };
    ee.close = () => { try { s.destroy(); } catch { /* closed */ } finish(); };
    try {
      s.connect(socketPath, () => { connected = true; resolve(ee); });
    } catch (e) {
      reject(systemError(`attach ${socketPath}: ${(e as Error).message}`));
    }
  });
}
