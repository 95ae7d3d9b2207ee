import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { Demuxer, encodeFrame, jsonLines, progressMessages, StreamError } from '../../src/client';
import { parseHost, parseSshHost, resolveHostAddress } from '../../src/client/host';
import { sshArgs } from '../../src/client/ssh';
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
  assert.deepEqual(parseHost('ssh://me@host'), { display: 'ssh://me@host', ssh: { user: 'me', host: 'host' }, tls: false });
});

test('docker contexts: --context over -H-less env hosts, DOCKER_HOST over DOCKER_CONTEXT and currentContext', () => {
  const cfg = mkdtempSync('/tmp/dray-ctx-');
  try {
    const meta = (name: string, host: string) => {
      const d = path.join(cfg, 'contexts', 'meta', createHash('sha256').update(name).digest('hex'));
      mkdirSync(d, { recursive: true });
      writeFileSync(path.join(d, 'meta.json'), JSON.stringify({ Name: name, Metadata: {}, Endpoints: { docker: { Host: host, SkipTLSVerify: false } } }));
    };
    meta('box', 'ssh://me@box');
    meta('tcpbox', 'tcp://10.0.0.9:2375');
    const env = { DOCKER_CONFIG: cfg };
    assert.equal(resolveHostAddress(undefined, env), 'unix:///run/dray.sock');
    assert.equal(resolveHostAddress(undefined, env, { context: 'box' }), 'ssh://me@box');
    assert.equal(resolveHostAddress(undefined, { ...env, DOCKER_HOST: 'unix:///x' }, { context: 'box' }), 'ssh://me@box');
    assert.equal(resolveHostAddress(undefined, { ...env, DOCKER_CONTEXT: 'tcpbox' }), 'tcp://10.0.0.9:2375');
    assert.equal(resolveHostAddress(undefined, { ...env, DOCKER_CONTEXT: 'tcpbox', DRAY_HOST: 'unix:///y' }), 'unix:///y');
    assert.equal(resolveHostAddress(undefined, { DOCKER_CONTEXT: 'default', DOCKER_HOST: 'unix:///z' }), 'unix:///z');
    writeFileSync(path.join(cfg, 'config.json'), JSON.stringify({ auths: {}, currentContext: 'box' }));
    assert.equal(resolveHostAddress(undefined, env), 'ssh://me@box');
    assert.equal(resolveHostAddress(undefined, {}, { config: cfg }), 'ssh://me@box');
    assert.equal(resolveHostAddress('unix:///h', env), 'unix:///h');
    assert.throws(() => resolveHostAddress('unix:///h', env, { context: 'box' }), /conflicting options: either specify --host or --context, not both/);
    assert.throws(() => resolveHostAddress(undefined, env, { context: 'nope' }), /^Error: context "nope" does not exist$/);
  } finally { rmSync(cfg, { recursive: true, force: true }); }
});

test('ssh:// hosts: the docker CLI\'s URL rules, and the ssh command line dray runs', () => {
  assert.deepEqual(parseSshHost('ssh://host'), { host: 'host' });
  assert.deepEqual(parseSshHost('ssh://root@[::1]:2222/run/dray.sock'), { user: 'root', host: '::1', port: 2222, socketPath: '/run/dray.sock' });
  assert.deepEqual(parseSshHost('ssh://root@h:22/'), { user: 'root', host: 'h', port: 22 });
  assert.throws(() => parseSshHost('ssh://'), /^Error: ssh host connection is not valid: hostname is empty$/);
  assert.throws(() => parseSshHost('ssh://u:pw@h'), /plain-text password is not supported/);
  assert.throws(() => parseSshHost('ssh://h?a=b'), /query parameters are not allowed: "a=b"/);
  assert.throws(() => parseSshHost('ssh://h#x'), /fragments are not allowed: "x"/);
  assert.throws(() => parseSshHost('ssh://h/run/a$(id).sock'), /socket path/);
  const spec = parseSshHost('ssh://me@h:2222');
  assert.deepEqual(sshArgs(spec, {}), ['-o', 'ConnectTimeout=30', '-o', 'BatchMode=yes', '-T', '-l', 'me', '-p', '2222', '--', 'h',
    'command -v dray >/dev/null 2>&1 && exec dray system dial-stdio || exec docker system dial-stdio']);
  // The user's own options come first and win: ssh keeps an option's first value.
  assert.deepEqual(sshArgs(parseSshHost('ssh://h/s.sock'), { DRAY_SSH_OPTS: '-F "/a b/cfg" -o ConnectTimeout=5 -o batchmode=no -T' }),
    ['-F', '/a b/cfg', '-o', 'ConnectTimeout=5', '-o', 'batchmode=no', '-T', '--', 'h',
      'command -v dray >/dev/null 2>&1 && exec dray --host=unix:///s.sock system dial-stdio || exec docker --host=unix:///s.sock system dial-stdio']);
  assert.equal(sshArgs(spec, { DRAY_SSH_REMOTE_COMMAND: 'sudo /opt/dray system dial-stdio' }).at(-1), 'sudo /opt/dray system dial-stdio');
  assert.throws(() => sshArgs(spec, { DRAY_SSH_OPTS: '-F "x' }), /DRAY_SSH_OPTS: invalid command line string/);
});

test('query encoding: booleans, lists, filters as JSON', () => {
  assert.equal(encodeQuery({ all: true, size: false, x: undefined, names: ['a', 'b'], filters: { status: ['exited'] } }),
    '?all=1&size=0&names=a&names=b&filters=%7B%22status%22%3A%5B%22exited%22%5D%7D');
});
