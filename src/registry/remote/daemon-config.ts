// The registry client's part of daemon.json, in Docker's key names where Docker has one:
//   "registry-mirrors"          ["https://m"] (Docker Hub) or {"<registry>": ["http://m"], …}
//   "insecure-registries"       ["myreg:5000", "10.0.0.0/8"]
//   "max-concurrent-downloads"  3      "max-concurrent-uploads" 5      "max-download-attempts" 5
// and Dray's own:
//   "registry-certs-dir"        /etc/docker/certs.d (per-registry CAs and client certificates)
//   "registry-connect-timeout"  seconds to connect (15)
//   "registry-idle-timeout"     seconds without a byte from the registry before giving up (30)
import { RegistryConfig } from './client';
import { parseInsecure, parseMirrors } from './endpoints';
import { regError, REG_ERR } from './errors';

export function registryConfigFromJson(raw: Record<string, unknown>): Partial<RegistryConfig> {
  const c: Partial<RegistryConfig> = {};
  if (raw['registry-mirrors'] !== undefined) c.mirrors = parseMirrors(raw['registry-mirrors']);
  if (raw['insecure-registries'] !== undefined) c.insecure = parseInsecure(raw['insecure-registries']);
  if (raw['registry-certs-dir'] !== undefined) {
    if (typeof raw['registry-certs-dir'] !== 'string') throw regError(REG_ERR.CONFIG, 'registry-certs-dir: expected a directory');
    c.certsDir = raw['registry-certs-dir'];
  }
  const int = (k: string, min: number, max: number): number | undefined => {
    const v = raw[k];
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) throw regError(REG_ERR.CONFIG, `invalid ${k}: ${JSON.stringify(v)} (${min} to ${max})`);
    return n;
  };
  const d = int('max-concurrent-downloads', 1, 64); if (d !== undefined) c.maxConcurrentDownloads = d;
  const u = int('max-concurrent-uploads', 1, 64); if (u !== undefined) c.maxConcurrentUploads = u;
  const a = int('max-download-attempts', 1, 100); if (a !== undefined) c.maxDownloadAttempts = a;
  const ct = int('registry-connect-timeout', 0.1, 3600); if (ct !== undefined) c.connectTimeoutMs = ct * 1000;
  const it = int('registry-idle-timeout', 0.1, 3600); if (it !== undefined) c.idleTimeoutMs = it * 1000;
  return c;
}
