// /volumes/* endpoints.
import { Transport } from './transport';
import type { Filters, PruneResponse, Volume, VolumeList } from './types';

const f = (filters?: Filters) => (filters && Object.keys(filters).length ? filters : undefined);

export class VolumesApi {
  constructor(private readonly t: Transport) {}
  list(filters?: Filters): Promise<VolumeList> { return this.t.json('GET', '/volumes', { query: { filters: f(filters) } }); }
  create(body: { Name?: string; Driver?: string; DriverOpts?: Record<string, string>; Labels?: Record<string, string> }): Promise<Volume> {
    return this.t.json('POST', '/volumes/create', { body });
  }
  inspect(name: string): Promise<Volume> { return this.t.json('GET', `/volumes/${encodeURIComponent(name)}`); }
  remove(name: string, force = false): Promise<void> { return this.t.json('DELETE', `/volumes/${encodeURIComponent(name)}`, { query: { force: force || undefined } }); }
  prune(filters?: Filters): Promise<PruneResponse> { return this.t.json('POST', '/volumes/prune', { query: { filters: f(filters) } }); }
}
