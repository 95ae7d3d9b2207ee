// /v2/<name>/blobs/<digest>: GET (whole, or one byte range), HEAD, DELETE (unlinks the blob from
// the repository; GC frees the bytes once nothing references them). On storage that can, a GET is
// redirected to a presigned URL.
import { regError } from '../errors';
import { parseDigest } from '../names';
import type { ReqCtx } from './context';

/** One byte range of a Range header over `size` bytes: undefined to ignore the header (not one range). */
export function parseRange(h: string, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(h.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || start > end) return 'unsatisfiable';
  return { start, end };
}

export async function blobHandler(c: ReqCtx): Promise<void> {
  const reg = c.s.registry;
  const d = parseDigest(c.route.ref!);
  if (c.method === 'DELETE') {
    await reg.deleteBlob(c.repo, d);
    c.reply(202, { 'Docker-Content-Digest': d.text });
    c.notify('delete', { digest: d.text });
    return;
  }
  const method = c.method === 'HEAD' ? 'HEAD' : 'GET';
  const headers: Record<string, string> = {
    'Docker-Content-Digest': d.text,
    ETag: `"${d.text}"`,
    'Accept-Ranges': 'bytes',
    'Cache-Control': 'max-age=31536000',
    'Content-Type': 'application/octet-stream',
  };
  // A HEAD is how a pusher learns it may skip an upload: it relies on the blob from then on.
  const size = await reg.blobSize(c.repo, d, method === 'HEAD');
  const pulled = (n: number) => c.notify('pull', { mediaType: 'application/octet-stream', digest: d.text, size: n, url: c.location(`/v2/${c.repo}/blobs/${d.text}`) });
  if (size === undefined) {
    const up = reg.upstream && (await reg.upstream.blob(c.repo, d, method));
    if (!up) throw regError('BLOB_UNKNOWN', { digest: d.text });
    if (!up.body) { c.reply(200, { ...headers, 'Content-Length': up.size }); return; }
    await c.stream(200, headers, up.body, up.size);
    pulled(up.size);
    return;
  }
  if (method === 'HEAD') { c.reply(200, { ...headers, 'Content-Length': size }); return; }
  const url = await reg.blobs.redirect(d, 'GET');
  if (url) { c.reply(307, { Location: url, 'Docker-Content-Digest': d.text }); pulled(size); return; }
  const rh = c.header('range');
  const range = rh !== undefined ? parseRange(rh, size) : undefined;
  if (range === 'unsatisfiable') {
    throw regError('RANGE_INVALID', { range: rh, size }, { message: `requested range not satisfiable: ${rh} of ${size} bytes` })
      .withHeader('Content-Range', `bytes */${size}`);
  }
  if (range) {
    const len = range.end - range.start + 1;
    await c.send(206, { ...headers, 'Content-Range': `bytes ${range.start}-${range.end}/${size}` }, len, (w) => reg.blobs.send(d, range.start, len, w));
    pulled(size);
    return;
  }
  await c.send(200, headers, size, (w) => reg.blobs.send(d, 0, size, w));
  pulled(size);
}
