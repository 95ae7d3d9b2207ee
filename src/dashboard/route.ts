// GET /dray/dashboard on drayd's API socket (root-only, like the rest of it): the dashboard's URL
// with its token, starting the listener if it is not running yet. `dray dashboard` prints it.
import type { Router } from '../api/router';
import { sendJson } from '../api/http';
import { unavailable } from '../lib/errors';
import type { Dashboard } from './server';

export function registerDashboardRoute(r: Router, dashboard: Dashboard): void {
  r.get('/dray/dashboard', async (req) => {
    let url: string;
    try { url = await dashboard.url(); } catch (e) { throw unavailable((e as Error).message); }
    sendJson(req.res, 200, { URL: url });
  });
}
