// Checking content against the descriptor that names it, while it streams: the sha256 is updated
// chunk by chunk, and a blob that runs past its size is refused at the byte that overruns, not
// after the registry sent gigabytes of it.
import { createHash, Hash } from 'node:crypto';
import { regError, REG_ERR } from './errors';

export class Verifier {
  private readonly hash: Hash = createHash('sha256');
  private n = 0;

  /** `what` names the content in errors: "filesystem layer", "image config". */
  constructor(readonly digest: string, readonly size: number, readonly what: string) {}

  get received(): number { return this.n; }

  update(chunk: Buffer): void {
    this.n += chunk.length;
    if (this.n > this.size) throw regError(REG_ERR.SIZE_MISMATCH, `${this.what} ${this.digest}: the registry sent more than the ${this.size} bytes its descriptor says`);
    this.hash.update(chunk);
  }

  /** Throws unless exactly `size` bytes hashing to `digest` went through. */
  check(): void {
    if (this.n !== this.size) throw regError(REG_ERR.SIZE_MISMATCH, `${this.what} ${this.digest}: got ${this.n} bytes, its descriptor says ${this.size}`);
    const got = 'sha256:' + this.hash.digest('hex');
    if (got !== this.digest) {
      // Docker's wording for a layer ("filesystem layer verification failed for digest …").
      throw regError(REG_ERR.DIGEST_MISMATCH, `${this.what} verification failed for digest ${this.digest}`, { registryCode: got });
    }
  }
}
