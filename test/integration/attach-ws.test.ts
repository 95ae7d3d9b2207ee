// TTY sessions: detach keys read by drayd on attach and exec input (Docker's default and custom
// ones), and the WebSocket attach endpoint, against a real drayd with raw clients.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { randomBytes } from 'node:crypto';
import { TestDaemon, sleep, within } from '../helpers/daemon';

const d = new TestDaemon();

before(async () => {
  await d.start();
  await d.bootstrapBusybox();
});

after(async () => {
  assert.deepEqual(await d.stop(), [], 'nothing may be left behind');
});

/** A hijacked POST (Upgrade: tcp), as the docker CLI opens attach and exec start. */
async function hijack(p: string, body?: unknown): Promise<{ sock: net.Socket; output: () => string; ended: Promise<void> }> {
  const sock = net.connect(d.socket);
  const data = body === undefined ? '' : JSON.stringify(body);
  sock.write(`POST ${p} HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(data)}\r\n\r\n${data}`);
  let buf = '';
  sock.on('data', (b) => { buf += b.toString('latin1'); });
  const ended = new Promise<void>((r) => { sock.on('end', () => r()); sock.on('close', () => r()); });
  for (let i = 0; i < 100 && !buf.includes('\r\n\r\n'); i++) await sleep(20);
  assert.match(buf, /^HTTP\/1\.1 101/);
  return { sock, output: () => buf.slice(buf.indexOf('\r\n\r\n') + 4), ended };
}

async function until(pred: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) assert.fail(what);
    await sleep(20);
  }
}

const bounded = (p: Promise<void>, ms: number) => within(p.then(() => true), ms, false);

test('attach to a TTY: ctrl-p ctrl-q detaches, the container runs on; a broken sequence is passed on', async () => {
  const id = await d.runDetached(['cat'], { Tty: true, OpenStdin: true });
  const a = await hijack(`/containers/${id}/attach?stream=1&stdin=1&stdout=1`);
  a.sock.write('hello\r');
  await until(() => a.output().includes('hello'), `echo of the input: ${JSON.stringify(a.output())}`);
  // ctrl-p then "x": not the sequence, so both reach the container (cat shows ^P as it is typed).
  a.sock.write(Buffer.from([16, 0x78]));
  a.sock.write('\r');
  await until(() => a.output().includes('^Px'), `a broken sequence passed on: ${JSON.stringify(a.output())}`);
  a.sock.write(Buffer.from([16, 17]));
  assert.ok(await bounded(a.ended, 5000), 'the client was detached');
  const s = (await d.api('GET', `/containers/${id}/json`)).json.State;
  assert.equal(s.Running, true, 'the container runs on');
  // Custom keys, and Docker's 400 for bad ones.
  const b = await hijack(`/containers/${id}/attach?stream=1&stdin=1&stdout=1&detachKeys=ctrl-x,y`);
  b.sock.write(Buffer.from([24, 0x79]));
  assert.ok(await bounded(b.ended, 5000), 'custom detach keys');
  const bad = await d.api('POST', `/containers/${id}/attach?stream=1&stdin=1&detachKeys=ctrl-xx`);
  assert.equal(bad.status, 400);
  assert.equal(bad.json.message, 'Invalid detach keys (ctrl-xx) provided');
  await d.api('DELETE', `/containers/${id}?force=1`);
});

test('exec with a TTY: its DetachKeys detach the client and the process runs on', async () => {
  const id = await d.runDetached(['sleep', '600']);
  const ex = await d.api('POST', `/containers/${id}/exec`, { Cmd: ['cat'], Tty: true, AttachStdin: true, AttachStdout: true, DetachKeys: 'ctrl-a' });
  assert.equal(ex.status, 201, ex.body.toString());
  const s = await hijack(`/exec/${ex.json.Id}/start`, { Detach: false, Tty: true });
  s.sock.write('typed\r');
  await until(() => s.output().includes('typed'), 'echo');
  s.sock.write(Buffer.from([1]));
  assert.ok(await bounded(s.ended, 5000), 'detached');
  assert.equal((await d.api('GET', `/exec/${ex.json.Id}/json`)).json.Running, true, 'the exec runs on');
  await d.api('DELETE', `/containers/${id}?force=1`);
});

/** A minimal WebSocket client over the unix socket: handshake, masked frames out, frames in. */
async function wsConnect(p: string): Promise<{ send: (s: string) => void; messages: () => { op: number; text: string }[]; close: () => void; closed: Promise<void> }> {
  const sock = net.connect(d.socket);
  const key = randomBytes(16).toString('base64');
  sock.write(`GET ${p} HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n\r\n`);
  let buf = Buffer.alloc(0);
  let head = '';
  const msgs: { op: number; text: string }[] = [];
  const closed = new Promise<void>((r) => sock.on('close', () => r()));
  sock.on('data', (b: Buffer) => {
    buf = Buffer.concat([buf, b]);
    if (!head) {
      const i = buf.indexOf('\r\n\r\n');
      if (i < 0) return;
      head = buf.subarray(0, i).toString();
      buf = buf.subarray(i + 4);
    }
    while (buf.length >= 2) {
      let len = buf[1] & 0x7f;
      let off = 2;
      if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
      if (buf.length < off + len) return;
      msgs.push({ op: buf[0] & 0x0f, text: buf.subarray(off, off + len).toString() });
      buf = buf.subarray(off + len);
    }
  });
  for (let i = 0; i < 100 && !head; i++) await sleep(20);
  assert.match(head, /^HTTP\/1\.1 101 Switching Protocols/);
  const expected = (await import('node:crypto')).createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
  assert.match(head, new RegExp(`Sec-WebSocket-Accept: ${expected.replace(/[+/]/g, '\\$&')}`));
  const frame = (op: number, payload: Buffer) => {
    const mask = randomBytes(4);
    const masked = Buffer.from(payload.map((x, i) => x ^ mask[i & 3]));
    return Buffer.concat([Buffer.from([0x80 | op, 0x80 | payload.length]), mask, masked]);
  };
  return {
    send: (s) => sock.write(frame(1, Buffer.from(s))),
    messages: () => msgs,
    close: () => sock.write(frame(8, Buffer.from([0x03, 0xe8]))),
    closed,
  };
}

test('the WebSocket attach: output in frames, messages as stdin, logs replayed, binary frames from API 1.42', async () => {
  const id = await d.runDetached(['sh', '-c', 'echo before; while read l; do echo "got $l"; done'], { OpenStdin: true });
  await sleep(200);
  const ws = await wsConnect(`/v1.47/containers/${id}/attach/ws?logs=1&stream=1&stdin=1&stdout=1&stderr=1`);
  await until(() => ws.messages().some((m) => m.text.includes('before')), 'the log replayed');
  ws.send('line one\n');
  await until(() => ws.messages().map((m) => m.text).join('').includes('got line one\n'), `stdin reached it: ${JSON.stringify(ws.messages())}`);
  assert.ok(ws.messages().every((m) => m.op === 2), 'binary frames at API 1.47');
  assert.ok(!ws.messages().map((m) => m.text).join('').includes('\u0001\u0000'), 'no multiplexing header');
  ws.close();
  assert.ok(await bounded(ws.closed, 5000), 'the close handshake ends the connection');
  const old = await wsConnect(`/v1.41/containers/${id}/attach/ws?stream=1&stdin=1&stdout=1`);
  old.send('two\n');
  await until(() => old.messages().map((m) => m.text).join('').includes('got two'), `API 1.41: ${JSON.stringify(old.messages())} ${JSON.stringify((await d.api('GET', '/containers/' + id + '/json')).json.State)}`);
  assert.ok(old.messages().every((m) => m.op === 1), 'text frames before API 1.42');
  old.close();
  await bounded(old.closed, 5000);
  const plain = await d.api('GET', `/containers/${id}/attach/ws?stream=1`);
  assert.equal(plain.status, 400, 'a request that is not a WebSocket one');
  assert.equal((await d.api('GET', `/containers/${id}/json`)).json.State.Running, true);
  await d.api('DELETE', `/containers/${id}?force=1`);
});
