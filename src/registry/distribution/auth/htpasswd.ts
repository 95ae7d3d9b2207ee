// htpasswd files with bcrypt entries (`htpasswd -B`), as distribution reads them. The file is read
// again when it changes. bcrypt is slow by design (tens of ms per check) and basic auth sends the
// password with every request, so a password that checked out is remembered, by its SHA-256,
// for a few minutes: a push of many layers pays for one bcrypt, not hundreds.
import { promises as fsp } from 'node:fs';
import { createHash } from 'node:crypto';
import * as bcrypt from 'bcryptjs';
import { log } from '../../../lib/log';

const RECHECK_MS = 5000;
const REMEMBER_MS = 5 * 60_000;

export class Htpasswd {
  private users = new Map<string, string>();
  private mtimeMs = -1;
  private checkedAt = 0;
  /** The reload in flight: requests that come while it runs wait for it, not for an empty table. */
  private loading?: Promise<void>;
  private ok = new Map<string, number>();

  constructor(readonly file: string) {}

  async load(): Promise<void> {
    const st = await fsp.stat(this.file);
    if (st.mtimeMs === this.mtimeMs) return;
    const users = new Map<string, string>();
    for (const [i, raw] of (await fsp.readFile(this.file, 'utf8')).split('\n').entries()) {
      const line = raw.trim();
      if (!line || line.startsWith('#')) continue;
      const colon = line.indexOf(':');
      const user = line.slice(0, colon);
      const hash = line.slice(colon + 1);
      if (colon <= 0 || !/^\$2[aby]?\$\d\d\$/.test(hash)) {
        log.warn('htpasswd: entry skipped, only bcrypt (htpasswd -B) is supported', { file: this.file, line: i + 1 });
        continue;
      }
      users.set(user, hash);
    }
    this.users = users;
    this.mtimeMs = st.mtimeMs;
    this.ok.clear();
  }

  async verify(user: string, password: string): Promise<boolean> {
    const now = Date.now();
    if (now - this.checkedAt > RECHECK_MS) {
      this.checkedAt = now;
      this.loading = this.load().finally(() => { this.loading = undefined; });
    }
    if (this.loading) await this.loading;
    const hash = this.users.get(user);
    if (!hash) return false;
    const key = `${user}\0${createHash('sha256').update(password).digest('hex')}`;
    const at = this.ok.get(key);
    if (at !== undefined && now - at < REMEMBER_MS) return true;
    if (!(await bcrypt.compare(password, hash))) return false;
    if (this.ok.size > 10_000) this.ok.clear();
    this.ok.set(key, now);
    return true;
  }
}

/** The user and password of an "Authorization: Basic …" header, if that is what it is. */
export function parseBasic(header: string | undefined): { user: string; password: string } | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!m) return undefined;
  const s = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = s.indexOf(':');
  if (colon < 0) return undefined;
  return { user: s.slice(0, colon), password: s.slice(colon + 1) };
}
