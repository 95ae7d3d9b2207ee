// The Distribution API's routes: which handler a path goes to, its repository name and reference,
// and the access the request needs (Docker's token scopes). A name may hold slashes, so each
// pattern anchors on the route's fixed tail; the upload routes are tried before the blob route
// they would otherwise fall into.
import { regError } from '../errors';
import { validName } from '../names';
import { Access, CATALOG } from '../auth/access';

export type RouteName = 'base' | 'catalog' | 'manifest' | 'blob' | 'upload-start' | 'upload' | 'tags' | 'referrers';

export interface Route {
  name: RouteName;
  repo?: string;
  /** tag or digest (manifest), digest (blob, referrers), upload id (upload) */
  ref?: string;
}

const PATTERNS: [RouteName, RegExp][] = [
  ['upload-start', /^\/v2\/(.+)\/blobs\/uploads\/?$/],
  ['upload', /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/],
  ['manifest', /^\/v2\/(.+)\/manifests\/([^/]+)$/],
  ['blob', /^\/v2\/(.+)\/blobs\/([^/]+)$/],
  ['tags', /^\/v2\/(.+)\/tags\/list$/],
  ['referrers', /^\/v2\/(.+)\/referrers\/([^/]+)$/],
];

const METHODS: Record<RouteName, string[]> = {
  base: ['GET', 'HEAD'],
  catalog: ['GET'],
  manifest: ['GET', 'HEAD', 'PUT', 'DELETE'],
  blob: ['GET', 'HEAD', 'DELETE'],
  'upload-start': ['POST'],
  upload: ['GET', 'PATCH', 'PUT', 'DELETE'],
  tags: ['GET'],
  referrers: ['GET'],
};

/** The route of a /v2 path, or undefined when the path is not the API's. Throws NAME_INVALID. */
export function matchRoute(pathname: string): Route | undefined {
  if (pathname === '/v2' || pathname === '/v2/') return { name: 'base' };
  if (pathname === '/v2/_catalog') return { name: 'catalog' };
  for (const [name, re] of PATTERNS) {
    const m = re.exec(pathname);
    if (!m) continue;
    let repo: string;
    let ref: string | undefined;
    try {
      repo = decodeURIComponent(m[1]);
      ref = m[2] === undefined ? undefined : decodeURIComponent(m[2]);
    } catch {
      throw regError('NAME_INVALID', { name: m[1] });
    }
    if (!validName(repo)) throw regError('NAME_INVALID', { name: repo });
    return { name, repo, ref };
  }
  return undefined;
}

export function methodAllowed(r: Route, method: string): boolean {
  return METHODS[r.name].includes(method);
}

/** The scopes a request on `r` with `method` needs. */
export function accessNeeded(r: Route, method: string): Access[] {
  const repo = (actions: string[]): Access[] => [{ type: 'repository', name: r.repo!, actions }];
  switch (r.name) {
    case 'base': return [];
    case 'catalog': return [CATALOG];
    case 'manifest':
      if (method === 'PUT') return repo(['pull', 'push']);
      if (method === 'DELETE') return repo(['delete']);
      return repo(['pull']);
    case 'blob': return method === 'DELETE' ? repo(['delete']) : repo(['pull']);
    case 'upload-start':
    case 'upload': return repo(['pull', 'push']);
    case 'tags':
    case 'referrers': return repo(['pull']);
  }
}
