// Blob uploads: POST /v2/<name>/blobs/uploads/ starts one (or, with ?digest=, is the whole upload;
// with ?mount=&from=, links a blob another repository has), PATCH appends a chunk, PUT ?digest=
// finishes it, GET tells how far it got, DELETE cancels it.
import { regError, isRegistryError } from '../errors';
import { parseDigest, validName } from '../names';
import { rangeHeader } from '../store/uploads';
import type { ReqCtx } from './context';

/** "<start>-<end>" (inclusive), as the spec writes Content-Range; "bytes " or "bytes=" tolerated. */
function parseContentRange(h: string | undefined): { start: number; end: number } | undefined {
  if (h === undefined) return undefined;
  const m = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(h.trim());
  if (!m) throw regError('BLOB_UPLOAD_INVALID', { contentRange: h }, { message: `blob upload invalid: malformed Content-Range ${JSON.stringify(h)}` });
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (start > end) throw regError('RANGE_INVALID', { contentRange: h });
  return { start, end };
}

/** Content-Range and Content-Length must agree on the chunk's length (distribution's check). */
function checkedRange(c: ReqCtx): { start: number; end: number } | undefined {
  const r = parseContentRange(c.header('content-range'));
  const cl = c.header('content-length');
  if (r && cl !== undefined && Number(cl) !== r.end - r.start + 1) {
    throw regError('SIZE_INVALID', { contentRange: c.header('content-range'), contentLength: Number(cl) });
  }
  return r;
}

function uploadHeaders(c: ReqCtx, id: string, size: number): Record<string, string> {
  return {
    Location: c.location(`/v2/${c.repo}/blobs/uploads/${id}`),
    Range: rangeHeader(size),
    'Docker-Upload-UUID': id,
  };
}

function created(c: ReqCtx, digest: string): void {
  c.reply(201, { Location: c.location(`/v2/${c.repo}/blobs/${digest}`), 'Docker-Content-Digest': digest });
}

const blobPushed = (c: ReqCtx, digest: string, size: number) =>
  c.notify('push', { mediaType: 'application/octet-stream', digest, size, url: c.location(`/v2/${c.repo}/blobs/${digest}`) });

export async function uploadStartHandler(c: ReqCtx): Promise<void> {
  const reg = c.s.registry;
  reg.writable();
  const mount = c.query('mount');
  const from = c.query('from');
  if (mount !== undefined) {
    const d = parseDigest(mount);
    // Without pull access to the source, or if it lacks the blob, this is an ordinary upload:
    // the spec's fallback, and no way to learn what another repository holds.
    if (from !== undefined && validName(from) && c.identity.can({ type: 'repository', name: from, actions: ['pull'] }) && (await reg.mount(c.repo, from, d))) {
      created(c, d.text);
      c.notify('mount', { mediaType: 'application/octet-stream', digest: d.text, size: await reg.blobSize(c.repo, d, false), url: c.location(`/v2/${c.repo}/blobs/${d.text}`), fromRepository: from });
      return;
    }
  }
  const digest = c.query('digest');
  if (digest !== undefined) {
    const d = parseDigest(digest);
    const r = await reg.uploads.ingest(c.repo, d, c.body());
    c.s.metrics.blobsCommitted.inc({ result: r.deduplicated ? 'deduplicated' : 'stored' });
    created(c, d.text);
    blobPushed(c, r.digest.text, r.size);
    return;
  }
  const st = await reg.uploads.start(c.repo);
  c.reply(202, uploadHeaders(c, st.id, 0));
}

export async function uploadHandler(c: ReqCtx): Promise<void> {
  const reg = c.s.registry;
  const uploads = reg.uploads;
  const id = c.route.ref!;
  switch (c.method) {
    case 'GET': {
      const st = await uploads.status(c.repo, id);
      c.reply(204, uploadHeaders(c, id, st.size));
      return;
    }
    case 'PATCH': {
      reg.writable();
      const range = checkedRange(c);
      try {
        const st = await uploads.append(c.repo, id, c.body(), range?.start);
        c.reply(202, uploadHeaders(c, id, st.size));
      } catch (e) {
        // a chunk out of order: 416 with where the upload stands, so the client can resume
        if (isRegistryError(e, 'RANGE_INVALID')) {
          e.withHeader('Location', c.location(`/v2/${c.repo}/blobs/uploads/${id}`)).withHeader('Docker-Upload-UUID', id);
        }
        throw e;
      }
      return;
    }
    case 'PUT': {
      reg.writable();
      const digest = c.query('digest');
      if (digest === undefined) throw regError('DIGEST_INVALID', 'digest missing', { message: 'digest missing: PUT needs ?digest=' });
      const d = parseDigest(digest);
      const range = checkedRange(c);
      const r = await uploads.complete(c.repo, id, d, c.hasBody() ? c.body() : undefined, range?.start);
      c.s.metrics.blobsCommitted.inc({ result: r.deduplicated ? 'deduplicated' : 'stored' });
      created(c, d.text);
      blobPushed(c, r.digest.text, r.size);
      return;
    }
    case 'DELETE':
      await uploads.cancel(c.repo, id);
      c.reply(204, { 'Docker-Upload-UUID': id });
      return;
  }
}
