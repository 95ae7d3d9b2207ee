// Trust for HTTPS registries: the system's CA store (not Node's bundled Mozilla list, so a CA the
// administrator installed with update-ca-certificates is trusted, as by Docker), plus, per
// registry, Docker's certs.d convention:
//
//   <certs-dir>/                  /etc/docker/certs.d by default (daemon.json "registry-certs-dir")
//   └── <host[:port]>/            the registry as the reference names it: localhost:5000, my.reg
//       ├── *.crt                 extra CA certificates (ca.crt by convention)
//       ├── <name>.cert           a client certificate ...
//       └── <name>.key            ... and its key, for registries that want mutual TLS
//
// The files are read when an agent for the host is first made and again after a minute, so a CA
// dropped into certs.d works without a restart.
import type * as https from 'node:https';
import * as http from 'node:http';
import type * as tls from 'node:tls';
import { httpsModule, tlsModule } from '../../lib/lazy-modules';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { regError, REG_ERR } from './errors';

export interface HostTls { ca: string[]; cert?: string; key?: string; verify: boolean }

let baseCAs: string[] | undefined;
function systemCAs(): string[] {
  if (!baseCAs) {
    let system: string[] = [];
    try { system = tlsModule().getCACertificates('system'); } catch { /* older Node */ }
    let extra: string[] = [];
    try { extra = tlsModule().getCACertificates('extra'); } catch { /* none */ }
    // A host with an empty store (a minimal container) still trusts the public CAs, as Go would not.
    baseCAs = [...(system.length ? system : tlsModule().rootCertificates), ...extra];
  }
  return baseCAs;
}

const HOST_DIR_RE = /^[A-Za-z0-9.\-[\]:]+$/;

/** Reads certs.d/<host>/ (missing directory: no extra trust). */
export async function readHostTls(certsDir: string, host: string, verify: boolean): Promise<HostTls> {
  const out: HostTls = { ca: systemCAs(), verify };
  if (!certsDir || !HOST_DIR_RE.test(host)) return out;
  const dir = path.join(certsDir, host);
  let names: string[];
  try { names = (await fsp.readdir(dir)).sort(); } catch { return out; }
  const extraCa: string[] = [];
  for (const n of names) {
    const f = path.join(dir, n);
    if (n.endsWith('.crt')) extraCa.push(await fsp.readFile(f, 'utf8'));
    else if (n.endsWith('.cert')) {
      const keyFile = path.join(dir, n.slice(0, -5) + '.key');
      const key = await fsp.readFile(keyFile, 'utf8').catch(() => undefined);
      if (!key) throw regError(REG_ERR.CONFIG, `missing key ${path.basename(keyFile)} for client certificate ${n} in ${dir}`);
      out.cert = await fsp.readFile(f, 'utf8');
      out.key = key;
    } else if (n.endsWith('.key')) {
      const certName = n.slice(0, -4) + '.cert';
      if (!names.includes(certName)) throw regError(REG_ERR.CONFIG, `missing client certificate ${certName} for key ${n} in ${dir}`);
    }
  }
  if (extraCa.length) out.ca = [...out.ca, ...extraCa];
  return out;
}

/** Keep-alive agents, one per (host, trust) for HTTPS and one for plain HTTP. */
export class Agents {
  private readonly httpsAgents = new Map<string, { agent: https.Agent; checked: number; files: string }>();
  readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 32, timeout: 60_000 });

  constructor(private readonly certsDir: string) {}

  async https(host: string, verify: boolean): Promise<https.Agent> {
    const key = `${host}|${verify}`;
    const cur = this.httpsAgents.get(key);
    if (cur && Date.now() - cur.checked < 60_000) return cur.agent;
    const t = await readHostTls(this.certsDir, host, verify);
    const files = createHash('sha256').update(JSON.stringify([t.ca.slice(systemCAs().length), t.cert ?? '', t.key ?? ''])).digest('hex');
    if (cur && cur.files === files) { cur.checked = Date.now(); return cur.agent; }
    // The old agent is dropped, not destroyed: requests in flight finish on it; its idle sockets time out.
    // One secure context per trust set: made from options, each connection would parse the
    // system's few hundred CAs again (~60 ms here).
    const agent = new (httpsModule().Agent)({ keepAlive: true, maxSockets: 32, timeout: 60_000, secureContext: this.context(t, files), rejectUnauthorized: verify });
    this.httpsAgents.set(key, { agent, checked: Date.now(), files });
    return agent;
  }

  private readonly contexts = new Map<string, tls.SecureContext>();

  private context(t: HostTls, key: string): tls.SecureContext {
    let c = this.contexts.get(key);
    if (!c) {
      c = tlsModule().createSecureContext({ ca: t.ca, cert: t.cert, key: t.key });
      if (this.contexts.size > 64) this.contexts.clear();
      this.contexts.set(key, c);
    }
    return c;
  }

  destroy(): void {
    this.httpAgent.destroy();
    for (const { agent } of this.httpsAgents.values()) agent.destroy();
    this.httpsAgents.clear();
  }
}
