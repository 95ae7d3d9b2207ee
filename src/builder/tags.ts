// Small pieces of the build request that the API needs from the builder's side of the house.
import * as path from 'node:path';
import { invalid } from '../lib/errors';
import { StoreLayout } from '../store/layout';
import { parseReference, withDefaultTag, familiarString } from '../store/reference';

/** `t` values checked before anything is built, as Docker does; returned as "name:tag". */
export function normalizeTags(tags: string[]): string[] {
  const out: string[] = [];
  for (const t of tags) {
    if (!t) continue;
    const r = parseReference(t);
    if (r.digest) throw invalid(`invalid reference format: ${t}: cannot tag with a digest`);
    const f = familiarString(withDefaultTag(r));
    if (!out.includes(f)) out.push(f);
  }
  return out;
}

/** Build contexts live in the image store's tmp/, which the daemon empties at start. */
export function buildTmpDir(dataRoot: string): string {
  return path.join(new StoreLayout(dataRoot).tmpDir);
}
