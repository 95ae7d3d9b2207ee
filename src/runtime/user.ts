// `--user` resolved the way Docker (moby/sys/user GetExecUser) does, against the container's own
// /etc/passwd and /etc/group. The image controls those files, and a symlink there must not make the
// daemon read a host file, so every path is resolved with the rootfs as "/".
import { resolveInRoot } from '../lib/root-path';
import { readFileInRoot } from '../lib/in-root';
import { nativeAddon } from '../lib/native';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { invalid } from '../lib/errors';


export interface ResolvedUser { uid: number; gid: number; additionalGids: number[]; home: string }

const MAX_ID = 2147483647;

async function readInRoot(root: string, file: string): Promise<string | undefined> {
  // exec --user reads them while the container runs and can swap them: the kernel resolves them.
  if (nativeAddon()) return readFileInRoot(root, file);
  try {
    return await fsp.readFile(await resolveInRoot(root, file), 'utf8');
  } catch (e: any) {
    if (e?.code === 'ENOENT' || e?.code === 'ENOTDIR' || e?.code === 'EISDIR') return undefined;
    throw e;
  }
}

interface PasswdEntry { name: string; uid: number; gid: number; home: string }
interface GroupEntry { name: string; gid: number; members: string[] }

// Like moby/sys/user: malformed lines and comments are skipped, missing numeric fields count as 0.
function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const l = line.trim();
    if (!l || l.startsWith('#')) continue;
    const f = l.split(':');
    out.push({ name: f[0], uid: Number.parseInt(f[2] ?? '0', 10) || 0, gid: Number.parseInt(f[3] ?? '0', 10) || 0, home: f[5] ?? '' });
  }
  return out;
}

function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const l = line.trim();
    if (!l || l.startsWith('#')) continue;
    const f = l.split(':');
    out.push({ name: f[0], gid: Number.parseInt(f[2] ?? '0', 10) || 0, members: (f[3] ?? '').split(',').filter(Boolean) });
  }
  return out;
}

// Go's strconv.Atoi accepts an optional sign and decimal digits only.
function atoi(s: string): number | undefined {
  return /^[+-]?\d+$/.test(s) ? Number(s) : undefined;
}

function checkRange(id: number): number {
  if (id < 0 || id > MAX_ID) throw invalid(`uids and gids must be in range 0-${MAX_ID}`);
  return id;
}

/**
 * Docker's rules: "" = root; "name" or "uid" (a numeric uid need not be in passwd); ":group" or
 * ":gid" sets the primary group explicitly; without an explicit group the supplementary groups are
 * the /etc/group entries listing the user. additionalGids starts with the primary gid, as Docker's
 * spec does.
 */
export async function resolveUser(rootfs: string, user: string | undefined): Promise<ResolvedUser> {
  const spec = (user ?? '').trim();
  const colon = spec.indexOf(':');
  const userArg = colon >= 0 ? spec.slice(0, colon) : spec;
  const groupArg = colon >= 0 ? spec.slice(colon + 1) : '';
  const uidArg = atoi(userArg);
  const gidArg = atoi(groupArg);

  const [passwdText, groupText] = await Promise.all([readInRoot(rootfs, '/etc/passwd'), readInRoot(rootfs, '/etc/group')]);
  const passwd = passwdText === undefined ? [] : parsePasswd(passwdText);

  const r: ResolvedUser = { uid: 0, gid: 0, additionalGids: [], home: '/' };
  const match = passwd.find((u) => (userArg === '' ? u.uid === r.uid : uidArg !== undefined ? u.uid === uidArg : u.name === userArg));
  let matchedName = '';
  if (match) {
    matchedName = match.name;
    r.uid = match.uid;
    r.gid = match.gid;
    r.home = match.home || '/';
  } else if (userArg !== '') {
    if (uidArg === undefined) throw invalid(`unable to find user ${userArg}: no matching entries in passwd file`);
    r.uid = checkRange(uidArg);
  }

  const sgids: number[] = [];
  if (groupArg !== '' || matchedName !== '') {
    const groups = groupText === undefined ? [] : parseGroup(groupText);
    if (groupArg !== '') {
      const g = groups.find((x) => (gidArg !== undefined ? x.gid === gidArg : x.name === groupArg));
      if (g) r.gid = g.gid;
      else if (gidArg === undefined) throw invalid(`unable to find group ${groupArg}: no matching entries in group file`);
      else r.gid = checkRange(gidArg);
    } else {
      for (const g of groups) if (g.members.includes(matchedName)) sgids.push(g.gid);
    }
  }
  r.additionalGids = [r.gid, ...sgids];
  return r;
}
