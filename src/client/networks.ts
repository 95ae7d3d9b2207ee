// /networks/* endpoints.
import { Transport } from './transport';
import type { EndpointSettings, Filters, Network, NetworkCreateBody, PruneResponse } from './types';

const f = (filters?: Filters) => (filters && Object.keys(filters).length ? filters : undefined);
const p = (id: string) => `/networks/${encodeURIComponent(id)}`;

export class NetworksApi {
  constructor(private readonly t: Transport) {}
  list(filters?: Filters): Promise<Network[]> { return this.t.json('GET', '/networks', { query: { filters: f(filters) } }); }
  inspect(id: string, o: { verbose?: boolean; scope?: string } = {}): Promise<Network> {
    return this.t.json('GET', p(id), { query: { verbose: o.verbose || undefined, scope: o.scope } });
  }
  create(body: NetworkCreateBody): Promise<{ Id: string; Warning?: string }> { return this.t.json('POST', '/networks/create', { body }); }
  remove(id: string): Promise<void> { return this.t.json('DELETE', p(id)); }
  prune(filters?: Filters): Promise<PruneResponse> { return this.t.json('POST', '/networks/prune', { query: { filters: f(filters) } }); }
  connect(id: string, container: string, endpoint?: EndpointSettings): Promise<void> {
    return this.t.json('POST', `${p(id)}/connect`, { body: { Container: container, EndpointConfig: endpoint } });
  }
  disconnect(id: string, container: string, force = false): Promise<void> {
    return this.t.json('POST', `${p(id)}/disconnect`, { body: { Container: container, Force: force } });
  }
}
