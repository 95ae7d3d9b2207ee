// Log lines of several containers on one output, as Docker Compose prints them: each line behind
// its container's name ("web-1  | "), padded to the longest name, in a colour per service.
import { Demuxer } from '../client/stream';
import type { DockerClient } from '../client';
import { apiTimestamp } from '../lib/units';

// Docker Compose's rainbow: the colours in turn, then their bright variants.
const PALETTE = ['36', '33', '32', '35', '34', '96', '93', '92', '95', '94'];

export interface LogPrinterOptions { color: boolean; prefix: boolean; timestamps?: boolean; out: { write(s: string): unknown } }

export class LogPrinter {
  private width = 0;
  private colors = new Map<string, string>();

  constructor(private readonly o: LogPrinterOptions) {}

  /** Makes room for a name, so later lines line up with it. */
  register(name: string, service: string): void {
    this.width = Math.max(this.width, name.length);
    if (!this.colors.has(service)) this.colors.set(service, PALETTE[this.colors.size % PALETTE.length]);
  }

  private prefix(name: string, service: string): string {
    if (!this.o.prefix) return '';
    const p = `${name.padEnd(this.width)}  | `;
    return this.o.color ? `\x1b[${this.colors.get(service) ?? PALETTE[0]}m${p}\x1b[0m` : p;
  }

  line(name: string, service: string, text: string): void {
    this.o.out.write(`${this.prefix(name, service)}${text}\n`);
  }

  /** A message about a container outside its output ("web-1 exited with code 0"). */
  status(name: string, service: string, text: string): void {
    const s = `${name} ${text}`;
    this.o.out.write(`${this.o.color ? `\x1b[${this.colors.get(service) ?? PALETTE[0]}m${s}\x1b[0m` : s}\n`);
  }
}

export interface FollowOptions {
  follow: boolean;
  tail?: string;
  since?: string;
  until?: string;
  timestamps?: boolean;
  tty: boolean;
  signal?: AbortSignal;
}

/** Streams one container's log into the printer, line by line; resolves at the stream's end. */
export async function streamLogs(client: DockerClient, id: string, name: string, service: string, printer: LogPrinter, o: FollowOptions): Promise<void> {
  const res = await client.containers.logs(id, {
    follow: o.follow, tail: o.tail, timestamps: o.timestamps,
    since: o.since ? apiTimestamp(o.since) : undefined, until: o.until ? apiTimestamp(o.until) : undefined,
  });
  const partial: Record<number, string> = { 1: '', 2: '' };
  const take = (stream: number, chunk: string) => {
    const text = partial[stream] + chunk;
    const lines = text.split('\n');
    partial[stream] = lines.pop()!;
    for (const l of lines) printer.line(name, service, l.replace(/\r$/, ''));
  };
  const demux = new Demuxer((s, p) => take(s === 2 ? 2 : 1, p.toString('utf8')));
  await new Promise<void>((resolve) => {
    const done = () => resolve();
    o.signal?.addEventListener('abort', () => { res.destroy(); resolve(); }, { once: true });
    res.on('data', (c: Buffer) => (o.tty ? take(1, c.toString('utf8')) : demux.push(c)));
    res.on('end', done);
    res.on('close', done);
    res.on('error', done);
  });
  for (const s of [1, 2]) if (partial[s]) printer.line(name, service, partial[s]);
}
