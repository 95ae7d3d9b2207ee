import { useState } from 'preact/hooks';
import { act, get } from '../api';
import { ago, bytes, shortId } from '../format';
import { useLiveList } from '../live';
import { toastError } from '../toast';

interface ImageSummary { Id: string; RepoTags: string[] | null; Size: number; Created: number; Containers?: number }

/** One row per tag, as `docker images`; removing a tag removes the image with its last tag. */
export function Images() {
  const { data, error } = useLiveList((s) => get<ImageSummary[]>('/images/json', s), (e) => e.Type === 'image');
  const [busy, setBusy] = useState('');
  if (error && !data) return <p role="alert">Could not list images: {error}</p>;
  if (!data) return <p class="muted">Loading…</p>;
  const rows = data.flatMap((i) => {
    const tags = (i.RepoTags ?? []).filter((t) => t !== '<none>:<none>');
    return tags.length ? tags.map((t) => ({ i, ref: t, label: t })) : [{ i, ref: i.Id, label: '<none>' }];
  }).sort((a, b) => a.label.localeCompare(b.label));
  const total = data.reduce((n, i) => n + i.Size, 0);
  const remove = async (ref: string) => {
    if (!confirm(`Remove image ${ref}?`)) return;
    setBusy(ref);
    try { await act('DELETE', `/images/${encodeURIComponent(ref)}`); } catch (e) { toastError(e); } finally { setBusy(''); }
  };
  return (
    <>
      <h1>Images <span class="muted">({data.length}, {bytes(total)})</span></h1>
      <div class="panel">
        {!rows.length ? <p class="empty">No images.</p> : (
          <table>
            <thead><tr><th>Repository:tag</th><th>ID</th><th>Size</th><th class="hide-narrow">Created</th><th>Actions</th></tr></thead>
            <tbody>
              {rows.map(({ i, ref, label }) => (
                <tr key={ref} data-ref={ref}>
                  <td class="wrap">{label}</td>
                  <td><code>{shortId(i.Id)}</code></td>
                  <td>{bytes(i.Size)}</td>
                  <td class="hide-narrow">{ago(i.Created)}</td>
                  <td><button class="danger" disabled={busy === ref} onClick={() => remove(ref)} aria-label={`Remove image ${label === '<none>' ? shortId(i.Id) : label}`}>Remove</button></td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
    </>
  );
}
