// Scrub: reads every stored blob back and checks it against its digest, at a bounded rate so a
// running registry keeps its disk for clients. Bit rot, a truncated file, a hand-edited store: each
// is reported in the log and in /metrics. Nothing is changed: a corrupt blob is evidence, and the
// fix (push the image again, restore from a copy) is the operator's.
import { log } from '../../lib/log';
import { errorMessage } from '../../lib/errors';
import { isNotFound } from './storage/driver';
import { newHash } from './names';
import type { Registry } from './registry';

export interface ScrubReport {
  startedAt: string;
  durationMs: number;
  checked: number;
  bytes: number;
  corrupt: { digest: string; actual: string; size: number }[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function scrub(reg: Registry, opts: { rateBytesPerSec: number; signal?: AbortSignal }): Promise<ScrubReport> {
  const t0 = Date.now();
  const report: ScrubReport = { startedAt: new Date(t0).toISOString(), durationMs: 0, checked: 0, bytes: 0, corrupt: [] };
  for await (const { digest, info } of reg.blobs.walk()) {
    if (opts.signal?.aborted) break;
    const h = newHash(digest.algorithm);
    let size = 0;
    try {
      for await (const c of await reg.blobs.reader(digest, 0)) {
        h.update(c as Buffer);
        size += (c as Buffer).length;
        report.bytes += (c as Buffer).length;
        if (opts.rateBytesPerSec > 0) {
          const ahead = report.bytes / opts.rateBytesPerSec * 1000 - (Date.now() - t0);
          if (ahead > 5) await sleep(ahead);
        }
      }
    } catch (e) {
      if (isNotFound(e)) continue; // deleted by GC while we walked
      log.error('scrub: cannot read blob', { digest: digest.text, error: errorMessage(e) });
      continue;
    }
    report.checked++;
    const actual = `${digest.algorithm}:${h.digest('hex')}`;
    if (actual !== digest.text) {
      report.corrupt.push({ digest: digest.text, actual, size });
      log.error('scrub: blob does not match its digest', { digest: digest.text, actual, size, storedSize: info.size });
    }
  }
  report.durationMs = Date.now() - t0;
  return report;
}
