// Content discovery: /v2/ itself, /v2/<name>/tags/list and /v2/_catalog (n/last pagination with a
// Link header to the next page), /v2/<name>/referrers/<digest> (with the artifactType filter).
import { regError } from '../errors';
import { parseDigest } from '../names';
import { OCI_INDEX } from '../manifest';
import { paginate } from '../registry';
import type { ReqCtx } from './context';

function pageSize(c: ReqCtx): number | undefined {
  const n = c.query('n');
  if (n === undefined || n === '') return undefined;
  if (!/^\d+$/.test(n)) throw regError('PAGINATION_NUMBER_INVALID', { n });
  return Number(n);
}

function nextLink(path: string, n: number, last: string): string {
  return `<${path}?${new URLSearchParams({ n: String(n), last })}>; rel="next"`;
}

export async function baseHandler(c: ReqCtx): Promise<void> {
  c.json(200, {});
}

export async function tagsHandler(c: ReqCtx): Promise<void> {
  const all = await c.s.registry.tags(c.repo);
  const n = pageSize(c);
  const { items, more } = paginate(all, n, c.query('last'));
  const headers: Record<string, string> = {};
  if (more && n) headers.Link = nextLink(`/v2/${c.repo}/tags/list`, n, items[items.length - 1]);
  c.json(200, { name: c.repo, tags: items }, headers);
}

export async function catalogHandler(c: ReqCtx): Promise<void> {
  const max = c.s.cfg.catalog.maxEntries;
  const asked = pageSize(c);
  const n = Math.min(asked ?? 100, max);
  // only what the caller may pull: the catalog must not tell one user another's repositories
  const all = (await c.s.registry.catalog()).filter((r) => c.identity.can({ type: 'repository', name: r, actions: ['pull'] }));
  const { items, more } = paginate(all, n, c.query('last'));
  const headers: Record<string, string> = {};
  if (more && n) headers.Link = nextLink('/v2/_catalog', n, items[items.length - 1]);
  c.json(200, { repositories: items }, headers);
}

export async function referrersHandler(c: ReqCtx): Promise<void> {
  const subject = parseDigest(c.route.ref!);
  const artifactType = c.query('artifactType');
  const r = await c.s.registry.referrers(c.repo, subject, artifactType);
  const headers: Record<string, string> = { 'Content-Type': OCI_INDEX };
  if (r.filtered) headers['OCI-Filters-Applied'] = 'artifactType';
  c.reply(200, headers, r.index);
}
