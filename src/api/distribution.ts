// POST /auth and GET /distribution/{name}/json: the registry routes that are not about local images.
import { Router } from './router';
import { readJsonBody, sendJson } from './http';
import type { DistributionService } from '../engine/distribution';
import { decodeRegistryAuth, normalizeAuthConfig } from '../registry/remote/credentials';

export function registerDistributionRoutes(r: Router, dist: DistributionService): void {
  r.post('/auth', async (req) => {
    const creds = normalizeAuthConfig(await readJsonBody(req.raw));
    sendJson(req.res, 200, await dist.login(creds));
  });

  r.get('/distribution/*name/json', async (req) => {
    sendJson(req.res, 200, await dist.inspect(req.params.name, decodeRegistryAuth(req.raw.headers['x-registry-auth'])));
  });
}
