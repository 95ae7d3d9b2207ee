// Prometheus metrics in the text exposition format (version 0.0.4): counters, histograms and
// gauges read at scrape time. Small on purpose: a scrape renders a few dozen series, and nothing
// here allocates per request beyond a label key lookup.
type Labels = Record<string, string>;

const escape = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const labelText = (l: Labels) => {
  const keys = Object.keys(l);
  return keys.length ? `{${keys.map((k) => `${k}="${escape(l[k])}"`).join(',')}}` : '';
};
const keyOf = (l: Labels) => JSON.stringify(Object.keys(l).sort().map((k) => [k, l[k]]));

interface Metric { render(): string }

export class Counter implements Metric {
  private values = new Map<string, { labels: Labels; v: number }>();
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = keyOf(labels);
    const e = this.values.get(k);
    if (e) e.v += by; else this.values.set(k, { labels, v: by });
  }
  get(labels: Labels = {}): number { return this.values.get(keyOf(labels))?.v ?? 0; }
  render(): string {
    let s = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} counter\n`;
    for (const { labels, v } of this.values.values()) s += `${this.name}${labelText(labels)} ${v}\n`;
    return s;
  }
}

export class Histogram implements Metric {
  private series = new Map<string, { labels: Labels; counts: number[]; sum: number; n: number }>();
  constructor(readonly name: string, readonly help: string, readonly buckets: number[]) {}
  observe(labels: Labels, value: number): void {
    const k = keyOf(labels);
    let e = this.series.get(k);
    if (!e) { e = { labels, counts: this.buckets.map(() => 0), sum: 0, n: 0 }; this.series.set(k, e); }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]) e.counts[i]++;
    e.sum += value;
    e.n++;
  }
  render(): string {
    let s = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} histogram\n`;
    for (const { labels, counts, sum, n } of this.series.values()) {
      this.buckets.forEach((b, i) => { s += `${this.name}_bucket${labelText({ ...labels, le: String(b) })} ${counts[i]}\n`; });
      s += `${this.name}_bucket${labelText({ ...labels, le: '+Inf' })} ${n}\n`;
      s += `${this.name}_sum${labelText(labels)} ${sum}\n${this.name}_count${labelText(labels)} ${n}\n`;
    }
    return s;
  }
}

/** A gauge whose values are read when scraped. */
export class Gauge implements Metric {
  constructor(readonly name: string, readonly help: string, private read: () => [Labels, number][]) {}
  render(): string {
    let s = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} gauge\n`;
    for (const [labels, v] of this.read()) s += `${this.name}${labelText(labels)} ${v}\n`;
    return s;
  }
}

export class MetricsRegistry {
  private metrics: Metric[] = [];
  counter(name: string, help: string): Counter { const m = new Counter(name, help); this.metrics.push(m); return m; }
  histogram(name: string, help: string, buckets: number[]): Histogram { const m = new Histogram(name, help, buckets); this.metrics.push(m); return m; }
  gauge(name: string, help: string, read: () => [Labels, number][]): Gauge { const m = new Gauge(name, help, read); this.metrics.push(m); return m; }
  render(): string { return this.metrics.map((m) => m.render()).join(''); }
}

/** drayd's metrics: one registry for the process. */
export const metrics = new MetricsRegistry();
export const apiRequests = metrics.counter('dray_api_requests_total', 'Engine API requests, by method, route and status.');
export const apiDuration = metrics.histogram('dray_api_request_duration_seconds', 'Time to answer an Engine API request (until its handler returns: streams count until they end), by method and route.',
  [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);
