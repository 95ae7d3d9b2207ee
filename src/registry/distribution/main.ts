// dist/dray-registry.js: the registry server and its maintenance commands, a bundle of its own so
// that no other dray command loads it (or the AWS SDK). `dray registry …` (src/cli/commands/
// registry.ts) requires this file at run time and calls one of the functions below.
import { log, setDebug } from '../../lib/log';
import { enableIdleGc } from '../../lib/idle-gc';
import { errorMessage } from '../../lib/errors';
import { ConfigError, Flags, loadConfig, parseDuration, parseSize } from './config';
import { openRegistry, startServer, RunningServer } from './server';
import { collectGarbage } from './gc';
import { scrub } from './scrub';

export { startServer, loadConfig };
export type { RunningServer };

/** Thrown for a bad configuration: the CLI prints the message and exits 1. */
export { ConfigError };

const fmtBytes = (n: number) => (n >= 1 << 30 ? `${(n / 2 ** 30).toFixed(2)} GiB` : n >= 1 << 20 ? `${(n / 2 ** 20).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`);

/** Runs the server in the foreground until SIGINT or SIGTERM. */
export async function serve(flags: Flags): Promise<number> {
  const cfg = loadConfig(flags);
  setDebug(cfg.log.level === 'debug');
  // after a burst of pushes and pulls, half a minute without a request gives their memory back
  enableIdleGc();
  const srv = await startServer(cfg);
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      log.info('dray registry stopping', { signal: sig });
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      srv.close().then(resolve, (e) => { log.error('shutdown', { error: errorMessage(e) }); resolve(); });
    };
    const onInt = () => stop('SIGINT');
    const onTerm = () => stop('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  });
  return 0;
}

export interface GcFlags extends Flags { dryRun?: boolean; deleteUntagged?: boolean; delay?: string; json?: boolean }

/** One garbage collection over the storage; safe while a server runs on the same storage. */
export async function gc(flags: GcFlags, out: NodeJS.WritableStream): Promise<number> {
  const cfg = loadConfig(flags);
  setDebug(cfg.log.level === 'debug');
  const reg = openRegistry(cfg, false);
  try {
    const r = await collectGarbage(reg, {
      delayMs: flags.delay !== undefined ? parseDuration(flags.delay, '--delay') : cfg.gc.delayMs,
      deleteUntagged: flags.deleteUntagged ?? cfg.gc.deleteUntagged,
      dryRun: flags.dryRun,
    });
    if (flags.json) out.write(JSON.stringify(r, null, 2) + '\n');
    else {
      if (flags.dryRun) for (const d of r.deleted) out.write(`would delete ${d}\n`);
      out.write(`${r.repositories} repositories, ${r.manifests} manifests, ${r.blobs} blobs (${r.marked} referenced)\n`);
      out.write(`${flags.dryRun ? 'would delete' : 'deleted'} ${r.blobsDeleted} blobs (${fmtBytes(r.bytesFreed)})${r.manifestsDeleted ? ` and ${r.manifestsDeleted} untagged manifests` : ''}${r.restored ? `; ${r.restored} kept, used during the run` : ''} in ${(r.durationMs / 1000).toFixed(2)} s\n`);
    }
    return 0;
  } finally {
    await reg.driver.close?.();
  }
}

export interface ScrubFlags extends Flags { rate?: string; json?: boolean }

/** Re-verifies every blob; exits 1 when one does not match its digest. */
export async function scrubCommand(flags: ScrubFlags, out: NodeJS.WritableStream): Promise<number> {
  const cfg = loadConfig(flags);
  setDebug(cfg.log.level === 'debug');
  const reg = openRegistry(cfg, false);
  try {
    const r = await scrub(reg, { rateBytesPerSec: flags.rate !== undefined ? parseSize(flags.rate, '--rate') : 0 });
    if (flags.json) out.write(JSON.stringify(r, null, 2) + '\n');
    else {
      for (const c of r.corrupt) out.write(`CORRUPT ${c.digest} (content hashes to ${c.actual}, ${c.size} bytes)\n`);
      out.write(`checked ${r.checked} blobs (${fmtBytes(r.bytes)}) in ${(r.durationMs / 1000).toFixed(2)} s: ${r.corrupt.length ? `${r.corrupt.length} corrupt` : 'all match their digests'}\n`);
    }
    return r.corrupt.length ? 1 : 0;
  } finally {
    await reg.driver.close?.();
  }
}
