// The dashboard's settings: daemon.json `dashboard` and drayd's --dashboard-addr.
//
//   (absent)                                   started on 127.0.0.1, a random port, at the first
//                                              `dray dashboard` (GET /dray/dashboard on the socket)
//   "dashboard": false                         never served
//   "dashboard": {"addr": "127.0.0.1:8089"}    served from drayd's start on that address
//   "dashboard": {"addr": "0.0.0.0:8443", "tlscert": "…", "tlskey": "…"}
//                                              beyond loopback: only with TLS
export interface DashboardConfig {
  enabled: boolean;
  /** host:port; port 0 picks a free one. */
  addr: string;
  /** Listen at drayd's start (an address was configured) rather than at the first `dray dashboard`. */
  eager: boolean;
  tlsCert?: string;
  tlsKey?: string;
}

export const DEFAULT_DASHBOARD_ADDR = '127.0.0.1:0';

export function defaultDashboardConfig(): DashboardConfig {
  return { enabled: true, addr: DEFAULT_DASHBOARD_ADDR, eager: false };
}

/** daemon.json's `dashboard` value; throws with a message naming what is wrong. */
export function dashboardConfigFromJson(v: unknown): DashboardConfig {
  if (v === undefined || v === null) return defaultDashboardConfig();
  if (v === false) return { ...defaultDashboardConfig(), enabled: false };
  if (v === true) return { ...defaultDashboardConfig(), eager: true };
  if (typeof v !== 'object' || Array.isArray(v)) throw new Error('dashboard: expected false, true or an object such as {"addr": "127.0.0.1:0"}');
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!['enabled', 'addr', 'tlscert', 'tlskey'].includes(k)) throw new Error(`dashboard: unknown key "${k}" (known: enabled, addr, tlscert, tlskey)`);
  const c: DashboardConfig = { enabled: o.enabled === undefined ? true : !!o.enabled, addr: DEFAULT_DASHBOARD_ADDR, eager: true };
  if (o.addr !== undefined) { if (typeof o.addr !== 'string') throw new Error('dashboard.addr: expected "host:port"'); c.addr = o.addr; }
  if (o.tlscert !== undefined) c.tlsCert = String(o.tlscert);
  if (o.tlskey !== undefined) c.tlsKey = String(o.tlskey);
  parseAddr(c.addr);
  return c;
}

export function parseAddr(addr: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/.exec(addr);
  if (!m || Number(m[2]) > 65535) throw new Error(`invalid dashboard address "${addr}": expected host:port, e.g. 127.0.0.1:0`);
  return { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * Why this configuration must not be served, or undefined. The dashboard steers containers, which
 * is root on this host: beyond loopback only over TLS (and still behind its token).
 */
export function refusal(c: DashboardConfig): string | undefined {
  const { host } = parseAddr(c.addr);
  if ((c.tlsCert && !c.tlsKey) || (!c.tlsCert && c.tlsKey)) return 'dashboard: tlscert and tlskey go together';
  if (!isLoopback(host) && !c.tlsCert) {
    return `refusing to serve the dashboard on ${c.addr} without TLS: it controls containers (root on this host), and beyond loopback its token and cookie would cross the network in clear. Use a loopback address (127.0.0.1:0) or set dashboard.tlscert and dashboard.tlskey in daemon.json`;
  }
  return undefined;
}
