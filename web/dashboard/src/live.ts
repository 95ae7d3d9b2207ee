// Lists kept current by the events stream: fetched once, then refetched when an event of their
// kind arrives (coalesced: at most one request in flight, one queued), never on a timer.
import { useEffect, useRef, useState } from 'preact/hooks';
import { hub, EngineEvent } from './api';

export function useLiveList<T>(load: (signal: AbortSignal) => Promise<T>, relevant: (e: EngineEvent) => boolean): { data?: T; error?: string } {
  const [state, setState] = useState<{ data?: T; error?: string }>({});
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    const ac = new AbortController();
    let running = false;
    let again = false;
    const refresh = async () => {
      if (running) { again = true; return; }
      running = true;
      try {
        do {
          again = false;
          try { setState({ data: await loadRef.current(ac.signal) }); } catch (e) { if (!ac.signal.aborted) setState((s) => ({ ...s, error: (e as Error).message })); }
        } while (again && !ac.signal.aborted);
      } finally { running = false; }
    };
    void refresh();
    const off = hub.on((e) => { if (relevant(e)) void refresh(); }, () => void refresh());
    return () => { off(); ac.abort(); };
  }, []);
  return state;
}
