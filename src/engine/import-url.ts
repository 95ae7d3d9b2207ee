// `docker import <url>`: the tarball fetched by drayd (fromSrc=<http(s) URL>), redirects followed,
// streamed into the import as it arrives (the blob store verifies and commits it; nothing is
// kept of a download that fails), with Docker's "Downloading from" line and "Importing" progress.
import { Readable } from 'node:stream';
import { invalid, systemError, errorMessage } from '../lib/errors';
import { progressBar } from '../lib/jsonprogress';

/** The body of `url` as a stream, counting its bytes into `progress` as they go by. */
export async function openImportUrl(url: string, progress: (m: object) => void, signal?: AbortSignal): Promise<Readable> {
  let u: URL;
  try { u = new URL(url); } catch { throw invalid(`invalid URL: ${url}`); }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw invalid(`unsupported URL scheme ${u.protocol.replace(/:$/, '')}: ${url} (http or https)`);
  progress({ status: `Downloading from ${url}` });
  let res: Response;
  try {
    res = await fetch(u, { redirect: 'follow', signal, headers: { 'User-Agent': 'dray' } });
  } catch (e) {
    const cause = (e as { cause?: unknown }).cause;
    throw systemError(`Get "${url}": ${errorMessage(cause ?? e)}`);
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel().catch(() => {});
    throw systemError(`Get "${url}": ${res.status} ${res.statusText}`.trim());
  }
  const total = Number(res.headers.get('content-length') ?? 0) || 0;
  let current = 0;
  let shown = 0;
  const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
  body.on('data', (c: Buffer) => {
    current += c.length;
    // A line per MiB at most: a client draws the bar, it need not see every chunk.
    if (current - shown >= 1 << 20 || current === total) {
      shown = current;
      progress({ status: 'Importing', progressDetail: total ? { current, total } : { current }, progress: total ? progressBar(current, total) : undefined });
    }
  });
  return body;
}
