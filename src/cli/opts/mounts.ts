// -v/--volume, --mount and --tmpfs values. The CLI only classifies -v (binds and named volumes go
// to HostConfig.Binds, anonymous ones to Config.Volumes); the daemon validates them, as Docker's does.
import * as path from 'node:path';
import type { Mount } from '../../client/types';
import { ramInBytes } from '../../lib/units';

export interface VolumeSpec { source: string; target: string; mode: string; type: 'bind' | 'volume' }

/** Splits "src:dst[:mode]", "dst" (anonymous volume) or "src:dst". */
export function parseVolumeSpec(spec: string): VolumeSpec {
  if (spec === '') throw new Error('invalid empty volume spec');
  const parts = spec.split(':');
  if (parts.some((p, i) => p === '' && i < parts.length)) {
    if (parts.length > 1) throw new Error(`invalid spec: ${spec}: empty section between colons`);
  }
  let source = '';
  let target = '';
  let mode = '';
  if (parts.length === 1) target = parts[0];
  else if (parts.length === 2) {
    // "dst:ro" is an anonymous volume with a mode, "src:dst" a bind or named volume.
    if (isMode(parts[1]) && parts[0].startsWith('/') && !parts[1].startsWith('/')) { target = parts[0]; mode = parts[1]; }
    else { source = parts[0]; target = parts[1]; }
  } else if (parts.length === 3) { [source, target, mode] = parts; }
  else throw new Error(`invalid spec: ${spec}: too many colons`);
  const type = source === '' ? 'volume' : source.startsWith('/') || source.startsWith('.') || source.startsWith('~') ? 'bind' : 'volume';
  return { source, target, mode, type };
}

const isMode = (m: string) => m.split(',').every((x) => ['ro', 'rw', 'z', 'Z', 'nocopy', 'shared', 'rshared', 'slave', 'rslave', 'private', 'rprivate', 'consistent', 'cached', 'delegated', 'copy'].includes(x));

/** Sorts -v values into Binds and anonymous Volumes; relative host paths become absolute. */
export function splitVolumes(specs: string[], cwd = process.cwd()): { binds: string[]; volumes: Record<string, {}> } {
  const binds: string[] = [];
  const volumes: Record<string, {}> = {};
  for (const s of specs) {
    const v = parseVolumeSpec(s);
    if (v.source === '') { volumes[s] = {}; continue; }
    if (v.type === 'bind' && (v.source === '.' || v.source.startsWith('./') || v.source.startsWith('../') || v.source === '..')) {
      const abs = path.resolve(cwd, v.source);
      binds.push([abs, v.target, ...(v.mode ? [v.mode] : [])].join(':'));
    } else binds.push(s);
  }
  return { binds, volumes };
}

function csvFields(value: string): string[] {
  // The values are CSV: a field may be quoted to hold commas.
  const out: string[] = [];
  let cur = '';
  let q = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '"') {
      if (q && value[i + 1] === '"') { cur += '"'; i++; } else q = !q;
    } else if (c === ',' && !q) { out.push(cur); cur = ''; } else cur += c;
  }
  out.push(cur);
  return out;
}

const truthy = (v: string, key: string): boolean => {
  if (['', '1', 'true', 't', 'True', 'TRUE'].includes(v)) return true;
  if (['0', 'false', 'f', 'False', 'FALSE'].includes(v)) return false;
  throw new Error(`invalid value for ${key}: ${v}`);
};

/** --mount type=bind,source=/a,target=/b,readonly … (docker's opts.MountOpt). */
export function parseMount(value: string): Mount {
  const m: Mount = { Type: 'volume', Target: '' };
  const volumeOptions = () => (m.VolumeOptions ??= {});
  const bindOptions = () => (m.BindOptions ??= {});
  const tmpfsOptions = () => (m.TmpfsOptions ??= {});
  let setType = false;
  for (const field of csvFields(value)) {
    const eq = field.indexOf('=');
    const key = (eq >= 0 ? field.slice(0, eq) : field).toLowerCase().trim();
    const val = eq >= 0 ? field.slice(eq + 1) : '';
    if (eq < 0 && !['readonly', 'ro', 'volume-nocopy', 'bind-nonrecursive', 'bind-create-src'].includes(key)) {
      throw new Error(`invalid field '${field}' must be a key=value pair`);
    }
    switch (key) {
      case 'type':
        if (!['bind', 'volume', 'tmpfs', 'npipe', 'cluster', 'image'].includes(val)) throw new Error(`invalid mount type: ${val}`);
        m.Type = val as Mount['Type']; setType = true; break;
      case 'source': case 'src': m.Source = val; break;
      case 'target': case 'dst': case 'destination': m.Target = val; break;
      case 'readonly': case 'ro': m.ReadOnly = eq < 0 ? true : truthy(val, key); break;
      case 'consistency': m.Consistency = val; break;
      case 'bind-propagation': bindOptions().Propagation = val; break;
      case 'bind-nonrecursive': bindOptions().NonRecursive = eq < 0 ? true : truthy(val, key); break;
      case 'bind-create-src': bindOptions().CreateMountpoint = eq < 0 ? true : truthy(val, key); break;
      case 'bind-recursive':
        if (val === 'disabled') bindOptions().NonRecursive = true;
        else if (val === 'readonly') bindOptions().ReadOnlyForceRecursive = true;
        else if (val === 'writable') bindOptions().ReadOnlyNonRecursive = true;
        else if (val !== 'enabled') throw new Error(`invalid value for ${key}: ${val} (must be "enabled", "disabled", "writable", or "readonly")`);
        break;
      case 'volume-nocopy': volumeOptions().NoCopy = eq < 0 ? true : truthy(val, key); break;
      case 'volume-driver': volumeOptions().DriverConfig = { ...(volumeOptions().DriverConfig ?? {}), Name: val }; break;
      case 'volume-subpath': volumeOptions().Subpath = val; break;
      case 'volume-label': {
        const i = val.indexOf('=');
        (volumeOptions().Labels ??= {})[i >= 0 ? val.slice(0, i) : val] = i >= 0 ? val.slice(i + 1) : '';
        break;
      }
      case 'volume-opt': {
        const i = val.indexOf('=');
        const dc = (volumeOptions().DriverConfig ??= {});
        (dc.Options ??= {})[i >= 0 ? val.slice(0, i) : val] = i >= 0 ? val.slice(i + 1) : '';
        break;
      }
      case 'tmpfs-size': {
        try { tmpfsOptions().SizeBytes = ramInBytes(val); } catch { throw new Error(`invalid value for ${key}: ${val}`); }
        break;
      }
      case 'tmpfs-mode': {
        if (!/^[0-7]+$/.test(val)) throw new Error(`invalid value for ${key}: ${val}`);
        tmpfsOptions().Mode = parseInt(val, 8);
        break;
      }
      case 'image-subpath': (m as any).ImageOptions = { Subpath: val }; break;
      default: throw new Error(`unexpected key '${key}' in '${field}'`);
    }
  }
  void setType;
  if (!m.Target) throw new Error('target is required');
  if (m.VolumeOptions && m.Type !== 'volume') throw new Error(`cannot mix 'volume-*' options with mount type '${m.Type}'`);
  if (m.BindOptions && m.Type !== 'bind') throw new Error(`cannot mix 'bind-*' options with mount type '${m.Type}'`);
  if (m.TmpfsOptions && m.Type !== 'tmpfs') throw new Error(`cannot mix 'tmpfs-*' options with mount type '${m.Type}'`);
  return m;
}

/** --tmpfs /run:rw,size=64m → ["/run", "rw,size=64m"]. */
export function parseTmpfs(value: string): [string, string] {
  const i = value.indexOf(':');
  const target = i >= 0 ? value.slice(0, i) : value;
  // The path is checked by the daemon ("invalid mount path: … must be absolute"), as Docker's does.
  return [target, i >= 0 ? value.slice(i + 1) : ''];
}
