// /_ping, /version, /info, /events, /system/df, /auth.
import { Transport, PingResult } from './transport';
import type { DiskUsage, EventMessage, Filters, SystemInfo, VersionInfo } from './types';
import { jsonLines } from './stream';

export class SystemApi {
  constructor(private readonly t: Transport) {}

  ping(): Promise<PingResult> { return this.t.ping(); }
  version(): Promise<VersionInfo> { return this.t.json('GET', '/version'); }
  info(): Promise<SystemInfo> { return this.t.json('GET', '/info'); }
  df(o: { type?: string[] } = {}): Promise<DiskUsage> { return this.t.json('GET', '/system/df', { query: { type: o.type } }); }

  async events(o: { since?: string; until?: string; filters?: Filters; signal?: AbortSignal } = {}): Promise<AsyncGenerator<EventMessage>> {
    const res = await this.t.request('GET', '/events', { query: { since: o.since, until: o.until, filters: o.filters && Object.keys(o.filters).length ? o.filters : undefined }, signal: o.signal });
    return jsonLines<EventMessage>(res);
  }

  auth(body: { username?: string; password?: string; serveraddress?: string; identitytoken?: string }): Promise<{ Status: string; IdentityToken?: string }> {
    return this.t.json('POST', '/auth', { body });
  }
}
