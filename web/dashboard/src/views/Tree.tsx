// `docker inspect` as a tree: objects and arrays fold (<details>, so the keyboard opens them with
// Enter or Space), leaves show their value coloured by type.
import { useState } from 'preact/hooks';

function Leaf({ v }: { v: unknown }) {
  if (v === null || v === undefined) return <span class="nil">null</span>;
  if (typeof v === 'string') return <span class="str">{JSON.stringify(v)}</span>;
  if (typeof v === 'number' || typeof v === 'boolean') return <span class="num">{String(v)}</span>;
  return <span>{String(v)}</span>;
}

function Node({ k, v, depth, open }: { k: string; v: unknown; depth: number; open: number }) {
  const folds = v !== null && typeof v === 'object' && Object.keys(v as object).length > 0;
  if (!folds) {
    const empty = Array.isArray(v) ? '[]' : v !== null && typeof v === 'object' ? '{}' : undefined;
    return <li data-key={k}><span class="k">{k}</span>: {empty ? <span class="nil">{empty}</span> : <Leaf v={v} />}</li>;
  }
  const entries = Array.isArray(v) ? v.map((x, i) => [String(i), x] as const) : Object.entries(v as object);
  const brief = Array.isArray(v) ? `[${entries.length}]` : `{${entries.length}}`;
  return (
    <li data-key={k}>
      <details open={depth < open}>
        <summary><span class="k">{k}</span> <span class="muted">{brief}</span></summary>
        <ul>{entries.map(([ck, cv]) => <Node key={ck} k={ck} v={cv} depth={depth + 1} open={open} />)}</ul>
      </details>
    </li>
  );
}

export function InspectTree({ value }: { value: unknown }) {
  // Remounted with another depth to fold or unfold everything at once.
  const [open, setOpen] = useState(1);
  const entries = Object.entries((value ?? {}) as object);
  return (
    <>
      <div class="toolbar" style="padding: .5rem .8rem 0">
        <button onClick={() => setOpen(99)} aria-label="Expand the whole inspect tree">Expand all</button>
        <button onClick={() => setOpen(0)} aria-label="Collapse the whole inspect tree">Collapse all</button>
      </div>
      <ul class="tree" key={open} aria-label="Inspect">
        {entries.map(([k, v]) => <Node key={k} k={k} v={v} depth={0} open={open} />)}
      </ul>
    </>
  );
}
