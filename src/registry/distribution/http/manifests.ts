// /v2/<name>/manifests/<reference>: GET and HEAD (by tag or digest), PUT, DELETE (by digest: the
// manifest and every tag on it; by tag: the tag).
import { MAX_MANIFEST } from '../manifest';
import { parseReference, tooLarge } from '../registry';
import type { ReqCtx } from './context';

export async function manifestHandler(c: ReqCtx): Promise<void> {
  const reg = c.s.registry;
  const ref = parseReference(c.route.ref!);
  switch (c.method) {
    case 'GET':
    case 'HEAD': {
      const m = await reg.getManifest(c.repo, ref, c.method);
      const etag = `"${m.digest.text}"`;
      const headers = { 'Docker-Content-Digest': m.digest.text, ETag: etag };
      const inm = c.header('if-none-match');
      if (inm && inm.split(',').map((s) => s.trim()).some((t) => t === etag || t === m.digest.text)) {
        c.reply(304, headers);
        return;
      }
      c.reply(200, { 'Content-Type': m.mediaType, ...headers }, m.body);
      if (c.method === 'GET') c.notify('pull', { mediaType: m.mediaType, digest: m.digest.text, size: m.body.length, url: c.location(`/v2/${c.repo}/manifests/${m.digest.text}`), tag: ref.tag });
      return;
    }
    case 'PUT': {
      reg.writable();
      const body = await c.readBody(MAX_MANIFEST, tooLarge);
      const r = await reg.putManifest(c.repo, ref, body, c.header('content-type'));
      const headers: Record<string, string> = {
        Location: c.location(`/v2/${c.repo}/manifests/${r.digest.text}`),
        'Docker-Content-Digest': r.digest.text,
      };
      if (r.subject) headers['OCI-Subject'] = r.subject.text;
      c.reply(201, headers);
      c.notify('push', { mediaType: r.mediaType, digest: r.digest.text, size: body.length, url: headers.Location, tag: ref.tag });
      return;
    }
    case 'DELETE':
      await reg.deleteManifest(c.repo, ref);
      c.reply(202);
      c.notify('delete', ref.digest ? { digest: ref.digest.text } : { tag: ref.tag });
      return;
  }
}
