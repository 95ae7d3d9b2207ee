// A layer unpacked while its blob arrives: the bytes go, in order and as they came off the wire,
// to a decompressor chosen by their first bytes (gzip and zstd through zlib; whatever the media
// type claims) and on to GNU tar, the DiffID hashed on the way — on a worker thread of drayd's
// (store/unpack-worker.ts) where there is one, on this thread otherwise. Nothing waits for the
// blob to be complete and nothing reads it twice; the layer becomes visible only after the
// caller's commit (the blob's own digest check) and the DiffID check.
import { PassThrough, Readable } from 'node:stream';
import { once } from 'node:events';
import { detectCompression, decompressing, unpackLayer, MEDIA_TYPES, Compression } from '../../store/tar';
import type { LayerStore, LayerRecord } from '../../store/layers';
import { WorkerUnpack, workersAvailable } from '../../store/unpack-worker';

/** Where the bytes go: a worker's unpacker, or one on this thread. */
interface Target {
  write(chunk: Buffer): Promise<void>;
  end(): Promise<{ diffId: string; size: number; compression: string }>;
  abort(): Promise<void>;
}

/** The unpacker on this thread (no worker: tests under tsx, DRAY_UNPACK_WORKERS=0). */
class LocalUnpack implements Target {
  private readonly input = new PassThrough({ highWaterMark: 1024 * 1024 });
  private result?: Promise<{ diffId: string; size: number; compression: string }>;
  private failure?: Error;
  private head: Buffer[] = [];
  private headLen = 0;

  constructor(private readonly dir: string, private readonly size: number) {
    // Errors reach the caller through the result, never as an event nobody listens to.
    this.input.on('error', () => {});
  }

  private start(head: Buffer): void {
    const c: Compression = detectCompression(head.subarray(0, 4));
    const tar: Readable = c === 'none' ? this.input : decompressing(this.input, c);
    this.result = unpackLayer(tar, this.dir).then((r) => ({ ...r, compression: c }));
    this.result.catch((e) => { this.failure = e instanceof Error ? e : new Error(String(e)); });
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    if (!this.result) {
      this.head.push(chunk);
      this.headLen += chunk.length;
      if (this.headLen < 4 && this.headLen < this.size) return;
      chunk = Buffer.concat(this.head);
      this.head = [];
      this.start(chunk);
    }
    if (!this.input.write(chunk)) {
      await Promise.race([once(this.input, 'drain'), this.result!.then(() => undefined, () => undefined)]);
      if (this.failure) throw this.failure;
    }
  }

  end() {
    if (!this.result) { const b = Buffer.concat(this.head); this.head = []; this.start(b); this.input.write(b); }
    this.input.end();
    return this.result!;
  }

  async abort(): Promise<void> {
    this.input.destroy(new Error('aborted'));
    await this.result?.catch(() => {});
  }
}

export class LayerUnpacker {
  private target?: Target;
  private readonly started: Promise<Target>;
  private readonly layer: Promise<LayerRecord>;
  private endNow!: () => void;
  private failure?: unknown;

  constructor(layers: LayerStore, expectDiffId: string, blob: { digest: string; size: number }, commitBlob: () => Promise<void>) {
    let gotTarget!: (t: Target) => void;
    this.started = new Promise((r) => { gotTarget = r; });
    const ended = new Promise<void>((r) => { this.endNow = r; });
    this.layer = layers.fromUnpack(expectDiffId, blob, commitBlob, async (dir) => {
      const t: Target = workersAvailable() ? new WorkerUnpack(dir) : new LocalUnpack(dir, blob.size);
      this.target = t;
      gotTarget(t);
      await ended;
      const r = await t.end();
      return { diffId: r.diffId, size: r.size, mediaType: MEDIA_TYPES[r.compression as Compression] };
    });
    this.layer.catch((e) => { this.failure = e; });
  }

  /** Takes the next bytes of the blob; resolves when the unpacker can take more. */
  async write(chunk: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    const t = this.target ?? await Promise.race([this.started, this.layer.then(() => undefined, (e) => { throw e; })]);
    await t!.write(chunk);
  }

  /** All bytes written: resolves with the committed layer. */
  end(): Promise<LayerRecord> {
    this.endNow();
    return this.layer;
  }

  /** Stops unpacking (the download failed); resolves once what was unpacked is removed. */
  async abort(_e: Error): Promise<void> {
    const t = this.target ?? await Promise.race([this.started, this.layer.then(() => undefined, () => undefined)]);
    await t?.abort();
    this.endNow();
    await this.layer.catch(() => {});
  }
}
