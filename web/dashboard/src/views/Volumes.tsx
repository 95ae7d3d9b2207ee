import { useState } from 'preact/hooks';
import { act, get } from '../api';
import { useLiveList } from '../live';
import { toastError } from '../toast';

interface Volume { Name: string; Driver: string; Mountpoint: string; CreatedAt?: string; Labels?: Record<string, string> | null }

export function Volumes() {
  const { data, error } = useLiveList((s) => get<{ Volumes: Volume[] | null }>('/volumes', s), (e) => e.Type === 'volume');
  const [busy, setBusy] = useState('');
  if (error && !data) return <p role="alert">Could not list volumes: {error}</p>;
  if (!data) return <p class="muted">Loading…</p>;
  const vols = (data.Volumes ?? []).slice().sort((a, b) => a.Name.localeCompare(b.Name));
  const remove = async (name: string) => {
    if (!confirm(`Remove volume ${name}? Its data is deleted.`)) return;
    setBusy(name);
    try { await act('DELETE', `/volumes/${encodeURIComponent(name)}`); } catch (e) { toastError(e); } finally { setBusy(''); }
  };
  return (
    <>
      <h1>Volumes <span class="muted">({vols.length})</span></h1>
      <div class="panel">
        {!vols.length ? <p class="empty">No volumes.</p> : (
          <table>
            <thead><tr><th>Name</th><th>Driver</th><th class="hide-narrow">Compose project</th><th class="hide-narrow">Mount point</th><th>Actions</th></tr></thead>
            <tbody>
              {vols.map((v) => (
                <tr key={v.Name} data-name={v.Name}>
                  <td class="wrap">{v.Name}</td>
                  <td>{v.Driver}</td>
                  <td class="hide-narrow">{v.Labels?.['com.docker.compose.project'] ?? <span class="muted">—</span>}</td>
                  <td class="wrap hide-narrow"><code>{v.Mountpoint}</code></td>
                  <td><button class="danger" disabled={busy === v.Name} onClick={() => remove(v.Name)} aria-label={`Remove volume ${v.Name}`}>Remove</button></td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
    </>
  );
}
