import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { readLogs, parseTime, dockerTime, frame, rotate } from '../../src/engine/logs';

function line(sec: number, stream: string, text: string, tag = 'F') {
  const t = new Date(sec * 1000).toISOString().slice(0, 19) + '.' + String(Math.round((sec % 1) * 1e9)).padStart(9, '0') + '+00:00';
  return `${t} ${stream} ${tag} ${text}\n`;
}

async function collect(base: string, o: Parameters<typeof readLogs>[2]) {
  const out: string[] = [];
  for await (const b of readLogs(base, 3, o)) for (const e of b) out.push(`${e.stream}:${e.text.toString()}${e.partial ? '' : '\\n'}`);
  return out;
}

test('timestamps parse and print as Docker does', () => {
  assert.equal(parseTime('2026-11-23T19:56:19.273785380+00:00'), Date.parse('2026-11-23T19:56:19Z') / 1000 + 0.27378538);
  assert.equal(dockerTime('2026-11-23T19:56:19.273785380+00:00'), '2026-11-23T19:56:19.273785380Z');
  assert.equal(dockerTime('2026-11-23T21:56:19.000000001+02:00'), '2026-11-23T19:56:19.000000001Z');
});

test('frames carry stream and big-endian size', () => {
  assert.deepEqual([...frame(2, Buffer.from('ab'))], [2, 0, 0, 0, 0, 0, 0, 2, 97, 98]);
});

test('reads across rotated files, with streams, tail, since and until', async () => {
  const dir = mkdtempSync('/tmp/dray-logs-');
  try {
    const base = path.join(dir, 'c.log');
    let body = '';
    for (let i = 0; i < 3000; i++) body += line(1000 + i, i % 2 ? 'stderr' : 'stdout', `l${i}`);
    writeFileSync(base + '.1', body);
    writeFileSync(base, line(5000, 'stdout', 'part-', 'P') + line(5000.5, 'stdout', 'end') + line(6000, 'stderr', 'last'));
    const all = await collect(base, { stdout: true, stderr: true });
    assert.equal(all.length, 3003);
    assert.equal(all[0], '1:l0\\n');
    assert.deepEqual(all.slice(-3), ['1:part-', '1:end\\n', '2:last\\n']);
    assert.deepEqual(await collect(base, { stdout: true, stderr: true, tail: 4 }), ['1:l2999\\n'.replace('1:', '2:'), '1:part-', '1:end\\n', '2:last\\n']);
    const since = await collect(base, { stdout: true, stderr: false, since: 3990 });
    assert.deepEqual(since.slice(0, 2), ['1:l2990\\n', '1:l2992\\n']);
    assert.deepEqual(await collect(base, { stdout: false, stderr: true, since: 5500 }), ['2:last\\n']);
    assert.deepEqual(await collect(base, { stdout: true, stderr: true, since: 1000, until: 1002 }), ['1:l0\\n', '2:l1\\n', '1:l2\\n']);
    assert.deepEqual(await collect(base, { stdout: true, stderr: true, tail: 0 }), []);
    await rotate(base, 3);
    assert.equal((await collect(base, { stdout: true, stderr: true })).length, 3003, 'rotation loses nothing');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('follow picks up appended lines and stops when told', async () => {
  const dir = mkdtempSync('/tmp/dray-logs-');
  try {
    const base = path.join(dir, 'c.log');
    writeFileSync(base, line(1, 'stdout', 'a'));
    let stop!: () => void;
    const stopped = new Promise<void>((r) => (stop = r));
    const got: string[] = [];
    const reader = (async () => {
      for await (const b of readLogs(base, 3, { stdout: true, stderr: true, follow: true, stopped })) for (const e of b) got.push(e.text.toString());
    })();
    await new Promise((r) => setTimeout(r, 100));
    writeFileSync(base, line(1, 'stdout', 'a') + line(2, 'stdout', 'b'));
    await new Promise((r) => setTimeout(r, 400));
    stop();
    await reader;
    assert.deepEqual(got, ['a', 'b']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
