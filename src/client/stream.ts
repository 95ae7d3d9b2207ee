// Stream formats of the Engine API: multiplexed stdout/stderr frames and JSON-lines progress.
import type { Readable, Writable } from 'node:stream';
import { StreamError } from './errors';

export const STDIN = 0;
export const STDOUT = 1;
export const STDERR = 2;

/**
 * Splits Docker's multiplexed stream: each frame is [stream, 0, 0, 0, size(uint32 BE)] + payload.
 * Chunks may cut headers and payloads anywhere; frames are reassembled before being emitted.
 */
export class Demuxer {
  private pending: Buffer[] = [];
  private pendingLen = 0;
  /** Bytes still expected for the current frame's payload, or -1 while reading a header. */
  private need = -1;
  private stream = 0;

  constructor(private readonly onFrame: (stream: number, payload: Buffer) => void) {}

  push(chunk: Buffer): void {
    let buf = chunk;
    while (buf.length > 0) {
      if (this.need < 0) {
        const want = 8 - this.pendingLen;
        if (buf.length < want) { this.pending.push(buf); this.pendingLen += buf.length; return; }
        const header = this.pendingLen ? Buffer.concat([...this.pending, buf.subarray(0, want)]) : buf.subarray(0, want);
        this.pending = []; this.pendingLen = 0;
        buf = buf.subarray(want);
        this.stream = header[0];
        this.need = header.readUInt32BE(4);
        if (this.need === 0) { this.need = -1; continue; }
      }
      const take = Math.min(this.need, buf.length);
      const piece = buf.subarray(0, take);
      buf = buf.subarray(take);
      this.need -= take;
      if (this.need === 0) {
        const payload = this.pendingLen ? Buffer.concat([...this.pending, piece]) : piece;
        this.pending = []; this.pendingLen = 0; this.need = -1;
        this.onFrame(this.stream, payload);
      } else { this.pending.push(piece); this.pendingLen += piece.length; }
    }
  }

  /** True when the stream stopped in the middle of a frame. */
  get truncated(): boolean { return this.need >= 0 || this.pendingLen > 0; }
}

/** Builds one frame (for tests and for servers). */
export function encodeFrame(stream: number, payload: Buffer | string): Buffer {
  const p = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(p.length, 4);
  return Buffer.concat([h, p]);
}

/** Copies a multiplexed (or, with tty, raw) stream to stdout/stderr; resolves at its end. */
export function demuxTo(src: Readable, stdout: Writable, stderr: Writable, tty = false): Promise<void> {
  return new Promise((resolve, reject) => {
    const d = new Demuxer((s, p) => { (s === STDERR ? stderr : stdout).write(p); });
    src.on('data', (c: Buffer) => (tty ? stdout.write(c) : d.push(c)));
    src.on('end', () => resolve());
    src.on('close', () => resolve());
    src.on('error', (e: any) => (e?.code === 'ECONNRESET' ? resolve() : reject(e)));
  });
}

/** Parses a stream of JSON values separated by newlines (or just concatenated). */
export async function* jsonLines<T = any>(src: AsyncIterable<Buffer | string>): AsyncGenerator<T> {
  let buf = '';
  for await (const c of src) {
    buf += typeof c === 'string' ? c : c.toString('utf8');
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (line) yield JSON.parse(line) as T;
    }
  }
  const rest = buf.trim();
  if (rest) yield JSON.parse(rest) as T;
}

export interface JsonMessage {
  stream?: string;
  status?: string;
  id?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number };
  aux?: any;
  error?: string;
  errorDetail?: { message?: string; code?: number };
  [k: string]: unknown;
}

/** Like jsonLines, but throws StreamError when the daemon reports an error inside the stream. */
export async function* progressMessages(src: AsyncIterable<Buffer | string>): AsyncGenerator<JsonMessage> {
  for await (const m of jsonLines<JsonMessage>(src)) {
    if (m.errorDetail || m.error) throw new StreamError(m.errorDetail?.message ?? m.error ?? 'unknown error', m.errorDetail);
    yield m;
  }
}
