// All API areas on one router.
import { Router } from './router';
import type { Engine } from '../engine/engine';
import { registerSystemRoutes } from './system';
import { registerContainerRoutes } from './containers';
import { registerExecRoutes } from './exec';
import { registerImageRoutes } from './images';
import { registerDistributionRoutes } from './distribution';
import { registerDrayRoutes } from './dray';
import { registerNetworkRoutes } from './networks';
import { registerVolumeRoutes } from './volumes';
import { registerBuildRoutes } from './build';
import { rememberEndpoint } from '../engine/containers';

export function buildRouter(engine: Engine): Router {
  const r = new Router();
  registerSystemRoutes(r, engine);
  registerContainerRoutes(r, engine.containers, engine.images);
  registerExecRoutes(r, engine.execs);
  registerImageRoutes(r, engine.images, { containersUsingImage: (id) => engine.containers.usersOfImage(id), distribution: engine.distribution });
  registerDistributionRoutes(r, engine.distribution);
  registerDrayRoutes(r, engine);
  registerBuildRoutes(r, engine);
  registerVolumeRoutes(r, engine.volumes);
  registerNetworkRoutes(r, engine.networks, {
    lookup: (ref) => {
      const c = engine.containers.get(ref);
      return { id: c.Id, name: c.Name.slice(1), hostname: c.Config.Hostname ?? '', running: c.State.Running, networkMode: c.HostConfig.NetworkMode, dns: c.HostConfig.Dns ?? undefined };
    },
    onConnect: (id, net, endpoint, config) => engine.containers.updateNetworks(id, (c) => {
      c.NetworkSettings.Networks = { ...(c.NetworkSettings.Networks ?? {}), [net.Name]: endpoint };
      if (!c.State.Running) rememberEndpoint(c, net.Name, config);
    }),
    onDisconnect: (id, net) => engine.containers.updateNetworks(id, (c) => {
      const nets = { ...(c.NetworkSettings.Networks ?? {}) };
      delete nets[net.Name];
      c.NetworkSettings.Networks = nets;
      rememberEndpoint(c, net.Name, undefined);
    }),
  });
  return r;
}
