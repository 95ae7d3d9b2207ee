// /networks routes: parse, call NetworkService, encode. Container records stay with the container
// side, reached through the narrow interface below.
import { Router } from './router';
import { parseFilters, readJsonBody, sendJson, sendNoContent } from './http';
import { checkEndpointSupport, type EndpointConfig, type NetworkRecord, type NetworkService } from '../engine/networks';
import { isKind } from '../lib/errors';

export interface NetworkContainerSide {
  /** Resolves a container reference (name, id, prefix); throws NotFound `No such container: x`. */
  lookup(ref: string): { id: string; name: string; hostname: string; running: boolean; networkMode?: string; dns?: string[] };
  /**
   * After a connect: the container record should now list `endpoint` under
   * NetworkSettings.Networks[network.Name]; a container that is not running should also keep
   * `config` (in NetworkingConfig.EndpointsConfig) so that its next start attaches the network.
   */
  onConnect?(containerId: string, network: NetworkRecord, endpoint: Record<string, unknown>, config: EndpointConfig): Promise<void> | void;
  /** After a disconnect (or, for a container that is not running, instead of one). */
  onDisconnect?(containerId: string, network: NetworkRecord): Promise<void> | void;
}

export function registerNetworkRoutes(r: Router, networks: NetworkService, containers: NetworkContainerSide): void {
  r.get('/networks', (req) => {
    const list = networks.list(parseFilters(req.query.get('filters')));
    sendJson(req.res, 200, list.map((n) => networks.inspect(n, false)));
  });

  r.get('/networks/:id', (req) => {
    sendJson(req.res, 200, networks.inspect(networks.get(req.params.id)));
  });

  r.post('/networks/create', async (req) => {
    const body = await readJsonBody(req.raw);
    sendJson(req.res, 201, await networks.create(body));
  });

  r.delete('/networks/:id', async (req) => {
    await networks.remove(req.params.id);
    sendNoContent(req.res);
  });

  r.post('/networks/prune', async (req) => {
    const names = await networks.prune(parseFilters(req.query.get('filters')));
    sendJson(req.res, 200, { NetworksDeleted: names.length ? names : null });
  });

  r.post('/networks/:id/connect', async (req) => {
    const body = await readJsonBody<{ Container?: string; EndpointConfig?: EndpointConfig }>(req.raw);
    const net = networks.get(req.params.id);
    const c = containers.lookup(body.Container ?? '');
    const ec = body.EndpointConfig ?? {};
    checkEndpointSupport(ec);
    const config: EndpointConfig = { Aliases: ec.Aliases ?? undefined, IPAMConfig: ec.IPAMConfig ?? undefined, MacAddress: ec.MacAddress || undefined };
    const endpoint = await networks.connect(net.Id, c, {
      Aliases: config.Aliases ?? undefined, IPv4Address: config.IPAMConfig?.IPv4Address || undefined, IPv6Address: config.IPAMConfig?.IPv6Address || undefined, LinkLocalIPs: config.IPAMConfig?.LinkLocalIPs ?? undefined, MacAddress: config.MacAddress,
    });
    await containers.onConnect?.(c.id, net, endpoint, config);
    sendJson(req.res, 200, {});
  });

  r.post('/networks/:id/disconnect', async (req) => {
    const body = await readJsonBody<{ Container?: string; Force?: boolean }>(req.raw);
    const net = networks.get(req.params.id);
    const ref = body.Container ?? '';
    let c: ReturnType<NetworkContainerSide['lookup']> | undefined;
    try {
      c = containers.lookup(ref);
    } catch (e) {
      // --force removes an endpoint whose container is gone (Docker's cleanup of stale endpoints).
      if (!(body.Force && isKind(e, 'NotFound'))) throw e;
      const ep = Object.values(net.Endpoints).find((x) => x.Name === ref.replace(/^\//, '') || x.ContainerId.startsWith(ref));
      if (ep) await networks.disconnect(net.Id, ep.ContainerId, true);
      sendJson(req.res, 200, {});
      return;
    }
    if (c.running || net.Endpoints[c.id]) await networks.disconnect(net.Id, c.id, !!body.Force);
    await containers.onDisconnect?.(c.id, net);
    sendJson(req.res, 200, {});
  });
}
