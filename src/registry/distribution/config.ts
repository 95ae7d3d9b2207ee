// The registry's configuration: a YAML or JSON file in the shape of distribution's config.yml
// where the two overlap (http.addr, http.tls, storage.filesystem.rootdirectory, storage.s3,
// storage.delete, storage.maintenance.uploadpurging, auth.htpasswd, auth.token, notifications,
// proxy.remoteurl), with Dray's
// own sections for what distribution lacks (auth.token's built-in token server, auth.access, gc,
// scrub, metrics). Command-line flags override the file. Durations are "90s", "10m", "1h" or
// seconds; sizes "50MB", "10MiB" or bytes.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { S3Options } from './storage/s3';
import type { EndpointConfig } from './notifications';

export interface AccessRule {
  /** a user name, "*" for any signed-in user, "anonymous" for requests without credentials */
  account: string;
  /** repository name pattern; "*" matches any run of characters, "/" included */
  repository: string;
  actions: string[];
}

export interface Config {
  http: {
    addr: string;
    /** Base URL for Location headers and the token realm ("https://registry.example.com"); by default the request's Host. */
    host?: string;
    tls?: { certificate: string; key: string };
    /** HTTP/2 beside HTTP/1.1 over TLS (distribution's http.http2.disabled: false, its default). */
    http2: boolean;
  };
  storage:
    | { driver: 'filesystem'; rootdirectory: string }
    | ({ driver: 's3' } & S3Options);
  deleteEnabled: boolean;
  uploadPurging: { enabled: boolean; ageMs: number; intervalMs: number };
  auth?: {
    htpasswd?: { realm: string; path: string };
    /**
     * Bearer tokens: from the built-in token server (signed with `key`), or, with `rootcertbundle`
     * or `jwks`, from an external one (distribution's setting): its tokens are checked against
     * those keys and this server issues none.
     */
    token?: { realm?: string; service: string; issuer: string; expirationS: number; key?: string; rootcertbundle?: string; jwks?: string };
    access?: AccessRule[];
  };
  gc: { intervalMs: number; delayMs: number; deleteUntagged: boolean };
  scrub: { intervalMs: number; rateBytesPerSec: number };
  proxy?: { remoteurl: string; username?: string; password?: string; tagTtlMs: number };
  catalog: { maxEntries: number };
  /** Upload requests (POST, PATCH, PUT of uploads) served at once; beyond, 429 TOOMANYREQUESTS. 0: no limit. */
  limits: { concurrentUploads: number };
  metrics: { enabled: boolean };
  log: { level: string; accessLog: boolean };
  /** Webhook endpoints told of each push, pull, mount and delete (distribution's notifications.endpoints). */
  notifications: EndpointConfig[];
}

/** What the command line can set; each overrides its key in the file. */
export interface Flags {
  config?: string;
  listen?: string;
  storage?: string;
  tlsCert?: string;
  tlsKey?: string;
  htpasswd?: string;
  gcInterval?: string;
  gcDelay?: string;
  scrubInterval?: string;
  uploadTimeout?: string;
  proxy?: string;
  debug?: boolean;
}

export class ConfigError extends Error {}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(v: unknown, what: string): number {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v * 1000;
  if (typeof v === 'string') {
    const s = v.trim();
    if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1000;
    const parts = [...s.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)];
    if (parts.length && parts.map((p) => p[0]).join('') === s) return parts.reduce((n, p) => n + Number(p[1]) * UNITS[p[2]], 0);
  }
  throw new ConfigError(`${what}: invalid duration ${JSON.stringify(v)} (e.g. "90s", "10m", "1h")`);
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };

export function parseSize(v: unknown, what: string): number {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
  const m = typeof v === 'string' ? /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(v.trim()) : null;
  const unit = m && SIZE_UNITS[m[2].toLowerCase()];
  if (!m || unit === undefined || unit === null) throw new ConfigError(`${what}: invalid size ${JSON.stringify(v)} (e.g. "50MB", "10MiB")`);
  return Math.round(Number(m[1]) * unit);
}

function obj(v: unknown, what: string): Record<string, any> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new ConfigError(`${what}: expected a mapping`);
  return v as Record<string, any>;
}

function str(v: unknown, what: string): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new ConfigError(`${what}: expected a string`);
  return v;
}

function bool(v: unknown, what: string, def: boolean): boolean {
  if (v === undefined || v === null) return def;
  if (typeof v !== 'boolean') throw new ConfigError(`${what}: expected true or false`);
  return v;
}

/** Reads a config file: JSON when it parses as JSON (or ends in .json), YAML otherwise. */
export function readConfigFile(file: string): Record<string, any> {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (e: any) {
    throw new ConfigError(`cannot read config file ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  }
  try {
    if (file.endsWith('.json') || /^\s*\{/.test(text)) return obj(JSON.parse(text), file);
    const YAML = require('yaml') as typeof import('yaml');
    return obj(YAML.parse(text), file);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(`${file}: ${(e as Error).message}`);
  }
}

/** The file (if any) with the flags over it, checked and with every default filled in. */
export function loadConfig(flags: Flags): Config {
  const raw = flags.config ? readConfigFile(flags.config) : {};
  refuseUnimplemented(raw);
  const base = flags.config ? path.dirname(path.resolve(flags.config)) : process.cwd();
  // Paths in the file are relative to it; paths from flags to the working directory.
  const filePath = (p: string | undefined) => (p === undefined ? undefined : path.resolve(base, p));
  const http = obj(raw.http, 'http');
  const tls = obj(http.tls, 'http.tls');
  const storage = obj(raw.storage, 'storage');
  const fsCfg = obj(storage.filesystem, 'storage.filesystem');
  const s3 = storage.s3 === undefined ? undefined : obj(storage.s3, 'storage.s3');
  const maintenance = obj(obj(storage.maintenance, 'storage.maintenance').uploadpurging, 'storage.maintenance.uploadpurging');
  const auth = obj(raw.auth, 'auth');
  const gc = obj(raw.gc, 'gc');
  const scrub = obj(raw.scrub, 'scrub');
  const proxy = raw.proxy === undefined ? undefined : obj(raw.proxy, 'proxy');
  const log = obj(raw.log, 'log');

  const cfg: Config = {
    http: {
      addr: flags.listen ?? str(http.addr, 'http.addr') ?? '127.0.0.1:5000', host: str(http.host, 'http.host')?.replace(/\/+$/, ''),
      http2: !bool(obj(http.http2, 'http.http2').disabled, 'http.http2.disabled', false),
    },
    storage: { driver: 'filesystem', rootdirectory: '' },
    deleteEnabled: bool(obj(storage.delete, 'storage.delete').enabled, 'storage.delete.enabled', true),
    uploadPurging: {
      enabled: bool(maintenance.enabled, 'storage.maintenance.uploadpurging.enabled', true),
      ageMs: parseDuration(flags.uploadTimeout ?? maintenance.age ?? '1h', 'upload timeout'),
      intervalMs: parseDuration(maintenance.interval ?? '10m', 'storage.maintenance.uploadpurging.interval'),
    },
    gc: {
      intervalMs: parseDuration(flags.gcInterval ?? gc.interval ?? '24h', 'gc interval'),
      delayMs: parseDuration(flags.gcDelay ?? gc.delay ?? '1h', 'gc delay'),
      deleteUntagged: bool(gc.untagged, 'gc.untagged', false),
    },
    scrub: {
      intervalMs: parseDuration(flags.scrubInterval ?? scrub.interval ?? '168h', 'scrub interval'),
      rateBytesPerSec: parseSize(scrub.rate ?? '50MB', 'scrub.rate'),
    },
    catalog: { maxEntries: Number(obj(raw.catalog, 'catalog').maxentries ?? 1000) },
    limits: { concurrentUploads: Number(obj(raw.limits, 'limits').concurrentuploads ?? 0) },
    metrics: { enabled: bool(obj(raw.metrics, 'metrics').enabled, 'metrics.enabled', true) },
    log: { level: flags.debug ? 'debug' : str(log.level, 'log.level') ?? 'info', accessLog: !bool(obj(log.accesslog, 'log.accesslog').disabled, 'log.accesslog.disabled', false) },
    notifications: notificationEndpoints(raw.notifications),
  };
  if (!Number.isInteger(cfg.catalog.maxEntries) || cfg.catalog.maxEntries < 1) throw new ConfigError('catalog.maxentries: expected a positive integer');
  if (!Number.isInteger(cfg.limits.concurrentUploads) || cfg.limits.concurrentUploads < 0) throw new ConfigError('limits.concurrentuploads: expected a whole number');

  const cert = flags.tlsCert ?? filePath(str(tls.certificate, 'http.tls.certificate'));
  const key = flags.tlsKey ?? filePath(str(tls.key, 'http.tls.key'));
  if (!!cert !== !!key) throw new ConfigError('TLS needs both a certificate and a key (--tls-cert and --tls-key, or http.tls.certificate and http.tls.key)');
  if (cert && key) cfg.http.tls = { certificate: cert, key };

  if (flags.storage) cfg.storage = { driver: 'filesystem', rootdirectory: path.resolve(flags.storage) };
  else if (s3) {
    const bucket = str(s3.bucket, 'storage.s3.bucket');
    if (!bucket) throw new ConfigError('storage.s3.bucket is required');
    cfg.storage = {
      driver: 's3', bucket,
      region: str(s3.region, 'storage.s3.region'),
      endpoint: str(s3.regionendpoint ?? s3.endpoint, 'storage.s3.regionendpoint'),
      accessKey: str(s3.accesskey, 'storage.s3.accesskey') ?? process.env.AWS_ACCESS_KEY_ID,
      secretKey: str(s3.secretkey, 'storage.s3.secretkey') ?? process.env.AWS_SECRET_ACCESS_KEY,
      forcePathStyle: s3.forcepathstyle === undefined ? undefined : bool(s3.forcepathstyle, 'storage.s3.forcepathstyle', false),
      rootDirectory: str(s3.rootdirectory, 'storage.s3.rootdirectory'),
      chunkSize: s3.chunksize === undefined ? undefined : parseSize(s3.chunksize, 'storage.s3.chunksize'),
      redirect: bool(s3.redirect, 'storage.s3.redirect', false),
      redirectExpiry: s3.redirectexpiry === undefined ? undefined : parseDuration(s3.redirectexpiry, 'storage.s3.redirectexpiry') / 1000,
    };
  } else {
    const root = filePath(str(fsCfg.rootdirectory, 'storage.filesystem.rootdirectory'));
    if (!root) throw new ConfigError('no storage: give --storage DIR, or storage.filesystem.rootdirectory or storage.s3 in the config file');
    cfg.storage = { driver: 'filesystem', rootdirectory: root };
  }

  const htpasswdFile = flags.htpasswd ? path.resolve(flags.htpasswd) : filePath(str(obj(auth.htpasswd, 'auth.htpasswd').path, 'auth.htpasswd.path'));
  const token = auth.token === undefined ? undefined : obj(auth.token, 'auth.token');
  if (htpasswdFile || token || auth.access !== undefined) {
    cfg.auth = {};
    if (htpasswdFile) cfg.auth.htpasswd = { realm: str(obj(auth.htpasswd, 'auth.htpasswd').realm, 'auth.htpasswd.realm') ?? 'Dray Registry', path: htpasswdFile };
    if (token) {
      cfg.auth.token = {
        realm: str(token.realm, 'auth.token.realm'),
        service: str(token.service, 'auth.token.service') ?? 'dray-registry',
        issuer: str(token.issuer, 'auth.token.issuer') ?? 'dray-registry',
        expirationS: parseDuration(token.expiration ?? '5m', 'auth.token.expiration') / 1000,
        key: filePath(str(token.key, 'auth.token.key')),
        rootcertbundle: filePath(str(token.rootcertbundle, 'auth.token.rootcertbundle')),
        jwks: filePath(str(token.jwks, 'auth.token.jwks')),
      };
      const external = cfg.auth.token.rootcertbundle || cfg.auth.token.jwks;
      if (external) {
        if (!cfg.auth.token.realm) throw new ConfigError('auth.token: an external token server (rootcertbundle, jwks) needs its realm, the URL clients get tokens from');
        if (token.issuer === undefined) throw new ConfigError('auth.token: an external token server (rootcertbundle, jwks) needs the issuer its tokens name');
        if (cfg.auth.token.key) throw new ConfigError('auth.token: key signs the built-in token server\'s tokens; with rootcertbundle or jwks the tokens come from elsewhere');
      } else if (!cfg.auth.htpasswd) throw new ConfigError('auth.token: the built-in token server checks passwords against auth.htpasswd; configure it too');
    }
    if (auth.access !== undefined) {
      if (!Array.isArray(auth.access)) throw new ConfigError('auth.access: expected a list of {account, repository, actions}');
      cfg.auth.access = auth.access.map((r: unknown, i: number) => {
        const o = obj(r, `auth.access[${i}]`);
        const actions = o.actions;
        if (!Array.isArray(actions) || actions.some((a) => !['pull', 'push', 'delete', '*'].includes(a))) {
          throw new ConfigError(`auth.access[${i}].actions: a list of pull, push, delete or *`);
        }
        return { account: str(o.account, `auth.access[${i}].account`) ?? '*', repository: str(o.repository, `auth.access[${i}].repository`) ?? '*', actions };
      });
    }
  }

  const remote = flags.proxy ?? (proxy && str(proxy.remoteurl, 'proxy.remoteurl'));
  if (remote) {
    if (!/^https?:\/\//.test(remote)) throw new ConfigError(`proxy.remoteurl: expected an http:// or https:// URL, got ${JSON.stringify(remote)}`);
    cfg.proxy = {
      remoteurl: remote.replace(/\/+$/, ''),
      username: proxy && str(proxy.username, 'proxy.username'),
      password: proxy && str(proxy.password, 'proxy.password'),
      tagTtlMs: parseDuration(proxy?.ttl ?? '5m', 'proxy.ttl'),
    };
  }
  return cfg;
}

/**
 * Parts of distribution's configuration that Dray's registry does not have: refused by name, so
 * that a config file written for distribution does not silently lose what it asked for.
 */
function refuseUnimplemented(raw: Record<string, any>): void {
  const no = (what: string) => { throw new ConfigError(`${what} is not implemented in dray registry serve`); };
  const storage = obj(raw.storage, 'storage');
  for (const k of Object.keys(storage)) {
    if (!['filesystem', 's3', 'delete', 'maintenance', 'redirect', 'cache'].includes(k)) no(`storage driver "${k}" (filesystem and s3 are)`);
  }
  if (storage.filesystem && storage.s3) throw new ConfigError('storage: give one driver, filesystem or s3, not both');
  if (obj(storage.redirect, 'storage.redirect').disable === false) no('storage.redirect (use storage.s3.redirect: true)');
  if (obj(storage.cache, 'storage.cache').blobdescriptor === 'redis') no('storage.cache.blobdescriptor: redis');
  for (const k of ['middleware', 'redis', 'validation']) if (raw[k] !== undefined) no(`${k} (distribution's)`);
  const auth = obj(raw.auth, 'auth');
  for (const k of Object.keys(auth)) if (!['htpasswd', 'token', 'access'].includes(k)) no(`auth.${k} (htpasswd and token are)`);
}

/** notifications.endpoints as distribution reads them; disabled ones left out. */
function notificationEndpoints(v: unknown): EndpointConfig[] {
  const n = obj(v, 'notifications');
  if (n.endpoints === undefined || n.endpoints === null) return [];
  if (!Array.isArray(n.endpoints)) throw new ConfigError('notifications.endpoints: expected a list');
  const out: EndpointConfig[] = [];
  n.endpoints.forEach((raw: unknown, i: number) => {
    const at = `notifications.endpoints[${i}]`;
    const e = obj(raw, at);
    if (bool(e.disabled, `${at}.disabled`, false)) return;
    const url = str(e.url, `${at}.url`);
    if (!url || !/^https?:\/\/[^/]/.test(url)) throw new ConfigError(`${at}.url: expected an http:// or https:// URL, got ${JSON.stringify(url)}`);
    const headers: Record<string, string[]> = {};
    for (const [k, hv] of Object.entries(obj(e.headers, `${at}.headers`))) {
      const list = Array.isArray(hv) ? hv : [hv];
      if (!list.every((x) => typeof x === 'string')) throw new ConfigError(`${at}.headers.${k}: expected a string or a list of strings`);
      headers[k] = list as string[];
    }
    const strings = (x: unknown, what: string): string[] => {
      if (x === undefined || x === null) return [];
      if (!Array.isArray(x) || !x.every((y) => typeof y === 'string')) throw new ConfigError(`${what}: expected a list of strings`);
      return x;
    };
    const ignore = obj(e.ignore, `${at}.ignore`);
    const threshold = e.threshold === undefined ? 10 : Number(e.threshold);
    if (!Number.isInteger(threshold) || threshold < 1) throw new ConfigError(`${at}.threshold: expected a positive integer`);
    out.push({
      name: str(e.name, `${at}.name`) ?? `endpoint-${i}`,
      url,
      headers,
      timeoutMs: parseDuration(e.timeout ?? '1s', `${at}.timeout`),
      threshold,
      backoffMs: parseDuration(e.backoff ?? '1s', `${at}.backoff`),
      ignoredMediaTypes: [...strings(e.ignoredmediatypes, `${at}.ignoredmediatypes`), ...strings(ignore.mediatypes, `${at}.ignore.mediatypes`)],
      ignoredActions: strings(ignore.actions, `${at}.ignore.actions`),
    });
  });
  return out;
}

/** "host:port" → its parts; a bare ":5000" listens on every address. */
export function parseListen(addr: string): { host?: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr);
  if (!m) throw new ConfigError(`invalid listen address ${JSON.stringify(addr)} (expected HOST:PORT)`);
  const port = Number(m[3]);
  if (port > 65535) throw new ConfigError(`invalid port in ${JSON.stringify(addr)}`);
  return { host: m[1] ?? (m[2] || undefined), port };
}
