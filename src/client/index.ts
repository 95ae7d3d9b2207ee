// The Engine API client: one object per API area over a shared transport. Used by the CLI and compose.
import { Transport, TransportOptions } from './transport';
import { resolveHostAddress } from './host';
import { ContainersApi } from './containers';
import { ExecApi } from './exec';
import { ImagesApi } from './images';
import { SystemApi } from './system';
import { VolumesApi } from './volumes';
import { NetworksApi } from './networks';

export * from './errors';
export * from './types';
export * from './stream';
export { Transport, CLIENT_API_VERSION, encodeQuery } from './transport';
export type { PingResult, Query, RequestOptions } from './transport';
export { parseHost, resolveHostAddress, DEFAULT_HOST } from './host';

export class DockerClient {
  readonly transport: Transport;
  readonly containers: ContainersApi;
  readonly exec: ExecApi;
  readonly images: ImagesApi;
  readonly system: SystemApi;
  readonly volumes: VolumesApi;
  readonly networks: NetworksApi;

  constructor(opts: Partial<TransportOptions> = {}) {
    this.transport = new Transport({
      host: opts.host ?? resolveHostAddress(),
      tls: opts.tls,
      version: opts.version ?? (process.env.DOCKER_API_VERSION || undefined),
      userAgent: opts.userAgent,
    });
    this.containers = new ContainersApi(this.transport);
    this.exec = new ExecApi(this.transport);
    this.images = new ImagesApi(this.transport);
    this.system = new SystemApi(this.transport);
    this.volumes = new VolumesApi(this.transport);
    this.networks = new NetworksApi(this.transport);
  }

  get host(): string { return this.transport.endpoint.display; }
  close(): void { this.transport.close(); }
}
