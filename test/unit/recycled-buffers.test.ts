// The recycled file reader behind dray build's context upload: its buffers are reused once the
// HTTP client has written them, so what reaches the server must still be the file, byte for byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { Transform } from 'node:stream';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { DockerClient } from '../../src/client';
import { pipeline } from 'node:stream/promises';
import { readFileSync } from 'node:fs';
import { recycledFileStream, recyclingWriteStream } from '../../src/lib/recycled-buffers';

const dir = mkdtempSync(path.join(tmpdir(), 'dray-recycled-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('a file streamed through the HTTP client into recycled buffers arrives whole, in few buffers', async () => {
  const file = path.join(dir, 'big');
  // Not a whole number of chunks: the short last one is a copy.
  const data = randomBytes(24 * (1 << 20) + 12345);
  writeFileSync(file, data);
  const sock = path.join(dir, 's.sock');
  // A slow reader, so that chunks wait in the client's socket while the file is read on.
  const server = http.createServer((req, res) => {
    const h = createHash('sha256');
    let n = 0;
    req.on('data', (c: Buffer) => { h.update(c); n += c.length; req.pause(); setTimeout(() => req.resume(), 1); });
    req.on('end', () => res.end(JSON.stringify({ sha: h.digest('hex'), n })));
  });
  await new Promise<void>((r) => server.listen(sock, r));
  try {
    const buffers = new Set<ArrayBufferLike>();
    const counted = new Transform({ transform(c: Buffer, _e, cb) { buffers.add(c.buffer); cb(null, c); } });
    const body = recycledFileStream(file, data.length).pipe(counted);
    const res = await new DockerClient({ host: `unix://${sock}` }).images.build(body, {});
    const parts: Buffer[] = [];
    for await (const c of res) parts.push(c as Buffer);
    const got = JSON.parse(Buffer.concat(parts).toString());
    assert.equal(got.n, data.length);
    assert.equal(got.sha, createHash('sha256').update(data).digest('hex'));
    // 25 chunks: without the hand-back each would be a buffer of its own.
    assert.ok(buffers.size < 12, `${buffers.size} buffers for 25 chunks: they were not reused`);
  } finally {
    await new Promise((r) => server.close(r));
  }
});

test('a file copied through a recycling write stream (a layer\'s tar into its blob) arrives whole, in few buffers', async () => {
  const src = path.join(dir, 'layer-src');
  const dest = path.join(dir, 'layer-blob');
  const data = randomBytes(20 * (1 << 20) + 777);
  writeFileSync(src, data);
  const buffers = new Set<ArrayBufferLike>();
  // A slow writer's queue holds several chunks at once: none may be reused while queued.
  const counted = new Transform({ transform(c: Buffer, _e, cb) { buffers.add(c.buffer); setTimeout(() => cb(null, c), 1); } });
  await pipeline(recycledFileStream(src, data.length), counted, recyclingWriteStream(dest, { flags: 'wx', highWaterMark: 4 << 20 }));
  assert.ok(readFileSync(dest).equals(data), 'the copy differs from the file');
  assert.ok(buffers.size < 12, `${buffers.size} buffers for 21 chunks: they were not reused`);
});

test('a file that grows while it is read is an error, not a silently cut upload', async () => {
  const file = path.join(dir, 'grows');
  writeFileSync(file, randomBytes(3 << 20));
  const s = recycledFileStream(file, 2 << 20);
  appendFileSync(file, 'more');
  await assert.rejects(async () => { for await (const _ of s) { /* read */ } }, /file changed as we read it/);
});

test('a file that shrinks while it is read is an error', async () => {
  const file = path.join(dir, 'shrinks');
  writeFileSync(file, randomBytes(1 << 20));
  const s = recycledFileStream(file, 3 << 20);
  await assert.rejects(async () => { for await (const _ of s) { /* read */ } }, /file changed as we read it/);
});

test('a symlink put where the file was is not followed', async () => {
  const target = path.join(dir, 'secret');
  writeFileSync(target, 'not for the layer');
  const file = path.join(dir, 'swapped');
  symlinkSync(target, file);
  await assert.rejects(async () => { for await (const _ of recycledFileStream(file, 17)) { /* read */ } }, /ELOOP/);
});
