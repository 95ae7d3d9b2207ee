import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { Demuxer, encodeFrame, jsonLines, progressMessages, StreamError } from '../../src/client';
import { parseHost, resolveHostAddress } from '../../src/client/host';
import { encodeQuery } from '../../src/client/transport';

function demuxAll(chunks: Buffer[]): Array<[number, string]> {
  const out: Array<[number, string]> = [];
  const d = new Demuxer((s, p) => out.push([s, p.toString()]));
  for (const c of chunks) d.push(c);
  assert.equal(d.truncated, false);
  return out;
}

const stream = Buffer.concat([encodeFrame(1, 'hello\n'), encodeFrame(2, 'oops\n'), encodeFrame(1, ''), encodeFrame(1, 'x'.repeat(300))]);
const expected: Array<[number, string]> = [[1, 'hello\n'], [2, 'oops\n'], [1, 'x'.repeat(300)]];

test('demux: one chunk', () => {
  assert.deepEqual(demuxAll([stream]), expected);
});

test('demux: split at every possible single boundary', () => {
  for (let i = 1; i < stream.length; i++) {
    assert.deepEqual(demuxAll([stream.subarray(0, i), stream.subarray(i)]), expected, `split at ${i}`);
  }
});

test('demux: one byte at a time, and uneven chunks', () => {
  const bytes = [...stream].map((b) => Buffer.from([b]));
  assert.deepEqual(demuxAll(bytes), expected);
  const chunks: Buffer[] = [];
  for (let i = 0, n = 1; i < stream.length; i += n, n = (n * 7) % 13 + 1) chunks.push(stream.subarray(i, i + n));
  assert.deepEqual(demuxAll(chunks), expected);
});

test('demux: truncated frame is reported', () => {
  const d = new Demuxer(() => {});
  d.push(stream.subarray(0, 10));
  assert.equal(d.truncated, true);
});

test('jsonLines: objects split across chunks, CRLF, trailing object without newline', async () => {
  const src = Readable.from([Buffer.from('{"a":1}\r\n{"b"'), Buffer.from(':2}\n\n{"c":3}')]);
  const got: unknown[] = [];
  for await (const m of jsonLines(src)) got.push(m);
  assert.deepEqual(got, [{ a: 1 }, { b: 2 }, { c: 3 }]);
});

test('progressMessages throws StreamError on errorDetail', async () => {
  const src = Readable.from([Buffer.from('{"status":"Pulling"}\n{"errorDetail":{"message":"boom"},"error":"boom"}\n')]);
  const seen: unknown[] = [];
  await assert.rejects(async () => { for await (const m of progressMessages(src)) seen.push(m); }, (e: any) => e instanceof StreamError && e.message === 'boom');
  assert.deepEqual(seen, [{ status: 'Pulling' }]);
});

test('hosts: DRAY_HOST over DOCKER_HOST, -H over both; unix and tcp forms', () => {
  assert.equal(resolveHostAddress(undefined, {}), 'unix:///run/dray.sock');
  assert.equal(resolveHostAddress(undefined, { DOCKER_HOST: 'tcp://a:1' }), 'tcp://a:1');
  assert.equal(resolveHostAddress(undefined, { DOCKER_HOST: 'tcp://a:1', DRAY_HOST: 'unix:///x' }), 'unix:///x');
  assert.equal(resolveHostAddress('unix:///y', { DRAY_HOST: 'unix:///x' }), 'unix:///y');
  assert.deepEqual(parseHost('unix:///tmp/s.sock'), { display: 'unix:///tmp/s.sock', socketPath: '/tmp/s.sock', tls: false });
  assert.deepEqual(parseHost('tcp://127.0.0.1:2375'), { display: 'tcp://127.0.0.1:2375', host: '127.0.0.1', port: 2375, tls: false });
  assert.deepEqual(parseHost('tcp://[::1]:2376'), { display: 'tcp://[::1]:2376', host: '::1', port: 2376, tls: false });
  assert.throws(() => parseHost('ssh://me@host'), /ssh:\/\/ hosts are not implemented/);
});

test('query encoding: booleans, lists, filters as JSON', () => {
  assert.equal(encodeQuery({ all: true, size: false, x: undefined, names: ['a', 'b'], filters: { status: ['exited'] } }),
    '?all=1&size=0&names=a&names=b&filters=%7B%22status%22%3A%5B%22exited%22%5D%7D');
});
