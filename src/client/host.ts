// Where the daemon is: -H/--host, then DRAY_HOST, then DOCKER_HOST, then the default socket.
export const DEFAULT_HOST = 'unix:///run/dray.sock';

export interface Endpoint {
  /** The address as the user wrote it, normalised: used in messages. */
  display: string;
  socketPath?: string;
  host?: string;
  port?: number;
  /** Only plain TCP: TLS is not supported. */
  tls: false;
}

export function resolveHostAddress(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  return flag || env.DRAY_HOST || env.DOCKER_HOST || DEFAULT_HOST;
}

export function parseHost(addr: string): Endpoint {
  const a = addr.trim();
  if (a.startsWith('unix://')) {
    const p = a.slice('unix://'.length);
    if (!p) throw new Error(`unable to parse docker host \`${addr}\``);
    return { display: a, socketPath: p, tls: false };
  }
  if (a.startsWith('/')) return { display: `unix://${a}`, socketPath: a, tls: false };
  const m = /^(?:(tcp|http):\/\/)?(\[[^\]]+\]|[^:/]*)(?::(\d+))?\/?$/.exec(a);
  if (!m || (m[1] === undefined && !a.includes(':'))) throw new Error(`unable to parse docker host \`${addr}\``);
  const host = (m[2] || '127.0.0.1').replace(/^\[|\]$/g, '');
  const port = m[3] ? Number(m[3]) : 2375;
  return { display: `tcp://${m[2] || '127.0.0.1'}:${port}`, host, port, tls: false };
}
