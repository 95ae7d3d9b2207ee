import { useEffect, useState } from 'preact/hooks';
import { act, actJson, get, getOwn, type PruneEstimate, type EngineEvent } from '../api';
import { ago, bytes, shortId } from '../format';
import { useLiveList } from '../live';
import { toastError } from '../toast';
import { ProgressView, useProgress } from '../progress';
import { nameOf, type ContainerSummary } from './Containers';

interface ImageSummary { Id: string; RepoTags: string[] | null; RepoDigests?: string[] | null; Size: number; Created: number; Containers?: number }
interface HistoryItem { Id: string; Created: number; CreatedBy: string; Size: number; Tags: string[] | null; Comment: string }

const dangling = (i: ImageSummary) => !(i.RepoTags ?? []).some((t) => t !== '<none>:<none>') && !(i.RepoDigests ?? []).some((d) => !d.startsWith('<none>'));

/** An image's layers, newest first, as `docker history`; refetched when the image changes. */
function History({ id }: { id: string }) {
  const [items, setItems] = useState<HistoryItem[]>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    const ac = new AbortController();
    get<HistoryItem[]>(`/images/${encodeURIComponent(id)}/history`, ac.signal).then(setItems, (e) => { if (!ac.signal.aborted) setError((e as Error).message); });
    return () => ac.abort();
  }, [id]);
  if (error) return <p role="alert">History: {error}</p>;
  if (!items) return <p class="muted">Loading the history…</p>;
  return (
    <table aria-label={`History of image ${shortId(id)}`} data-history={id}>
      <thead><tr><th>Created by</th><th>Size</th><th class="hide-narrow">Created</th></tr></thead>
      <tbody>
        {items.map((h, i) => (
          <tr key={i} data-step={i}>
            <td class="wrap"><code>{h.CreatedBy.replace(/^\/bin\/sh -c #\(nop\)\s+/, '').replace(/^\/bin\/sh -c /, 'RUN ') || '—'}</code>{h.Comment && <span class="muted"> · {h.Comment}</span>}</td>
            <td>{bytes(h.Size)}</td>
            <td class="hide-narrow">{h.Created ? ago(h.Created) : '—'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function UsedBy({ users }: { users: ContainerSummary[] }) {
  if (!users.length) return <span class="muted">no container</span>;
  return (
    <span data-used-by={users.map(nameOf).join(',')}>
      {users.map((c, i) => <span key={c.Id}>{i > 0 && ', '}<a href={`#/container/${encodeURIComponent(c.Id)}`}>{nameOf(c)}</a> <span class="muted">({c.State})</span></span>)}
    </span>
  );
}

function Pull() {
  const [ref, setRef] = useState('');
  const { state, run } = useProgress();
  const busy = !!state && !state.done;
  const submit = (e: Event) => {
    e.preventDefault();
    const r = ref.trim();
    if (!r) return;
    // Without a tag, latest (not --all-tags, which is what the API does with none).
    const last = r.slice(r.lastIndexOf('/') + 1);
    const q = /[:@]/.test(last) ? `fromImage=${encodeURIComponent(r)}` : `fromImage=${encodeURIComponent(r)}&tag=latest`;
    void run(`/images/create?${q}`);
  };
  return (
    <section aria-label="Pull an image">
      <form class="inline toolbar" onSubmit={submit}>
        <label for="pull-ref">Pull</label>
        <input id="pull-ref" type="text" placeholder="registry/repository:tag" value={ref} onInput={(e) => setRef((e.target as HTMLInputElement).value)} size={36} />
        <button type="submit" disabled={busy || !ref.trim()} aria-label="Pull the image">Pull</button>
      </form>
      <ProgressView state={state} label="Pull progress" />
    </section>
  );
}

export function Images() {
  // An untagged commit makes an image with no image event (as Docker): the container's commit says so.
  const imageEvent = (e: EngineEvent) => e.Type === 'image' || (e.Type === 'container' && e.Action === 'commit');
  const { data, error } = useLiveList((s) => get<ImageSummary[]>('/images/json', s), imageEvent);
  const estimate = useLiveList((s) => getOwn<PruneEstimate>('/prune-estimate', s), (e) => imageEvent(e) || (e.Type === 'container' && /^(create|destroy)$/.test(e.Action)));
  const containers = useLiveList((s) => get<ContainerSummary[]>('/containers/json?all=1', s),
    (e) => e.Type === 'container' && /^(create|destroy|start|die|stop|pause|unpause|rename)$/.test(e.Action));
  const [busy, setBusy] = useState('');
  const [open, setOpen] = useState<string>();
  const push = useProgress();
  const [pushing, setPushing] = useState<string>();
  const [pruneNote, setPruneNote] = useState<string>();
  if (error && !data) return <p role="alert">Could not list images: {error}</p>;
  if (!data) return <p class="muted">Loading…</p>;
  const usersOf = (id: string) => (containers.data ?? []).filter((c) => (c as ContainerSummary & { ImageID?: string }).ImageID === id);
  const rows = data.flatMap((i) => {
    const tags = (i.RepoTags ?? []).filter((t) => t !== '<none>:<none>');
    return tags.length ? tags.map((t) => ({ i, ref: t, label: t })) : [{ i, ref: i.Id, label: '<none>' }];
  }).sort((a, b) => a.label.localeCompare(b.label));
  const total = data.reduce((n, i) => n + i.Size, 0);
  // What `docker image prune` takes (dangling images no container uses, and the layers no image
  // left holds), as drayd works it out.
  const est = estimate.data?.images;
  const prunable = { length: est?.images ?? data.filter((i) => dangling(i) && usersOf(i.Id).length === 0).length };
  const prunableSize = est?.bytes ?? 0;
  const remove = async (ref: string) => {
    if (!confirm(`Remove image ${ref}?`)) return;
    setBusy(ref);
    try { await act('DELETE', `/images/${encodeURIComponent(ref)}`); } catch (e) { toastError(e); } finally { setBusy(''); }
  };
  const doPush = async (ref: string) => {
    setPushing(ref);
    const i = ref.lastIndexOf(':');
    const name = i > ref.lastIndexOf('/') ? ref.slice(0, i) : ref;
    const tag = i > ref.lastIndexOf('/') ? ref.slice(i + 1) : 'latest';
    await push.run(`/images/${encodeURIComponent(name)}/push?tag=${encodeURIComponent(tag)}`);
  };
  const prune = async () => {
    if (!confirm(`Remove ${prunable.length} dangling image${prunable.length === 1 ? '' : 's'} (${bytes(prunableSize)})?`)) return;
    try {
      const r = await actJson<{ ImagesDeleted: unknown[] | null; SpaceReclaimed: number }>('/images/prune');
      setPruneNote(`Removed ${(r.ImagesDeleted ?? []).length} entries, ${bytes(r.SpaceReclaimed)} freed.`);
    } catch (e) { toastError(e); }
  };
  return (
    <>
      <h1>Images <span class="muted">({data.length}, {bytes(total)})</span></h1>
      <div class="toolbar">
        <button onClick={prune} disabled={!prunable.length} aria-label={`Prune dangling images, frees ${bytes(prunableSize)}`} data-prune-frees={prunableSize}>
          Prune dangling ({prunable.length}, frees {bytes(prunableSize)})
        </button>
        {pruneNote && <span class="muted" role="status">{pruneNote}</span>}
      </div>
      <Pull />
      {pushing && <><h2>Push {pushing}</h2><ProgressView state={push.state} label={`Push progress of ${pushing}`} /></>}
      <div class="panel">
        {!rows.length ? <p class="empty">No images.</p> : (
          <table>
            <thead><tr><th>Repository:tag</th><th>ID</th><th>Size</th><th class="hide-narrow">Created</th><th class="hide-narrow">Used by</th><th>Actions</th></tr></thead>
            <tbody>
              {rows.flatMap(({ i, ref, label }) => {
                const shown = label === '<none>' ? shortId(i.Id) : label;
                const expanded = open === ref;
                const out = [
                  <tr key={ref} data-ref={ref}>
                    <td class="wrap">
                      <button class="link" aria-expanded={expanded} aria-controls={`img-${shortId(i.Id)}`} onClick={() => setOpen(expanded ? undefined : ref)} aria-label={`${expanded ? 'Hide' : 'Show'} the layers of ${shown}`}>{expanded ? '▾' : '▸'}</button> {label}
                    </td>
                    <td><code>{shortId(i.Id)}</code></td>
                    <td>{bytes(i.Size)}</td>
                    <td class="hide-narrow">{ago(i.Created)}</td>
                    <td class="hide-narrow wrap"><UsedBy users={usersOf(i.Id)} /></td>
                    <td class="actions">
                      {label !== '<none>' && <button disabled={!!push.state && !push.state.done} onClick={() => void doPush(ref)} aria-label={`Push ${label}`}>Push</button>}
                      <button class="danger" disabled={busy === ref} onClick={() => remove(ref)} aria-label={`Remove image ${shown}`}>Remove</button>
                    </td>
                  </tr>,
                ];
                if (expanded) out.push(<tr key={`${ref}/detail`} class="detail" id={`img-${shortId(i.Id)}`}><td colSpan={6}><History id={i.Id} /></td></tr>);
                return out;
              })}
            </tbody>
          </table>
        )}
      </div>
    </>
  );
}
