// A layer unpacked while its blob arrives: the bytes go, in order and as they came off the wire,
// to a decompressor chosen by their first bytes (gzip and zstd through zlib; whatever the media
// type claims) and on to the layer store's unpacker (GNU tar, DiffID hashed on the way). Nothing
// waits for the blob to be complete and nothing reads it twice; the layer becomes visible only
// after the caller's commit (the blob's own digest check) and the DiffID check.
import { PassThrough, Readable } from 'node:stream';
import { once } from 'node:events';
import { detectCompression, decompressing } from '../../store/tar';
import type { LayerStore, LayerRecord } from '../../store/layers';
import { MEDIA_TYPES } from '../../store/tar';

export class LayerUnpacker {
  private readonly input = new PassThrough({ highWaterMark: 1024 * 1024 });
  private result?: Promise<LayerRecord>;
  private failure?: Error;
  private head: Buffer[] = [];
  private headLen = 0;
  private mediaType = MEDIA_TYPES.none;

  constructor(
    private readonly layers: LayerStore,
    private readonly expectDiffId: string,
    private readonly blob: { digest: string; size: number },
    private readonly commitBlob: () => Promise<void>,
  ) {
    // Its errors reach the caller through the unpack's result (or abort()), never as an event
    // nobody listens to: that would take drayd down.
    this.input.on('error', () => {});
  }

  /** Takes the next bytes of the blob; resolves when the unpacker can take more. */
  async write(chunk: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    if (!this.result) {
      this.head.push(chunk);
      this.headLen += chunk.length;
      if (this.headLen < 4 && this.headLen < this.blob.size) return;
      const first = Buffer.concat(this.head);
      this.head = [];
      this.start(first.subarray(0, 4));
      chunk = first;
    }
    if (!this.input.write(chunk)) {
      const failed = this.result!.then(() => undefined, () => undefined);
      await Promise.race([once(this.input, 'drain'), failed]);
      if (this.failure) throw this.failure;
    }
  }

  private start(head: Buffer): void {
    const c = detectCompression(head);
    this.mediaType = MEDIA_TYPES[c];
    const tar: Readable = c === 'none' ? this.input : decompressing(this.input, c);
    this.result = this.layers.fromStream(tar, this.expectDiffId, { digest: this.blob.digest, size: this.blob.size, mediaType: this.mediaType }, this.commitBlob);
    this.result.catch((e) => { this.failure = e instanceof Error ? e : new Error(String(e)); });
  }

  /** All bytes written: resolves with the committed layer. */
  async end(): Promise<LayerRecord> {
    if (!this.result) this.start(Buffer.concat(this.head));
    if (this.head.length) { const b = Buffer.concat(this.head); this.head = []; this.input.write(b); }
    this.input.end();
    return this.result!;
  }

  /** Stops unpacking (the download failed); resolves once the layer store removed what was unpacked. */
  async abort(e: Error): Promise<void> {
    this.input.destroy(e);
    await this.result?.catch(() => {});
  }
}
