import { test } from 'node:test';
import assert from 'node:assert/strict';
import { progressBar, layerProgress, layerStatus, statusLine, Throttle, shortDigest } from '../../src/registry/remote/progress';
import { ProgressPrinter } from '../../src/cli/commands/pull-progress';

test('the progress bar is JSONProgress.String() at a daemon\'s 200 columns', () => {
  // Bytes from a real dockerd's stream.
  assert.equal(progressBar(36445, 1064365), '[=>                                                 ]  36.45kB/1.064MB');
  assert.equal(progressBar(33280, 3145728), '[>                                                  ]  33.28kB/3.146MB');
  assert.equal(progressBar(34304, 1982256), '[>                                                  ]   34.3kB/1.982MB');
  assert.equal(progressBar(3147264, 3145728), '[==================================================>]  3.147MB');
  assert.equal(progressBar(1064365, 1064365), '[==================================================>]  1.064MB/1.064MB');
  assert.equal(progressBar(0, 0), '');
  assert.equal(progressBar(1500, 0), '   1.5kB');
  // A narrow terminal gets the counts only.
  assert.equal(progressBar(500, 1000, 80), '    500B/1kB');
});

test('messages have Docker\'s shape', () => {
  assert.deepEqual(layerStatus('a3ed95caeb02', 'Pull complete'), { status: 'Pull complete', progressDetail: {}, id: 'a3ed95caeb02' });
  assert.deepEqual(layerProgress('a3ed95caeb02', 'Downloading', 1, 2), { status: 'Downloading', progressDetail: { current: 1, total: 2 }, progress: progressBar(1, 2), id: 'a3ed95caeb02' });
  assert.deepEqual(statusLine('Pulling from library/busybox', 'latest'), { status: 'Pulling from library/busybox', id: 'latest' });
  assert.deepEqual(statusLine('Digest: sha256:x'), { status: 'Digest: sha256:x' });
  assert.equal(shortDigest('sha256:75dbe6f77a90084719df89a69778e50306accd0485ed8f96ee7ab2023a69d92a'), '75dbe6f77a90');
});

test('updates come every 1% or 512 KiB, and always the last', () => {
  const t = new Throttle(100 * 1024 * 1024);
  assert.equal(t.due(100, 100 * 1024 * 1024), false);
  assert.equal(t.due(100 * 1024 * 1024, 100 * 1024 * 1024), true);
});

function sink(tty: boolean, columns = 120) {
  let text = '';
  const out = { isTTY: tty, columns, write: (s: string) => { text += s; return true; } } as unknown as NodeJS.WriteStream;
  const printer = new ProgressPrinter(out, tty);
  // The daemon's message type is the client's, seen from the other side.
  return { p: { print: (m: object) => printer.print(m as Parameters<ProgressPrinter['print']>[0]) }, text: () => text };
}

test('without a terminal the CLI prints status lines and leaves the counts out, as docker does', () => {
  const { p, text } = sink(false);
  p.print(statusLine('Pulling from test/bb', 'v1'));
  p.print(layerStatus('aaa', 'Pulling fs layer'));
  p.print(layerProgress('aaa', 'Downloading', 10, 100));
  p.print(layerStatus('aaa', 'Pull complete'));
  p.print(statusLine('Digest: sha256:x'));
  assert.equal(text(), 'v1: Pulling from test/bb\naaa: Pulling fs layer\naaa: Pull complete\nDigest: sha256:x\n');
});

test('on a terminal each layer keeps its line and is redrawn in place', () => {
  const { p, text } = sink(true, 120);
  p.print(layerStatus('aaa', 'Pulling fs layer'));
  p.print(layerStatus('bbb', 'Pulling fs layer'));
  p.print(layerProgress('aaa', 'Downloading', 50, 100));
  const ESC = '\x1b[';
  assert.equal(text(),
    `\n${ESC}1A${ESC}2K\raaa: Pulling fs layer \r${ESC}1B`
    + `\n${ESC}1A${ESC}2K\rbbb: Pulling fs layer \r${ESC}1B`
    + `${ESC}2A${ESC}2K\raaa: Downloading [=========================>                         ]      50B/100B\r${ESC}2B`);
});
