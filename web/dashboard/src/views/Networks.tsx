import { useState } from 'preact/hooks';
import { act, get } from '../api';
import { shortId } from '../format';
import { useLiveList } from '../live';
import { toastError } from '../toast';

interface Network { Name: string; Id: string; Driver: string; Scope: string; Internal?: boolean; IPAM?: { Config?: { Subnet?: string; Gateway?: string }[] | null }; Labels?: Record<string, string> | null }

const BUILTIN = new Set(['bridge', 'host', 'none']);

export function Networks() {
  const { data, error } = useLiveList((s) => get<Network[]>('/networks', s), (e) => e.Type === 'network');
  const [busy, setBusy] = useState('');
  if (error && !data) return <p role="alert">Could not list networks: {error}</p>;
  if (!data) return <p class="muted">Loading…</p>;
  const nets = data.slice().sort((a, b) => a.Name.localeCompare(b.Name));
  const remove = async (n: Network) => {
    if (!confirm(`Remove network ${n.Name}?`)) return;
    setBusy(n.Id);
    try { await act('DELETE', `/networks/${encodeURIComponent(n.Id)}`); } catch (e) { toastError(e); } finally { setBusy(''); }
  };
  return (
    <>
      <h1>Networks <span class="muted">({nets.length})</span></h1>
      <div class="panel">
        <table>
          <thead><tr><th>Name</th><th>ID</th><th>Driver</th><th>Subnet</th><th class="hide-narrow">Gateway</th><th>Actions</th></tr></thead>
          <tbody>
            {nets.map((n) => (
              <tr key={n.Id} data-name={n.Name}>
                <td>{n.Name}{n.Internal && <span class="muted"> (internal)</span>}</td>
                <td><code>{shortId(n.Id)}</code></td>
                <td>{n.Driver}</td>
                <td>{n.IPAM?.Config?.map((c) => c.Subnet).filter(Boolean).join(', ') || <span class="muted">—</span>}</td>
                <td class="hide-narrow">{n.IPAM?.Config?.map((c) => c.Gateway).filter(Boolean).join(', ') || <span class="muted">—</span>}</td>
                <td>{BUILTIN.has(n.Name) ? <span class="muted">built in</span> : <button class="danger" disabled={busy === n.Id} onClick={() => remove(n)} aria-label={`Remove network ${n.Name}`}>Remove</button>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}
