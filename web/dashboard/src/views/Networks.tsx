import { useState } from 'preact/hooks';
import { act, actBody, get } from '../api';
import { shortId } from '../format';
import { useLiveList } from '../live';
import { toastError } from '../toast';
import { useContainerUse } from '../users';
import { Users } from './Volumes';

interface Network { Name: string; Id: string; Driver: string; Scope: string; Internal?: boolean; IPAM?: { Config?: { Subnet?: string; Gateway?: string }[] | null }; Labels?: Record<string, string> | null }

const BUILTIN = new Set(['bridge', 'host', 'none']);

function CreateNetwork() {
  const [name, setName] = useState('');
  const [subnet, setSubnet] = useState('');
  const [internal, setInternal] = useState(false);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    const body: Record<string, unknown> = { Name: name.trim(), Driver: 'bridge', Internal: internal };
    if (subnet.trim()) body.IPAM = { Driver: 'default', Config: [{ Subnet: subnet.trim() }] };
    try { await actBody('/networks/create', body); setName(''); setSubnet(''); setInternal(false); } catch (err) { toastError(err); } finally { setBusy(false); }
  };
  return (
    <form class="inline toolbar" onSubmit={submit} aria-label="Create a network">
      <label for="net-name">New network</label>
      <input id="net-name" type="text" placeholder="name" value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} required />
      <label for="net-subnet">Subnet</label>
      <input id="net-subnet" type="text" placeholder="automatic, or e.g. 10.42.0.0/24" value={subnet} onInput={(e) => setSubnet((e.target as HTMLInputElement).value)} size={24} />
      <label><input type="checkbox" checked={internal} onChange={(e) => setInternal((e.target as HTMLInputElement).checked)} /> Internal</label>
      <button type="submit" disabled={busy || !name.trim()} aria-label="Create the network">Create</button>
    </form>
  );
}

export function Networks() {
  const { data, error } = useLiveList((s) => get<Network[]>('/networks', s), (e) => e.Type === 'network' && /^(create|destroy|remove)$/.test(e.Action));
  const users = useContainerUse();
  const [busy, setBusy] = useState('');
  if (error && !data) return <p role="alert">Could not list networks: {error}</p>;
  if (!data) return <p class="muted">Loading…</p>;
  const nets = data.slice().sort((a, b) => a.Name.localeCompare(b.Name));
  const usersOf = (n: Network) => (users ?? []).filter((c) => Object.entries(c.NetworkSettings?.Networks ?? {}).some(([k, v]) => k === n.Name || v?.NetworkID === n.Id));
  const remove = async (n: Network) => {
    if (!confirm(`Remove network ${n.Name}?`)) return;
    setBusy(n.Id);
    try { await act('DELETE', `/networks/${encodeURIComponent(n.Id)}`); } catch (e) { toastError(e); } finally { setBusy(''); }
  };
  return (
    <>
      <h1>Networks <span class="muted">({nets.length})</span></h1>
      <CreateNetwork />
      <div class="panel">
        <table>
          <thead><tr><th>Name</th><th>ID</th><th>Driver</th><th>Subnet</th><th class="hide-narrow">Gateway</th><th>Used by</th><th>Actions</th></tr></thead>
          <tbody>
            {nets.map((n) => (
              <tr key={n.Id} data-name={n.Name}>
                <td>{n.Name}{n.Internal && <span class="muted"> (internal)</span>}</td>
                <td><code>{shortId(n.Id)}</code></td>
                <td>{n.Driver}</td>
                <td>{n.IPAM?.Config?.map((c) => c.Subnet).filter(Boolean).join(', ') || <span class="muted">—</span>}</td>
                <td class="hide-narrow">{n.IPAM?.Config?.map((c) => c.Gateway).filter(Boolean).join(', ') || <span class="muted">—</span>}</td>
                <td class="wrap"><Users users={usersOf(n)} what={`network ${n.Name}`} /></td>
                <td>{BUILTIN.has(n.Name) ? <span class="muted">built in</span> : <button class="danger" disabled={busy === n.Id} onClick={() => remove(n)} aria-label={`Remove network ${n.Name}`}>Remove</button>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}
