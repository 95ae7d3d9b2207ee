// Scenarios whose features Dray does not have yet. Each is one function; when the feature lands,
// replace its body with the measurement (see README "Adding a scenario").
import { naRow } from '../model';
import type { Scenario } from '../scenario';

function pending(id: string, title: string, rows: [string, string][]): Scenario {
  return { id, title, run: async () => rows.map(([rid, label]) => naRow(rid, label)) };
}

export const registry = pending('registry', 'push/pull to a local registry', [
  ['push', 'push to a local registry (MB/s)'],
  ['pull', 'pull from a local registry (MB/s)'],
]);
