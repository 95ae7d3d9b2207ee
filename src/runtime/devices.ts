// Device nodes and the device cgroup: Docker's default rules, `--device` mappings and, for
// privileged containers, every device of the host.
import { readdirSync, realpathSync, statSync, lstatSync } from 'node:fs';
import * as path from 'node:path';
import { invalid, errorMessage } from '../lib/errors';

export interface OciDevice { path: string; type: 'c' | 'b'; major: number; minor: number; fileMode?: number; uid?: number; gid?: number }
export interface OciDeviceCgroup { allow: boolean; type?: 'a' | 'c' | 'b'; major?: number; minor?: number; access?: string }

const rule = (type: 'c' | 'b', major: number | undefined, minor: number | undefined, allow = true): OciDeviceCgroup => ({ allow, type, major, minor, access: 'rwm' });

/**
 * Docker's default device cgroup: deny all, then the nodes the runtime creates in every container
 * (null, zero, full, random, urandom, tty, console, ptmx and the pts slaves), fuse explicitly denied.
 * runc adds full/ptmx/pts itself; they are listed here so crun gives the same result.
 */
export function defaultDeviceRules(): OciDeviceCgroup[] {
  return [
    { allow: false, access: 'rwm' },
    rule('c', 1, 5), rule('c', 1, 3), rule('c', 1, 9), rule('c', 1, 8), rule('c', 5, 0), rule('c', 5, 1),
    rule('c', 10, 229, false),
    rule('c', 1, 7), rule('c', 5, 2), rule('c', 136, undefined),
  ];
}

const CGROUP_RULE = /^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$/;

/**
 * One --device-cgroup-rule in Docker's syntax ("c 1:3 rwm", "b 8:* r", "a *:* m"), with the
 * daemon's messages (moby's AppendDevicePermissionsFromCgroupRules). A "*" number matches all
 * (the OCI rule leaves it out).
 */
export function parseDeviceCgroupRule(text: string): OciDeviceCgroup {
  const m = CGROUP_RULE.exec(text);
  if (!m) throw invalid(`invalid device cgroup rule format: '${text}'`);
  const num = (s: string, what: string) => {
    if (s === '*') return undefined;
    const n = Number(s);
    if (!Number.isSafeInteger(n)) throw invalid(`invalid ${what} value in device cgroup rule format: '${text}'`);
    return n;
  };
  const r: OciDeviceCgroup = { allow: true, type: m[1] as 'a' | 'c' | 'b', access: m[4] };
  const major = num(m[2], 'major');
  const minor = num(m[3], 'minor');
  if (major !== undefined) r.major = major;
  if (minor !== undefined) r.minor = minor;
  return r;
}

// glibc's major()/minor() on a 64-bit dev_t.
function majorMinor(rdev: bigint): [number, number] {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return [Number(major), Number(minor)];
}

const S_IFMT = 0o170000n;
const S_IFCHR = 0o020000n;
const S_IFBLK = 0o060000n;

function deviceAt(hostPath: string, containerPath: string, follow: boolean): OciDevice | undefined {
  const st = follow ? statSync(hostPath, { bigint: true }) : lstatSync(hostPath, { bigint: true });
  const kind = st.mode & S_IFMT;
  if (kind !== S_IFCHR && kind !== S_IFBLK) return undefined;
  const [major, minor] = majorMinor(st.rdev);
  return { path: containerPath, type: kind === S_IFCHR ? 'c' : 'b', major, minor, fileMode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid) };
}

/** Docker's DevicesFromPath: one node, or every node under a directory, plus their cgroup rules. */
export function devicesFromPath(pathOnHost: string, pathInContainer: string, permissions: string): { devices: OciDevice[]; rules: OciDeviceCgroup[] } {
  const access = permissions || 'rwm';
  if (!/^[rwm]{1,3}$/.test(access) || new Set(access).size !== access.length) throw invalid(`invalid device cgroup permissions: "${permissions}"`);
  const target = pathInContainer || pathOnHost;
  const fail = (why: string) => invalid(`error gathering device information while adding custom device "${pathOnHost}": ${why}`);
  let resolved: string;
  try { resolved = realpathSync(pathOnHost); } catch (e) { throw fail(errorMessage(e)); }
  const devices: OciDevice[] = [];
  let isDir = false;
  try { isDir = statSync(resolved).isDirectory(); } catch (e) { throw fail(errorMessage(e)); }
  if (!isDir) {
    const d = deviceAt(resolved, target, true);
    if (!d) throw fail('not a device node');
    devices.push(d);
  } else {
    const walk = (dir: string, inCtr: string) => {
      for (const ent of readdirSync(dir, { withFileTypes: true })) {
        const h = path.join(dir, ent.name);
        const c = path.posix.join(inCtr, ent.name);
        if (ent.isDirectory()) walk(h, c);
        else if (ent.isCharacterDevice() || ent.isBlockDevice()) {
          const d = deviceAt(h, c, false);
          if (d) devices.push(d);
        }
      }
    };
    walk(resolved, target);
  }
  return { devices, rules: devices.map((d) => ({ allow: true, type: d.type, major: d.major, minor: d.minor, access })) };
}

// Like containerd's HostDevices: these hold per-container or runtime-made nodes, not host devices.
const SKIP_DIRS = new Set(['pts', 'shm', 'fd', 'mqueue', '.lxc', '.lxd-mounts', '.udev']);

/** Every device node under the host's /dev, for privileged containers. */
export function hostDevices(root = '/dev'): OciDevice[] {
  const out: OciDevice[] = [];
  const walk = (dir: string) => {
    let ents;
    try { ents = readdirSync(dir, { withFileTypes: true }); } catch { return; }
    for (const ent of ents) {
      const p = path.join(dir, ent.name);
      if (ent.isDirectory()) { if (!SKIP_DIRS.has(ent.name)) walk(p); continue; }
      if (ent.name === 'console' && dir === root) continue;
      if (!ent.isCharacterDevice() && !ent.isBlockDevice()) continue;
      try { const d = deviceAt(p, p, false); if (d) out.push(d); } catch { /* vanished meanwhile */ }
    }
  };
  walk(root);
  return out;
}
