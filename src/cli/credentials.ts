// Registry credentials the way the docker CLI keeps them, so `dray login` and `docker login` share
// them: <config dir>/config.json (the --config flag, $DOCKER_CONFIG, or ~/.docker):
//   {"auths": {"localhost:5000": {"auth": base64("user:password")}, "https://index.docker.io/v1/": {…}},
//    "credsStore": "pass", "credHelpers": {"my.registry": "ecr-login"}}
// With a helper for the registry (credHelpers, else credsStore) the secret lives with
// docker-credential-<helper> (stdin/stdout protocol: get, store, erase) and auths holds an empty
// entry for it. A refresh token from the token server (IdentityToken) is kept as identitytoken
// (a helper's Username "<token>"). Pull, push and build send what is found as X-Registry-Auth.
import { readFileSync, writeFileSync, mkdirSync, renameSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { configDirOf } from '../client/context';

export const DEFAULT_SERVER = 'https://index.docker.io/v1/';

export interface Credentials { username?: string; password?: string; identitytoken?: string; serveraddress: string }

interface ConfigFile {
  auths?: Record<string, { auth?: string; identitytoken?: string; email?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [k: string]: unknown;
}

export class CredentialError extends Error {}

export function configDir(globalFlag?: string): string {
  return configDirOf(globalFlag, process.env);
}

const configPath = (dir: string) => path.join(dir, 'config.json');

function load(dir: string): ConfigFile {
  let text: string;
  try { text = readFileSync(configPath(dir), 'utf8'); } catch { return {}; }
  try { return text.trim() ? JSON.parse(text) : {}; } catch (e) {
    throw new CredentialError(`loading config file: ${configPath(dir)}: ${(e as Error).message}`);
  }
}

/** Written as the docker CLI writes it (tab-indented, mode 0600), by rename so a reader never sees half. */
function save(dir: string, cfg: ConfigFile): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = path.join(dir, `.config.json.${randomBytes(4).toString('hex')}`);
  writeFileSync(tmp, JSON.stringify(cfg, null, '\t'), { mode: 0o600 });
  renameSync(tmp, configPath(dir));
}

/** "http://host:5000/v2/" → "host:5000" (docker's ConvertToHostname); Docker Hub's names → its key. */
export function serverKey(server: string): string {
  const s = server.trim();
  if (!s || s === DEFAULT_SERVER) return DEFAULT_SERVER;
  const host = s.replace(/^[a-z]+:\/\//i, '').split('/')[0];
  if (['docker.io', 'index.docker.io', 'registry-1.docker.io'].includes(host)) return DEFAULT_SERVER;
  return host;
}

/** The credentials key of an image's registry ("docker.io" → Docker Hub's key). */
export const registryKey = (registry: string) => serverKey(registry);

function helperFor(cfg: ConfigFile, key: string): string | undefined {
  return cfg.credHelpers?.[key] ?? cfg.credHelpers?.[serverKey(key)] ?? (cfg.credsStore || undefined);
}

function runHelper(helper: string, action: 'get' | 'store' | 'erase', input: string): string {
  const prog = `docker-credential-${helper}`;
  const r = spawnSync(prog, [action], { input, encoding: 'utf8', timeout: 30_000 });
  if (r.error) {
    const why = (r.error as NodeJS.ErrnoException).code === 'ENOENT' ? `exec: "${prog}": executable file not found in $PATH` : r.error.message;
    throw new CredentialError(`error ${action === 'get' ? 'getting' : action === 'store' ? 'storing' : 'erasing'} credentials - err: ${why}, out: \`\``);
  }
  if (r.status !== 0) {
    const out = (r.stdout || r.stderr || '').trim();
    if (action !== 'store' && /credentials not found/i.test(out)) return '';
    throw new CredentialError(`error ${action === 'get' ? 'getting' : action === 'store' ? 'storing' : 'erasing'} credentials - err: exit status ${r.status}, out: \`${out}\``);
  }
  return r.stdout;
}

/** Stored credentials for a server (login key or image registry), if any. */
export function getCredentials(dir: string, server: string): Credentials | undefined {
  const key = serverKey(server);
  const cfg = load(dir);
  const helper = helperFor(cfg, key);
  if (helper) {
    const out = runHelper(helper, 'get', key).trim();
    if (!out) return undefined;
    let j: any;
    try { j = JSON.parse(out); } catch { throw new CredentialError(`error getting credentials - err: invalid answer from docker-credential-${helper}, out: \`${out}\``); }
    if (!j.Secret && !j.Username) return undefined;
    return j.Username === '<token>' ? { identitytoken: j.Secret, serveraddress: key } : { username: j.Username, password: j.Secret, serveraddress: key };
  }
  // auths keys may be spelled with a scheme or path ("https://host/v1/"): compare by host.
  const entry = cfg.auths?.[key] ?? Object.entries(cfg.auths ?? {}).find(([k]) => serverKey(k) === key)?.[1];
  if (!entry) return undefined;
  const c: Credentials = { serveraddress: key };
  if (entry.auth) {
    const plain = Buffer.from(entry.auth, 'base64').toString('utf8');
    const i = plain.indexOf(':');
    if (i >= 0) { c.username = plain.slice(0, i); c.password = plain.slice(i + 1); }
  }
  if (entry.identitytoken) c.identitytoken = entry.identitytoken;
  return c.username || c.identitytoken ? c : undefined;
}

/** Stores credentials after a login; returns where ("config file", or the helper's name). */
export function storeCredentials(dir: string, server: string, c: { username: string; password: string; identitytoken?: string }): { helper?: string; file: string } {
  const key = serverKey(server);
  const cfg = load(dir);
  const helper = helperFor(cfg, key);
  cfg.auths ??= {};
  if (helper) {
    const secret = c.identitytoken ? { ServerURL: key, Username: '<token>', Secret: c.identitytoken } : { ServerURL: key, Username: c.username, Secret: c.password };
    runHelper(helper, 'store', JSON.stringify(secret));
    cfg.auths[key] = {};
  } else {
    cfg.auths[key] = c.identitytoken
      ? { auth: Buffer.from(`${c.username}:`).toString('base64'), identitytoken: c.identitytoken }
      : { auth: Buffer.from(`${c.username}:${c.password}`).toString('base64') };
  }
  save(dir, cfg);
  return { helper, file: configPath(dir) };
}

/** Forgets a server's credentials (every spelling docker may have stored it under). */
export function eraseCredentials(dir: string, server: string): void {
  const key = serverKey(server);
  const cfg = load(dir);
  const spellings = key === DEFAULT_SERVER ? [key] : [key, `http://${key}`, `https://${key}`];
  const helper = helperFor(cfg, key);
  let changed = false;
  for (const k of spellings) {
    if (helper) { try { runHelper(helper, 'erase', k); } catch { /* not stored there */ } }
    if (cfg.auths && k in cfg.auths) { delete cfg.auths[k]; changed = true; }
  }
  if (changed) save(dir, cfg);
}

/** The X-Registry-Auth value: base64url of the AuthConfig JSON ("e30=", {}, for none). */
export function registryAuthHeader(c: Credentials | undefined): string {
  if (!c) return 'e30=';
  const body: Record<string, string> = { serveraddress: c.serveraddress };
  if (c.username) body.username = c.username;
  if (c.password !== undefined) body.password = c.password;
  if (c.identitytoken) body.identitytoken = c.identitytoken;
  return Buffer.from(JSON.stringify(body)).toString('base64url');
}

/** X-Registry-Config for builds: every stored credential, by server. */
export function registryConfigHeader(dir: string): string | undefined {
  const cfg = load(dir);
  const out: Record<string, Record<string, string>> = {};
  for (const k of Object.keys(cfg.auths ?? {})) {
    try {
      const c = getCredentials(dir, k);
      if (c) out[k] = { username: c.username ?? '', password: c.password ?? '', identitytoken: c.identitytoken ?? '', serveraddress: k };
    } catch { /* a helper that fails leaves that registry out */ }
  }
  return Object.keys(out).length ? Buffer.from(JSON.stringify(out)).toString('base64url') : undefined;
}

/** The registry part of an image reference, as Docker splits it: "docker.io" when there is none. */
export function registryOfImage(image: string): string {
  const name = image.split('@')[0];
  const i = name.indexOf('/');
  if (i < 0) return 'docker.io';
  const first = name.slice(0, i);
  if (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase()) return first;
  return 'docker.io';
}
