// The streamed build context against what it replaces: GNU tar unpacking the same archive. Source
// hashes (the build cache's keys) must be identical for every kind of source, files written out
// for a step must match GNU tar's in content, mode and time, and the tar reader must take what
// clients send (GNU and pax long names, the docker CLI's unpadded last block, gzip) and refuse
// what GNU tar refuses. Needs root and GNU tar (setuid bits, chown).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, chmodSync, symlinkSync, linkSync, rmSync, readFileSync, lstatSync, readlinkSync, utimesSync, readdirSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as zlib from 'node:zlib';
import { receiveContext, setContextMemoryBudget, BuildContext } from '../../src/builder/context';
import { resolveSources, hashSources, DiskTree, SourceTree, entryHasher } from '../../src/builder/copy';
import { nativeAddon } from '../../src/lib/native';

let dir: string;
let src: string;
before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'dray-build-context-'));
  src = path.join(dir, 'src');
  mkdirSync(src);
  const w = (rel: string, body: string | Buffer, mode = 0o644) => {
    mkdirSync(path.dirname(path.join(src, rel)), { recursive: true });
    writeFileSync(path.join(src, rel), body);
    chmodSync(path.join(src, rel), mode);
  };
  w('Dockerfile', 'FROM busybox\nCOPY . /x\n');
  w('a.txt', 'a\n');
  w('b.txt', 'b\n', 0o600);
  w('run.sh', '#!/bin/sh\n', 0o4755);
  w('big.bin', randomBytes(3 << 20));
  w('dir/one', '1');
  w('dir/sub/two', '2', 0o640);
  w('dir/sub/deeper/three', '3');
  w(`long/${'n'.repeat(120)}/${'f'.repeat(110)}.txt`, 'long name');
  w('.dockerignore', 'ignored*\ndir/sub/deeper\n');
  w('ignored.txt', 'no');
  chmodSync(path.join(src, 'dir/sub'), 0o2750);
  mkdirSync(path.join(src, 'empty'), { mode: 0o700 });
  chmodSync(path.join(src, 'empty'), 0o1777);
  symlinkSync('a.txt', path.join(src, 'link-a'));
  symlinkSync('dir', path.join(src, 'link-dir'));
  symlinkSync('/dir/sub/../one', path.join(src, 'dir/abs-link'));
  symlinkSync('nowhere', path.join(src, 'dangling.txt'));
  symlinkSync('/etc/passwd', path.join(src, 'escape.txt'));
  linkSync(path.join(src, 'b.txt'), path.join(src, 'hard-b'));
  // big enough to be hashed on the thread pool: its link is made before that hash is known
  linkSync(path.join(src, 'big.bin'), path.join(src, 'hard-big'));
  const t = new Date('2021-02-03T04:05:06.789Z');
  for (const f of ['a.txt', 'dir/one', 'dir/sub', 'dir']) utimesSync(path.join(src, f), t, t);
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** GNU tar's archive of `src` (members listed, so implicit directories happen too). */
function gnuTar(format: string, members = ['.']): Buffer {
  const r = spawnSync('tar', ['-c', `--format=${format}`, '-f', '-', '-C', src, ...members], { maxBuffer: 1 << 30 });
  assert.equal(r.status, 0, String(r.stderr));
  return r.stdout;
}

function bodyOf(b: Buffer, chunk = 7919): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < b.length; i += chunk) parts.push(b.subarray(i, i + chunk));
  return Readable.from(parts);
}

async function receive(b: Buffer, dockerfile: string | null = null): Promise<BuildContext> {
  const tmp = mkdtempSync(path.join(dir, 'tmp-'));
  return receiveContext(bodyOf(b), tmp, dockerfile);
}

/** The old way: GNU tar unpacks, then .dockerignore'd paths are deleted. */
function unpack(b: Buffer, ignored: string[] = []): string {
  const out = mkdtempSync(path.join(dir, 'gnu-'));
  chmodSync(out, 0o700);
  const r = spawnSync('tar', ['-x', '--no-same-owner', '-f', '-', '-C', out], { input: b });
  assert.equal(r.status, 0, String(r.stderr));
  for (const i of ignored) rmSync(path.join(out, i), { recursive: true, force: true });
  return out;
}

const SOURCES = [['.'], ['a.txt'], ['b.txt', 'run.sh'], ['dir'], ['dir/sub'], ['*.txt'], ['link-a'], ['link-dir'], ['link-dir/sub/two'], ['dir/abs-link'], ['hard-b'], ['hard-big'], ['big.bin'], ['empty'], ['d*'], ['long']];

async function hashes(tree: SourceTree, sources = SOURCES): Promise<string[]> {
  const out: string[] = [];
  for (const s of sources) {
    const items = await resolveSources(tree, s, { what: 'COPY', fromContext: true });
    const h = await hashSources(items);
    out.push(`${s.join(' ')} ${h.digest} ${JSON.stringify(h.files)} ${items.map((i) => `${i.rel}:${i.path}`).join(',')}`);
  }
  return out;
}

for (const format of ['gnu', 'pax', 'ustar']) {
  test(`source hashes equal those of the GNU-tar-unpacked context (${format})`, async () => {
    const members = format === 'ustar' ? readdirSync(src).filter((n) => n !== 'long') : ['.'];
    const tarball = gnuTar(format, members);
    for (const budget of [128 << 20, 0, 1 << 20]) {
      const old = setContextMemoryBudget(budget);
      try {
        const ctx = await receive(tarball);
        try {
          assert.equal(ctx.dockerfile, 'FROM busybox\nCOPY . /x\n');
          const disk = unpack(tarball, ['ignored.txt', 'dir/sub/deeper']);
          const sources = format === 'ustar' ? SOURCES.filter((x) => x[0] !== 'long') : SOURCES;
          assert.deepEqual(await hashes(ctx.tree, sources), await hashes(new DiskTree(disk), sources));
          assert.equal(await ctx.tree.lstat('ignored.txt'), undefined);
          assert.equal(await ctx.tree.lstat('dir/sub/deeper'), undefined);
        } finally { await ctx.cleanup(); }
      } finally { setContextMemoryBudget(old); }
    }
  });
}

test('members under directories the archive never lists get GNU tar\'s implicit directories', async () => {
  const tarball = gnuTar('gnu', ['dir/sub/two', 'a.txt', 'dir/one']);
  const ctx = await receive(tarball, 'a.txt');
  try {
    const items = await resolveSources(ctx.tree, ['dir'], { what: 'COPY', fromContext: true });
    const disk = unpack(tarball);
    const ref = await resolveSources(new DiskTree(disk), ['dir'], { what: 'COPY', fromContext: true });
    assert.deepEqual(await hashSources(items), await hashSources(ref));
    assert.equal((await ctx.tree.lstat('dir'))!.mode & 0o7777, lstatSync(path.join(disk, 'dir')).mode & 0o7777);
  } finally { await ctx.cleanup(); }
});

test('materialized sources match GNU tar\'s files: content, mode, time, links', async () => {
  const tarball = gnuTar('pax');
  for (const budget of [128 << 20, 0]) {
    const old = setContextMemoryBudget(budget);
    const ctx = await receive(tarball);
    try {
      const disk = unpack(tarball);
      for (const s of ['dir', 'a.txt', 'run.sh', 'link-a', 'big.bin', 'empty', 'hard-b']) await ctx.tree.materialize(s);
      const check = (rel: string) => {
        const a = lstatSync(path.join(ctx.dir, rel));
        const b = lstatSync(path.join(disk, rel));
        assert.equal(a.mode, b.mode, `${rel} mode`);
        // Times as COPY reads them: fs.Stats' Date, whole milliseconds.
        if (!a.isDirectory() || rel === 'dir') assert.equal(a.mtime.getTime(), b.mtime.getTime(), `${rel} mtime`);
        if (a.isFile()) assert.ok(readFileSync(path.join(ctx.dir, rel)).equals(readFileSync(path.join(disk, rel))), `${rel} content`);
        if (a.isSymbolicLink()) assert.equal(readlinkSync(path.join(ctx.dir, rel)), readlinkSync(path.join(disk, rel)));
      };
      for (const rel of ['dir', 'dir/one', 'dir/sub', 'dir/sub/two', 'dir/abs-link', 'a.txt', 'run.sh', 'link-a', 'big.bin', 'empty', 'hard-b']) check(rel);
      assert.throws(() => lstatSync(path.join(ctx.dir, 'b.txt')), /ENOENT/, 'only what was asked for is written');
      const f = path.join(dir, `copy-${budget}`);
      await ctx.tree.copyFile('big.bin', f);
      assert.ok(readFileSync(f).equals(readFileSync(path.join(src, 'big.bin'))));
    } finally {
      await ctx.cleanup();
      setContextMemoryBudget(old);
    }
  }
});

test('globs: a matched link stands for its target in the context; a dangling or escaping one is the link', async () => {
  const ctx = await receive(gnuTar('gnu'));
  try {
    const items = await resolveSources(ctx.tree, ['*.txt'], { what: 'COPY', fromContext: true });
    const kinds = Object.fromEntries(items.map((i) => [i.rel, i.st.isSymbolicLink() ? `link:${i.path}` : `file:${i.path}`]));
    assert.deepEqual(kinds, { 'a.txt': 'file:a.txt', 'b.txt': 'file:b.txt', 'dangling.txt': 'link:dangling.txt', 'escape.txt': 'link:escape.txt' });
    const link = await resolveSources(ctx.tree, ['link-dir/sub'], { what: 'COPY', fromContext: true });
    assert.equal(link[0].path, 'dir/sub');
    await assert.rejects(resolveSources(ctx.tree, ['nope'], { what: 'COPY', fromContext: true }), /file not found in build context or excluded by \.dockerignore: stat nope/);
  } finally { await ctx.cleanup(); }
});

test('the docker CLI\'s unpadded last block, gzip, and a bare Dockerfile are read', async () => {
  const full = gnuTar('ustar', ['a.txt', 'Dockerfile']);
  // a.txt's header and data block, Dockerfile's header, then its data without padding or marker.
  const dfLen = Buffer.byteLength('FROM busybox\nCOPY . /x\n');
  const a = await receive(full.subarray(0, 512 * 3 + dfLen));
  try { assert.equal(a.dockerfile, 'FROM busybox\nCOPY . /x\n'); } finally { await a.cleanup(); }
  const gz = await receive(zlib.gzipSync(full));
  try { assert.equal(gz.dockerfile, 'FROM busybox\nCOPY . /x\n'); } finally { await gz.cleanup(); }
  const bare = await receive(Buffer.from('FROM scratch\n'));
  try {
    assert.equal(bare.dockerfile, 'FROM scratch\n');
    assert.deepEqual(await bare.tree.readdir(''), []);
  } finally { await bare.cleanup(); }
});

test('truncated, corrupt and escaping archives are refused like GNU tar refuses them', async () => {
  const full = gnuTar('ustar', ['a.txt', 'big.bin', 'Dockerfile']);
  await assert.rejects(receive(full.subarray(0, 512 * 2 + 1000)), /failed to read the build context: Unexpected EOF/);
  const h = Buffer.from(full);
  h[10] ^= 0x01; // the first header's name: its checksum no longer matches
  await assert.rejects(receive(h), /failed to read the build context: This does not look like a tar archive/);
  const evil = spawnSync('tar', ['-c', '--format=gnu', '-f', '-', '-C', src, '--transform', 's,^a.txt,../a.txt,', 'a.txt'], { maxBuffer: 1 << 20 });
  assert.equal(evil.status, 0);
  await assert.rejects(receive(evil.stdout), /Member name contains '\.\.'/);
  await assert.rejects(receive(gnuTar('gnu', ['a.txt'])), /Cannot locate specified Dockerfile: Dockerfile/);
});

// File contents are hashed with BLAKE3 (src/builder/copy.ts, native/blake3.c): the addon must be
// built with it, or every build would fall back to SHA-256 at a third of the speed and nothing
// else would notice.
test('a file entry hash is BLAKE3 over type, mode and content, however it is fed', async () => {
  const addon = nativeAddon()!;
  const b3 = (...parts: Buffer[]) => { const h = addon.blake3New(); for (const p of parts) addon.blake3Update(h, p); return addon.blake3Digest(h); };
  // The BLAKE3 test vector for "abc" (b3sum, and the specification's reference implementation).
  assert.equal(b3(Buffer.from('abc')), '6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85');
  const tree = new DiskTree(src);
  const st = lstatSync(path.join(src, 'a.txt'));
  assert.ok(st.isFile());
  const want = b3(Buffer.from(`f\0${(st.mode & 0o7777).toString(8)}\0`), readFileSync(path.join(src, 'a.txt')));
  assert.equal(await tree.entryHash('a.txt', st), want);
  // Fed in pieces of any size (the hasher regroups them into aligned blocks), the hash is the same.
  const data = randomBytes(200_000);
  const file = { isDirectory: () => false, isSymbolicLink: () => false, mode: 0o644 };
  const whole = b3(Buffer.from('f\x00644\x00'), data);
  for (const piece of [1, 1000, 32_761, 65_536, 70_000, 1 << 20]) {
    const h = entryHasher(file);
    for (let o = 0; o < data.length; o += piece) h.update(data.subarray(o, o + piece));
    assert.equal(h.digest('hex'), whole, `in pieces of ${piece} bytes`);
  }
  assert.throws(() => addon.blake3Update({}, Buffer.alloc(1)), /blake3Update\(hasher, buffer\)/);
});
