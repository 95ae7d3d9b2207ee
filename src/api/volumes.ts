// /volumes: parse, call the VolumeService, encode. Errors travel to the one error map.
import { Router } from './router';
import { sendJson, sendNoContent, readJsonBody, parseFilters, qBool } from './http';
import { versionNumber } from './version';
import type { VolumeService, VolumeCreateRequest } from '../engine/volumes';
import { invalid } from '../lib/errors';

/** Before API 1.42, prune removed every unused volume; since then only anonymous ones without all=true. */
const PRUNE_ANONYMOUS_ONLY_SINCE = versionNumber('1.42');

export function registerVolumeRoutes(r: Router, volumes: VolumeService): void {
  r.get('/volumes', async (req) => {
    const f = parseFilters(req.query.get('filters'));
    sendJson(req.res, 200, { Volumes: volumes.list(f), Warnings: null });
  });

  r.post('/volumes/create', async (req) => {
    const body = await readJsonBody<VolumeCreateRequest & { ClusterVolumeSpec?: unknown }>(req.raw);
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw invalid('invalid JSON: volume create request must be an object');
    if (body.ClusterVolumeSpec) throw invalid('cluster volumes are not supported: this node is not a swarm manager');
    sendJson(req.res, 201, await volumes.create({ Name: body.Name, Driver: body.Driver, DriverOpts: body.DriverOpts, Labels: body.Labels }));
  });

  r.post('/volumes/prune', async (req) => {
    const filters = parseFilters(req.query.get('filters'));
    const all = req.version < PRUNE_ANONYMOUS_ONLY_SINCE;
    sendJson(req.res, 200, await volumes.prune({ all, filters }));
  });

  r.get('/volumes/:name', async (req) => sendJson(req.res, 200, volumes.get(req.params.name)));

  r.delete('/volumes/:name', async (req) => {
    await volumes.remove(req.params.name, qBool(req.query, 'force'));
    sendNoContent(req.res);
  });
}
