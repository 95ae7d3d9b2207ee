// Legacy links (`--link name:alias` on the default bridge), as Docker 20.10 makes them: the
// linking container (the parent) gets a hosts entry for each linked one (the child) and, for each,
// ALIAS_* environment variables describing it; the child is listed in `ps` under the link's name
// too (/parent/alias). On user-defined networks Docker resolves links by DNS; here they get the
// same hosts entry (no variables, as in Docker).
import { invalid } from '../lib/errors';

/** Docker's opts.ParseLink: "name:alias", "name" (the alias is the name), or the stored "/name:/parent/alias". */
export function parseLink(spec: string): { name: string; alias: string } {
  if (!spec) throw invalid('empty string specified for links');
  const parts = spec.split(':');
  if (parts.length > 2) throw invalid(`bad format for links: ${spec}`);
  if (parts.length === 1) return { name: spec.replace(/^\//, ''), alias: spec.replace(/^\//, '') };
  if (parts[0].startsWith('/')) return { name: parts[0].slice(1), alias: parts[1].slice(parts[1].lastIndexOf('/') + 1) };
  return { name: parts[0], alias: parts[1] };
}

/** The link's name as Docker registers it: the parent's name, then the alias. */
export function linkName(parentName: string, alias: string): string {
  return `/${parentName.replace(/^\//, '')}/${alias}`;
}

interface Port { num: number; proto: string }

function sortPorts(keys: string[]): Port[] {
  const ports = keys.map((k) => { const [n, p = 'tcp'] = k.split('/'); return { num: Number(n), proto: p }; });
  // TCP first, then by protocol name; within a protocol by number.
  return ports.sort((a, b) => {
    if (a.proto === b.proto) return a.num - b.num;
    if (a.proto === 'tcp') return -1;
    if (b.proto === 'tcp') return 1;
    return a.proto < b.proto ? -1 : 1;
  });
}

/**
 * The variables a parent sees for one child: ALIAS_PORT (its first port), ALIAS_PORT_<n>_<PROTO>
 * and its _ADDR/_PORT/_PROTO for every exposed port, _START/_END pairs over runs of consecutive
 * ports, ALIAS_NAME, and ALIAS_ENV_<VAR> for the child's own variables but HOME and PATH.
 */
export function linkEnv(alias: string, name: string, childIp: string, childEnv: readonly string[], exposedPorts: string[]): string[] {
  const a = alias.toUpperCase().replace(/-/g, '_');
  const env: string[] = [];
  const ports = sortPorts(exposedPorts);
  let runStart: Port | undefined;
  let runEnd: Port | undefined;
  const closeRun = () => {
    if (runStart && runEnd && runEnd.num !== runStart.num) {
      const pre = `${a}_PORT_${runStart.num}_${runStart.proto.toUpperCase()}`;
      env.push(`${pre}_START=${runStart.proto}://${childIp}:${runStart.num}`, `${pre}_PORT_START=${runStart.num}`,
        `${pre}_END=${runEnd.proto}://${childIp}:${runEnd.num}`, `${pre}_PORT_END=${runEnd.num}`);
    }
  };
  ports.forEach((p, i) => {
    if (i === 0) env.push(`${a}_PORT=${p.proto}://${childIp}:${p.num}`);
    const pre = `${a}_PORT_${p.num}_${p.proto.toUpperCase()}`;
    env.push(`${pre}=${p.proto}://${childIp}:${p.num}`, `${pre}_ADDR=${childIp}`, `${pre}_PORT=${p.num}`, `${pre}_PROTO=${p.proto}`);
    if (runEnd && p.proto === runEnd.proto && p.num === runEnd.num + 1) { runEnd = p; return; }
    closeRun();
    runStart = p;
    runEnd = p;
  });
  closeRun();
  env.push(`${a}_NAME=${name}`);
  for (const v of childEnv) {
    const eq = v.indexOf('=');
    if (eq < 0) continue;
    const k = v.slice(0, eq);
    if (k === 'HOME' || k === 'PATH') continue;
    env.push(`${a}_ENV_${k}=${v.slice(eq + 1)}`);
  }
  return env;
}

/** The parent's /etc/hosts line for a child: its address, the alias, its hostname, and its name unless that is the alias. */
export function linkHostsLine(ip: string, alias: string, childHostname: string, childName: string): string {
  const names = [alias, childHostname];
  if (alias !== childName) names.push(childName);
  return `${ip}\t${names.join(' ')}\n`;
}
