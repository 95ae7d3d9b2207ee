// Where the daemon is: -H/--host, then DRAY_HOST, then DOCKER_HOST, then the default socket.
export const DEFAULT_HOST = 'unix:///run/dray.sock';

/** TLS to a TCP daemon, as the docker CLI sets it up: PEM contents, not paths. */
export interface ClientTls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** Check the daemon's certificate against `ca` (--tlsverify); --tls alone does not. */
  verify: boolean;
}

export interface Endpoint {
  /** The address as the user wrote it, normalised: used in messages. */
  display: string;
  socketPath?: string;
  host?: string;
  port?: number;
  tls: ClientTls | false;
  /** A daemon reached through `ssh` running `system dial-stdio` on the remote host (client/ssh.ts). */
  ssh?: SshSpec;
}

/** ssh://[user@]host[:port][/socket/path], as the docker CLI takes it. */
export interface SshSpec {
  user?: string;
  host: string;
  port?: number;
  /** The daemon's socket on the remote host; its dial-stdio's default when absent. */
  socketPath?: string;
}

export interface TlsSettings { tls?: boolean; tlsverify?: boolean; tlscacert?: string; tlscert?: string; tlskey?: string }

/**
 * The docker CLI's TLS rules: --tlsverify or DOCKER_TLS_VERIFY (non-empty) verify the daemon
 * against ca.pem; --tls alone encrypts without verifying; the files default to DOCKER_CERT_PATH
 * (or ~/.docker) as ca.pem, cert.pem and key.pem, and a client certificate is sent when present.
 */
export function tlsFrom(f: TlsSettings, env: NodeJS.ProcessEnv = process.env): ClientTls | false {
  const verify = !!f.tlsverify || !!env.DOCKER_TLS_VERIFY;
  if (!verify && !f.tls) return false;
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { existsSync, readFileSync } = require('node:fs') as typeof import('node:fs');
  const dir = env.DOCKER_CERT_PATH || `${env.HOME || '/root'}/.docker`;
  const file = (given: string | undefined, name: string) => {
    const f2 = given || `${dir}/${name}`;
    if (!existsSync(f2)) {
      if (given) throw new Error(`could not read ${name === 'ca.pem' ? 'CA certificate' : name === 'cert.pem' ? 'certificate' : 'key'} "${given}": no such file or directory`);
      return undefined;
    }
    return readFileSync(f2);
  };
  const ca = file(f.tlscacert, 'ca.pem');
  if (verify && !ca) throw new Error(`could not read CA certificate "${dir}/ca.pem": no such file or directory`);
  return { ca, cert: file(f.tlscert, 'cert.pem'), key: file(f.tlskey, 'key.pem'), verify };
}

/** The global flags that choose a daemon besides -H: --context and --config. */
export interface HostChoice { context?: string; config?: string }

/**
 * The docker CLI's precedence, with DRAY_HOST beside DOCKER_HOST: an explicit --context (not with
 * -H), then -H, then DRAY_HOST / DOCKER_HOST, then DOCKER_CONTEXT or config.json's currentContext
 * (client/context.ts), then the default socket. The "default" context is the environment's host.
 */
export function resolveHostAddress(flag?: string, env: NodeJS.ProcessEnv = process.env, choice: HostChoice = {}): string {
  if (flag && choice.context) throw new Error('conflicting options: either specify --host or --context, not both');
  const envHost = env.DRAY_HOST || env.DOCKER_HOST;
  let name = choice.context;
  if (!name) {
    if (flag || envHost) return flag || envHost!;
    // Only now is a file read: a host given outright costs nothing.
    const { configDirOf, currentContext } = require('./context') as typeof import('./context');
    name = env.DOCKER_CONTEXT || currentContext(configDirOf(choice.config, env));
  }
  if (!name || name === 'default') return envHost || DEFAULT_HOST;
  const { configDirOf, contextHost } = require('./context') as typeof import('./context');
  return contextHost(name, configDirOf(choice.config, env));
}

export function parseHost(addr: string, tls: ClientTls | false = false): Endpoint {
  const a = addr.trim();
  if (a.startsWith('unix://')) {
    const p = a.slice('unix://'.length);
    if (!p) throw new Error(`unable to parse docker host \`${addr}\``);
    return { display: a, socketPath: p, tls: false };
  }
  if (a.startsWith('/')) return { display: `unix://${a}`, socketPath: a, tls: false };
  if (a.startsWith('ssh://')) return { display: a, ssh: parseSshHost(a), tls: false };
  // A TCP address without a port: Docker's 2376 with TLS, 2375 without.
  const m = /^(?:(tcp|http):\/\/)?(\[[^\]]+\]|[^:/]*)(?::(\d+))?\/?$/.exec(a);
  if (!m || (m[1] === undefined && !a.includes(':'))) throw new Error(`unable to parse docker host \`${addr}\``);
  const host = (m[2] || '127.0.0.1').replace(/^\[|\]$/g, '');
  const port = m[3] ? Number(m[3]) : tls ? 2376 : 2375;
  return { display: `tcp://${m[2] || '127.0.0.1'}:${port}`, host, port, tls };
}

/**
 * The docker CLI's rules for an ssh:// host: a user but no password, a host name, an optional
 * port, and a path that names the daemon's socket on the remote host; no query, no fragment.
 */
export function parseSshHost(addr: string): SshSpec {
  const bad = (why: string) => new Error(`ssh host connection is not valid: ${why}`);
  let u: URL;
  try { u = new URL(addr); } catch { throw bad(`cannot parse \`${addr}\``); }
  if (u.password) throw bad('plain-text password is not supported');
  // URL keeps IPv6 brackets in hostname; ssh wants the bare address.
  const host = decodeURIComponent(u.hostname).replace(/^\[|\]$/g, '');
  if (!host) throw bad('hostname is empty');
  if (u.search) throw bad(`query parameters are not allowed: "${u.search.slice(1)}"`);
  if (u.hash) throw bad(`fragments are not allowed: "${u.hash.slice(1)}"`);
  const path = decodeURIComponent(u.pathname);
  const spec: SshSpec = { host };
  if (u.username) spec.user = decodeURIComponent(u.username);
  if (u.port) spec.port = Number(u.port);
  if (path.replace(/\//g, '') !== '') {
    // The path goes into the command line the remote shell runs: only characters no shell treats specially.
    if (!/^[\w./@%+=,:-]+$/.test(path)) throw bad(`the socket path "${path}" may hold only letters, digits and . / _ - + @ % = , :`);
    spec.socketPath = path;
  }
  return spec;
}
