// A compose project's services as a small graph of depends_on, from its containers' labels:
// com.docker.compose.depends_on is "db:service_healthy:false,cache:service_started:true" (service,
// condition, restart), as Compose v2 and dray compose write it. Dependencies stand left of the
// services that need them; each service is a link to (one of) its containers.
import { nameOf, type ContainerSummary } from './Containers';

const SERVICE = 'com.docker.compose.service';
const DEPENDS_ON = 'com.docker.compose.depends_on';
const W = 132, H = 30, GX = 56, GY = 14, PAD = 6;

export interface Edge { from: string; to: string; condition: string }

export function parseDependsOn(label: string | undefined): { service: string; condition: string }[] {
  return (label ?? '').split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
    const [service, condition = 'service_started'] = s.split(':');
    return { service, condition };
  }).filter((d) => d.service);
}

/** Services, their edges, and each service's column: 0 for none known to depend on, else one past its deepest dependency. */
export function layout(cs: ContainerSummary[]): { nodes: { service: string; col: number; row: number; c: ContainerSummary; state: string }[]; edges: Edge[] } {
  const bySvc = new Map<string, ContainerSummary[]>();
  for (const c of cs) {
    const s = c.Labels?.[SERVICE];
    if (!s) continue;
    if (!bySvc.has(s)) bySvc.set(s, []);
    bySvc.get(s)!.push(c);
  }
  const edges: Edge[] = [];
  const deps = new Map<string, string[]>();
  for (const [s, list] of bySvc) {
    const ds = parseDependsOn(list[0].Labels?.[DEPENDS_ON]).filter((d) => bySvc.has(d.service) && d.service !== s);
    deps.set(s, ds.map((d) => d.service));
    for (const d of ds) edges.push({ from: s, to: d.service, condition: d.condition });
  }
  const col = new Map<string, number>();
  const depth = (s: string, seen: Set<string>): number => {
    const known = col.get(s);
    if (known !== undefined) return known;
    if (seen.has(s)) return 0; // a cycle (compose refuses one; labels could still say so)
    seen.add(s);
    const d = Math.max(-1, ...(deps.get(s) ?? []).map((x) => depth(x, seen))) + 1;
    seen.delete(s);
    col.set(s, d);
    return d;
  };
  const rows = new Map<number, number>();
  const nodes = [...bySvc.keys()].sort().map((service) => {
    const c = depth(service, new Set());
    const row = rows.get(c) ?? 0;
    rows.set(c, row + 1);
    const list = bySvc.get(service)!;
    const state = list.some((x) => x.State === 'running') ? 'running' : list[0].State;
    return { service, col: c, row, c: list[0], state };
  });
  return { nodes, edges };
}

export function ServiceGraph({ project, containers }: { project: string; containers: ContainerSummary[] }) {
  const { nodes, edges } = layout(containers);
  if (!edges.length) return null;
  const at = new Map(nodes.map((n) => [n.service, n]));
  const cols = Math.max(...nodes.map((n) => n.col)) + 1;
  const rows = Math.max(...nodes.map((n) => n.row)) + 1;
  const x = (c: number) => PAD + c * (W + GX);
  const y = (r: number) => PAD + r * (H + GY);
  const width = PAD * 2 + cols * W + (cols - 1) * GX;
  const height = PAD * 2 + rows * H + (rows - 1) * GY;
  const summary = edges.map((e) => `${e.from} depends on ${e.to} (${e.condition.replace(/_/g, ' ')})`).join('; ');
  return (
    <details class="graph" open data-graph={project}>
      <summary>Service graph</summary>
      <p class="legend">An arrow points at what a service depends on: solid when it waits for health or completion,
        <svg width="28" height="6" aria-hidden="true"><path class="edge c-service_started" d="M0,3 L28,3" /></svg> dashed when for a start.</p>
      <svg class="deps" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="group" aria-label={`Services of project ${project}: ${summary}`}>
        <defs><marker id={`arrow-${project}`} viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" /></marker></defs>
        {edges.map((e) => {
          const a = at.get(e.from)!, b = at.get(e.to)!;
          const x1 = x(a.col), y1 = y(a.row) + H / 2, x2 = x(b.col) + W, y2 = y(b.row) + H / 2;
          const mid = (x1 + x2) / 2;
          return (
            <path key={`${e.from}>${e.to}`} class={`edge c-${e.condition}`} data-edge={`${e.from}>${e.to}`} d={`M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`} marker-end={`url(#arrow-${project})`}>
              <title>{`${e.from} → ${e.to}: ${e.condition.replace(/_/g, ' ')}`}</title>
            </path>
          );
        })}
        {nodes.map((n) => (
          <a key={n.service} href={`#/container/${encodeURIComponent(n.c.Id)}`} data-service={n.service} aria-label={`Service ${n.service} (${n.state}), container ${nameOf(n.c)}`}>
            <rect class={`node s-${n.state}`} x={x(n.col)} y={y(n.row)} width={W} height={H} rx="6" />
            <text x={x(n.col) + W / 2} y={y(n.row) + H / 2 + 4} text-anchor="middle">{n.service.length > 17 ? `${n.service.slice(0, 16)}…` : n.service}</text>
          </a>
        ))}
      </svg>
    </details>
  );
}
