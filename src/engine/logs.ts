// Container logs as conmon writes them (k8s-file): `<RFC3339Nano> <stdout|stderr> <F|P> <text>\n`,
// F a full line, P a partial one. Rotation keeps `<log>.1 … <log>.N` (oldest has the highest N):
// the daemon renames the live file and asks conmon to reopen it, so no line is lost.
// Reading never parses more than it must: --since binary-searches each file by timestamp and
// --tail reads from the end.
import { promises as fsp, constants, watch } from 'node:fs';

export interface LogEntry { stream: 1 | 2; time: string; text: Buffer; partial: boolean }

export interface ReadOptions {
  stdout: boolean;
  stderr: boolean;
  /** Seconds since the epoch (fractional); 0 = no bound. */
  since?: number;
  until?: number;
  tail?: number;
  follow?: boolean;
  /** Resolves when following should stop (the container exited). */
  stopped?: Promise<unknown>;
  /** Aborts the read (the client went away). */
  signal?: AbortSignal;
}

const SP = 0x20;
const NL = 0x0a;

export function logFiles(base: string, maxFiles: number): string[] {
  const files: string[] = [];
  for (let i = maxFiles - 1; i >= 1; i--) files.push(`${base}.${i}`);
  files.push(base);
  return files;
}

/** Seconds since the epoch of a conmon timestamp like 2026-11-23T19:56:19.273785380+00:00. */
export function parseTime(ts: string): number {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(ts);
  if (!m) return NaN;
  return Date.parse(m[1] + m[3]) / 1000 + (m[2] ? Number('0.' + m[2]) : 0);
}

/** Docker prints log timestamps in UTC with nanoseconds: 2026-11-23T19:56:19.273785380Z. */
export function dockerTime(ts: string): string {
  if (ts.endsWith('+00:00')) return ts.slice(0, -6) + 'Z';
  if (ts.endsWith('Z')) return ts;
  const secs = parseTime(ts);
  const frac = /\.(\d+)/.exec(ts)?.[1] ?? '0';
  return new Date(Math.floor(secs) * 1000).toISOString().slice(0, 19) + '.' + frac.padEnd(9, '0') + 'Z';
}

function parseLine(line: Buffer): LogEntry | undefined {
  const a = line.indexOf(SP);
  if (a < 0) return undefined;
  const b = line.indexOf(SP, a + 1);
  if (b < 0) return undefined;
  const c = line.indexOf(SP, b + 1);
  const tag = line[b + 1];
  return {
    time: line.toString('latin1', 0, a),
    stream: line[a + 4] === 0x6f /* stdOut */ ? 1 : 2,
    partial: tag === 0x50 /* P */,
    text: c < 0 ? Buffer.alloc(0) : line.subarray(c + 1),
  };
}

async function fileSize(fh: fsp.FileHandle): Promise<number> { return (await fh.stat()).size; }

/** Offset of the first line at or after offset `pos` (pos itself if it starts a line). */
async function lineStartAfter(fh: fsp.FileHandle, pos: number, size: number): Promise<number> {
  if (pos === 0) return 0;
  const buf = Buffer.alloc(4096);
  let p = pos - 1;
  while (p < size) {
    const { bytesRead } = await fh.read(buf, 0, buf.length, p);
    if (bytesRead === 0) return size;
    const i = buf.subarray(0, bytesRead).indexOf(NL);
    if (i >= 0) return p + i + 1;
    p += bytesRead;
  }
  return size;
}

async function timeAt(fh: fsp.FileHandle, pos: number): Promise<number> {
  const buf = Buffer.alloc(64);
  const { bytesRead } = await fh.read(buf, 0, 64, pos);
  const sp = buf.subarray(0, bytesRead).indexOf(SP);
  return sp < 0 ? Infinity : parseTime(buf.toString('latin1', 0, sp));
}

/** Binary search for the first line whose time is >= since. */
async function seekSince(fh: fsp.FileHandle, size: number, since: number): Promise<number> {
  let lo = 0;
  let hi = size;
  while (hi - lo > 4096) {
    const mid = await lineStartAfter(fh, Math.floor((lo + hi) / 2), size);
    if (mid >= hi) break;
    if ((await timeAt(fh, mid)) < since) lo = mid; else hi = mid;
  }
  return lo;
}

/** Offset where the last `n` lines of the file start. */
async function seekTail(fh: fsp.FileHandle, size: number, n: number): Promise<{ pos: number; found: number }> {
  if (n <= 0) return { pos: size, found: 0 };
  const chunk = 64 * 1024;
  const buf = Buffer.alloc(chunk);
  let end = size;
  let count = 0;
  // The final newline ends the last line and does not start a new one.
  let skipLast = true;
  while (end > 0) {
    const start = Math.max(0, end - chunk);
    const len = end - start;
    await fh.read(buf, 0, len, start);
    for (let i = len - 1; i >= 0; i--) {
      if (buf[i] !== NL) continue;
      if (skipLast && start + i === size - 1) { skipLast = false; continue; }
      count++;
      if (count === n) return { pos: start + i + 1, found: count };
    }
    end = start;
  }
  return { pos: 0, found: count + (size > 0 ? 1 : 0) };
}

async function openIfExists(f: string): Promise<fsp.FileHandle | undefined> {
  try { return await fsp.open(f, constants.O_RDONLY); } catch (e: any) { if (e.code === 'ENOENT') return undefined; throw e; }
}

/** Yields batches of entries in order, following the live file if asked. */
export async function* readLogs(base: string, maxFiles: number, o: ReadOptions): AsyncGenerator<LogEntry[]> {
  const files = logFiles(base, maxFiles);
  const handles: { f: string; fh: fsp.FileHandle; start: number; size: number }[] = [];
  try {
    for (const f of files) {
      const fh = await openIfExists(f);
      if (fh) handles.push({ f, fh, start: 0, size: await fileSize(fh) });
    }
    if (o.since) {
      // Skip whole files that end before `since`, then search inside the first relevant one.
      for (const h of handles) {
        if (h.size === 0) continue;
        h.start = await seekSince(h.fh, h.size, o.since);
        if (h.start < h.size) break;
      }
    }
    if (o.tail !== undefined && o.tail >= 0) {
      let need = o.tail;
      for (let i = handles.length - 1; i >= 0; i--) {
        const h = handles[i];
        if (need <= 0) { h.start = h.size; continue; }
        const { pos, found } = await seekTail(h.fh, h.size, need);
        h.start = Math.max(h.start, pos);
        need -= found;
      }
    }
    const live = handles.find((h) => h.f === base);
    for (const h of handles) {
      if (h === live && o.follow) break;
      for await (const batch of readRange(h.fh, h.start, h.size, o)) {
        if (batch === 'until') return;
        yield batch;
      }
    }
    if (!live && !o.follow) return;
    if (!o.follow) return;
    yield* follow(base, live, o);
  } finally {
    await Promise.all(handles.map((h) => h.fh.close().catch(() => {})));
  }
}

async function* readRange(fh: fsp.FileHandle, start: number, end: number, o: ReadOptions): AsyncGenerator<LogEntry[] | 'until'> {
  const chunk = 256 * 1024;
  let pos = start;
  let carry: Buffer = Buffer.alloc(0);
  const buf = Buffer.alloc(chunk);
  // The binary search lands up to a block early: drop lines before `since` until the first one after.
  let sinceCheck = !!o.since;
  while (pos < end) {
    if (o.signal?.aborted) return;
    const { bytesRead } = await fh.read(buf, 0, Math.min(chunk, end - pos), pos);
    if (bytesRead === 0) break;
    pos += bytesRead;
    const data = carry.length ? Buffer.concat([carry, buf.subarray(0, bytesRead)]) : Buffer.from(buf.subarray(0, bytesRead));
    const out: LogEntry[] = [];
    let s = 0;
    for (let i = data.indexOf(NL); i >= 0; i = data.indexOf(NL, s)) {
      const e = parseLine(data.subarray(s, i));
      s = i + 1;
      if (!e) continue;
      if (sinceCheck) {
        if (parseTime(e.time) < o.since!) continue;
        sinceCheck = false;
      }
      if (o.until && parseTime(e.time) > o.until) { if (out.length) yield out; yield 'until'; return; }
      if ((e.stream === 1 && o.stdout) || (e.stream === 2 && o.stderr)) out.push(e);
    }
    carry = data.subarray(s);
    if (out.length) yield out;
  }
}

/** Follows the live log file across rotations until `stopped` resolves and the file is drained. */
async function* follow(base: string, h: { fh: fsp.FileHandle; start: number; size: number } | undefined, o: ReadOptions): AsyncGenerator<LogEntry[]> {
  let fh = h?.fh ?? await openIfExists(base);
  let pos = h?.start ?? 0;
  let ino = fh ? (await fh.stat()).ino : 0;
  let stopped = false;
  o.stopped?.then(() => { stopped = true; wake(); }, () => { stopped = true; wake(); });
  let wakeFn: (() => void) | undefined;
  const wake = () => { const w = wakeFn; wakeFn = undefined; w?.(); };
  o.signal?.addEventListener('abort', wake);
  let watcher: ReturnType<typeof watch> | undefined;
  try { watcher = watch(base, { persistent: false }, wake); } catch { /* not there yet: polling covers it */ }
  try {
    for (;;) {
      if (o.signal?.aborted) return;
      const wasStopped = stopped;
      if (fh) {
        const size = (await fh.stat()).size;
        if (size > pos) {
          for await (const b of readRange(fh, pos, size, o)) {
            if (b === 'until') return;
            yield b;
          }
          // readRange consumed whole lines only; a trailing partial line is re-read next time
          pos = await lastLineEnd(fh, pos, size);
        }
      }
      // Rotated: drain the old file (done above), then switch to the new one.
      const cur = await fsp.stat(base).catch(() => undefined);
      if (cur && cur.ino !== ino) {
        if (fh && fh !== h?.fh) await fh.close();
        fh = await openIfExists(base);
        ino = cur.ino;
        pos = 0;
        try { watcher?.close(); watcher = watch(base, { persistent: false }, wake); } catch { /* ignore */ }
        continue;
      }
      if (wasStopped) return;
      await new Promise<void>((r) => { wakeFn = r; setTimeout(wake, 250); });
    }
  } finally {
    watcher?.close();
    o.signal?.removeEventListener('abort', wake);
    if (fh && fh !== h?.fh) await fh.close().catch(() => {});
  }
}

async function lastLineEnd(fh: fsp.FileHandle, from: number, size: number): Promise<number> {
  const chunk = 64 * 1024;
  const buf = Buffer.alloc(chunk);
  let end = size;
  while (end > from) {
    const start = Math.max(from, end - chunk);
    await fh.read(buf, 0, end - start, start);
    const i = buf.subarray(0, end - start).lastIndexOf(NL);
    if (i >= 0) return start + i + 1;
    end = start;
  }
  return from;
}

/** Renames the live log to .1 (shifting older ones) so conmon can be told to reopen it. */
export async function rotate(base: string, maxFiles: number): Promise<void> {
  if (maxFiles <= 1) { await fsp.truncate(base, 0).catch(() => {}); return; }
  await fsp.rm(`${base}.${maxFiles - 1}`, { force: true });
  for (let i = maxFiles - 2; i >= 1; i--) await fsp.rename(`${base}.${i}`, `${base}.${i + 1}`).catch(() => {});
  await fsp.rename(base, `${base}.1`).catch(() => {});
}

/** Docker's multiplexed-stream frame: [stream, 0, 0, 0, size(4, BE)] + payload. */
export function frame(stream: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(payload.length, 4);
  return Buffer.concat([h, payload]);
}
