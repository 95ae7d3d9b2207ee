// A hash fed with the chunks of a stream as they arrive, for the registry server's uploads.
// SHA-256 runs on libuv's thread pool (native/sha256.c) where the addon is built: hashing a layer
// on the event loop's thread would hold it for half of the upload, time the loop needs to read the
// sockets. Other algorithms, and a missing addon, hash with node:crypto on the calling thread.
import { createHash, Hash } from 'node:crypto';
import { nativeAddon, SysAddon } from './native';

export interface StreamHash {
  /** Takes the chunk, which must not change afterwards (it is read later, on another thread). */
  update(chunk: Buffer): void;
  /**
   * undefined when the caller may go on; else a promise that resolves once few enough bytes
   * wait to be hashed (so a fast sender cannot pile chunks up in memory), or rejects if hashing
   * failed.
   */
  ready(): Promise<void> | undefined;
  /** The hash of everything given so far, as hex; the hash goes on. */
  hex(): Promise<string>;
  /** Hashing failed: the state is lost and must not be used again. */
  readonly failed: boolean;
}

/** Bytes given but not hashed yet beyond which ready() makes the caller wait. */
const MAX_PENDING = 4 << 20;

class CryptoHash implements StreamHash {
  readonly failed = false;
  private h: Hash;
  constructor(algorithm: string) { this.h = createHash(algorithm); }
  update(chunk: Buffer): void { this.h.update(chunk); }
  ready(): undefined { return undefined; }
  async hex(): Promise<string> { return this.h.copy().digest('hex'); }
}

class PoolSha256 implements StreamHash {
  private h: unknown;
  private queue: Buffer[] = [];
  private queued = 0;
  private inFlight = 0;
  private running = false;
  private error?: Error;
  private waiters: { when: () => boolean; resolve: () => void; reject: (e: Error) => void }[] = [];

  constructor(private readonly addon: SysAddon) { this.h = addon.sha256New(); }

  get failed(): boolean { return this.error !== undefined; }
  private get pending(): number { return this.queued + this.inFlight; }

  update(chunk: Buffer): void {
    if (this.error || chunk.length === 0) return;
    this.queue.push(chunk);
    this.queued += chunk.length;
    if (!this.running) this.run();
  }

  /** Hands everything queued to the pool in one job; the next job takes what arrived meanwhile. */
  private run(): void {
    const bufs = this.queue;
    this.queue = [];
    this.inFlight = this.queued;
    this.queued = 0;
    this.running = true;
    this.addon.sha256Update(this.h, bufs, (err?: Error) => {
      this.running = false;
      this.inFlight = 0;
      if (err) this.error ??= err;
      if (this.queue.length && !this.error) this.run();
      this.wake();
    });
  }

  private wake(): void {
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) {
      if (this.error) w.reject(this.error);
      else if (w.when()) w.resolve();
      else this.waiters.push(w);
    }
  }

  private until(when: () => boolean): Promise<void> | undefined {
    if (this.error) return Promise.reject(this.error);
    if (when()) return undefined;
    return new Promise((resolve, reject) => this.waiters.push({ when, resolve, reject }));
  }

  ready(): Promise<void> | undefined { return this.until(() => this.pending <= MAX_PENDING); }

  async hex(): Promise<string> {
    await this.until(() => this.pending === 0);
    return this.addon.sha256Hex(this.h);
  }
}

export function streamHash(algorithm: string): StreamHash {
  const addon = algorithm === 'sha256' ? nativeAddon() : null;
  return addon?.sha256New ? new PoolSha256(addon) : new CryptoHash(algorithm);
}
