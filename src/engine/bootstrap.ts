// busybox:latest made offline from Debian's busybox-static: one layer with /bin/busybox, a symlink
// per applet (`busybox --list-full`), /etc/passwd and /etc/group, and the usual empty directories.
// Deterministic: fixed mtimes and owners, entries in sorted order, fixed `created`, so the same
// busybox binary always gives the same image ID.
import { promises as fsp } from 'node:fs';
import { Readable } from 'node:stream';
import * as tarStream from 'tar-stream';
import type { Image, ImageConfigFile } from './types';
import { ImageService, hostArch } from './images';
import { run } from '../lib/exec';
import { systemError } from '../lib/errors';

export const BUSYBOX_BIN = '/bin/busybox';
const CREATED = '2024-01-01T00:00:00Z';
const MTIME = new Date(CREATED);
const PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const PASSWD = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
`;

const GROUP = `root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
kmem:x:9:
wheel:x:10:root
cdrom:x:11:
dialout:x:18:
floppy:x:19:
video:x:28:
audio:x:29:
tape:x:32:
www-data:x:33:
operator:x:37:
utmp:x:43:
plugdev:x:46:
staff:x:50:
lock:x:54:
netdev:x:82:
users:x:100:
nogroup:x:65534:
`;

type Entry = { name: string; type: 'directory' | 'file' | 'symlink'; mode: number; body?: Buffer; linkname?: string };

/** The busybox root filesystem as an uncompressed, deterministic tar. */
export async function busyboxLayerTar(bin = BUSYBOX_BIN): Promise<{ tar: Buffer; version: string }> {
  const binary = await fsp.readFile(bin).catch((e) => { throw systemError(`cannot read ${bin} (install Debian's busybox-static): ${e.message}`); });
  const list = (await run(bin, ['--list-full'])).stdout.split('\n').map((l) => l.trim()).filter((l) => l.includes('/'));
  const version = /BusyBox v[^\s]+( \([^)]*\))?/.exec((await run(bin, ['--help'], { allowFailure: true })).stdout)?.[0] ?? 'BusyBox';
  const entries = new Map<string, Entry>();
  const dir = (name: string, mode = 0o755) => { if (!entries.has(name)) entries.set(name, { name, type: 'directory', mode }); };
  for (const d of ['bin', 'dev', 'etc', 'home', 'proc', 'root', 'sbin', 'sys', 'usr', 'usr/bin', 'usr/sbin', 'var', 'var/spool', 'var/spool/mail', 'var/www']) dir(d);
  dir('tmp', 0o1777);
  dir('var/tmp', 0o1777);
  entries.set('root', { name: 'root', type: 'directory', mode: 0o700 });
  entries.set('bin/busybox', { name: 'bin/busybox', type: 'file', mode: 0o755, body: binary });
  entries.set('etc/passwd', { name: 'etc/passwd', type: 'file', mode: 0o644, body: Buffer.from(PASSWD) });
  entries.set('etc/group', { name: 'etc/group', type: 'file', mode: 0o644, body: Buffer.from(GROUP) });
  for (const p of list) {
    if (p === 'bin/busybox' || entries.has(p)) continue;
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) dir(parts.slice(0, i).join('/'));
    entries.set(p, { name: p, type: 'symlink', mode: 0o777, linkname: '/bin/busybox' });
  }
  const sorted = [...entries.values()].sort((a, b) => cmpPath(a.name, b.name));
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const collected = new Promise<void>((resolve, reject) => {
    pack.on('data', (c: unknown) => { chunks.push(c as Buffer); });
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  for (const e of sorted) {
    const h = { name: e.type === 'directory' ? `${e.name}/` : e.name, type: e.type, mode: e.mode, uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: MTIME };
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (e.type === 'symlink') pack.entry({ ...h, linkname: e.linkname }, cb);
      else if (e.type === 'file') pack.entry({ ...h, size: e.body!.length }, e.body!, cb);
      else pack.entry(h, cb);
    });
  }
  pack.finalize();
  await collected;
  return { tar: Buffer.concat(chunks), version };
}

function cmpPath(a: string, b: string): number {
  const pa = a.split('/');
  const pb = b.split('/');
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    if (pa[i] !== pb[i]) return pa[i] < pb[i] ? -1 : 1;
  }
  return pa.length - pb.length;
}

/** Creates (or re-tags, when it already exists) busybox:latest. */
export async function bootstrapBusybox(images: ImageService, opts: { ref?: string; bin?: string } = {}): Promise<Image> {
  const { tar, version } = await busyboxLayerTar(opts.bin);
  const config: Omit<ImageConfigFile, 'rootfs'> = {
    architecture: hostArch(),
    config: { Env: [PATH], Cmd: ['sh'] },
    created: CREATED,
    history: [{ created: CREATED, created_by: `dray image bootstrap busybox: ${version}, /bin/busybox from Debian's busybox-static` }],
    os: 'linux',
  };
  return images.createFromLayers({ layers: [Readable.from([tar])], config, ref: opts.ref ?? 'busybox:latest' });
}
