import { useEffect, useState } from 'preact/hooks';
import { eventHistory, hub, EngineEvent } from '../api';
import { clock } from '../format';

const TYPES = ['container', 'image', 'volume', 'network', 'daemon', 'builder'];
const MAX = 1000;

function actor(e: EngineEvent): string {
  const a = e.Actor.Attributes ?? {};
  return a.name ?? a.container ?? (e.Actor.ID.startsWith('sha256:') ? e.Actor.ID.slice(7, 19) : e.Actor.ID.length === 64 ? e.Actor.ID.slice(0, 12) : e.Actor.ID);
}

/** The engine's events as they happen (the same stream that keeps the other views current). */
export function Events() {
  const [events, setEvents] = useState<EngineEvent[]>([]);
  const [type, setType] = useState('');
  const [search, setSearch] = useState('');
  useEffect(() => {
    let live: EngineEvent[] = [];
    let loaded = false;
    const off = hub.on((e) => {
      if (!loaded) { live.push(e); return; }
      setEvents((old) => [e, ...old].slice(0, MAX));
    });
    eventHistory().then((h) => {
      const seen = new Set(h.map((e) => `${e.timeNano}/${e.Actor.ID}/${e.Action}`));
      const merged = h.concat(live.filter((e) => !seen.has(`${e.timeNano}/${e.Actor.ID}/${e.Action}`)));
      setEvents(merged.reverse().slice(0, MAX));
    }).catch(() => setEvents(live.slice().reverse())).finally(() => { loaded = true; live = []; });
    return off;
  }, []);
  const s = search.trim().toLowerCase();
  const shown = events.filter((e) => (!type || e.Type === type) && (!s || `${e.Action} ${actor(e)} ${e.Actor.ID}`.toLowerCase().includes(s)));
  return (
    <>
      <h1>Events</h1>
      <div class="toolbar">
        <label>Type <select value={type} onChange={(e) => setType((e.target as HTMLSelectElement).value)}>
          <option value="">all</option>
          {TYPES.map((t) => <option key={t} value={t}>{t}</option>)}
        </select></label>
        <input type="search" placeholder="Filter by action or name" aria-label="Filter events" value={search} onInput={(e) => setSearch((e.target as HTMLInputElement).value)} />
        <span class="muted">{shown.length} events</span>
      </div>
      <div class="panel">
        {!shown.length ? <p class="empty">No events yet.</p> : (
          <ol class="timeline" aria-label="Event timeline">
            {shown.map((e) => (
              <li key={`${e.timeNano}/${e.Actor.ID}/${e.Action}`} data-type={e.Type} data-action={e.Action}>
                <time class="muted" dateTime={new Date(e.timeNano / 1e6).toISOString()}>{clock(e.timeNano)}</time>
                <span>{e.Type}</span>
                <strong>{e.Action}</strong>
                <span class="wrap">{actor(e)}</span>
              </li>
            ))}
          </ol>
        )}
      </div>
    </>
  );
}
