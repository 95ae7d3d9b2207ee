// Docker's progress messages, as the JSON stream of POST /images/create and /images/{name}/push
// carries them, byte for byte what clients parse and print:
//   {"status":"Pulling from library/busybox","id":"latest"}
//   {"status":"Pulling fs layer","progressDetail":{},"id":"a3ed95caeb02"}
//   {"status":"Downloading","progressDetail":{"current":36445,"total":1064365},"progress":"[=>   …]  36.45kB/1.064MB","id":"a3ed95caeb02"}
//   {"status":"Digest: sha256:…"}
// The bar is pkg/jsonmessage's JSONProgress.String() at the width a daemon has (no terminal: 200
// columns), which draws the bar and the counts and, without a start time, no time left.
import { progressBar } from '../../lib/jsonprogress';

export { progressBar };

export interface ProgressDetail { current?: number; total?: number }

export interface JsonMessage {
  status?: string;
  progressDetail?: ProgressDetail;
  progress?: string;
  id?: string;
  errorDetail?: { message: string };
  error?: string;
  aux?: unknown;
}

export type ProgressSink = (m: JsonMessage) => void;

/** A status line of one layer, no counts: {"status":"Pull complete","progressDetail":{},"id":"…"}. */
export const layerStatus = (id: string, status: string): JsonMessage => ({ status, progressDetail: {}, id });

/** A status line with counts and the bar. */
export const layerProgress = (id: string, status: string, current: number, total: number): JsonMessage =>
  ({ status, progressDetail: { current, total }, progress: progressBar(current, total), id });

/** A line of the whole operation: {"status":"Digest: sha256:…"} (with an id for "Pulling from"). */
export const statusLine = (status: string, id?: string): JsonMessage => (id ? { status, id } : { status });

export const errorLine = (message: string): JsonMessage => ({ errorDetail: { message }, error: message });

/** Docker's short layer id: the first 12 hex digits of a digest. */
export const shortDigest = (d: string) => d.replace(/^sha256:/, '').slice(0, 12);

/**
 * Rate of "Downloading"/"Pushing" updates, as Docker's progress reader sends them: after every
 * 1% or 512 KiB (the smaller), at most one per 100 ms, and always the last.
 */
export class Throttle {
  private lastBytes = 0;
  private lastAt = 0;
  private readonly every: number;
  constructor(total: number) { this.every = Math.min(512 * 1024, total > 0 ? Math.max(1, Math.floor(total / 100)) : 512 * 1024); }
  due(current: number, total: number): boolean {
    const done = total > 0 && current >= total;
    if (!done && (current - this.lastBytes <= this.every || Date.now() - this.lastAt < 100)) return false;
    this.lastBytes = current;
    this.lastAt = Date.now();
    return true;
  }
}
