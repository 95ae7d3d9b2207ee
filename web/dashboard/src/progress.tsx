// Live pull/push progress: Docker's JSON messages folded into one line per layer (by id) and the
// general status lines, as the docker CLI shows them.
import { useState } from 'preact/hooks';
import { actStream, ProgressMessage } from './api';
import { bytes } from './format';

export interface Progress { lines: { id?: string; text: string }[]; done: boolean; error?: string }

function text(m: ProgressMessage): string {
  const d = m.progressDetail;
  const amount = d?.total ? ` ${bytes(d.current ?? 0)} / ${bytes(d.total)}` : d?.current ? ` ${bytes(d.current)}` : '';
  return `${m.id ? `${m.id}: ` : ''}${m.error ?? m.status ?? ''}${amount}`;
}

/** Runs a progress stream; `run(path)` starts one, `state` shows it. */
export function useProgress(): { state?: Progress; run: (path: string) => Promise<boolean> } {
  const [state, setState] = useState<Progress>();
  const run = async (path: string) => {
    const lines: Progress['lines'] = [];
    setState({ lines: [], done: false });
    try {
      await actStream(path, (m) => {
        if (m.aux) return;
        const line = { id: m.id, text: text(m) };
        const i = m.id && !m.error ? lines.findIndex((l) => l.id === m.id) : -1;
        if (i >= 0) lines[i] = line; else lines.push(line);
        setState({ lines: lines.slice(), done: false });
      });
      setState({ lines: lines.slice(), done: true });
      return true;
    } catch (e) {
      setState({ lines: lines.slice(), done: true, error: (e as Error).message });
      return false;
    }
  };
  return { state, run };
}

export function ProgressView({ state, label }: { state?: Progress; label: string }) {
  if (!state) return null;
  return (
    <div class="panel" aria-label={label} data-progress={state.done ? (state.error ? 'failed' : 'done') : 'running'}>
      {state.lines.length > 0 && <ol class="progress" aria-live="polite">
        {state.lines.map((l, i) => <li key={l.id ?? `#${i}`} data-layer={l.id}>{l.text}</li>)}
      </ol>}
      {state.error && <p role="alert" class="empty error">{state.error}</p>}
    </div>
  );
}
