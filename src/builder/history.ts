// The recent builds drayd ran, step by step (GET /dray/builds, which the dashboard's builds view
// shows): for each build its tags, result and duration, and for each step whether the cache had
// it, how long it took and, with --explain-cache, why it missed. Kept in memory, the last
// MAX_BUILDS since drayd started: the step cache itself (builder/cache.ts) is what persists.
export interface BuildStep {
  /** The stage's name, or its index for an unnamed stage. */
  stage: string;
  instruction: string;
  cached: boolean;
  failed?: boolean;
  ms: number;
  /** Why the cache missed (only with --explain-cache). */
  missReason?: string;
}

export interface BuildRecord {
  id: string;
  started: string;
  ms: number;
  tags: string[];
  imageId?: string;
  error?: string;
  steps: BuildStep[];
}

const MAX_BUILDS = 50;

export class BuildHistory {
  private recs: BuildRecord[] = [];

  add(r: BuildRecord): void {
    this.recs.push(r);
    if (this.recs.length > MAX_BUILDS) this.recs.shift();
  }

  /** Newest first. */
  list(): BuildRecord[] { return [...this.recs].reverse(); }
}
