// Webhook notifications as distribution sends them (its `notifications.endpoints`): each push,
// pull, mount and delete of a manifest or blob becomes an event, POSTed to every endpoint in an
// envelope of media type application/vnd.docker.distribution.events.v1+json. Each endpoint has a
// queue of its own, so a slow or dead listener delays nobody's request and no other listener;
// a failed delivery is retried after the endpoint's backoff until it succeeds. The queue is
// bounded: past MAX_QUEUED events the oldest are dropped, with a warning, rather than growing
// the registry's memory without end while a listener is down.
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import * as os from 'node:os';
import type { IncomingMessage } from 'node:http';
import { log } from '../../lib/log';

export const EVENTS_MEDIA_TYPE = 'application/vnd.docker.distribution.events.v1+json';
const MAX_QUEUED = 10_000;
const MAX_BATCH = 100;

export interface EndpointConfig {
  name: string;
  url: string;
  headers: Record<string, string[]>;
  timeoutMs: number;
  /** Consecutive failures before each retry waits the backoff (distribution's threshold). */
  threshold: number;
  backoffMs: number;
  ignoredMediaTypes: string[];
  ignoredActions: string[];
}

export type Action = 'push' | 'pull' | 'mount' | 'delete';

export interface Target {
  repository: string;
  mediaType?: string;
  digest?: string;
  size?: number;
  url?: string;
  tag?: string;
  fromRepository?: string;
}

/** What a handler knows of the request an event comes from. */
export interface Origin { req: IncomingMessage; user?: string }

interface Event {
  id: string;
  timestamp: string;
  action: Action;
  target: Target & { length?: number };
  request: { id: string; addr: string; host: string; method: string; useragent: string };
  actor: { name?: string };
  source: { addr: string; instanceID: string };
}

class Endpoint {
  private queue: Event[] = [];
  private sending = false;
  private failures = 0;
  private dropped = 0;
  private timer?: NodeJS.Timeout;
  private closed = false;

  constructor(readonly cfg: EndpointConfig) {}

  wants(e: Event): boolean {
    return !this.cfg.ignoredActions.includes(e.action) && !(e.target.mediaType && this.cfg.ignoredMediaTypes.includes(e.target.mediaType));
  }

  add(e: Event): void {
    if (this.closed) return;
    this.queue.push(e);
    if (this.queue.length > MAX_QUEUED) {
      this.queue.shift();
      if (this.dropped++ % 1000 === 0) log.warn('notification queue full: dropping the oldest events', { endpoint: this.cfg.name, dropped: this.dropped });
    }
    if (!this.sending && !this.timer) void this.pump();
  }

  private async pump(): Promise<void> {
    this.sending = true;
    try {
      while (this.queue.length && !this.closed) {
        const batch = this.queue.slice(0, MAX_BATCH);
        try {
          await this.post(batch);
          this.queue.splice(0, batch.length);
          this.failures = 0;
        } catch (e) {
          this.failures++;
          log.warn('notification delivery failed; will retry', { endpoint: this.cfg.name, url: this.cfg.url, events: batch.length, failures: this.failures, error: (e as Error).message });
          if (this.failures >= this.cfg.threshold) {
            this.timer = setTimeout(() => { this.timer = undefined; void this.pump(); }, this.cfg.backoffMs);
            this.timer.unref();
            return;
          }
        }
      }
    } finally {
      this.sending = false;
    }
  }

  private post(events: Event[]): Promise<void> {
    const body = Buffer.from(JSON.stringify({ events }));
    const u = new URL(this.cfg.url);
    const headers: http.OutgoingHttpHeaders = { 'Content-Type': EVENTS_MEDIA_TYPE, 'Content-Length': body.length };
    for (const [k, v] of Object.entries(this.cfg.headers)) headers[k] = v;
    return new Promise((resolve, reject) => {
      const mod = u.protocol === 'https:' ? https : http;
      const req = mod.request(u, { method: 'POST', headers, timeout: this.cfg.timeoutMs }, (res) => {
        res.resume();
        const ok = (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400;
        res.on('end', () => (ok ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.cfg.timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Stops retrying; what is queued is given one last try, bounded by the endpoint's timeout. */
  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.queue.length && !this.sending) await this.post(this.queue.splice(0, MAX_BATCH)).catch(() => {});
    this.closed = true;
  }
}

export class Notifier {
  private readonly endpoints: Endpoint[];
  private readonly instanceID = randomUUID();
  private source = `${os.hostname()}`;

  constructor(cfgs: EndpointConfig[]) {
    this.endpoints = cfgs.map((c) => new Endpoint(c));
  }

  get enabled(): boolean { return this.endpoints.length > 0; }

  /** The address the source field names, once the server listens. */
  listening(port: number): void { this.source = `${os.hostname()}:${port}`; }

  emit(o: Origin, action: Action, target: Target): void {
    if (!this.endpoints.length) return;
    const h = o.req.headers;
    const e: Event = {
      id: randomUUID(),
      timestamp: new Date().toISOString(),
      action,
      // distribution repeats the size as "length", which older listeners read
      target: { ...target, ...(target.size !== undefined ? { length: target.size } : {}) },
      request: {
        id: String(h['x-request-id'] ?? randomUUID()),
        addr: `${o.req.socket.remoteAddress ?? ''}:${o.req.socket.remotePort ?? ''}`,
        host: String(h.host ?? h[':authority'] ?? ''),
        method: o.req.method ?? '',
        useragent: String(h['user-agent'] ?? ''),
      },
      actor: o.user ? { name: o.user } : {},
      source: { addr: this.source, instanceID: this.instanceID },
    };
    for (const ep of this.endpoints) if (ep.wants(e)) ep.add(e);
  }

  async close(): Promise<void> {
    await Promise.all(this.endpoints.map((e) => e.close()));
  }
}
