import { useEffect, useState } from 'preact/hooks';
import { act, get, hub, q, EngineEvent } from '../api';
import { toastError } from '../toast';
import { bytes, duration } from '../format';
import { useStatsRounds, SERIES, type Sample } from '../stats';
import { Spark } from '../charts';
import { ServiceGraph } from './Graph';

export interface Port { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }
export interface ContainerSummary {
  Id: string; Names: string[]; Image: string; State: string; Status: string; Created: number;
  Ports: Port[]; Labels: Record<string, string> | null;
}

const PROJECT = 'com.docker.compose.project';
const SERVICE = 'com.docker.compose.service';

/** Actions that change nothing a list row shows. */
const QUIET = /^(exec_|attach$|resize$|top$|archive-path$|extract-to-dir$|export$|commit$|copy$)/;

export const nameOf = (c: { Names?: string[]; Name?: string; Id: string }) => (c.Names?.[0] ?? c.Name ?? c.Id.slice(0, 12)).replace(/^\//, '');

export function health(status: string): string | undefined {
  const m = /\((healthy|unhealthy|health: starting)\)/.exec(status);
  return m ? (m[1] === 'health: starting' ? 'starting' : m[1]) : undefined;
}

export function portHref(p: Port): string | undefined {
  if (!p.PublicPort || p.Type !== 'tcp') return undefined;
  const ip = !p.IP || p.IP === '0.0.0.0' || p.IP === '::' ? location.hostname : p.IP;
  return `http://${ip.includes(':') ? `[${ip}]` : ip}:${p.PublicPort}/`;
}

export function Ports({ ports }: { ports: Port[] }) {
  const seen = new Set<string>();
  const shown = ports.filter((p) => {
    const k = `${p.PublicPort}/${p.PrivatePort}/${p.Type}`;
    if (seen.has(k)) return false; // 0.0.0.0 and :: of one mapping
    seen.add(k);
    return true;
  });
  if (!shown.length) return <span class="muted">—</span>;
  return (
    <span>
      {shown.map((p, i) => {
        const href = portHref(p);
        const label = p.PublicPort ? `${p.PublicPort}→${p.PrivatePort}/${p.Type}` : `${p.PrivatePort}/${p.Type}`;
        return <span key={i}>{i > 0 && ', '}{href ? <a href={href} target="_blank" rel="noopener noreferrer">{label}</a> : label}</span>;
      })}
    </span>
  );
}

/** Start/stop/restart/pause/remove for one container; the events stream shows the outcome. */
export function ContainerActions({ id, name, state, onRemoved }: { id: string; name: string; state: string; onRemoved?: () => void }) {
  const [busy, setBusy] = useState(false);
  const run = async (method: 'POST' | 'DELETE', path: string) => {
    setBusy(true);
    try { await act(method, path); if (method === 'DELETE') onRemoved?.(); } catch (e) { toastError(e); } finally { setBusy(false); }
  };
  const running = state === 'running';
  const paused = state === 'paused';
  const enc = encodeURIComponent(id);
  return (
    <span class="actions">
      <button disabled={busy || running || paused} onClick={() => run('POST', `/containers/${enc}/start`)} aria-label={`Start ${name}`}>Start</button>
      <button disabled={busy || !(running || paused)} onClick={() => run('POST', `/containers/${enc}/stop`)} aria-label={`Stop ${name}`}>Stop</button>
      <button disabled={busy || !(running || paused)} onClick={() => run('POST', `/containers/${enc}/restart`)} aria-label={`Restart ${name}`}>Restart</button>
      {paused
        ? <button disabled={busy} onClick={() => run('POST', `/containers/${enc}/unpause`)} aria-label={`Unpause ${name}`}>Unpause</button>
        : <button disabled={busy || !running} onClick={() => run('POST', `/containers/${enc}/pause`)} aria-label={`Pause ${name}`}>Pause</button>}
      <button class="danger" disabled={busy} aria-label={`Remove ${name}`}
        onClick={() => { if (confirm(`Remove container ${name}${running || paused ? ' (it is running: it will be killed)' : ''}?`)) void run('DELETE', `/containers/${enc}?force=1`); }}>Remove</button>
    </span>
  );
}

/** One action on many containers, four at a time; errors are collected into one message. */
async function bulk(ids: string[], method: 'POST' | 'DELETE', path: (id: string) => string): Promise<void> {
  const errors: string[] = [];
  const queue = ids.slice();
  await Promise.all(Array.from({ length: Math.min(4, queue.length) }, async () => {
    for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
      try { await act(method, path(encodeURIComponent(id))); } catch (e) { errors.push((e as Error).message); }
    }
  }));
  if (errors.length) toastError(new Error(errors.length === 1 ? errors[0] : `${errors.length} failed: ${errors[0]}`));
}

function BulkBar({ selected, list, clear }: { selected: Set<string>; list: Map<string, ContainerSummary>; clear: () => void }) {
  const ids = [...selected].filter((id) => list.has(id));
  const [busy, setBusy] = useState(false);
  const run = async (method: 'POST' | 'DELETE', path: (id: string) => string, after?: () => void) => {
    setBusy(true);
    try { await bulk(ids, method, path); after?.(); } finally { setBusy(false); }
  };
  const n = ids.length;
  const off = busy || n === 0;
  return (
    <div class="toolbar" role="group" aria-label="Actions on the selected containers">
      <span class="muted" aria-live="polite">{n} selected</span>
      <button disabled={off} onClick={() => run('POST', (id) => `/containers/${id}/start`)}>Start selected</button>
      <button disabled={off} onClick={() => run('POST', (id) => `/containers/${id}/stop`)}>Stop selected</button>
      <button disabled={off} onClick={() => run('POST', (id) => `/containers/${id}/restart`)}>Restart selected</button>
      <button class="danger" disabled={off} onClick={() => { if (confirm(`Remove ${n} container${n === 1 ? '' : 's'} (running ones are killed)?`)) void run('DELETE', (id) => `/containers/${id}?force=1`, clear); }}>Remove selected</button>
      {n > 0 && <button disabled={busy} onClick={clear}>Clear selection</button>}
    </div>
  );
}

/** Seconds in Docker's "Up 5 minutes" wording (go-units HumanDuration), roughly. */
function statusSeconds(status: string): number | undefined {
  const m = /^Up (.+?)(?: \(|$)/.exec(status);
  if (!m) return undefined;
  const t = m[1];
  if (/^Less than a second/.test(t)) return 0;
  if (/^About a minute/.test(t)) return 60;
  if (/^About an hour/.test(t)) return 3600;
  const n = /^(\d+) (second|minute|hour|day|week|month|year)s?/.exec(t);
  if (!n) return undefined;
  const unit = { second: 1, minute: 60, hour: 3600, day: 86400, week: 604800, month: 2592000, year: 31536000 }[n[2]]!;
  return Number(n[1]) * unit;
}

/** When each running container started: exact from its start event, else from the list's status text. */
const startedAt = new Map<string, number>();
hub.on((e) => { if (e.Type === 'container' && (e.Action === 'start' || e.Action === 'unpause' && !startedAt.has(e.Actor.ID))) startedAt.set(e.Actor.ID, e.timeNano / 1e6); });

function noteStart(c: ContainerSummary, fetchedAt: number): void {
  if (c.State !== 'running' && c.State !== 'paused') { startedAt.delete(c.Id); return; }
  if (startedAt.has(c.Id)) return;
  const s = statusSeconds(c.Status);
  if (s !== undefined) startedAt.set(c.Id, fetchedAt - s * 1000);
}

function useClock(ms: number): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => { const t = setInterval(() => setNow(Date.now()), ms); return () => clearInterval(t); }, [ms]);
  return now;
}

function Uptime({ c, now }: { c: ContainerSummary; now: number }) {
  const t = startedAt.get(c.Id);
  if ((c.State === 'running' || c.State === 'paused') && t !== undefined) return <span>Up {duration(now - t)}</span>;
  return <span>{c.Status.replace(/\s*\((healthy|unhealthy|health: starting)\)/, '')}</span>;
}

/**
 * All containers, kept current from the events stream: each container event refetches only the
 * containers it names (batched into one filtered list request), so 100 containers cost no more
 * than the ones that change.
 */
function useContainers(): { list?: Map<string, ContainerSummary>; error?: string } {
  const [list, setList] = useState<Map<string, ContainerSummary>>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    const ac = new AbortController();
    const pending = new Set<string>();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let full = false;
    let loading: Promise<void> | undefined;
    const loadAll = () => (loading = fetchAll().finally(() => { loading = undefined; }));
    const fetchAll = async () => {
      try {
        const all = await get<ContainerSummary[]>('/containers/json?all=1', ac.signal);
        const at = Date.now();
        for (const c of all) noteStart(c, at);
        setList(new Map(all.map((c) => [c.Id, c])));
        setError(undefined);
      } catch (e) { if (!ac.signal.aborted) setError((e as Error).message); }
    };
    const flush = async () => {
      timer = undefined;
      // A full list in flight could land after this one and undo it: wait for it first.
      if (loading) await loading.catch(() => {});
      if (full) { full = false; pending.clear(); return loadAll(); }
      const ids = [...pending];
      pending.clear();
      if (!ids.length) return;
      try {
        const found = await get<ContainerSummary[]>(`/containers/json?all=1&filters=${q({ id: ids })}`, ac.signal);
        const at = Date.now();
        for (const c of found) noteStart(c, at);
        setList((old) => {
          const m = new Map(old);
          for (const id of ids) m.delete(id);
          for (const c of found) m.set(c.Id, c);
          return m;
        });
      } catch (e) { if (!ac.signal.aborted) toastError(e); }
    };
    const schedule = () => { timer ??= setTimeout(() => void flush(), 30); };
    const onEvent = (e: EngineEvent) => {
      if (e.Type !== 'container' || QUIET.test(e.Action)) return;
      pending.add(e.Actor.ID);
      schedule();
    };
    void loadAll();
    const off = hub.on(onEvent, () => { full = true; schedule(); });
    return () => { off(); ac.abort(); clearTimeout(timer); };
  }, []);
  return { list, error };
}

/** A row's CPU or memory: the last sample and a sparkline of the last minute (the one stats stream). */
function Usage({ s, kind, name }: { s?: Sample[]; kind: 'cpu' | 'mem'; name: string }) {
  if (!s?.length) return <span class="muted">—</span>;
  const vs = s.map((x) => x[kind]);
  const last = vs[vs.length - 1];
  const text = kind === 'cpu' ? `${last.toFixed(1)} %` : bytes(last);
  return (
    <span class="usage" data-usage={kind} data-samples={vs.length}>
      <Spark values={vs} max={kind === 'cpu' ? Math.max(5, ...vs) : Math.max(...vs, 1)} slots={SERIES} label={`${kind === 'cpu' ? 'CPU' : 'Memory'} of ${name}, last minute`} />
      <span class="usage-value">{text}</span>
    </span>
  );
}

export function Containers() {
  const { list, error } = useContainers();
  const series = useStatsRounds();
  const [filter, setFilter] = useState('');
  const [showAll, setShowAll] = useState(true);
  const now = useClock(1000); // the uptimes' clock: no request
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const toggle = (ids: string[], on: boolean) => setSelected((old) => {
    const m = new Set(old);
    for (const id of ids) { if (on) m.add(id); else m.delete(id); }
    return m;
  });
  if (error && !list) return <p role="alert">Could not list containers: {error}</p>;
  if (!list) return <p class="muted">Loading…</p>;
  const f = filter.trim().toLowerCase();
  const rows = [...list.values()]
    .filter((c) => showAll || c.State === 'running' || c.State === 'paused')
    .filter((c) => !f || nameOf(c).toLowerCase().includes(f) || c.Image.toLowerCase().includes(f) || (c.Labels?.[PROJECT] ?? '').includes(f))
    .sort((a, b) => nameOf(a).localeCompare(nameOf(b)));
  const groups = new Map<string, ContainerSummary[]>();
  for (const c of rows) {
    const p = c.Labels?.[PROJECT] ?? '';
    if (!groups.has(p)) groups.set(p, []);
    groups.get(p)!.push(c);
  }
  const order = [...groups.keys()].sort((a, b) => (a === '' ? 1 : b === '' ? -1 : a.localeCompare(b)));
  const running = [...list.values()].filter((c) => c.State === 'running').length;
  return (
    <>
      <h1>Containers <span class="muted">({running} running of {list.size})</span></h1>
      <div class="toolbar">
        <input type="search" placeholder="Filter by name, image or project" aria-label="Filter containers" value={filter} onInput={(e) => setFilter((e.target as HTMLInputElement).value)} />
        <label><input type="checkbox" checked={showAll} onChange={(e) => setShowAll((e.target as HTMLInputElement).checked)} /> Show stopped</label>
      </div>
      <BulkBar selected={selected} list={list} clear={() => setSelected(new Set())} />
      {!rows.length && <div class="panel"><p class="empty">No containers{f ? ' match' : ''}.</p></div>}
      {order.map((p) => {
        const ids = groups.get(p)!.map((c) => c.Id);
        const all = ids.every((id) => selected.has(id));
        const label = p ? `project ${p}` : 'standalone containers';
        return (
        <section class="panel" key={p || '-'} data-project={p || undefined} aria-label={p ? `Compose project ${p}` : 'Standalone containers'}>
          <h2>{p ? <>Compose project <strong>{p}</strong></> : 'Standalone containers'} <span class="count">{groups.get(p)!.length}</span></h2>
          {p && <ServiceGraph project={p} containers={groups.get(p)!} />}
          <table>
            <thead><tr><th class="sel"><input type="checkbox" checked={all} aria-label={`Select all of ${label}`} onChange={(e) => toggle(ids, (e.target as HTMLInputElement).checked)} /></th><th>Name</th><th>Image</th><th>State</th><th>Health</th><th>Ports</th><th class="hide-narrow">Uptime</th><th class="hide-narrow">CPU</th><th class="hide-narrow">Memory</th><th>Actions</th></tr></thead>
            <tbody>
              {groups.get(p)!.map((c) => {
                const name = nameOf(c);
                const h = health(c.Status);
                return (
                  <tr key={c.Id} data-id={c.Id} data-name={name} data-state={c.State}>
                    <td class="sel"><input type="checkbox" checked={selected.has(c.Id)} aria-label={`Select ${name}`} onChange={(e) => toggle([c.Id], (e.target as HTMLInputElement).checked)} /></td>
                    <td><a href={`#/container/${encodeURIComponent(c.Id)}`}>{name}</a>{p && c.Labels?.[SERVICE] && <span class="muted"> · {c.Labels[SERVICE]}</span>}</td>
                    <td class="wrap">{c.Image}</td>
                    <td><span class={`badge s-${c.State}`}>{c.State}</span></td>
                    <td>{h ? <span class={`badge h-${h}`}>{h}</span> : <span class="muted">—</span>}</td>
                    <td><Ports ports={c.Ports ?? []} /></td>
                    <td class="hide-narrow"><Uptime c={c} now={now} /></td>
                    <td class="hide-narrow"><Usage s={series.get(c.Id)} kind="cpu" name={name} /></td>
                    <td class="hide-narrow"><Usage s={series.get(c.Id)} kind="mem" name={name} /></td>
                    <td><ContainerActions id={c.Id} name={name} state={c.State} /></td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </section>
        );
      })}
    </>
  );
}
