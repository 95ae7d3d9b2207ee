// Named build contexts (dray build --build-context name=DIR | name=docker-image://REF | name=REF):
// what `FROM name`, `COPY --from=name` and `RUN --mount=from=name` resolve to when `name` is not a
// stage of the Dockerfile.
//
// The query parameter `namedcontexts` (a Dray extension, as the docker CLI never sends it) maps each
// name to {"image": ref} or {"local": true}. The files of the local ones travel in the request body
// after the secrets prefix and before the main context, one after another in the order of the
// JSON's keys, each a tar cut into frames: a 4-byte big-endian length, then that many bytes; an
// empty frame ends the context. The CLI streams them so without knowing their sizes in advance.
import { Readable } from 'node:stream';
import { invalid } from '../lib/errors';
import type { BuildContext } from './context';

export type NamedContextSpec = { image: string } | { local: true };
export type NamedContext = { kind: 'image'; ref: string } | { kind: 'dir'; ctx: BuildContext };

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.\-/:]*$/;
/** A frame's size at most: the CLI sends 64 KiB ones; a hostile length must not make us buffer gigabytes. */
const MAX_FRAME = 16 << 20;

export function parseNamedContextsParam(v: string | null): Map<string, NamedContextSpec> {
  const out = new Map<string, NamedContextSpec>();
  if (!v) return out;
  let j: unknown;
  try { j = JSON.parse(v); } catch { throw invalid(`invalid namedcontexts parameter: ${v}`); }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw invalid('invalid namedcontexts parameter: not a JSON object');
  for (const [name, spec] of Object.entries(j as Record<string, any>)) {
    if (!NAME_RE.test(name)) throw invalid(`invalid build context name ${JSON.stringify(name)}`);
    if (spec?.local === true) out.set(name, { local: true });
    else if (typeof spec?.image === 'string' && spec.image) out.set(name, { image: spec.image });
    else throw invalid(`invalid build context ${name}: expected {"image": ref} or {"local": true}`);
  }
  return out;
}

/** Reads a body in frames and, after the contexts, hands back what follows (the main context). */
export class FramedBody {
  private buf: Buffer = Buffer.alloc(0);
  private ended = false;
  constructor(private it: AsyncIterator<Buffer>) {}

  private async fill(n: number): Promise<boolean> {
    const parts = [this.buf];
    let len = this.buf.length;
    while (len < n && !this.ended) {
      const r = await this.it.next();
      if (r.done) { this.ended = true; break; }
      parts.push(r.value);
      len += r.value.length;
    }
    this.buf = parts.length > 1 ? Buffer.concat(parts) : this.buf;
    return this.buf.length >= n;
  }

  private take(n: number): Buffer {
    const b = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return b;
  }

  /** One context's bytes: frames until the empty one. */
  async *context(name: string): AsyncGenerator<Buffer> {
    for (;;) {
      if (!(await this.fill(4))) throw invalid(`the request body ended inside build context ${name}`);
      const n = this.take(4).readUInt32BE(0);
      if (n === 0) return;
      if (n > MAX_FRAME) throw invalid(`build context ${name}: a frame of ${n} bytes is more than ${MAX_FRAME}`);
      if (!(await this.fill(n))) throw invalid(`the request body ended inside build context ${name}`);
      yield Buffer.from(this.take(n));
    }
  }

  /** What is left of the body. */
  rest(): Readable {
    const self = this;
    async function* gen(): AsyncGenerator<Buffer> {
      if (self.buf.length) yield self.buf;
      self.buf = Buffer.alloc(0);
      if (self.ended) return;
      for (let r = await self.it.next(); !r.done; r = await self.it.next()) yield r.value;
    }
    return Readable.from(gen());
  }
}

/** The CLI's side: `tar` as frames, ended by the empty one. */
export async function* frame(tar: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  for await (const chunk of tar) {
    for (let off = 0; off < chunk.length; off += 1 << 16) {
      const part = chunk.subarray(off, off + (1 << 16));
      const h = Buffer.alloc(4);
      h.writeUInt32BE(part.length, 0);
      yield h;
      yield part;
    }
  }
  yield Buffer.alloc(4);
}
