// A container's files, one directory at a time (the dashboard's /api/files, read as `docker cp`
// reads: what the container sees, volumes included); a regular file downloads as itself.
import { useEffect, useState } from 'preact/hooks';
import { bytes } from '../format';

interface Entry { name: string; type: 'dir' | 'file' | 'link' | 'other'; size: number; mode: number; mtime: string; target?: string }
interface Listing { path: string; entries: Entry[]; truncated: boolean }

const join = (dir: string, name: string) => (dir === '/' ? `/${name}` : `${dir}/${name}`);
const parentOf = (p: string) => p.replace(/\/[^/]+$/, '') || '/';

function modeString(e: Entry): string {
  const t = { dir: 'd', file: '-', link: 'l', other: '?' }[e.type];
  let s = t;
  for (let i = 8; i >= 0; i--) s += (e.mode >> i) & 1 ? 'rwx'[(8 - i) % 3] : '-';
  return s;
}

export function Files({ id }: { id: string }) {
  const [dir, setDir] = useState('/');
  const [listing, setListing] = useState<Listing>();
  const [error, setError] = useState<string>();
  const [open, setOpen] = useState(false);
  useEffect(() => {
    if (!open) return;
    const ac = new AbortController();
    setError(undefined);
    fetch(`/api/files/${encodeURIComponent(id)}?path=${encodeURIComponent(dir)}`, { signal: ac.signal, credentials: 'same-origin' })
      .then(async (r) => {
        const body = await r.json().catch(() => ({ message: `${r.status} ${r.statusText}` }));
        if (!r.ok) throw new Error(body.message);
        setListing(body);
      })
      .catch((e) => { if (!ac.signal.aborted) setError((e as Error).message); });
    return () => ac.abort();
  }, [id, dir, open]);
  const crumbs = dir === '/' ? [] : dir.slice(1).split('/');
  return (
    <section aria-label="Files">
      <h2>Files</h2>
      {!open ? <button onClick={() => setOpen(true)} aria-label="Browse the container's files">Browse files</button> : (
        <div class="panel" data-dir={listing?.path}>
          <nav class="toolbar" aria-label="Directory" style="padding: .5rem .8rem; margin: 0">
            <button onClick={() => setDir('/')} aria-label="Go to the root directory">/</button>
            {crumbs.map((c, i) => {
              const to = '/' + crumbs.slice(0, i + 1).join('/');
              return <button key={to} onClick={() => setDir(to)} aria-label={`Go to ${to}`} aria-current={to === dir ? 'location' : undefined}>{c}</button>;
            })}
          </nav>
          {error && <p role="alert" class="empty">{error}</p>}
          {listing && listing.path === dir && (
            <table>
              <thead><tr><th>Name</th><th>Size</th><th class="hide-narrow">Mode</th><th class="hide-narrow">Modified</th><th>Actions</th></tr></thead>
              <tbody>
                {dir !== '/' && <tr><td colSpan={5}><a href="#" onClick={(e) => { e.preventDefault(); setDir(parentOf(dir)); }} aria-label="Up to the parent directory">..</a></td></tr>}
                {listing.entries.map((e) => {
                  const p = join(dir, e.name);
                  return (
                    <tr key={e.name} data-entry={e.name} data-type={e.type}>
                      <td class="wrap">{e.type === 'dir'
                        ? <a href="#" onClick={(ev) => { ev.preventDefault(); setDir(p); }} aria-label={`Open directory ${p}`}>{e.name}/</a>
                        : <span>{e.name}{e.target !== undefined && <span class="muted"> → {e.target}</span>}</span>}</td>
                      <td>{e.type === 'file' ? bytes(e.size) : <span class="muted">—</span>}</td>
                      <td class="hide-narrow"><code>{modeString(e)}</code></td>
                      <td class="hide-narrow">{new Date(e.mtime).toLocaleString()}</td>
                      <td>{e.type === 'file' && <a href={`/api/files/${encodeURIComponent(id)}/download?path=${encodeURIComponent(p)}`} download={e.name} aria-label={`Download ${p}`}>Download</a>}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          )}
          {listing?.truncated && <p class="empty">Only the first {listing.entries.length} entries are shown.</p>}
        </div>
      )}
    </section>
  );
}
