// What drayd measures of itself for GET /metrics (daemon.json metrics-addr): the API's requests
// and their latency (src/api/server.ts), and here what the engine's events and state say:
// containers by state, starts, exits, execs, image pulls and pushes, the event loop's lag and the
// daemon's memory. Read at scrape time or counted as events pass: nothing polls.
import { metrics } from '../lib/metrics';
import type { EventBus } from './events';

export interface MetricsSources {
  events: EventBus;
  containerStates(): string[];
}

let installed = false;

export function installEngineMetrics(src: MetricsSources): void {
  if (installed) return;
  installed = true;
  const containerEvents = metrics.counter('dray_container_actions_total', 'Container lifecycle events: create, start, die, kill, stop, destroy, exec_start, health_status…');
  const imageEvents = metrics.counter('dray_image_actions_total', 'Image events: pull, push, tag, untag, delete, load, save, import.');
  src.events.subscribe((e) => {
    if (e.Type === 'container') containerEvents.inc({ action: e.Action.split(':')[0] });
    else if (e.Type === 'image') imageEvents.inc({ action: e.Action });
  });
  metrics.gauge('dray_containers', 'Containers by state.', () => {
    const counts = new Map<string, number>([['running', 0], ['paused', 0], ['exited', 0], ['created', 0]]);
    for (const s of src.containerStates()) counts.set(s, (counts.get(s) ?? 0) + 1);
    return [...counts].map(([state, n]) => [{ state }, n]);
  });
  // Loaded here, only when metrics are served: node:perf_hooks costs an idle drayd ~2.7 MiB (lib/clock.ts).
  const { monitorEventLoopDelay } = require('node:perf_hooks') as typeof import('node:perf_hooks');
  const lag = monitorEventLoopDelay({ resolution: 20 });
  lag.enable();
  metrics.gauge('dray_event_loop_delay_seconds', 'Event loop delay since the last scrape (p50, p99, max).', () => {
    const out: [Record<string, string>, number][] = [
      [{ quantile: '0.5' }, lag.percentile(50) / 1e9], [{ quantile: '0.99' }, lag.percentile(99) / 1e9], [{ quantile: '1' }, lag.max / 1e9],
    ];
    lag.reset();
    return out;
  });
  metrics.gauge('dray_process_resident_memory_bytes', "drayd's resident memory.", () => [[{}, process.memoryUsage.rss()]]);
  metrics.gauge('dray_process_heap_used_bytes', "drayd's V8 heap in use.", () => [[{}, process.memoryUsage().heapUsed]]);
}
