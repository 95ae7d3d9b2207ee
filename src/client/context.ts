// docker contexts, read as the docker CLI stores them, so `docker context create remote --docker
// host=ssh://me@box` also serves dray and dray compose: <config dir>/contexts/meta/<sha256 of the
// name>/meta.json holds {"Name", "Endpoints": {"docker": {"Host"}}}, and config.json's
// "currentContext" names the one in use. Only the endpoint's Host is taken (ssh://, tcp://,
// unix://); a context's TLS files (contexts/tls/…) are not read.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { homedir } from 'node:os';

/** The config directory: --config, then DOCKER_CONFIG, then ~/.docker. */
export function configDirOf(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return flag || env.DOCKER_CONFIG || path.join(env.HOME || homedir(), '.docker');
}

/** config.json's currentContext, if any (a missing or unreadable file has none). */
export function currentContext(configDir: string): string | undefined {
  let text: string;
  try { text = readFileSync(path.join(configDir, 'config.json'), 'utf8'); } catch { return undefined; }
  try {
    const c = JSON.parse(text) as { currentContext?: unknown };
    return typeof c.currentContext === 'string' && c.currentContext ? c.currentContext : undefined;
  } catch { return undefined; }
}

/** The daemon address of context `name` (not "default"); an error names a context that does not exist. */
export function contextHost(name: string, configDir: string): string {
  const { createHash } = require('node:crypto') as typeof import('node:crypto');
  const file = path.join(configDir, 'contexts', 'meta', createHash('sha256').update(name).digest('hex'), 'meta.json');
  let meta: { Endpoints?: { docker?: { Host?: unknown } } };
  try { meta = JSON.parse(readFileSync(file, 'utf8')); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`context "${name}" does not exist`);
    throw new Error(`context "${name}": cannot read ${file}: ${(e as Error).message}`);
  }
  const host = meta.Endpoints?.docker?.Host;
  if (typeof host !== 'string' || !host) throw new Error(`context "${name}" has no docker endpoint`);
  return host;
}
