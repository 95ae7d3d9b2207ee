// The daemon's domain in one place: the services and what spans them (info, version, disk usage).
import * as os from 'node:os';
import { promises as fsp } from 'node:fs';
import { DaemonConfig } from './config';
import { EventBus } from './events';
import { ImageService } from './images';
import { DistributionService } from './distribution';
import { ContainerService } from './containers';
import { ExecService } from './exec';
import { NetworkService } from './networks';
import { VolumeService } from './volumes';
import { run } from '../lib/exec';
import { log } from '../lib/log';
import { errorMessage } from '../lib/errors';
import { LOG_DRIVERS } from './log-drivers';
import { API_VERSION, ENGINE_VERSION } from '../api/version';
import { versionInfo, goArch } from '../api/system';
import { outOf, remappedRoot } from '../lib/idmap';

export class Engine {
  readonly events = new EventBus();
  readonly images: ImageService;
  readonly distribution: DistributionService;
  readonly containers: ContainerService;
  readonly execs: ExecService;
  readonly networks: NetworkService;
  readonly volumes: VolumeService;
  private componentVersions?: { Name: string; Version: string }[];
  private readonly startedAt = Date.now();

  constructor(readonly config: DaemonConfig) {
    this.images = new ImageService({ dataRoot: config.dataRoot, events: this.events });
    this.distribution = new DistributionService(config.registry, this.images);
    this.networks = new NetworkService({ dataRoot: config.dataRoot, execRoot: config.execRoot, events: this.events, defaultBridge: config.bridge, defaultSubnet: config.bridgeSubnet });
    this.volumes = new VolumeService({ dataRoot: config.dataRoot, execRoot: config.execRoot, events: this.events, owner: config.userns ? remappedRoot(config.userns.map) : undefined });
    this.containers = new ContainerService(config, this.images, this.networks, this.volumes, this.events);
    this.images.ownersOf = (id) => { const m = this.containers.find(id)?.Dray.idmap; return m ? outOf(m) : undefined; };
    this.execs = new ExecService(config, this.containers, this.events);
    this.images.setUsageCheck((imageId) => this.containers.usersOfImage(imageId));
  }

  async init(): Promise<void> {
    await fsp.mkdir(this.config.dataRoot, { recursive: true, mode: 0o711 });
    await fsp.mkdir(this.config.execRoot, { recursive: true, mode: 0o700 });
    await this.images.init();
    await this.distribution.init();
    await this.volumes.init();
    await this.containers.init();
    await this.images.sweepUnusedLayers(this.containers.list().map((c) => c.Dray.lowerDirs ?? []));
    await this.volumes.sweepMounts();
    // Network reconciliation asks which containers still run: after the containers' own.
    this.networks.setContainerLookup((id) => {
      const c = this.containers.find(id);
      return c ? { running: c.State.Running, name: c.Name.slice(1) } : undefined;
    });
    await this.networks.init();
    await this.settleConnects();
    await this.execs.init();
    await this.containers.removeOrphanedSteps();
    await this.containers.startOnBoot();
  }

  /**
   * A `network connect` or `disconnect` spans two records, the network's (its endpoints) and the
   * running container's (NetworkSettings), written one after the other: a crash in between leaves
   * them disagreeing, and `network rm` then fails on an endpoint no container shows. The network's
   * side is written first, so an endpoint the container does not show is a connect that did not
   * finish (undone: torn down), and a network the container shows without an endpoint a
   * disconnect that did (finished in the container's record).
   */
  private async settleConnects(): Promise<void> {
    for (const c of this.containers.list()) {
      if (!c.State.Running) continue;
      const attached = new Set(this.networks.networkNamesOf(c.Id));
      const shown = Object.keys(c.NetworkSettings.Networks ?? {}).filter((n) => !['host', 'none'].includes(n) && !n.startsWith('container:'));
      for (const name of attached) {
        if (shown.includes(name)) continue;
        log.warn('undoing a network connect a crash cut short', { container: c.Id, network: name });
        await this.networks.disconnect(name, c.Id, true).catch((e) => log.warn('undoing the connect failed', { container: c.Id, network: name, error: errorMessage(e) }));
      }
      const gone = shown.filter((n) => !attached.has(n));
      if (gone.length) {
        log.warn('finishing a network disconnect a crash cut short', { container: c.Id, networks: gone });
        await this.containers.updateNetworks(c.Id, (r) => {
          const nets = { ...(r.NetworkSettings.Networks ?? {}) };
          for (const n of gone) delete nets[n];
          r.NetworkSettings.Networks = nets;
        });
      }
    }
  }

  async shutdown(): Promise<void> {
    await this.containers.shutdown();
    await this.networks.shutdown();
  }

  private async components(): Promise<{ Name: string; Version: string }[]> {
    if (this.componentVersions) return this.componentVersions;
    const first = async (cmd: string, args: string[]) => {
      const r = await run(cmd, args, { allowFailure: true }).catch(() => undefined);
      const line = (r?.stdout || r?.stderr || '').split('\n')[0];
      return /(\d+\.\d+(\.\d+)?)/.exec(line)?.[1] ?? 'unknown';
    };
    const list = [];
    for (const [name, p] of Object.entries(this.config.runtimes)) list.push({ Name: name, Version: await first(p, ['--version']), Details: { Path: p } });
    list.push({ Name: 'conmon', Version: await first(this.config.conmon, ['--version']), Details: { Path: this.config.conmon } });
    this.componentVersions = list;
    return list;
  }

  async version() { return versionInfo(os.release(), await this.components()); }

  async info() {
    const cs = this.containers.list();
    const images = await this.images.list();
    const running = cs.filter((c) => c.State.Running && !c.State.Paused).length;
    const paused = cs.filter((c) => c.State.Paused).length;
    const osRelease = await fsp.readFile('/etc/os-release', 'utf8').catch(() => '');
    const pretty = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(osRelease)?.[1] ?? 'Linux';
    const osVersion = /^VERSION_ID="?([^"\n]*)"?/m.exec(osRelease)?.[1] ?? '';
    return {
      ID: 'dray',
      Containers: cs.length,
      ContainersRunning: running,
      ContainersPaused: paused,
      ContainersStopped: cs.length - running - paused,
      Images: images.length,
      Driver: 'overlay2',
      DriverStatus: [['Backing Filesystem', 'extfs'], ['Supports d_type', 'true'], ['Using metacopy', 'false'], ['Native Overlay Diff', 'false']],
      Plugins: { Volume: ['local'], Network: ['bridge', 'host', 'null'], Authorization: null, Log: LOG_DRIVERS.filter((n) => n !== 'none') },
      MemoryLimit: true, SwapLimit: false, KernelMemory: false, KernelMemoryTCP: false,
      CpuCfsPeriod: true, CpuCfsQuota: true, CPUShares: true, CPUSet: true, PidsLimit: true,
      IPv4Forwarding: true, BridgeNfIptables: false, BridgeNfIp6tables: false,
      Debug: this.config.debug,
      NFd: await fsp.readdir('/proc/self/fd').then((x) => x.length).catch(() => 0),
      OomKillDisable: true,
      NGoroutines: 0,
      SystemTime: new Date().toISOString(),
      LoggingDriver: this.config.logDriver,
      CgroupDriver: 'cgroupfs',
      CgroupVersion: '1',
      NEventsListener: 0,
      KernelVersion: os.release(),
      OperatingSystem: pretty,
      OSVersion: osVersion,
      OSType: 'linux',
      Architecture: os.machine?.() ?? 'x86_64',
      IndexServerAddress: 'https://index.docker.io/v1/',
      RegistryConfig: this.distribution.registryInfo(),
      NCPU: os.cpus().length,
      MemTotal: os.totalmem(),
      GenericResources: null,
      DockerRootDir: this.config.dataRoot,
      HttpProxy: '', HttpsProxy: '', NoProxy: '',
      Name: os.hostname(),
      Labels: [],
      ExperimentalBuild: false,
      ServerVersion: ENGINE_VERSION,
      Runtimes: Object.fromEntries(Object.entries(this.config.runtimes).map(([n, p]) => [n, { path: p }])),
      DefaultRuntime: this.config.defaultRuntime,
      Swarm: { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null },
      LiveRestoreEnabled: true,
      Isolation: '',
      InitBinary: 'docker-init',
      ContainerdCommit: { ID: '', Expected: '' },
      RuncCommit: { ID: '', Expected: '' },
      InitCommit: { ID: '', Expected: '' },
      SecurityOptions: ['name=seccomp,profile=builtin', ...(this.config.userns ? ['name=userns'] : [])],
      Warnings: [],
      // Dray's own facts.
      DrayExecRoot: this.config.execRoot,
      DrayApiVersion: API_VERSION,
      DrayUptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      DrayArch: goArch(),
    };
  }

  async diskUsage() {
    const images = await this.images.list();
    const cs = this.containers.list();
    const containers = [];
    for (const c of cs) {
      const s = this.containers.summary(c, true);
      const z = await this.containers.sizes(c);
      s.SizeRw = z.rw; s.SizeRootFs = z.rootfs;
      containers.push(s);
    }
    const { shared, layersSize } = await this.images.layerSharing(images);
    const imageSummaries = images.map((i) => {
      const s = this.images.summary(i) as Record<string, unknown>;
      s.Containers = cs.filter((c) => c.Image === i.id).length;
      s.SharedSize = shared.get(i.id) ?? 0;
      return s;
    });
    return { LayersSize: layersSize, Images: imageSummaries, Containers: containers, Volumes: await this.volumes.diskUsage(), BuildCache: [] };
  }
}
