// A tiny keep-alive HTTP server image for the `ports` scenario, built with the Dray CLI from what
// is already on this host: no registry, no network. The image is `FROM scratch` plus the host's own
// Node.js binary (process.execPath), the shared libraries `ldd` lists for it (the ELF interpreter
// included), each copied to the same path, and a short server script. busybox httpd, the obvious
// server in the busybox image, closes the connection after every response: under wrk that is
// thousands of new connections a second, and the run then measures ephemeral-port and NAT
// source-port exhaustion (tens of thousands of TIME_WAIT sockets) instead of the forwarding path.
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { CLI_DIR, Engine } from './engines';
import { cliOk } from './scenario';
import { run } from './proc';

export const HTTPD_NODE_TAG = 'bench-httpd-node:latest';
const CTX = path.join(CLI_DIR, 'httpd-node-ctx');
const SERVER = '/srv/httpd.js';

// Serves every file of /www (read once at start) at /<name>; HTTP/1.1 keep-alive (Node's default),
// with an idle timeout longer than any wrk run so no connection is closed mid-measurement.
const SERVER_JS = `'use strict';
const http = require('http');
const fs = require('fs');
const dir = process.argv[2] || '/www';
const port = Number(process.argv[3] || 80);
const files = new Map();
for (const f of fs.readdirSync(dir)) files.set('/' + f, fs.readFileSync(dir + '/' + f));
const srv = http.createServer((req, res) => {
  const body = files.get(req.url);
  if (!body) { res.writeHead(404, { 'Content-Length': 0 }); res.end(); return; }
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length });
  res.end(body);
});
srv.keepAliveTimeout = 120000;
srv.headersTimeout = 125000;
srv.requestTimeout = 0;
srv.listen(port, '0.0.0.0', () => console.log('serving ' + [...files.keys()].join(' ') + ' on :' + port + ', keep-alive'));
process.on('SIGTERM', () => process.exit(0));
`;

/** The absolute paths `ldd` lists for a binary (libraries and the ELF interpreter; not the vDSO). */
async function sharedLibs(bin: string): Promise<string[]> {
  const r = await run('ldd', [bin], { timeoutMs: 20_000 });
  if (r.code !== 0) throw new Error(`ldd ${bin}: exit ${r.code}: ${(r.stderr || r.stdout).trim().slice(0, 200)}`);
  if (/not found/.test(r.stdout)) throw new Error(`ldd ${bin}: ${r.stdout.split('\n').filter((l) => /not found/.test(l)).join('; ').trim()}`);
  const libs: string[] = [];
  for (const line of r.stdout.split('\n')) {
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)/.exec(line);
    if (m) libs.push(m[1]);
  }
  if (!libs.some((l) => /ld-linux|ld-musl|\/ld[.-]/.test(l))) throw new Error(`ldd ${bin}: no ELF interpreter in: ${r.stdout.trim().slice(0, 300)}`);
  return libs;
}

/**
 * Builds HTTPD_NODE_TAG with `dray build -q` (the context is made under CLI_DIR and removed after).
 * Returns what the row records: the build time and the node binary used.
 */
export async function buildNodeHttpd(dray: Engine): Promise<{ ms: number; node: string; libs: string[]; id: string }> {
  const node = process.execPath;
  const libs = await sharedLibs(node);
  rmSync(CTX, { recursive: true, force: true });
  try {
    const root = path.join(CTX, 'rootfs');
    for (const f of [node, ...libs]) {
      const to = path.join(root, f);
      mkdirSync(path.dirname(to), { recursive: true });
      copyFileSync(f, to); // follows symlinks: a regular file at the path the loader asks for
    }
    mkdirSync(path.join(root, path.dirname(SERVER)), { recursive: true });
    writeFileSync(path.join(root, SERVER), SERVER_JS);
    mkdirSync(path.join(root, 'www'), { recursive: true });
    mkdirSync(path.join(root, 'tmp'), { recursive: true });
    // ld.so.cache is not copied: the library directories are named explicitly instead
    const libPath = [...new Set(libs.map((l) => path.dirname(l)))].join(':');
    writeFileSync(path.join(CTX, 'Dockerfile'), [
      'FROM scratch',
      'COPY rootfs/ /',
      `ENV LD_LIBRARY_PATH=${libPath}`,
      'EXPOSE 80',
      `CMD ${JSON.stringify([node, SERVER, '/www', '80'])}`,
      '',
    ].join('\n'));
    const r = await cliOk(dray, ['build', '-q', '-t', HTTPD_NODE_TAG, CTX], { timeoutMs: 300_000 });
    const id = /sha256:[0-9a-f]{64}/.exec(r.stdout)?.[0] ?? r.stdout.trim().split('\n').slice(-1)[0] ?? '';
    return { ms: r.ms, node, libs, id };
  } finally {
    rmSync(CTX, { recursive: true, force: true });
  }
}

/** Removes the image (through the API; 404 is fine). Returns a message if it would not go. */
export async function removeNodeHttpd(dray: Engine): Promise<string | undefined> {
  const r = await dray.api('DELETE', `/images/${encodeURIComponent(HTTPD_NODE_TAG)}?force=1`, undefined, 60_000).catch((e: Error) => ({ status: 0, body: e.message }));
  if (r.status !== 200 && r.status !== 404) return `removing ${HTTPD_NODE_TAG}: HTTP ${r.status} ${r.body.slice(0, 200)}`;
  return undefined;
}

