// The build cache, step by step (GET /system/df's BuildCache): each cached step with the times a
// build found it (the first build made it, a cache miss; each later find was a hit: UsageCount), its layer's
// size and when it was last used, and the RUN --mount=type=cache directories. drayd keeps no record
// of each build itself (`--explain-cache` says why a step missed in that build's output only), so
// this is the cache's view across builds, newest use first.
import { get } from '../api';
import { ago, bytes } from '../format';
import { useLiveList } from '../live';

interface Rec { ID: string; Type: string; Description: string; InUse: boolean; Shared: boolean; Size: number; CreatedAt: string; LastUsedAt: string | null; UsageCount: number }

const secs = (iso: string | null) => (iso ? Date.parse(iso) / 1000 : 0);

export function Builds() {
  const { data, error } = useLiveList((s) => get<{ BuildCache: Rec[] | null }>('/system/df', s),
    (e) => e.Type === 'builder' || (e.Type === 'image' && /^(tag|untag|delete)$/.test(e.Action)));
  if (error && !data) return <p role="alert">Could not read the build cache: {error}</p>;
  if (!data) return <p class="muted">Loading…</p>;
  const recs = (data.BuildCache ?? []).slice().sort((a, b) => secs(b.LastUsedAt) - secs(a.LastUsedAt));
  const steps = recs.filter((r) => r.Type === 'regular');
  const mounts = recs.filter((r) => r.Type !== 'regular');
  const hits = steps.reduce((n, r) => n + r.UsageCount, 0);
  return (
    <>
      <h1>Builds <span class="muted">({steps.length} cached steps, {hits} cache hits)</span></h1>
      <p class="muted">The step cache across builds: a step's first build was a miss, each later build that found it a hit. drayd keeps no history of single builds; <code>dray build --explain-cache</code> says why a step missed.</p>
      <div class="panel">
        {!steps.length ? <p class="empty">No cached steps yet.</p> : (
          <table aria-label="Cached build steps">
            <thead><tr><th>Step</th><th>Hits</th><th>Size</th><th class="hide-narrow">Built</th><th class="hide-narrow">Last used</th></tr></thead>
            <tbody>
              {steps.map((r) => (
                <tr key={r.ID} data-step={r.Description} data-hits={r.UsageCount}>
                  <td class="wrap"><code>{r.Description}</code></td>
                  <td>{r.UsageCount}</td>
                  <td>{bytes(r.Size)}</td>
                  <td class="hide-narrow">{ago(secs(r.CreatedAt))}</td>
                  <td class="hide-narrow">{r.LastUsedAt ? ago(secs(r.LastUsedAt)) : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
      {mounts.length > 0 && (
        <div class="panel">
          <h2>Cache mounts <span class="count">{mounts.length}</span></h2>
          <table aria-label="Build cache mounts">
            <thead><tr><th>Mount</th><th>Size</th><th>Uses</th><th class="hide-narrow">Last used</th><th>In use</th></tr></thead>
            <tbody>
              {mounts.map((r) => (
                <tr key={r.ID} data-mount={r.ID}>
                  <td class="wrap"><code>{r.Description}</code></td><td>{bytes(r.Size)}</td><td>{r.UsageCount}</td>
                  <td class="hide-narrow">{r.LastUsedAt ? ago(secs(r.LastUsedAt)) : '—'}</td><td>{r.InUse ? 'yes' : 'no'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
