// Scenarios whose features Dray does not have yet. Each is one function; when the feature lands,
// replace its body with the measurement (see README "Adding a scenario").
import { naRow } from '../model';
import type { Scenario } from '../scenario';

function pending(id: string, title: string, rows: [string, string][]): Scenario {
  return { id, title, run: async () => rows.map(([rid, label]) => naRow(rid, label)) };
}

export const build = pending('build', 'docker build', [
  ['build-cold', 'build, cold (no cache)'],
  ['build-cached', 'build, fully cached'],
  ['build-incremental', 'build, one layer changed'],
]);

export const registry = pending('registry', 'push/pull to a local registry', [
  ['push', 'push to a local registry (MB/s)'],
  ['pull', 'pull from a local registry (MB/s)'],
]);

export const publishedPorts = pending('ports', 'published-port throughput', [
  ['port-throughput', 'published port, 127.0.0.1 → container (MB/s)'],
]);
