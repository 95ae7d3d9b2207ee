import { useEffect, useRef, useState } from 'preact/hooks';
import { get, hub, stream } from '../api';
import { bytes, duration } from '../format';
import { ContainerActions, Ports, Port } from './Containers';
import { TerminalPanel } from './Terminal';
import { Spark } from '../charts';
import { InspectTree } from './Tree';
import { Files } from './Files';

interface Inspect {
  Id: string; Name: string; Image: string; Created: string;
  Config: { Image: string; Tty?: boolean; Cmd?: string[] | null; Labels?: Record<string, string> | null };
  State: { Status: string; Running: boolean; StartedAt: string; FinishedAt: string; ExitCode: number; Health?: { Status: string } };
  NetworkSettings: { Ports?: Record<string, { HostIp: string; HostPort: string }[] | null> | null; Networks?: Record<string, { IPAddress: string }> };
  HostConfig: { RestartPolicy?: { Name: string } };
}

interface LogLine { stream: 'stdout' | 'stderr'; ts: string; text: string }
const MAX_LINES = 5000;
const SAMPLES = 60;

/** Docker's multiplexed stream (8-byte headers: stream, 0, 0, 0, length) to lines; raw with a TTY. */
function logParser(tty: boolean, push: (l: LogLine[]) => void) {
  const dec = { stdout: new TextDecoder(), stderr: new TextDecoder() };
  let buf = new Uint8Array(0);
  const partial = { stdout: '', stderr: '' };
  const emit = (s: 'stdout' | 'stderr', chunk: Uint8Array, out: LogLine[]) => {
    const text = partial[s] + dec[s].decode(chunk, { stream: true });
    const parts = text.split('\n');
    partial[s] = parts.pop() ?? '';
    for (const p of parts) {
      const m = /^(\d{4}-\d\d-\d\dT[\d:.]+Z) (.*)$/s.exec(p.replace(/\r$/, ''));
      out.push({ stream: s, ts: m ? m[1] : '', text: m ? m[2] : p.replace(/\r$/, '') });
    }
  };
  return (chunk: Uint8Array) => {
    const out: LogLine[] = [];
    if (tty) emit('stdout', chunk, out);
    else {
      const joined = new Uint8Array(buf.length + chunk.length);
      joined.set(buf); joined.set(chunk, buf.length);
      let i = 0;
      while (joined.length - i >= 8) {
        const n = ((joined[i + 4] << 24) >>> 0) + (joined[i + 5] << 16) + (joined[i + 6] << 8) + joined[i + 7];
        if (joined.length - i - 8 < n) break;
        emit(joined[i] === 2 ? 'stderr' : 'stdout', joined.subarray(i + 8, i + 8 + n), out);
        i += 8 + n;
      }
      buf = joined.slice(i);
    }
    if (out.length) push(out);
  };
}

function Logs({ id, tty, running }: { id: string; tty: boolean; running: boolean }) {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [follow, setFollow] = useState(true);
  const [timestamps, setTimestamps] = useState(false);
  const [search, setSearch] = useState('');
  const [error, setError] = useState<string>();
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const ac = new AbortController();
    setLines([]);
    setError(undefined);
    const parse = logParser(tty, (more) => setLines((old) => {
      const next = old.concat(more);
      return next.length > MAX_LINES ? next.slice(next.length - MAX_LINES) : next;
    }));
    stream(`/containers/${encodeURIComponent(id)}/logs?stdout=1&stderr=1&timestamps=1&tail=1000${follow ? '&follow=1' : ''}`, ac.signal, parse)
      .catch((e) => { if (!ac.signal.aborted) setError((e as Error).message); });
    return () => ac.abort();
    // A container that starts again writes to a new stream: follow it from there.
  }, [id, tty, follow, follow && running]);
  useEffect(() => {
    if (follow && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [lines, follow]);
  const s = search.trim().toLowerCase();
  const shown = s ? lines.filter((l) => l.text.toLowerCase().includes(s)) : lines;
  return (
    <section aria-label="Logs">
      <h2>Logs</h2>
      <div class="toolbar">
        <label><input type="checkbox" checked={follow} onChange={(e) => setFollow((e.target as HTMLInputElement).checked)} /> Follow</label>
        <label><input type="checkbox" checked={timestamps} onChange={(e) => setTimestamps((e.target as HTMLInputElement).checked)} /> Timestamps</label>
        <input type="search" placeholder="Search the logs" aria-label="Search the logs" value={search} onInput={(e) => setSearch((e.target as HTMLInputElement).value)} />
        <span class="muted">{shown.length} lines{s ? ` of ${lines.length}` : ''}</span>
      </div>
      {error && <p role="alert">Logs: {error}</p>}
      <div class="logs" ref={box} role="log" aria-label="Container output" tabIndex={0}>
        {shown.map((l, i) => (
          <div key={i} class={l.stream} data-stream={l.stream}>
            {timestamps && l.ts && <span class="ts">{l.ts.replace('T', ' ').replace(/\.\d+Z$/, '')}</span>}
            {l.text}
          </div>
        ))}
      </div>
    </section>
  );
}

interface Sample { cpu: number; mem: number; limit: number; rx: number; tx: number; rd: number; wr: number }

/** Bytes a second between two readings of a counter (0 when it went back: a new interface or cgroup). */
const rate = (now: number, before: number, seconds: number) => (seconds > 0 && now >= before ? (now - before) / seconds : 0);

function netTotals(s: any): { rx: number; tx: number } {
  let rx = 0, tx = 0;
  for (const n of Object.values<any>(s?.networks ?? {})) { rx += n.rx_bytes ?? 0; tx += n.tx_bytes ?? 0; }
  return { rx, tx };
}

function blkTotals(s: any): { rd: number; wr: number } {
  let rd = 0, wr = 0;
  for (const e of s?.blkio_stats?.io_service_bytes_recursive ?? []) {
    const op = String(e.op).toLowerCase();
    if (op === 'read') rd += e.value; else if (op === 'write') wr += e.value;
  }
  return { rd, wr };
}

/** One Engine API stats document to a sample; the previous document gives the network and disk rates. */
export function toSample(s: any, prev: any): Sample {
  const cpuDelta = (s.cpu_stats?.cpu_usage?.total_usage ?? 0) - (s.precpu_stats?.cpu_usage?.total_usage ?? 0);
  const sysDelta = (s.cpu_stats?.system_cpu_usage ?? 0) - (s.precpu_stats?.system_cpu_usage ?? 0);
  const cpus = s.cpu_stats?.online_cpus || s.cpu_stats?.cpu_usage?.percpu_usage?.length || 1;
  const cpu = sysDelta > 0 && cpuDelta > 0 ? (cpuDelta / sysDelta) * cpus * 100 : 0;
  const st = s.memory_stats?.stats ?? {};
  const mem = Math.max(0, (s.memory_stats?.usage ?? 0) - (st.inactive_file ?? st.total_inactive_file ?? 0));
  const secs = prev ? (Date.parse(s.read) - Date.parse(prev.read)) / 1000 : 0;
  const n = netTotals(s), pn = netTotals(prev), b = blkTotals(s), pb = blkTotals(prev);
  return {
    cpu, mem, limit: s.memory_stats?.limit ?? 0,
    rx: prev ? rate(n.rx, pn.rx, secs) : 0, tx: prev ? rate(n.tx, pn.tx, secs) : 0,
    rd: prev ? rate(b.rd, pb.rd, secs) : 0, wr: prev ? rate(b.wr, pb.wr, secs) : 0,
  };
}

function Chart({ title, testid, value, a, b, max, legend }: { title: string; testid: string; value: string; a: number[]; b?: number[]; max: number; legend?: [string, string] }) {
  return (
    <div class="stat" data-chart={testid}>
      <div class="muted">{title}</div>
      <div class="value" data-testid={testid}>{value}</div>
      <Spark values={a} second={b} max={max} slots={SAMPLES} label={`${title}, last minute`} />
      {legend && <div class="legend"><span class="k1" />{legend[0]}<span class="k2" />{legend[1]}</div>}
    </div>
  );
}

/** CPU, memory, network and block I/O from the stats stream (one sample a second while the container runs). */
function Stats({ id, running }: { id: string; running: boolean }) {
  const [samples, setSamples] = useState<Sample[]>([]);
  useEffect(() => {
    if (!running) return;
    const ac = new AbortController();
    const dec = new TextDecoder();
    let buf = '';
    let prev: any;
    stream(`/containers/${encodeURIComponent(id)}/stats?stream=1`, ac.signal, (chunk) => {
      buf += dec.decode(chunk, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        if (!line) continue;
        let s: any;
        try { s = JSON.parse(line); } catch { continue; }
        const sample = toSample(s, prev);
        prev = s;
        setSamples((old) => [...old, sample].slice(-SAMPLES));
      }
    }).catch(() => { /* the container stopped, or the page moved on */ });
    return () => ac.abort();
  }, [id, running]);
  const last = running ? samples[samples.length - 1] : undefined;
  const col = (k: keyof Sample) => samples.map((s) => s[k]);
  const peak = (...ks: (keyof Sample)[]) => Math.max(1, ...ks.flatMap((k) => col(k)));
  const perSec = (n: number) => `${bytes(n)}/s`;
  return (
    <div class="stats" aria-label="Resource usage" data-samples={samples.length}>
      <Chart title="CPU" testid="cpu" value={last ? `${last.cpu.toFixed(1)} %` : '—'} a={col('cpu')} max={Math.max(5, ...col('cpu'))} />
      <div class="stat" data-chart="memory">
        <div class="muted">Memory</div>
        <div class="value" data-testid="memory">{last ? bytes(last.mem) : '—'}{last && last.limit > 0 && last.limit < 2 ** 60 ? <span class="muted"> / {bytes(last.limit)}</span> : null}</div>
        <Spark values={col('mem')} max={peak('mem')} slots={SAMPLES} label="Memory, last minute" />
      </div>
      <Chart title="Network" testid="network" value={last ? `↓ ${perSec(last.rx)} ↑ ${perSec(last.tx)}` : '—'} a={col('rx')} b={col('tx')} max={peak('rx', 'tx')} legend={['received', 'sent']} />
      <Chart title="Block I/O" testid="blkio" value={last ? `R ${perSec(last.rd)} W ${perSec(last.wr)}` : '—'} a={col('rd')} b={col('wr')} max={peak('rd', 'wr')} legend={['read', 'written']} />
    </div>
  );
}

function inspectPorts(i: Inspect): Port[] {
  const out: Port[] = [];
  for (const [k, binds] of Object.entries(i.NetworkSettings.Ports ?? {})) {
    const [port, type] = k.split('/');
    if (!binds?.length) out.push({ PrivatePort: Number(port), Type: type });
    for (const b of binds ?? []) out.push({ IP: b.HostIp, PrivatePort: Number(port), PublicPort: Number(b.HostPort), Type: type });
  }
  return out;
}

export function ContainerPage({ id }: { id: string }) {
  const [info, setInfo] = useState<Inspect>();
  const [error, setError] = useState<string>();
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const ac = new AbortController();
    const load = () => get<Inspect>(`/containers/${encodeURIComponent(id)}/json`, ac.signal)
      .then((i) => { setInfo(i); setError(undefined); })
      .catch((e) => { if (!ac.signal.aborted) setError((e as Error).message); });
    void load();
    const off = hub.on((e) => {
      if (e.Type === 'container' && (e.Actor.ID === id || e.Actor.ID === info?.Id) && !/^exec_/.test(e.Action)) void load();
    }, () => void load());
    return () => { off(); ac.abort(); };
  }, [id]);
  const running = !!info?.State.Running;
  useEffect(() => {
    if (!running) return;
    const t = setInterval(() => setNow(Date.now()), 1000); // the uptime's clock: no request
    return () => clearInterval(t);
  }, [running]);
  if (error && !info) return <p role="alert"><a href="#/containers">Containers</a> · {error}</p>;
  if (!info) return <p class="muted">Loading…</p>;
  const name = info.Name.replace(/^\//, '');
  const project = info.Config.Labels?.['com.docker.compose.project'];
  return (
    <>
      <p><a href="#/containers">← Containers</a></p>
      <h1>{name} <span class={`badge s-${info.State.Status}`} data-testid="state">{info.State.Status}</span>
        {info.State.Health && <> <span class={`badge h-${info.State.Health.Status}`}>{info.State.Health.Status}</span></>}</h1>
      <div class="toolbar"><ContainerActions id={info.Id} name={name} state={info.State.Status} onRemoved={() => { location.hash = '#/containers'; }} /></div>
      <div class="panel">
        <dl class="facts">
          <dt>ID</dt><dd>{info.Id}</dd>
          <dt>Image</dt><dd>{info.Config.Image}</dd>
          <dt>Command</dt><dd>{(info.Config.Cmd ?? []).join(' ') || '—'}</dd>
          <dt>{running ? 'Up' : 'Exited'}</dt>
          <dd>{running ? duration(now - Date.parse(info.State.StartedAt)) : info.State.FinishedAt.startsWith('0001') ? 'never started' : `${info.State.ExitCode} at ${new Date(info.State.FinishedAt).toLocaleString()}`}</dd>
          <dt>Ports</dt><dd><Ports ports={inspectPorts(info)} /></dd>
          <dt>Networks</dt><dd>{Object.entries(info.NetworkSettings.Networks ?? {}).map(([n, v]) => `${n} (${v.IPAddress || 'no address'})`).join(', ') || '—'}</dd>
          {project && <><dt>Compose project</dt><dd>{project} · {info.Config.Labels?.['com.docker.compose.service']}</dd></>}
        </dl>
      </div>
      <Stats id={info.Id} running={running} />
      <Logs id={info.Id} tty={!!info.Config.Tty} running={running} />
      <TerminalPanel id={info.Id} running={running && info.State.Status !== 'paused'} />
      <Files id={info.Id} />
      <section aria-label="Inspect">
        <h2>Inspect</h2>
        <div class="panel"><InspectTree value={info} /></div>
      </section>
    </>
  );
}
