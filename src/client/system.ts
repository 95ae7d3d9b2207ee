// /_ping, /version, /info, /events, /system/df, /auth.
import { Transport, PingResult } from './transport';
import type { DiskUsage, EventMessage, Filters, SystemInfo, VersionInfo } from './types';

export class SystemApi {
  constructor(private readonly t: Transport) {}

  ping(): Promise<PingResult> { return this.t.ping(); }
  version(): Promise<VersionInfo> { return this.t.json('GET', '/version'); }
  info(): Promise<SystemInfo> { return this.t.json('GET', '/info'); }
  df(o: { type?: string[] } = {}): Promise<DiskUsage> { return this.t.json('GET', '/system/df', { query: { type: o.type } }); }

  /**
   * Streams events. timeNano exceeds 2^53, so its exact digits are kept (non-enumerable) as
   * `timeNanoText` on each message for callers that print nanoseconds.
   */
  async events(o: { since?: string; until?: string; filters?: Filters; signal?: AbortSignal } = {}): Promise<AsyncGenerator<EventMessage & { timeNanoText?: string }>> {
    const res = await this.t.request('GET', '/events', { query: { since: o.since, until: o.until, filters: o.filters && Object.keys(o.filters).length ? o.filters : undefined }, signal: o.signal });
    return (async function* () {
      let buf = '';
      const emit = (line: string) => {
        const m = JSON.parse(line) as EventMessage;
        const digits = /"timeNano"\s*:\s*(\d+)/.exec(line);
        if (digits) Object.defineProperty(m, 'timeNanoText', { value: digits[1], enumerable: false });
        return m;
      };
      for await (const c of res) {
        buf += (c as Buffer).toString('utf8');
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i).trim();
          buf = buf.slice(i + 1);
          if (line) yield emit(line);
        }
      }
      if (buf.trim()) yield emit(buf.trim());
    })();
  }

  auth(body: { username?: string; password?: string; serveraddress?: string; identitytoken?: string }): Promise<{ Status: string; IdentityToken?: string }> {
    return this.t.json('POST', '/auth', { body });
  }
}
