import { useState } from 'preact/hooks';
import { act, actBody, get } from '../api';
import { useLiveList } from '../live';
import { toastError } from '../toast';
import { useContainerUse, type WithUse } from '../users';
import { nameOf } from './Containers';

interface Volume { Name: string; Driver: string; Mountpoint: string; CreatedAt?: string; Labels?: Record<string, string> | null }

function Users({ users, what }: { users: WithUse[]; what: string }) {
  if (!users.length) return <span class="muted">—</span>;
  return (
    <span data-used-by={users.map(nameOf).join(',')} aria-label={`Containers using ${what}`}>
      {users.map((c, i) => <span key={c.Id}>{i > 0 && ', '}<a href={`#/container/${encodeURIComponent(c.Id)}`}>{nameOf(c)}</a></span>)}
    </span>
  );
}

export { Users };

function CreateVolume() {
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    // An empty name: drayd names it, as `docker volume create` does.
    try { await actBody('/volumes/create', name.trim() ? { Name: name.trim() } : {}); setName(''); } catch (err) { toastError(err); } finally { setBusy(false); }
  };
  return (
    <form class="inline toolbar" onSubmit={submit} aria-label="Create a volume">
      <label for="vol-name">New volume</label>
      <input id="vol-name" type="text" placeholder="name (empty: a random one)" value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
      <button type="submit" disabled={busy} aria-label="Create the volume">Create</button>
    </form>
  );
}

export function Volumes() {
  const { data, error } = useLiveList((s) => get<{ Volumes: Volume[] | null }>('/volumes', s), (e) => e.Type === 'volume');
  const users = useContainerUse();
  const [busy, setBusy] = useState('');
  if (error && !data) return <p role="alert">Could not list volumes: {error}</p>;
  if (!data) return <p class="muted">Loading…</p>;
  const vols = (data.Volumes ?? []).slice().sort((a, b) => a.Name.localeCompare(b.Name));
  const usersOf = (name: string) => (users ?? []).filter((c) => (c.Mounts ?? []).some((m) => m.Type === 'volume' && m.Name === name));
  const remove = async (name: string) => {
    if (!confirm(`Remove volume ${name}? Its data is deleted.`)) return;
    setBusy(name);
    try { await act('DELETE', `/volumes/${encodeURIComponent(name)}`); } catch (e) { toastError(e); } finally { setBusy(''); }
  };
  return (
    <>
      <h1>Volumes <span class="muted">({vols.length})</span></h1>
      <CreateVolume />
      <div class="panel">
        {!vols.length ? <p class="empty">No volumes.</p> : (
          <table>
            <thead><tr><th>Name</th><th>Driver</th><th>Used by</th><th class="hide-narrow">Compose project</th><th class="hide-narrow">Mount point</th><th>Actions</th></tr></thead>
            <tbody>
              {vols.map((v) => (
                <tr key={v.Name} data-name={v.Name}>
                  <td class="wrap">{v.Name}</td>
                  <td>{v.Driver}</td>
                  <td class="wrap"><Users users={usersOf(v.Name)} what={`volume ${v.Name}`} /></td>
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
