// -p/--publish and --expose, as docker/go-connections nat.ParsePortSpecs reads them:
// 80, 80/udp, 8080:80, 127.0.0.1:8080:80, 127.0.0.1::80, [::1]:8080:80, 8000-8010:80-90, 8000-8010:80.
import type { PortBinding, PortMap } from '../../client/types';

export interface PortSpecs { exposed: Record<string, {}>; bindings: PortMap }

function parseRange(s: string, what: string, orig: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(s);
  if (!m) throw new Error(`invalid ${what}: ${orig}`);
  const a = Number(m[1]);
  const b = m[2] !== undefined ? Number(m[2]) : a;
  if (a > 65535 || b > 65535) throw new Error(`invalid ${what}: ${orig}`);
  if (b < a) throw new Error(`invalid range specified for ${what}: ${orig}`);
  return [a, b];
}

/** Splits "ip:host:container" where ip may be a bracketed IPv6 address. */
function splitParts(raw: string): { ip: string; host: string; container: string } {
  let rest = raw;
  let ip = '';
  if (rest.startsWith('[')) {
    const end = rest.indexOf(']');
    if (end < 0) throw new Error(`invalid IP address: ${raw}`);
    ip = rest.slice(1, end);
    rest = rest.slice(end + 1);
    if (!rest.startsWith(':')) throw new Error(`invalid port format: ${raw}`);
    rest = rest.slice(1);
    const i = rest.indexOf(':');
    if (i < 0) return { ip, host: '', container: rest };
    return { ip, host: rest.slice(0, i), container: rest.slice(i + 1) };
  }
  const parts = rest.split(':');
  if (parts.length === 1) return { ip: '', host: '', container: parts[0] };
  if (parts.length === 2) return { ip: '', host: parts[0], container: parts[1] };
  if (parts.length === 3) return { ip: parts[0], host: parts[1], container: parts[2] };
  // IPv6 without brackets: everything before the last two colons.
  const container = parts.pop()!;
  const host = parts.pop()!;
  return { ip: parts.join(':'), host, container };
}

const ipv4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
function validIp(ip: string): boolean {
  const m = ipv4.exec(ip);
  if (m) return m.slice(1).every((x) => Number(x) <= 255);
  return /^[0-9a-fA-F:.]+$/.test(ip) && ip.includes(':');
}

/** One -p value. */
export function parsePortSpec(raw: string): Array<{ port: string; binding: PortBinding }> {
  const { ip, host, container: ctr } = splitParts(raw);
  if (ip !== '' && !validIp(ip)) throw new Error(`invalid IP address: ${ip}`);
  let proto = 'tcp';
  let container = ctr;
  const slash = container.indexOf('/');
  if (slash >= 0) { proto = container.slice(slash + 1).toLowerCase(); container = container.slice(0, slash); }
  if (!['tcp', 'udp', 'sctp'].includes(proto)) throw new Error(`invalid proto: ${proto}`);
  if (container === '') throw new Error(`no port specified: ${raw}<empty>`);
  const [cStart, cEnd] = parseRange(container, 'containerPort', container);
  let hStart = 0;
  let hEnd = 0;
  if (host !== '') [hStart, hEnd] = parseRange(host, 'hostPort', host);
  const cLen = cEnd - cStart;
  const hLen = hEnd - hStart;
  if (host !== '' && cLen > 0 && hLen !== cLen) {
    throw new Error(`invalid ranges specified for container and host Ports: ${container} and ${host}`);
  }
  const out: Array<{ port: string; binding: PortBinding }> = [];
  for (let i = 0; i <= cLen; i++) {
    let hostPort = '';
    if (host !== '') {
      // A host range with one container port: the daemon picks a host port from the range.
      hostPort = cLen === 0 && hLen > 0 ? `${hStart}-${hEnd}` : String(hStart + i);
    }
    out.push({ port: `${cStart + i}/${proto}`, binding: { HostIp: ip, HostPort: hostPort } });
  }
  return out;
}

export function parsePortSpecs(specs: string[]): PortSpecs {
  const exposed: Record<string, {}> = {};
  const bindings: PortMap = {};
  for (const s of specs) {
    for (const { port, binding } of parsePortSpec(s)) {
      exposed[port] = {};
      (bindings[port] ??= []).push(binding);
    }
  }
  return { exposed, bindings };
}

/** --expose 80, 80/udp, 8000-8010. */
export function parseExpose(specs: string[]): Record<string, {}> {
  const out: Record<string, {}> = {};
  for (const e of specs) {
    if (e.includes(':')) throw new Error(`invalid port format for --expose: ${e}`);
    let proto = 'tcp';
    let p = e;
    const slash = p.indexOf('/');
    if (slash >= 0) { proto = p.slice(slash + 1).toLowerCase(); p = p.slice(0, slash); }
    const m = /^(\d+)(?:-(\d+))?$/.exec(p);
    if (!m) throw new Error(`invalid range format for --expose: ${e}, error: invalid syntax`);
    const a = Number(m[1]);
    const b = m[2] ? Number(m[2]) : a;
    for (let i = a; i <= b; i++) out[`${i}/${proto}`] = {};
  }
  return out;
}

/** "0.0.0.0:8080->80/tcp, :::8080->80/tcp" for ps, from the list API's Ports. */
export function displayPorts(ports: Array<{ IP?: string; PrivatePort: number; PublicPort?: number; Type: string }> | null | undefined): string {
  if (!ports || !ports.length) return '';
  // Docker groups consecutive ports into ranges; keep it simple but ordered like docker.
  const cmp = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
  const sorted = [...ports].sort((a, b) => (a.PrivatePort - b.PrivatePort) || ((a.PublicPort ?? 0) - (b.PublicPort ?? 0)) || cmp(a.Type, b.Type) || cmp(a.IP ?? '', b.IP ?? ''));
  const groups = new Map<string, Array<{ pub?: number; priv: number }>>();
  for (const p of sorted) {
    const ip = p.IP ?? '';
    const key = p.PublicPort ? `${ip.includes(':') ? `[${ip}]` : ip}:|${p.Type}` : `|${p.Type}`;
    (groups.get(key) ?? groups.set(key, []).get(key)!).push({ pub: p.PublicPort, priv: p.PrivatePort });
  }
  const out: string[] = [];
  for (const [key, list] of groups) {
    const [ipPart, proto] = key.split('|');
    let i = 0;
    while (i < list.length) {
      let j = i;
      while (j + 1 < list.length && list[j + 1].priv === list[j].priv + 1 && (list[i].pub === undefined ? list[j + 1].pub === undefined : list[j + 1].pub === (list[j].pub ?? 0) + 1)) j++;
      const priv = i === j ? `${list[i].priv}` : `${list[i].priv}-${list[j].priv}`;
      if (list[i].pub !== undefined) {
        const pub = i === j ? `${list[i].pub}` : `${list[i].pub}-${list[j].pub}`;
        out.push(`${ipPart}${pub}->${priv}/${proto}`);
      } else out.push(`${priv}/${proto}`);
      i = j + 1;
    }
  }
  return out.join(', ');
}
