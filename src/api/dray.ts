// Dray's own endpoints, outside the Docker API: /dray/*.
import { Router } from './router';
import { sendJson } from './http';
import type { Engine } from '../engine/engine';
import { invalid } from '../lib/errors';
import { bootstrapBusybox } from '../engine/bootstrap';

export function registerDrayRoutes(r: Router, engine: Engine): void {
  r.post('/dray/images/bootstrap', async (req) => {
    const name = req.query.get('name') ?? 'busybox';
    if (name !== 'busybox') throw invalid(`no bootstrap recipe for "${name}" (available: busybox)`);
    const img = await bootstrapBusybox(engine.images);
    sendJson(req.res, 200, { Id: img.id, RepoTags: img.repoTags });
  });
}
