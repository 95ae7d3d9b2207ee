// Builds: the recent builds drayd ran (GET /dray/builds, newest first), each unfolding into its
// steps, cached or built, with their times and, for a build run with --explain-cache, why a step
// missed; then the build cache itself (GET /system/df's BuildCache): each cached step with the
// times a build found it (the first build made it, a miss; each later find a hit: UsageCount), its
// layer's size and last use, and the RUN --mount=type=cache directories.
import { get } from '../api';
import { ago, bytes, shortId } from '../format';
import { useLiveList } from '../live';

interface Step { stage: string; instruction: string; cached: boolean; failed?: boolean; ms: number; missReason?: string }
interface Build { id: string; started: string; ms: number; tags: string[]; imageId?: string; error?: string; steps: Step[] }

/** A step's or a build's time: builds take milliseconds to minutes. */
const took = (ms: number) => (ms < 1000 ? `${ms} ms` : ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.floor(ms / 60_000)} m ${Math.round((ms % 60_000) / 1000)} s`);

function RecentBuilds() {
  // A build ends with its image (tagged, or an untagged one): those events refresh the list.
  const { data, error } = useLiveList((s) => get<Build[]>('/dray/builds', s), (e) => e.Type === 'image' || e.Type === 'builder');
  if (error && !data) return <p role="alert">Could not read the recent builds: {error}</p>;
  if (!data) return <p class="muted">Loading…</p>;
  return (
    <div class="panel">
      <h2>Recent builds <span class="count">{data.length}</span></h2>
      {!data.length ? <p class="empty">No build since drayd started.</p> : (
        <ul class="builds" aria-label="Recent builds">
          {data.map((b) => {
            const hits = b.steps.filter((x) => x.cached).length;
            return (
              <li key={b.id} data-build={b.id} data-steps={b.steps.length} data-hits={hits}>
                <details>
                  <summary>
                    <strong>{b.tags.length ? b.tags.join(', ') : b.imageId ? shortId(b.imageId) : 'no image'}</strong>
                    {' '}<span class={b.error ? 'error' : 'muted'}>{b.error ? `failed: ${b.error}` : 'built'}</span>
                    {' '}· {hits} of {b.steps.length} steps cached · {took(b.ms)} · {ago(Date.parse(b.started) / 1000)}
                  </summary>
                  <table aria-label={`Steps of the build started ${b.started}`}>
                    <thead><tr><th>Stage</th><th>Step</th><th>Cache</th><th>Time</th></tr></thead>
                    <tbody>
                      {b.steps.map((x, i) => (
                        <tr key={i} data-cached={x.cached ? 'yes' : 'no'}>
                          <td>{x.stage}</td>
                          <td class="wrap"><code>{x.instruction}</code>{x.missReason && <div class="muted">missed: {x.missReason}</div>}</td>
                          <td class={x.failed ? 'error' : ''}>{x.failed ? 'failed' : x.cached ? 'hit' : 'miss'}</td>
                          <td>{took(x.ms)}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </details>
              </li>
            );
          })}
        </ul>
      )}
    </div>
  );
}

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
      <RecentBuilds />
      <p class="muted">The step cache across builds: a step's first build was a miss, each later build that found it a hit; <code>dray build --explain-cache</code> records why a step missed.</p>
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
