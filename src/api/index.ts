// All API areas on one router.
import { Router } from './router';
import type { Engine } from '../engine/engine';
import { registerSystemRoutes } from './system';
import { registerContainerRoutes } from './containers';
import { registerExecRoutes } from './exec';
import { registerImageRoutes } from './images';
import { registerDrayRoutes } from './dray';

export function buildRouter(engine: Engine): Router {
  const r = new Router();
  registerSystemRoutes(r, engine);
  registerContainerRoutes(r, engine.containers, engine.images);
  registerExecRoutes(r, engine.execs);
  registerImageRoutes(r, engine.images, { containersUsingImage: (id) => engine.containers.usersOfImage(id) });
  registerDrayRoutes(r, engine);
  return r;
}
