// The flags of RUN that BuildKit added: --mount (bind, cache, tmpfs, secret, ssh) and
// --network. Pure: text → specs, with BuildKit's grammar (frontend/dockerfile/instructions/
// commands_runmount.go) and its error wording. A flag is checked twice: once when the Dockerfile
// is parsed, with the values that hold no variable (so a typo fails the build before any step
// runs), and again when the step runs, every value expanded with the step's ARGs and ENV.
import * as path from 'node:path';
import { ramInBytes } from '../lib/units';

export type RunMountType = 'bind' | 'cache' | 'tmpfs' | 'secret' | 'ssh';
export type CacheSharing = 'shared' | 'private' | 'locked';

export interface RunMount {
  type: RunMountType;
  /** Stage or image the bind source (or a cache's first content) comes from; '' for the context. */
  from: string;
  source: string;
  /** As written: relative targets are made absolute against WORKDIR by `mountTarget`. */
  target: string;
  readOnly: boolean;
  /** Cache: the cache's id (defaults to the target); secret: the secret's id. */
  id: string;
  sharing: CacheSharing;
  required: boolean;
  /** tmpfs size in bytes (0: the kernel's default, half of RAM). */
  size: number;
  mode?: number;
  uid?: number;
  gid?: number;
  /** Secret: also (or only) put the value in this environment variable. */
  env?: string;
}

const TYPES: RunMountType[] = ['bind', 'cache', 'tmpfs', 'secret', 'ssh'];
const SHARING: CacheSharing[] = ['shared', 'private', 'locked'];
const KEYS = ['type', 'from', 'source', 'src', 'target', 'dst', 'destination', 'readonly', 'ro', 'readwrite', 'rw', 'id', 'sharing', 'required', 'size', 'mode', 'uid', 'gid', 'env'];

/** Fields of one CSV record (Go's encoding/csv: commas, double quotes, "" for a quote). */
export function csvFields(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  let i = 0;
  let atStart = true;
  while (i < s.length) {
    const c = s[i];
    if (quoted) {
      if (c === '"') {
        if (s[i + 1] === '"') { cur += '"'; i += 2; continue; }
        quoted = false; i++; continue;
      }
      cur += c; i++; continue;
    }
    if (c === '"' && atStart) { quoted = true; atStart = false; i++; continue; }
    if (c === ',') { out.push(cur); cur = ''; atStart = true; i++; continue; }
    if (c === '"') throw new Error(`failed to parse csv mounts: bare " in non-quoted field`);
    cur += c; atStart = false; i++;
  }
  if (quoted) throw new Error('failed to parse csv mounts: extraneous or missing " in quoted-field');
  out.push(cur);
  return out;
}

function parseBool(key: string, v: string): boolean {
  // Go's strconv.ParseBool.
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  throw new Error(`invalid value for ${key}: ${v}`);
}

function parseUint(key: string, v: string, base: 8 | 10): number {
  const re = base === 8 ? /^[0-7]+$/ : /^\d+$/;
  const n = re.test(v) ? parseInt(v, base) : NaN;
  if (!Number.isFinite(n) || n > 0xffffffff) throw new Error(`invalid value ${v} for ${key}`);
  return n;
}

/**
 * One `--mount` value. Without `expand` (parse time), values that hold a variable are left for
 * later, as BuildKit does; with it, every value is expanded first.
 */
export function parseRunMount(value: string, expand?: (s: string) => string): RunMount {
  const m: RunMount = { type: 'bind', from: '', source: '', target: '', readOnly: true, id: '', sharing: 'shared', required: false, size: 0 };
  let roAuto = true;
  let sharingSet = false;
  let idSet = false;
  for (const field of csvFields(value)) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    if (eq < 0) {
      switch (key) {
        case 'readonly': case 'ro': m.readOnly = true; roAuto = false; continue;
        case 'readwrite': case 'rw': m.readOnly = false; roAuto = false; continue;
        case 'required':
          if (m.type === 'secret' || m.type === 'ssh') { m.required = true; continue; }
          throw new Error(`unexpected key '${key}' for mount type '${m.type}'`);
        default:
          if (KEYS.includes(key)) throw new Error(`invalid field '${field}' must be a key=value pair`);
          throw new Error(`unexpected key '${key}' in '${field}'`);
      }
    }
    let v = field.slice(eq + 1);
    if (!KEYS.includes(key)) throw new Error(`unexpected key '${key}' in '${field}'`);
    if (expand) v = expand(v);
    else if (key === 'from' && /\$./.test(v)) throw new Error(`'${key}' doesn't support variable expansion, define alias stage instead`);
    else if (v.includes('$')) continue;
    switch (key) {
      case 'type': {
        const t = v.toLowerCase() as RunMountType;
        if (!TYPES.includes(t)) throw new Error(`unsupported mount type "${v}" (${TYPES.join(', ')} are known)`);
        m.type = t;
        break;
      }
      case 'from': m.from = v; break;
      case 'source': case 'src': m.source = v; break;
      case 'target': case 'dst': case 'destination': m.target = v; break;
      case 'readonly': case 'ro': m.readOnly = parseBool(key, v); roAuto = false; break;
      case 'readwrite': case 'rw': m.readOnly = !parseBool(key, v); roAuto = false; break;
      case 'required':
        if (m.type !== 'secret' && m.type !== 'ssh') throw new Error(`unexpected key '${key}' for mount type '${m.type}'`);
        m.required = parseBool(key, v);
        break;
      case 'size':
        if (m.type !== 'tmpfs') throw new Error(`unexpected key '${key}' for mount type '${m.type}'`);
        try { m.size = ramInBytes(v); } catch { throw new Error(`invalid value for ${key}: ${v}`); }
        break;
      case 'id': m.id = v; idSet = true; break;
      case 'sharing': {
        const s = v.toLowerCase() as CacheSharing;
        if (!SHARING.includes(s)) throw new Error(`unsupported sharing value "${v}" (${SHARING.join(', ')} are known)`);
        m.sharing = s;
        sharingSet = true;
        break;
      }
      case 'mode': m.mode = parseUint(key, v, 8); break;
      case 'uid': m.uid = parseUint(key, v, 10); break;
      case 'gid': m.gid = parseUint(key, v, 10); break;
      case 'env':
        if (m.type !== 'secret') throw new Error(`unexpected key '${key}' for mount type '${m.type}'`);
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(v)) throw new Error(`invalid value for ${key}: ${v}`);
        m.env = v;
        break;
    }
  }
  const fileInfo = m.type === 'secret' || m.type === 'ssh' || m.type === 'cache';
  if (!fileInfo) {
    for (const k of ['mode', 'uid', 'gid'] as const) if (m[k] !== undefined) throw new Error(`${k} not allowed for "${m.type}" type mounts`);
  }
  if (roAuto) m.readOnly = !(m.type === 'cache' || m.type === 'tmpfs');
  if (m.type === 'secret') {
    if (m.from) throw new Error('secret mount should not have a from');
    if (sharingSet) throw new Error('secret mount should not define sharing');
    if (m.source && idSet) throw new Error("both source and id can't be set");
    if (m.source) { m.id = m.source; m.source = ''; }
    if (expand || !/\$/.test(value)) {
      if (!m.id && !m.target && !m.env) throw new Error('invalid secret mount. one of source, target required');
      if (!m.id) m.id = path.posix.basename(m.target);
      if (!m.target && m.env === undefined) m.target = `/run/secrets/${m.id}`;
    }
  }
  if (m.type === 'ssh') {
    if (m.from) throw new Error('ssh mount should not have a from');
    if (m.source) throw new Error('ssh mount should not have a source');
    if (!m.id) m.id = 'default';
  }
  if (sharingSet && m.type !== 'cache') throw new Error(`invalid cache sharing set for ${m.type} mount`);
  if (m.type === 'tmpfs' && m.from) throw new Error('tmpfs mount should not have a from');
  if ((expand || !/\$/.test(value)) && m.type !== 'secret' && m.type !== 'ssh' && !m.target) throw new Error(`mount type "${m.type}" requires a target`);
  if (m.type === 'cache' && !m.id) m.id = m.target;
  return m;
}

/** The mount's target in the container: a relative one is under WORKDIR. */
export function mountTarget(m: RunMount, workdir: string): string {
  const t = path.posix.normalize(m.target.startsWith('/') ? m.target : path.posix.join('/', workdir || '/', m.target)).replace(/(.)\/+$/, '$1');
  if (t === '/') throw new Error(`invalid mount target "${t}"`);
  return t;
}

export type RunNetwork = 'default' | 'none' | 'host';

export function parseRunNetwork(v: string): RunNetwork {
  const l = v.toLowerCase();
  if (l === 'default' || l === 'none' || l === 'host') return l;
  throw new Error(`unsupported network mode "${v}" (default, none and host are known)`);
}

/**
 * The mount as the build cache and --explain-cache see it: everything that changes what the step
 * may produce, never a secret's value.
 */
export function mountKeyText(m: RunMount, target: string): string {
  const parts = [`type=${m.type}`, `target=${target}`];
  if (m.type === 'cache') parts.push(`id=${m.id}`, `sharing=${m.sharing}`);
  if (m.type === 'secret' || m.type === 'ssh') parts.push(`id=${m.id}`, `required=${m.required}`);
  if (m.env) parts.push(`env=${m.env}`);
  if (m.from) parts.push(`from=${m.from}`);
  if (m.source) parts.push(`source=${m.source}`);
  if (m.type !== 'secret' && m.type !== 'ssh') parts.push(m.readOnly ? 'ro' : 'rw');
  if (m.size) parts.push(`size=${m.size}`);
  for (const k of ['mode', 'uid', 'gid'] as const) if (m[k] !== undefined) parts.push(`${k}=${m[k]}`);
  return parts.join(',');
}
