// The dashboard's way to drayd: allow-listed Engine API routes under /api/engine (the session
// cookie goes along by itself; POST and DELETE carry the CSRF header), and ONE server-sent-events
// stream of engine events (/api/events) that every view listens to instead of polling.

const csrf = document.querySelector<HTMLMetaElement>('meta[name="dray-csrf"]')?.content ?? '';

export class ApiError extends Error {
  constructor(readonly status: number, message: string) { super(message); }
}

async function failure(res: Response): Promise<ApiError> {
  const body = await res.text();
  let msg = body.trim();
  try { msg = JSON.parse(body).message ?? msg; } catch { /* text */ }
  return new ApiError(res.status, msg || `${res.status} ${res.statusText}`);
}

export async function get<T>(path: string, signal?: AbortSignal): Promise<T> {
  const res = await fetch(`/api/engine${path}`, { signal, credentials: 'same-origin' });
  if (!res.ok) throw await failure(res);
  return res.json() as Promise<T>;
}

/** A state-changing call: POST or DELETE, with the CSRF header. */
export async function act(method: 'POST' | 'DELETE', path: string): Promise<void> {
  const res = await fetch(`/api/engine${path}`, { method, credentials: 'same-origin', headers: { 'X-Dray-CSRF': csrf } });
  if (!res.ok && res.status !== 304) throw await failure(res);
}

/** A streaming GET (logs, stats): calls onChunk with each piece until aborted or ended. */
export async function stream(path: string, signal: AbortSignal, onChunk: (b: Uint8Array) => void): Promise<void> {
  const res = await fetch(`/api/engine${path}`, { signal, credentials: 'same-origin' });
  if (!res.ok) throw await failure(res);
  if (!res.body) return;
  const reader = res.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      if (value) onChunk(value);
    }
  } finally {
    reader.releaseLock();
  }
}

export const q = (filters: Record<string, string[]>) => encodeURIComponent(JSON.stringify(filters));

export interface EngineEvent {
  Type: 'container' | 'image' | 'volume' | 'network' | 'daemon' | 'builder';
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  time: number;
  timeNano: number;
}

export type LiveState = 'connecting' | 'live' | 'down';
type Listener = (e: EngineEvent) => void;

/** The one events stream, shared by every view; reconnects by itself (EventSource). */
class EventHub {
  private source?: EventSource;
  private listeners = new Set<Listener>();
  private resyncs = new Set<() => void>();
  private stateListeners = new Set<(s: LiveState) => void>();
  state: LiveState = 'connecting';
  /** Events since the page opened, newest last (bounded). */
  readonly recent: EngineEvent[] = [];

  start(): void {
    if (this.source) return;
    const es = new EventSource('/api/events');
    this.source = es;
    es.onopen = () => {
      // What happened before the stream was open (a view's first fetch may be older than it, or
      // the stream broke) is unknown: views fetch afresh once it is.
      for (const f of this.resyncs) f();
      this.setState('live');
    };
    es.onerror = () => this.setState(es.readyState === EventSource.CLOSED ? 'down' : 'connecting');
    es.onmessage = (m) => {
      let e: EngineEvent;
      try { e = JSON.parse(m.data); } catch { return; }
      this.recent.push(e);
      if (this.recent.length > 1000) this.recent.splice(0, this.recent.length - 1000);
      for (const f of this.listeners) f(e);
    };
  }

  private setState(s: LiveState): void {
    if (s === this.state) return;
    this.state = s;
    for (const f of this.stateListeners) f(s);
  }

  on(f: Listener, resync?: () => void): () => void {
    this.listeners.add(f);
    if (resync) this.resyncs.add(resync);
    return () => { this.listeners.delete(f); if (resync) this.resyncs.delete(resync); };
  }

  onState(f: (s: LiveState) => void): () => void {
    this.stateListeners.add(f);
    return () => this.stateListeners.delete(f);
  }
}

export const hub = new EventHub();

/** Recent engine history (before the page opened), oldest first. */
export async function eventHistory(): Promise<EngineEvent[]> {
  const res = await fetch('/api/events/history', { credentials: 'same-origin' });
  if (!res.ok) throw await failure(res);
  return res.json();
}

/**
 * A state-changing call whose answer is Docker's JSON-lines progress (pull, push): each message
 * to onMessage as it comes. A message with `error` ends it as a failure, as the docker CLI does.
 */
export async function actStream(path: string, onMessage: (m: ProgressMessage) => void, signal?: AbortSignal): Promise<void> {
  const res = await fetch(`/api/engine${path}`, { method: 'POST', signal, credentials: 'same-origin', headers: { 'X-Dray-CSRF': csrf } });
  if (!res.ok) throw await failure(res);
  if (!res.body) return;
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  let failed: string | undefined;
  const take = (line: string) => {
    if (!line.trim()) return;
    let m: ProgressMessage;
    try { m = JSON.parse(line); } catch { return; }
    if (m.error) failed ??= m.error;
    onMessage(m);
  };
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) { take(buf.slice(0, i)); buf = buf.slice(i + 1); }
  }
  take(buf);
  if (failed) throw new ApiError(500, failed);
}

/** Docker's progress messages (pull, push). */
export interface ProgressMessage {
  status?: string; id?: string; progress?: string;
  progressDetail?: { current?: number; total?: number };
  error?: string; errorDetail?: { message: string };
  aux?: Record<string, unknown>;
}

/** A JSON answer to a state-changing call (prune). */
export async function actJson<T>(path: string): Promise<T> {
  const res = await fetch(`/api/engine${path}`, { method: 'POST', credentials: 'same-origin', headers: { 'X-Dray-CSRF': csrf } });
  if (!res.ok) throw await failure(res);
  return res.json() as Promise<T>;
}

/** The dashboard's own routes (/api/…, not the Engine API's). */
export async function getOwn<T>(path: string, signal?: AbortSignal): Promise<T> {
  const res = await fetch(`/api${path}`, { signal, credentials: 'same-origin' });
  if (!res.ok) throw await failure(res);
  return res.json() as Promise<T>;
}

/** What image prune would free now (drayd works it out; nothing is removed). */
export interface PruneEstimate { images: { images: number; bytes: number }; imagesAll: { images: number; bytes: number } }

/** A state-changing call with a JSON body (create); resolves to the JSON answer. */
export async function actBody<T>(path: string, body: unknown): Promise<T> {
  const res = await fetch(`/api/engine${path}`, {
    method: 'POST', credentials: 'same-origin', headers: { 'X-Dray-CSRF': csrf, 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });
  if (!res.ok) throw await failure(res);
  return res.json() as Promise<T>;
}
