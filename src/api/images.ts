// /images routes: parse, call ImageService, encode. Streaming endpoints (load, create) answer an
// error with a status code while nothing has been sent, and with a JSON error line after that, as
// Docker does.
import type { ServerResponse } from 'node:http';
import { Router } from './router';
import { parseFilters, qBool, sendJson, startJsonStream } from './http';
import type { ImageService } from '../engine/images';
import type { DistributionService } from '../engine/distribution';
import { decodeRegistryAuth } from '../registry/remote/credentials';
import { openImportUrl } from '../engine/import-url';
import { invalid, notImplemented, errorMessage } from '../lib/errors';

export interface ImageRouteDeps {
  containersUsingImage(imageId: string): { id: string; running: boolean }[];
  distribution: DistributionService;
}

/** A JSON-lines stream that sends its 200 header only with the first object. */
function lazyStream(res: ServerResponse) {
  let write: ((obj: unknown) => void) | undefined;
  return {
    write(obj: unknown) { (write ??= startJsonStream(res))(obj); },
    get started() { return write !== undefined; },
    /** Sends the 200 header now, so a later failure is a line of the stream. */
    begin() { write ??= startJsonStream(res); },
    /** After a failure: an error line if streaming began, else rethrow for a status code. */
    fail(err: unknown): void {
      if (!write) throw err;
      const message = errorMessage(err);
      write({ errorDetail: { message }, error: message });
    },
    end() { if (!write) startJsonStream(res); res.end(); },
  };
}

export function registerImageRoutes(router: Router, images: ImageService, deps: ImageRouteDeps): void {
  images.setUsageCheck((id) => deps.containersUsingImage(id));

  router.get('/images/json', async (req) => {
    const filters = parseFilters(req.query.get('filters'));
    const legacy = req.query.get('filter');
    if (legacy) filters.set('reference', [...(filters.get('reference') ?? []), legacy]);
    const list = await images.listFiltered({ all: qBool(req.query, 'all'), filters });
    const digests = qBool(req.query, 'digests', true);
    // As Docker: SharedSize is computed only when asked for (it walks every image), else -1.
    const shared = qBool(req.query, 'shared-size') ? (await images.layerSharing()).shared : undefined;
    sendJson(req.res, 200, list.map((i) => {
      const s = images.summary(i) as Record<string, unknown>;
      if (!digests) s.RepoDigests = [];
      if (shared) s.SharedSize = shared.get(i.id) ?? 0;
      return s;
    }));
  });

  router.get('/images/search', () => {
    // Docker's search asks Docker Hub's index (its v1 search API), which registries of the
    // Distribution spec do not serve; Dray has no index to ask.
    throw notImplemented('image search is not implemented in Dray: it needs Docker Hub\'s search index');
  });

  router.get('/images/get', async (req) => {
    const names = req.query.getAll('names').flatMap((n) => n.split(',')).filter(Boolean);
    if (names.length === 0) throw invalid('no image names given');
    await sendArchive(req.res, images, names);
  });

  // Docker answers a load 200 whatever happens and reports a bad archive on the stream (the
  // Python SDK's images.load() raises ImageLoadError from that line, not from a status code).
  router.post('/images/load', async (req) => {
    const out = lazyStream(req.res);
    try {
      await images.load(req.raw, (line) => out.write({ stream: line }));
    } catch (e) {
      out.begin();
      out.fail(e);
    }
    out.end();
  });

  router.post('/images/create', async (req) => {
    const q = req.query;
    const fromSrc = q.get('fromSrc');
    const fromImage = q.get('fromImage');
    if (fromSrc !== null && fromSrc !== '') {
      const repo = q.get('repo') || '';
      const tag = q.get('tag') || '';
      const ref = repo ? (tag ? `${repo}:${tag}` : repo) : undefined;
      const changes = q.getAll('changes').flatMap((c) => c.split('\n')).filter((c) => c.trim());
      const out = lazyStream(req.res);
      try {
        let src: NodeJS.ReadableStream = req.raw;
        let message = q.get('message') || undefined;
        if (fromSrc !== '-') {
          req.raw.resume();
          // Docker's history comment for an import from a URL names it.
          message ??= `Imported from ${fromSrc}`;
          src = await openImportUrl(fromSrc, (m) => out.write(m));
        }
        const img = await images.importRootfs(src, { ref, changes, message });
        out.write({ status: img.id });
      } catch (e) {
        out.fail(e);
      }
      out.end();
      return;
    }
    if (fromImage) {
      const tag = q.get('tag') || '';
      const ref = tag ? (tag.includes(':') ? `${fromImage}@${tag}` : `${fromImage}:${tag}`) : fromImage;
      req.raw.resume();
      const creds = decodeRegistryAuth(req.raw.headers['x-registry-auth']);
      const platform = q.get('platform') || undefined;
      const out = lazyStream(req.res);
      try {
        const progress = (m: object) => out.write(m);
        // No tag in either place: every tag of the repository (docker pull --all-tags), as Docker.
        if (!tag && !/[:@]/.test(fromImage.slice(fromImage.lastIndexOf('/') + 1))) await deps.distribution.pullAllTags(fromImage, { platform, creds, progress });
        else await deps.distribution.pull(ref, { platform, creds, progress });
      } catch (e) {
        out.fail(e);
      }
      out.end();
      return;
    }
    throw invalid('either fromImage or fromSrc is required');
  });

  router.post('/images/prune', async (req) => {
    const r = await images.prune({ all: false, filters: parseFilters(req.query.get('filters')) });
    sendJson(req.res, 200, { ImagesDeleted: r.ImagesDeleted.length ? r.ImagesDeleted : null, SpaceReclaimed: r.SpaceReclaimed });
  });

  router.get('/images/*name/json', async (req) => {
    sendJson(req.res, 200, images.inspect(await images.resolve(req.params.name)));
  });

  router.get('/images/*name/history', async (req) => {
    sendJson(req.res, 200, images.history(await images.resolve(req.params.name)));
  });

  router.get('/images/*name/get', async (req) => {
    await sendArchive(req.res, images, [req.params.name]);
  });

  router.post('/images/*name/tag', async (req) => {
    const repo = req.query.get('repo') || '';
    const tag = req.query.get('tag') || '';
    if (!repo) throw invalid('invalid reference format');
    await images.tag(req.params.name, tag ? `${repo}:${tag}` : repo);
    req.res.writeHead(201);
    req.res.end();
  });

  router.post('/images/*name/push', async (req) => {
    req.raw.resume();
    const creds = decodeRegistryAuth(req.raw.headers['x-registry-auth']);
    const out = lazyStream(req.res);
    try {
      await deps.distribution.push(req.params.name, req.query.get('tag') || undefined, { creds, progress: (m) => out.write(m) });
    } catch (e) {
      out.fail(e);
    }
    out.end();
  });

  router.delete('/images/*name', async (req) => {
    const records = await images.remove(req.params.name, { force: qBool(req.query, 'force'), noprune: qBool(req.query, 'noprune') });
    sendJson(req.res, 200, records);
  });
}

async function sendArchive(res: ServerResponse, images: ImageService, names: string[]): Promise<void> {
  for (const n of names) await images.resolve(n); // errors before the 200
  res.writeHead(200, { 'Content-Type': 'application/x-tar' });
  await images.save(names, res);
}
