// Every scenario, in the order they run. --only picks by scenario id or row id (prefix match).
import type { Scenario } from '../scenario';
import { idleRss } from './memory';
import { runRm, runRmDockerCli, runRmBridge } from './latency';
import { runPhases } from './phases';
import { cliStartup, cliRoundtrip } from './cli';
import { sshHosts } from './ssh';
import { runDetachedSerial, runDetachedParallel } from './bulk';
import { logs100mb } from './logs';
import { scaling } from './scaling';
import { buildScenario } from './build';
import { buildRegistryCache } from './build-registry-cache';
import { publishedPorts } from './ports';
import { registryScenario } from './registry';
import { registryServer } from './registry-server';
import { cpScenario } from './cp';
import { healthScenario } from './health';
import { composeScenario } from './compose';

export const scenarios: Scenario[] = [
  idleRss('idle-rss', 'fresh'),
  runRm,
  runRmDockerCli,
  runRmBridge,
  runPhases,
  cliStartup,
  cliRoundtrip,
  sshHosts,
  runDetachedSerial,
  runDetachedParallel,
  logs100mb,
  cpScenario,
  healthScenario,
  composeScenario,
  scaling,
  buildScenario,
  buildRegistryCache,
  registryScenario,
  registryServer,
  publishedPorts,
  idleRss('idle-rss-after', 'after the workload'),
];
