// Prometheus metrics in the text exposition format (version 0.0.4), written by hand: a few
// counters and gauges with labels need no client library.

type Labels = Record<string, string>;

interface Family { help: string; type: 'counter' | 'gauge'; values: Map<string, { labels: Labels; value: number }> }

const escape = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const key = (l: Labels) => Object.keys(l).sort().map((k) => `${k}=${l[k]}`).join(',');

export class Metrics {
  private families = new Map<string, Family>();
  private collectors: (() => void)[] = [];

  private family(name: string, help: string, type: 'counter' | 'gauge'): Family {
    let f = this.families.get(name);
    if (!f) { f = { help, type, values: new Map() }; this.families.set(name, f); }
    return f;
  }

  counter(name: string, help: string) {
    const f = this.family(name, help, 'counter');
    return {
      inc: (labels: Labels = {}, by = 1) => {
        const k = key(labels);
        const v = f.values.get(k);
        if (v) v.value += by; else f.values.set(k, { labels, value: by });
      },
    };
  }

  gauge(name: string, help: string) {
    const f = this.family(name, help, 'gauge');
    return {
      set: (value: number, labels: Labels = {}) => { f.values.set(key(labels), { labels, value }); },
    };
  }

  /** Runs before each rendering (gauges read at scrape time: memory, uploads in progress). */
  onCollect(fn: () => void): void { this.collectors.push(fn); }

  render(): string {
    for (const c of this.collectors) c();
    let s = '';
    for (const [name, f] of this.families) {
      s += `# HELP ${name} ${f.help}\n# TYPE ${name} ${f.type}\n`;
      for (const { labels, value } of f.values.values()) {
        const l = Object.entries(labels).map(([k, v]) => `${k}="${escape(v)}"`).join(',');
        s += `${name}${l ? `{${l}}` : ''} ${Number.isFinite(value) ? value : 0}\n`;
      }
    }
    return s;
  }
}

/** The registry's metrics, made once per server. */
export function registryMetrics() {
  const m = new Metrics();
  return {
    registry: m,
    requests: m.counter('dray_registry_http_requests_total', 'HTTP requests by route, method and status code.'),
    requestSeconds: m.counter('dray_registry_http_request_seconds_total', 'Time spent answering requests, by route.'),
    bytesSent: m.counter('dray_registry_http_response_bytes_total', 'Bytes of blob and manifest bodies sent.'),
    bytesReceived: m.counter('dray_registry_http_request_bytes_total', 'Bytes of upload and manifest bodies received.'),
    blobsCommitted: m.counter('dray_registry_blobs_committed_total', 'Uploads verified and committed, by whether the blob was new or already stored (deduplicated).'),
    uploadsPurged: m.counter('dray_registry_uploads_purged_total', 'Abandoned uploads removed after the upload timeout.'),
    uploadsInProgress: m.gauge('dray_registry_uploads_in_progress', 'Upload requests being received now.'),
    gcRuns: m.counter('dray_registry_gc_runs_total', 'Garbage collections, by result.'),
    gcBlobsDeleted: m.counter('dray_registry_gc_blobs_deleted_total', 'Blobs removed by garbage collection.'),
    gcBytesFreed: m.counter('dray_registry_gc_bytes_freed_total', 'Bytes freed by garbage collection.'),
    gcManifestsDeleted: m.counter('dray_registry_gc_manifests_deleted_total', 'Untagged manifests removed by garbage collection.'),
    gcLastRun: m.gauge('dray_registry_gc_last_run_timestamp_seconds', 'When the last garbage collection finished.'),
    gcLastDuration: m.gauge('dray_registry_gc_last_duration_seconds', 'How long the last garbage collection took.'),
    scrubRuns: m.counter('dray_registry_scrub_runs_total', 'Scrubs (re-verification of every stored blob), by result.'),
    scrubBlobsChecked: m.counter('dray_registry_scrub_blobs_checked_total', 'Blobs re-hashed by scrubs.'),
    scrubBytesChecked: m.counter('dray_registry_scrub_bytes_checked_total', 'Bytes re-hashed by scrubs.'),
    scrubCorruptTotal: m.counter('dray_registry_scrub_corrupt_blobs_total', 'Blobs found not to match their digest, over all scrubs.'),
    scrubCorrupt: m.gauge('dray_registry_scrub_corrupt_blobs', 'Blobs that did not match their digest in the last scrub.'),
    scrubLastRun: m.gauge('dray_registry_scrub_last_run_timestamp_seconds', 'When the last scrub finished.'),
    proxyRequests: m.counter('dray_registry_proxy_requests_total', 'Pull-through cache lookups, by kind (manifest, blob) and result (hit, miss, stale).'),
    rss: m.gauge('process_resident_memory_bytes', 'Resident memory size in bytes.'),
    heap: m.gauge('nodejs_heap_used_bytes', 'V8 heap in use, in bytes.'),
    start: m.gauge('process_start_time_seconds', 'Start time of the process since the Unix epoch, in seconds.'),
  };
}

export type RegistryMetrics = ReturnType<typeof registryMetrics>;
