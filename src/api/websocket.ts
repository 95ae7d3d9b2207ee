// The server side of a WebSocket (RFC 6455), as much as /containers/{id}/attach/ws needs: the
// handshake on the hijacked connection, data frames out (unmasked, one frame per write), data
// frames in (masked, fragmented or not), ping → pong, and the close handshake.
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { invalid } from '../lib/errors';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const OP = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;
/** A frame from a client larger than this ends the connection (stdin comes in small pieces). */
const MAX_FRAME = 16 * 1024 * 1024;

export interface WebSocketConn extends EventEmitter {
  send(data: Buffer): void;
  /** Sends a close frame and ends the connection. */
  close(code?: number): void;
  readonly closed: boolean;
  on(ev: 'message', fn: (data: Buffer) => void): this;
  on(ev: 'close', fn: () => void): this;
}

/** Checks the upgrade request; throws Docker's 400 for a request that is not a WebSocket one. */
export function checkWebSocketRequest(headers: Record<string, string | string[] | undefined>): string {
  const upgrade = String(headers.upgrade ?? '').toLowerCase();
  const key = headers['sec-websocket-key'];
  if (upgrade !== 'websocket' || typeof key !== 'string' || !key) throw invalid('websocket: the client is not using the websocket protocol: \'upgrade\' token not found in \'Connection\' header');
  return key;
}

/** Answers the handshake on `socket` and returns the connection; `binary` picks the data frames' opcode. */
export function acceptWebSocket(socket: Socket, head: Buffer, key: string, binary: boolean): WebSocketConn {
  const accept = createHash('sha1').update(key + GUID).digest('base64');
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
  socket.setNoDelay(true);
  return new Conn(socket, head, binary ? OP.binary : OP.text);
}

class Conn extends EventEmitter implements WebSocketConn {
  closed = false;
  private buf: Buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];

  constructor(private socket: Socket, head: Buffer, private dataOp: number) {
    super();
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('close', () => this.finish());
    socket.on('error', () => this.finish());
    if (head.length) this.onData(head);
  }

  send(data: Buffer): void {
    if (this.closed || this.socket.destroyed) return;
    this.socket.write(frame(this.dataOp, data));
  }

  close(code = 1000): void {
    if (this.closed) return;
    const p = Buffer.alloc(2);
    p.writeUInt16BE(code);
    if (!this.socket.destroyed) this.socket.end(frame(OP.close, p));
    this.finish();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.emit('close');
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    for (;;) {
      const f = parseFrame(this.buf);
      if (f === 'short') return;
      if (f === 'bad') { this.close(1002); this.socket.destroy(); return; }
      this.buf = this.buf.subarray(f.size);
      if (f.op === OP.ping) { if (!this.socket.destroyed) this.socket.write(frame(OP.pong, f.payload)); continue; }
      if (f.op === OP.pong) continue;
      if (f.op === OP.close) { this.close(); return; }
      this.fragments.push(f.payload);
      if (f.fin) {
        const msg = this.fragments.length === 1 ? this.fragments[0] : Buffer.concat(this.fragments);
        this.fragments = [];
        this.emit('message', msg);
      }
    }
  }
}

function frame(op: number, payload: Buffer): Buffer {
  const n = payload.length;
  const head = n < 126 ? Buffer.alloc(2) : n < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  head[0] = 0x80 | op;
  if (n < 126) head[1] = n;
  else if (n < 65536) { head[1] = 126; head.writeUInt16BE(n, 2); }
  else { head[1] = 127; head.writeBigUInt64BE(BigInt(n), 2); }
  return Buffer.concat([head, payload]);
}

function parseFrame(b: Buffer): { fin: boolean; op: number; payload: Buffer; size: number } | 'short' | 'bad' {
  if (b.length < 2) return 'short';
  const fin = (b[0] & 0x80) !== 0;
  const op = b[0] & 0x0f;
  const masked = (b[1] & 0x80) !== 0;
  let len = b[1] & 0x7f;
  let off = 2;
  if (len === 126) { if (b.length < 4) return 'short'; len = b.readUInt16BE(2); off = 4; }
  else if (len === 127) {
    if (b.length < 10) return 'short';
    const big = b.readBigUInt64BE(2);
    if (big > BigInt(MAX_FRAME)) return 'bad';
    len = Number(big);
    off = 10;
  }
  if (len > MAX_FRAME || !masked) return 'bad'; // clients must mask (RFC 6455 5.1)
  if (b.length < off + 4 + len) return 'short';
  const mask = b.subarray(off, off + 4);
  const payload = Buffer.from(b.subarray(off + 4, off + 4 + len));
  for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
  return { fin, op, payload, size: off + 4 + len };
}
