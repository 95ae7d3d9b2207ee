// ADD <http(s) url>: the file is downloaded into the build's scratch space on every build that
// needs it (the legacy builder's way; its content hash keys the step), or not at all when
// `--checksum` names its digest and the step is cached. Redirects are followed (10 at most),
// a stalled transfer ends after IDLE_MS, and the file gets mode 0600 and the server's
// Last-Modified time, as Docker gives it. A checksum is verified before the file is used.
import { createWriteStream, promises as fsp } from 'node:fs';
import * as http from 'node:http';
import { httpsModule } from '../lib/lazy-modules';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { invalid, errorMessage } from '../lib/errors';

const MAX_REDIRECTS = 10;
const IDLE_MS = 60_000;

export interface Downloaded { file: string; name: string; digest: string }

/** The name Docker gives the file: the URL path's last element. */
export function urlFileName(url: string): string {
  let u: URL;
  try { u = new URL(url); } catch { throw invalid(`ADD failed: invalid URL ${url}`); }
  const base = path.posix.basename(decodeURIComponent(u.pathname));
  if (!base || base === '/' || base === '.' || base === '..') throw invalid(`ADD failed: cannot determine filename from url: ${url}`);
  return base;
}

/** Parses `--checksum=sha256:<hex>` (the one algorithm BuildKit accepts for URLs, with sha384/512). */
export function parseChecksum(v: string): { algorithm: string; hex: string } {
  const m = /^(sha256|sha384|sha512):([a-f0-9]+)$/.exec(v);
  const len = { sha256: 64, sha384: 96, sha512: 128 } as Record<string, number>;
  if (!m || m[2].length !== len[m[1]]) throw invalid(`invalid checksum digest format: ${v}`);
  return { algorithm: m[1], hex: m[2] };
}

export async function download(url: string, dir: string, o: { checksum?: { algorithm: string; hex: string }; signal: AbortSignal }): Promise<Downloaded> {
  const name = urlFileName(url);
  const file = path.join(dir, name);
  let current = url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const r = await fetchOnce(current, file, o.checksum?.algorithm ?? 'sha256', o.signal).catch((e) => {
      throw invalid(`ADD failed: downloading ${url}: ${errorMessage(e)}`);
    });
    if ('redirect' in r) { current = new URL(r.redirect, current).toString(); continue; }
    const digest = `${o.checksum?.algorithm ?? 'sha256'}:${r.hex}`;
    if (o.checksum && r.hex !== o.checksum.hex) {
      await fsp.rm(file, { force: true });
      throw invalid(`ADD failed: digest mismatch for ${url}: expected ${o.checksum.algorithm}:${o.checksum.hex}, got ${digest}`);
    }
    await fsp.chmod(file, 0o600);
    if (r.lastModified) await fsp.utimes(file, r.lastModified, r.lastModified).catch(() => {});
    return { file, name, digest };
  }
  throw invalid(`ADD failed: downloading ${url}: more than ${MAX_REDIRECTS} redirects`);
}

type Once = { redirect: string } | { hex: string; lastModified?: Date };

function fetchOnce(url: string, file: string, algorithm: string, signal: AbortSignal): Promise<Once> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') { reject(new Error(`unsupported protocol ${u.protocol}`)); return; }
    const mod = u.protocol === 'https:' ? httpsModule() : http;
    const req = mod.get(u, { signal, headers: { 'User-Agent': 'dray-builder' } }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) { res.resume(); resolve({ redirect: res.headers.location }); return; }
      if (status < 200 || status >= 300) { res.resume(); reject(new Error(`${status} ${res.statusMessage ?? ''}`.trim())); return; }
      const h = createHash(algorithm);
      const out = createWriteStream(file, { mode: 0o600 });
      res.on('data', (c: Buffer) => h.update(c));
      res.on('error', (e) => { out.destroy(); reject(e); });
      out.on('error', (e) => { res.destroy(); reject(e); });
      out.on('finish', () => {
        if (!res.complete) { reject(new Error('the connection closed before the end of the file')); return; }
        const lm = res.headers['last-modified'] ? new Date(res.headers['last-modified']) : undefined;
        resolve({ hex: h.digest('hex'), lastModified: lm && !Number.isNaN(lm.getTime()) ? lm : undefined });
      });
      res.pipe(out);
    });
    req.setTimeout(IDLE_MS, () => req.destroy(new Error(`no data for ${IDLE_MS / 1000} s`)));
    req.on('error', reject);
  });
}
