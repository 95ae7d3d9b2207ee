// Push and pull through a local registry, Dray against Docker: the same image (two layers,
// ~200 MB of files unpacked) to and from the same program, Debian's docker-registry
// (distribution 2.8) on 127.0.0.1, each round on a registry started afresh with empty storage, so
// nothing is skipped or mounted and every byte is sent.
//
//   the image: two layers of ~100 MB each, 25 files of 4 MiB per layer, half random bytes and
//   half text made of random words (gzip takes the text to a third), in a docker-archive with
//   gzip layers, loaded into both engines before each round (untimed);
//   push     `<engine cli> push 127.0.0.1:<port>/bench/img:1`, timed; throughput = unpacked size / time
//   pull     the image removed, then `<engine cli> pull` of it, timed, the same way
//   resume   (Dray alone) a pull cut at 50% of each layer by killing drayd (SIGKILL), drayd
//            restarted, pulled again: the bytes the second pull fetched over the layers' size
//            (a relaying proxy counts them); the target is ≤ 55%
//
// Both sides: Docker pushes what it has, uncompressed layers, gzipping them on the way (Go's
// compress/gzip, one stream per layer); Dray pushes the blobs as they were loaded. Docker
// downloads each layer to a temporary file and unpacks after; Dray unpacks while it downloads.
import { createWriteStream, mkdirSync, rmSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { randomBytes, createHash } from 'node:crypto';
import { createGzip } from 'node:zlib';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable, PassThrough } from 'node:stream';
import * as tarStream from 'tar-stream';
import { newRow, Row } from '../model';
import { Scenario, abRounds, cliOk, reps, setError, sleep, timed } from '../scenario';
import { CLI_DIR, Engine } from '../engines';
import { PrivateDrayd } from '../private-drayd';
import { accepts, freePort } from '../net';
import { run } from '../proc';
import { spawnChild } from '../../../src/lib/spawn';

const WORK = path.join(CLI_DIR, 'registry');
const ARCHIVE = path.join(WORK, 'image.tar');
const FILES_PER_LAYER = 25;
const FILE_BYTES = 4 * 1024 * 1024;
const LAYER_BYTES = FILES_PER_LAYER * FILE_BYTES;
const UNPACKED_MB = (2 * LAYER_BYTES) / 1e6;
const TAG = 'bench-registry-img:1';

// ---- the image --------------------------------------------------------------------------------------

const WORDS = 'the of and to in is was for on that with as by at from his her it an are were which be this had not but they have one all their or there been has when who will more no if out so said what up its about into than them can only other new some could time these two may then do first any my now such like our over man me even most made after also did many before must through back years where much your way well down should because each just those people how too little state good very make world still own see men work long get here between both life being under never day same another know while last might us great old year off come since against go came right used take three'.split(' ');

/** 4 MiB of text made of random words: compressible as text is (gzip: about a third). */
function textBlock(bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  const r = randomBytes(bytes / 2);
  let o = 0;
  for (let i = 0; o < bytes; i++) {
    const w = WORDS[r[i % r.length] % WORDS.length];
    o += out.write(w, o);
    if (o < bytes) out[o++] = (r[(i * 7) % r.length] & 15) === 0 ? 10 : 32;
  }
  return out;
}

async function layerTar(dir: string, file: string): Promise<{ diffId: string; digest: string; size: number }> {
  const pack = tarStream.pack();
  const diff = createHash('sha256');
  const comp = createHash('sha256');
  let size = 0;
  const tee = new PassThrough();
  tee.on('data', (c: Buffer) => diff.update(c));
  const gz = createGzip({ level: 6 });
  gz.on('data', (c: Buffer) => { comp.update(c); size += c.length; });
  const done = pipeline(pack as unknown as Readable, tee, gz, createWriteStream(file));
  pack.entry({ name: `${dir}/`, type: 'directory', mode: 0o755 });
  for (let i = 0; i < FILES_PER_LAYER; i++) {
    const body = i % 2 === 0 ? randomBytes(FILE_BYTES) : textBlock(FILE_BYTES);
    await new Promise<void>((res, rej) => pack.entry({ name: `${dir}/f${i}`, mode: 0o644, size: body.length }, body, (e) => (e ? rej(e) : res())));
  }
  pack.finalize();
  await done;
  return { diffId: 'sha256:' + diff.digest('hex'), digest: 'sha256:' + comp.digest('hex'), size };
}

/** The docker-archive both engines load (made once per run). */
export async function makeImageArchive(file = ARCHIVE): Promise<string> {
  if (existsSync(file)) return file;
  const dir = path.join(path.dirname(file), 'archive');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const layers = [await layerTar('opt/a', path.join(dir, 'a.tar.gz')), await layerTar('opt/b', path.join(dir, 'b.tar.gz'))];
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', created: '2026-01-01T00:00:00Z',
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['/bin/sh'] },
    history: [{ created: '2026-01-01T00:00:00Z', created_by: 'bench layer a' }, { created: '2026-01-01T00:00:00Z', created_by: 'bench layer b' }],
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
  }));
  const cfgName = createHash('sha256').update(config).digest('hex') + '.json';
  writeFileSync(path.join(dir, cfgName), config);
  writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify([{ Config: cfgName, RepoTags: [TAG], Layers: ['a.tar.gz', 'b.tar.gz'] }]));
  const tmp = `${file}.tmp`;
  const tar = spawnChild('tar', ['-c', '-f', tmp, '-C', dir, 'manifest.json', cfgName, 'a.tar.gz', 'b.tar.gz'], { stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((res, rej) => tar.on('close', (code: number) => (code === 0 ? res() : rej(new Error(`tar exit ${code}`)))));
  const { renameSync } = await import('node:fs');
  renameSync(tmp, file);
  rmSync(dir, { recursive: true, force: true });
  return file;
}

// ---- the registry -----------------------------------------------------------------------------------

export interface LocalRegistry { port: number; host: string; stop(): Promise<void> }

/** Debian's docker-registry on a free 127.0.0.1 port with empty storage under `dir`. */
export async function startRegistry(dir: string): Promise<LocalRegistry> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const cfg = path.join(dir, 'config.yml');
  writeFileSync(cfg, ['version: 0.1', 'log:', '  level: error', '  accesslog:', '    disabled: true', 'storage:', '  filesystem:', `    rootdirectory: ${path.join(dir, 'storage')}`, '  delete:', '    enabled: true', 'http:', `  addr: 127.0.0.1:${port}`, ''].join('\n'));
  const child = spawnChild('/usr/bin/docker-registry', ['serve', cfg], { stdio: ['ignore', 'ignore', 'ignore'] });
  const exited = new Promise<void>((r) => child.on('close', () => r()));
  for (let i = 0; ; i++) {
    if (await accepts(port)) break;
    if (i > 100) { child.kill('SIGKILL'); throw new Error('docker-registry did not start'); }
    await sleep(50);
  }
  return {
    port, host: `127.0.0.1:${port}`,
    async stop() {
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(5000)]);
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A relay in front of a registry counting the blob bytes it passes, which can stop at a byte count. */
class CountingProxy {
  server?: http.Server;
  port = 0;
  blobBytes = 0;
  /** Called per blob chunk with that blob's bytes so far; true stops the relay there. */
  onBlob?: (digest: string, sent: number, size: number) => boolean;
  private sockets = new Set<net.Socket>();
  constructor(private readonly upstream: number) {}
  get host() { return `127.0.0.1:${this.port}`; }
  async start(): Promise<this> {
    this.port = await freePort();
    this.server = http.createServer((req, res) => {
      const m = /\/blobs\/(sha256:[a-f0-9]{64})$/.exec(req.url ?? '');
      const up = http.request({ host: '127.0.0.1', port: this.upstream, method: req.method, path: req.url, headers: { ...req.headers, host: `127.0.0.1:${this.upstream}` } }, (ur) => {
        const h = { ...ur.headers };
        if (h.location) h.location = String(h.location).replace(`127.0.0.1:${this.upstream}`, this.host);
        res.writeHead(ur.statusCode ?? 502, h);
        const size = Number(ur.headers['content-length'] ?? 0);
        let sent = 0;
        ur.on('data', (c: Buffer) => {
          if (m && req.method === 'GET') {
            sent += c.length;
            this.blobBytes += c.length;
            if (this.onBlob?.(m[1], sent, size)) { ur.destroy(); res.write(c); return; }
          }
          if (!res.write(c)) { ur.pause(); res.once('drain', () => ur.resume()); }
        });
        ur.on('end', () => res.end());
        ur.on('error', () => res.destroy());
      });
      up.on('error', () => { res.writeHead(502); res.end(); });
      req.pipe(up);
    });
    this.server.on('connection', (s) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
    await new Promise<void>((r) => this.server!.listen(this.port, '127.0.0.1', r));
    return this;
  }
  stop(): Promise<void> { for (const s of this.sockets) s.destroy(); return new Promise((r) => this.server!.close(() => r())); }
}

// ---- the scenario ---------------------------------------------------------------------------------------

async function removeImage(e: Engine, ref: string): Promise<void> {
  const r = await e.api('DELETE', `/images/${encodeURIComponent(ref)}?force=1`, undefined, 120_000);
  if (r.status !== 200 && r.status !== 404) throw new Error(`rmi ${ref}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
}

async function load(e: Engine): Promise<void> {
  await cliOk(e, ['load', '-i', ARCHIVE], { timeoutMs: 300_000 });
}

const mbps = (ms: number) => UNPACKED_MB / (ms / 1000);

export const registryScenario: Scenario = {
  id: 'registry',
  title: 'push/pull of a 200 MB image (two layers) through a local docker-registry',
  async run(ctx) {
    const rounds = reps(ctx, 3, 1);
    const push = newRow('push', `push of a ${Math.round(UNPACKED_MB)} MB two-layer image to a local registry (MB/s)`, 'MB/s', [{ kind: 'ratio-min', min: 2 }]);
    const pull = newRow('pull', `pull of it back (MB/s)`, 'MB/s', [{ kind: 'ratio-min', min: 2 }]);
    const resume = newRow('pull-resume', 'resumed pull after drayd was killed at 50% of each layer: bytes fetched again over the layers\' bytes (Dray only)', '%', [{ kind: 'abs', max: 55 }]);
    const rows: Row[] = [push, pull, resume];
    mkdirSync(WORK, { recursive: true });
    ctx.log('  making the image archive (two ~100 MB layers, gzip)…');
    await makeImageArchive();
    const compressedMB = statSync(ARCHIVE).size / 1e6;
    push.note = `image: ${Math.round(UNPACKED_MB)} MB unpacked, ${Math.round(compressedMB)} MB compressed; throughput over the unpacked size`;
    try {
      await abRounds(ctx, [push, pull], rounds, async (e) => {
        const reg = await startRegistry(path.join(WORK, `reg-${e.side}`));
        const ref = `${reg.host}/bench/img:1`;
        try {
          await load(e);
          await cliOk(e, ['tag', TAG, ref]);
          const pushMs = await timed(e.cli(['push', ref], { timeoutMs: 600_000, stdout: 'devnull' }), `${e.side} push`);
          await removeImage(e, ref);
          await removeImage(e, TAG);
          const pullMs = await timed(e.cli(['pull', ref], { timeoutMs: 600_000, stdout: 'devnull' }), `${e.side} pull`);
          await removeImage(e, ref);
          return { [push.id]: mbps(pushMs), [pull.id]: mbps(pullMs) };
        } finally {
          await removeImage(e, ref).catch(() => undefined);
          await removeImage(e, TAG).catch(() => undefined);
          await reg.stop();
        }
      }, 0);
      if (ctx.dray) await resumeRound(resume).catch((err) => setError(resume, 'dray', err));
    } finally {
      rmSync(WORK, { recursive: true, force: true });
    }
    return rows;
  },
};

/**
 * Pushes the image with the bench's drayd, then pulls it with a private one through a counting
 * proxy, SIGKILLs that drayd once every layer passed half its bytes, starts it again on the same
 * data root and pulls again: the second pull's bytes over the layers' total.
 */
async function resumeRound(row: Row): Promise<void> {
  const reg = await startRegistry(path.join(WORK, 'reg-resume'));
  const proxy = await new CountingProxy(reg.port).start();
  const d = new PrivateDrayd({ dir: path.join(WORK, 'drayd'), bridge: 'drbenchr0', bip: '10.214.0.1/24' });
  const ref = `${proxy.host}/bench/img:1`;
  try {
    // The image goes up with skopeo from the archive: the same blobs, no engine involved.
    const sk = await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `docker-archive:${ARCHIVE}`, `docker://${reg.host}/bench/img:1`], { timeoutMs: 600_000 });
    if (sk.code !== 0) throw new Error(`skopeo copy: ${sk.stderr.trim().slice(0, 300)}`);
    const man = await (await fetch(`http://${reg.host}/v2/bench/img/manifests/1`, { headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' } })).json() as any;
    const sizes = new Map<string, number>(man.layers.map((l: any) => [l.digest, l.size]));
    const total = [...sizes.values()].reduce((a, b) => a + b, 0);
    const half = new Set<string>();
    let killed = false;
    proxy.onBlob = (digest, sent, size) => {
      if (!sizes.has(digest) || sent < size / 2) return false;
      half.add(digest);
      if (half.size === sizes.size && !killed) { killed = true; d.kill(); }
      return true;
    };
    await d.start();
    await d.pull(ref);
    if (!killed) throw new Error('the first pull never reached half of each layer');
    await sleep(200);
    proxy.onBlob = undefined;
    const before = proxy.blobBytes;
    await d.start();
    const out = await d.pull(ref);
    if (!out.includes('Status: Downloaded newer image')) throw new Error(`the resumed pull failed: ${out.trim().split('\n').slice(-1)[0]?.slice(0, 300)}`);
    const again = proxy.blobBytes - before;
    row.samples.dray = [(100 * again) / total];
    row.extra = { layerBytes: total, fetchedAgain: again };
  } finally {
    await d.stop();
    await proxy.stop();
    await reg.stop();
  }
}
