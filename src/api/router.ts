// Minimal path router: "/containers/:id/start" patterns, matched after the /v1.NN prefix is removed.
import type { Handler } from './http';

interface Route { method: string; pattern: string; parts: string[]; handler: Handler }

export class Router {
  private routes: Route[] = [];

  add(method: string, pattern: string, handler: Handler): this {
    this.routes.push({ method, pattern, parts: pattern.split('/').filter(Boolean), handler });
    return this;
  }
  get(p: string, h: Handler) { return this.add('GET', p, h); }
  post(p: string, h: Handler) { return this.add('POST', p, h); }
  put(p: string, h: Handler) { return this.add('PUT', p, h); }
  delete(p: string, h: Handler) { return this.add('DELETE', p, h); }
  head(p: string, h: Handler) { return this.add('HEAD', p, h); }

  /** Returns the handler and params, or 'method' when the path exists for another method. */
  match(method: string, path: string): { handler: Handler; params: Record<string, string>; pattern: string } | 'method' | undefined {
    const segs = path.split('/').filter(Boolean).map(safeDecode);
    let pathMatched = false;
    for (const r of this.routes) {
      const params = matchParts(r.parts, segs);
      if (!params) continue;
      if (r.method === method || (method === 'HEAD' && r.method === 'GET')) return { handler: r.handler, params, pattern: r.pattern };
      pathMatched = true;
    }
    return pathMatched ? 'method' : undefined;
  }
}

function safeDecode(s: string): string {
  try { return decodeURIComponent(s); } catch { return s; }
}

// A trailing "*name" part swallows the rest of the path: image names contain slashes
// (/images/registry:5000/a/b/json is matched by /images/*name/json in two passes).
function matchParts(parts: string[], segs: string[]): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  const star = parts.findIndex((p) => p.startsWith('*'));
  if (star === -1) {
    if (parts.length !== segs.length) return undefined;
    for (let i = 0; i < parts.length; i++) {
      if (parts[i].startsWith(':')) params[parts[i].slice(1)] = segs[i];
      else if (parts[i] !== segs[i]) return undefined;
    }
    return params;
  }
  const before = parts.slice(0, star);
  const after = parts.slice(star + 1);
  if (segs.length < before.length + after.length + 1) return undefined;
  for (let i = 0; i < before.length; i++) {
    if (before[i].startsWith(':')) params[before[i].slice(1)] = segs[i];
    else if (before[i] !== segs[i]) return undefined;
  }
  const tailStart = segs.length - after.length;
  for (let i = 0; i < after.length; i++) {
    if (after[i].startsWith(':')) params[after[i].slice(1)] = segs[tailStart + i];
    else if (after[i] !== segs[tailStart + i]) return undefined;
  }
  params[parts[star].slice(1)] = segs.slice(before.length, tailStart).join('/');
  return params;
}
