// The container lifecycle: create → start → (exit | stop | kill) → remove, with conmon keeping each
// running container so it outlives the daemon. One lock per container serialises its transitions.
//
//   <dataRoot>/containers/<id>/
//       container.json   the record (atomic writes)
//       hostname hosts resolv.conf   bind-mounted into the container
//       container.log[.N]            conmon's k8s-file log and its rotations
//       fs/                          rootfs (store/container-fs.ts)
//   <dataRoot>/trash/<id>.<random>/  a removed container's directory, deleted in the background
//   <execRoot>/containers/<id>/      OCI bundle: config.json, pidfile, conmon.pid, ctl (conmon)
//   <execRoot>/exits/<id>            conmon writes the exit code here
//   <execRoot>/socks/<id>/attach     conmon's attach socket (a link to the bundle)
import { promises as fsp, watch, FSWatcher, readFileSync, constants as fsc } from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import { writeJsonAtomic, writeDerivedFile, readJsonIfExists, sweepTempFiles } from '../lib/atomic';
import { conflict, invalid, notFound, notModified, systemError, DrayError, errorMessage, isKind } from '../lib/errors';
import { newId, shortId } from '../lib/ids';
import { KeyedMutex } from '../lib/lock';
import { log } from '../lib/log';
import { Trash } from '../lib/trash';
import { EventBus } from './events';
import { ContainerRecord, HostConfig, emptyState, publicView, statusText } from './container-record';
import { CreateRequest, mergeConfig, normalizeHostConfig, commandOf, checkContainerNetworkMode } from './container-config';
import { isValidName, randomName } from './names';
import { logFiles, rotate } from './logs';
import { resolveLogConfig, rotationOf, Rotation } from './log-drivers';
import { HealthMonitor } from './health';
import { parseLink, linkName, linkEnv, linkHostsLine } from './links';
import type { ImageService } from './images';
import { checkEndpointSupport, type NetworkService, type EndpointConfig } from './networks';
import { VolumeService, dirSize } from './volumes';
import { planMounts, startMounts, stopMounts, removeAnonymous, adoptMounts } from './container-mounts';
import type { NetworkRecord } from './network-views';
import type { DaemonConfig } from './config';
import { ContainerFs } from '../store/container-fs';
import { OciRuntime } from '../runtime/oci';
import { holdConmon, HeldConmon } from '../runtime/conmon';
import { connectAttach, AttachConnection } from '../runtime/attach';
import { buildSpec, specToJson, SpecInput } from '../runtime/spec';
import { resolveUser } from '../runtime/user';
import { containerCgroupPath } from '../runtime/cgroups';
import { remappedRoot, removeNsFile, usernsAt, type IdMap } from '../lib/idmap';
import { monotonicMs } from '../lib/clock';

type Waiter = (code: number) => void;

/** How long a shutdown waits for exits being handled. */
const EXIT_DRAIN_MS = 5000;

export class ContainerService {
  private byId = new Map<string, ContainerRecord>();
  private byName = new Map<string, string>();
  private lock = new KeyedMutex();
  readonly fs: ContainerFs;
  readonly runtimes: Map<string, OciRuntime>;
  private exitWaiters = new Map<string, Waiter[]>();
  private removeWaiters = new Map<string, (() => void)[]>();
  /** Attach requests made before start: connected between `create` and `start` of the runtime. */
  private pendingAttach = new Map<string, ((socket: string) => Promise<void>)[]>();
  private exitWatcher?: FSWatcher;
  private rotateTimer?: NodeJS.Timeout;
  private restartTimers = new Map<string, NodeJS.Timeout>();
  private shuttingDown = false;
  private readonly trash: Trash;
  /** Exits being handled (handleExit through onExitFile), awaited by shutdown(). */
  private readonly exiting = new Set<Promise<void>>();
  readonly health: HealthMonitor;
  /** Whether any container was ever given a link (ps looks for link names only then). */
  private anyLinks = false;
  /**
   * Environment a container gets at start that is never written to its record (a build secret's
   * `env=`): held in memory only, until the container is removed.
   */
  private ephemeralEnv = new Map<string, string[]>();

  readonly containersDir: string;
  readonly bundlesDir: string;
  readonly exitDir: string;
  readonly socketDir: string;

  constructor(private cfg: DaemonConfig, private images: ImageService, private networks: NetworkService, private volumes: VolumeService, private events: EventBus) {
    this.containersDir = path.join(cfg.dataRoot, 'containers');
    this.bundlesDir = path.join(cfg.execRoot, 'containers');
    this.exitDir = path.join(cfg.execRoot, 'exits');
    this.socketDir = path.join(cfg.execRoot, 'socks');
    this.fs = new ContainerFs(this.containersDir, cfg.userns?.layers === 'copy' ? (dir, map) => images.remappedLower(dir, map) : undefined);
    this.trash = new Trash(path.join(cfg.dataRoot, 'trash'));
    this.runtimes = new Map(Object.entries(cfg.runtimes).map(([n, p]) => [n, new OciRuntime(n, p)]));
    this.health = new HealthMonitor({
      events,
      probeDir: (id) => path.join(cfg.execRoot, 'health', id),
      stateFile: (id) => path.join(this.containersDir, id, 'health.json'),
      runtimePath: (c) => this.runtimeOf(c).execPath,
      rootfs: (c) => this.fs.merged(c.Id),
    });
  }

  // ---- lookup -------------------------------------------------------------------------------

  list(): ContainerRecord[] { return [...this.byId.values()]; }

  /** By full ID, name (with or without "/"), or unique ID prefix; Docker's NotFound wording. */
  get(ref: string): ContainerRecord {
    const c = this.find(ref);
    if (!c) throw notFound(`No such container: ${ref}`);
    return c;
  }

  find(ref: string): ContainerRecord | undefined {
    if (!ref) return undefined;
    const direct = this.byId.get(ref);
    if (direct) return direct;
    const byName = this.byName.get(ref.replace(/^\//, ''));
    if (byName) return this.byId.get(byName);
    if (/^[0-9a-f]+$/.test(ref)) {
      const matches = [...this.byId.keys()].filter((id) => id.startsWith(ref));
      if (matches.length > 1) throw invalid(`multiple IDs found with provided prefix: ${ref}`);
      if (matches.length === 1) return this.byId.get(matches[0]);
    }
    return undefined;
  }

  usersOfImage(imageId: string): { id: string; running: boolean }[] {
    return this.list().filter((c) => c.Image === imageId).map((c) => ({ id: c.Id, running: c.State.Running }));
  }

  inspect(c: ContainerRecord) { return publicView(c); }

  // ---- start-up and recovery ----------------------------------------------------------------

  async init(): Promise<void> {
    await Promise.all([this.containersDir, this.bundlesDir, this.exitDir, this.socketDir].map((d) => fsp.mkdir(d, { recursive: true })));
    await this.trash.init();
    // Probe files are made again for each running container's first probe.
    await fsp.rm(path.join(this.cfg.execRoot, 'health'), { recursive: true, force: true });
    await Promise.all([...this.runtimes.values()].map((rt) => rt.useSealedCopy(path.join(this.cfg.execRoot, 'runtimes'))));
    const ids = await fsp.readdir(this.containersDir);
    for (const id of ids) {
      // A write a crash cut short leaves its temporary file (writeJsonAtomic); the record itself is whole.
      await sweepTempFiles(path.join(this.containersDir, id)).catch(() => {});
      const rec = await readJsonIfExists<ContainerRecord>(path.join(this.containersDir, id, 'container.json')).catch(() => undefined);
      if (!rec) {
        // A create that died before its record was written: nothing refers to it.
        log.warn('removing half-created container directory', { id });
        await this.fs.remove(id).catch(() => {});
        await fsp.rm(path.join(this.containersDir, id), { recursive: true, force: true });
        continue;
      }
      if (rec.State.Status === 'removing') {
        await this.finishRemove(rec).catch((e) => log.error('finishing removal failed', { id, error: errorMessage(e) }));
        continue;
      }
      await this.health.load(rec);
      this.fs.setIdmap(rec.Id, rec.Dray.idmap);
      if (rec.Dray.links?.length) this.anyLinks = true;
      this.byId.set(rec.Id, rec);
      this.byName.set(rec.Name.slice(1), rec.Id);
    }
    this.volumes.setUsage((n) => this.list().filter((c) => c.Mounts.some((m) => m.Type === 'volume' && m.Name === n)).map((c) => c.Id));
    this.exitWatcher = watch(this.exitDir, (_ev, name) => {
      if (!name) return;
      this.trackExit(this.onExitFile(String(name)).catch((e) => log.error('handling an exit failed', { id: String(name), error: errorMessage(e) })));
    });
    await Promise.all(this.list().map((c) => this.reconcile(c).catch((e) => log.error('reconcile failed', { id: c.Id, error: errorMessage(e) }))));
    this.rotateTimer = setInterval(() => void this.rotateLogs(), 2000);
    this.rotateTimer.unref();
  }

  /**
   * A running record whose conmon lives on may still disagree with the runtime after a crash:
   * - `created`: drayd died between the runtime's create and its start; the command never ran.
   *   The start the client asked for is finished (the pid is then the command's, not the runtime's
   *   init).
   * - `paused` while the record is not: a commit froze it (freezeForCommit, which records
   *   nothing) and drayd died before thawing it. The record holds what the user asked for.
   */
  private async settleRuntimeState(c: ContainerRecord): Promise<void> {
    const rt = this.runtimeOf(c);
    const st = await rt.state(c.Id).catch(() => undefined);
    if (!st) return;
    if (st.status === 'created') {
      log.warn('container was created but never started before the crash; starting it', { id: c.Id });
      await rt.start(c.Id);
      let pid = c.State.Pid;
      try { pid = Number(readFileSync(path.join(this.bundlesDir, c.Id, 'pidfile'), 'utf8').trim()) || pid; } catch { /* no pidfile */ }
      c.State = { ...c.State, Pid: pid };
      await this.save(c);
    } else if (st.status === 'paused' && !c.State.Paused) {
      log.warn('container was left frozen by an interrupted commit; thawing it', { id: c.Id });
      await rt.resume(c.Id);
    } else if (st.status === 'running' && c.State.Paused) {
      c.State = { ...c.State, Status: 'running', Paused: false };
      await this.save(c);
    }
  }

  /**
   * Freezes a running container for the time of a commit, as Docker's commit does, without
   * recording it as paused: a crash meanwhile leaves a record that says running, and the restart
   * thaws it (settleRuntimeState). Returns whether it froze it.
   */
  async freezeForCommit(ref: string): Promise<boolean> {
    const c = this.get(ref);
    if (!c.State.Running || c.State.Paused) return false;
    await this.lock.run(c.Id, () => this.runtimeOf(c).pause(c.Id));
    return true;
  }

  async thawAfterCommit(ref: string): Promise<void> {
    const c = this.get(ref);
    await this.lock.run(c.Id, () => this.runtimeOf(c).resume(c.Id));
  }

  /** Brings one record in line with reality after a daemon (re)start. */
  private async reconcile(c: ContainerRecord): Promise<void> {
    if (c.State.Running || c.State.Restarting) {
      if (await exists(path.join(this.exitDir, c.Id))) return this.onExitFile(c.Id);
      if (this.conmonAlive(c.Id)) {
        // A record saved while the start was under way has no pid yet (see startLocked).
        if (!c.State.Pid) {
          try { c.State.Pid = Number(readFileSync(path.join(this.bundlesDir, c.Id, 'pidfile'), 'utf8').trim()) || 0; } catch { /* no pidfile */ }
        }
        await this.settleRuntimeState(c);
        this.fs.adopt(c.Id);
        await adoptMounts(c.Mounts, this.volumes, c.Id);
        this.health.resumed(c);
        log.info('container still running', { id: c.Id });
        return;
      }
      // conmon is gone: the container may live on unmonitored; it cannot be kept, so end it.
      const rt = this.runtimeOf(c);
      const st = await rt.state(c.Id);
      if (st && st.status !== 'stopped') await rt.kill(c.Id, 'KILL').catch(() => {});
      log.warn('container lost its monitor; marking it exited', { id: c.Id });
      await this.handleExit(c.Id, st ? 137 : 255);
      return;
    }
    // Stopped containers hold no mounts or runtime state; remove what a crash left.
    if (await exists(path.join(this.bundlesDir, c.Id))) await this.runtimeOf(c).delete(c.Id, true).catch(() => {});
    await this.fs.unmount(c.Id, true).catch(() => {});
    if (c.Dray.idmap) await removeNsFile(this.usernsFile(c.Id)).catch(() => {});
    await Promise.all([this.socketDir, this.exitDir].map((d) => fsp.rm(path.join(d, c.Id), { force: true })));
    await fsp.rm(path.join(this.bundlesDir, c.Id), { recursive: true, force: true });
  }

  /**
   * Build step containers (scratch) found at start belong to builds that died with the daemon:
   * nothing will commit or remove them now, so they go, running or not.
   */
  async removeOrphanedSteps(): Promise<void> {
    for (const c of this.list().filter((r) => r.Dray.scratch)) {
      await this.remove(c.Id, { force: true, volumes: true }).catch((e) => log.warn('removing a dead build\'s step container failed', { id: c.Id, error: errorMessage(e) }));
    }
  }

  /** Docker restarts `always`/`unless-stopped` containers found stopped at daemon start (host reboot). */
  async startOnBoot(): Promise<void> {
    for (const c of this.list()) {
      if (c.State.Running || !c.Dray.hasBeenStarted || c.Dray.manuallyStopped) continue;
      if (!['always', 'unless-stopped'].includes(c.HostConfig.RestartPolicy?.Name ?? '')) continue;
      await this.start(c.Id).catch((e) => log.error('restart on boot failed', { id: c.Id, error: errorMessage(e) }));
    }
  }

  private conmonAlive(id: string): boolean {
    try {
      const pid = Number(readFileSync(path.join(this.bundlesDir, id, 'conmon.pid'), 'utf8').trim());
      if (!pid) return false;
      process.kill(pid, 0);
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      return cmd.includes('conmon') && cmd.includes(id);
    } catch {
      return false;
    }
  }

  async shutdown(): Promise<void> {
    this.shuttingDown = true;
    this.exitWatcher?.close();
    // An exit being handled is let finish (bounded): stopped midway, its network namespace, veth
    // and rules would stay until the next start's reconcile.
    await Promise.race([Promise.allSettled([...this.exiting]), new Promise((r) => setTimeout(r, EXIT_DRAIN_MS).unref())]);
    await this.health.shutdown();
    if (this.rotateTimer) clearInterval(this.rotateTimer);
    for (const t of this.restartTimers.values()) clearTimeout(t);
    // The trash is not waited for: a large tree would hold the stop up, and the next start empties it.
  }

  // ---- create -------------------------------------------------------------------------------

  async create(req: CreateRequest, name?: string, internal: { scratch?: boolean; ephemeralEnv?: string[] } = {}): Promise<{ Id: string; Warnings: string[] }> {
    if (!req.Image) throw invalid('No image was specified'.replace('No', 'no'));
    if (name !== undefined && name !== '' && !isValidName(name)) {
      throw invalid(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    }
    const image = await this.images.resolve(req.Image);
    const hostConfig = normalizeHostConfig(req.HostConfig, this.cfg.defaultRuntime, [...this.runtimes.keys()]);
    const idmap = this.usernsOf(hostConfig);
    hostConfig.LogConfig = resolveLogConfig(req.HostConfig?.LogConfig, { Type: this.cfg.logDriver, Config: this.cfg.logOpts });
    const endpoints: Record<string, EndpointConfig> = { ...(req.NetworkingConfig?.EndpointsConfig ?? {}) } as Record<string, EndpointConfig>;
    // HostConfig.NetworkMode stays as the client sent it ("default" for none); the network it means:
    const netMode = effectiveNetworkMode(hostConfig.NetworkMode);
    // The docker CLI names the default network "default" in EndpointsConfig.
    if (endpoints.default) {
      endpoints[netMode] = { ...endpoints.default, ...(endpoints[netMode] ?? {}) };
      delete endpoints.default;
    }
    for (const ep of Object.values(endpoints)) checkEndpointSupport(ep);
    // Joining another container's network: it must exist now, and is kept by its full ID as Docker does.
    let netOwner: ContainerRecord | undefined;
    if (netMode.startsWith('container:')) {
      checkContainerNetworkMode(req, hostConfig, endpoints);
      // A 400, not a 404: the docker CLI takes a 404 from create for a missing image and pulls.
      const ref = netMode.slice('container:'.length);
      netOwner = this.find(ref);
      if (!netOwner) throw invalid(`No such container: ${ref}`);
      hostConfig.NetworkMode = `container:${netOwner.Id}`;
      for (const k of Object.keys(endpoints)) delete endpoints[k];
    }
    // As Docker, a network that does not exist (yet) is no error at create: start reports it
    // ("network x not found"), so no client takes it for a missing image and pulls.
    let primaryNet: NetworkRecord | undefined;
    if (usesNetworkService(netMode)) {
      try { primaryNet = this.networks.get(netMode); } catch (e) { if (!isKind(e, 'NotFound')) throw e; }
    }
    const config = mergeConfig(req, image, req.Image);
    const { path: cmdPath, args } = commandOf(config);
    const id = newId();
    const lowerDirs = await this.images.lowerDirs(image);
    // From the pick of a free random name to its claim below nothing awaits: two concurrent
    // creates cannot pick the same one.
    const cname = name ? name.replace(/^\//, '') : randomName((n) => this.byName.has(n));
    const links = this.planLinks(hostConfig, netMode, cname, endpoints);
    if (links.length) this.anyLinks = true;
    if (netOwner) { config.Hostname = netOwner.Config.Hostname; config.Domainname = netOwner.Config.Domainname; }
    if (!config.Hostname) config.Hostname = hostConfig.NetworkMode === 'host' ? os.hostname() : id.slice(0, 12);
    const dir = path.join(this.containersDir, id);
    const rec: ContainerRecord = {
      Id: id,
      Created: new Date().toISOString(),
      Path: cmdPath,
      Args: args,
      State: emptyState(),
      Image: image.id,
      ResolvConfPath: path.join(dir, 'resolv.conf'),
      HostnamePath: path.join(dir, 'hostname'),
      HostsPath: path.join(dir, 'hosts'),
      // As Docker, only json-file names its file: clients are not to read the others' files.
      LogPath: hostConfig.LogConfig.Type === 'json-file' ? path.join(dir, 'container.log') : '',
      Name: '/' + cname,
      RestartCount: 0,
      Driver: 'overlay2',
      Platform: 'linux',
      MountLabel: '',
      ProcessLabel: '',
      AppArmorProfile: '',
      ExecIDs: null,
      HostConfig: hostConfig,
      GraphDriver: {
        Name: 'overlay2',
        Data: {
          LowerDir: lowerDirs.join(':'),
          UpperDir: this.fs.upper(id),
          MergedDir: this.fs.merged(id),
          WorkDir: path.join(this.fs.dirOf(id), 'work'),
        },
      },
      Mounts: [],
      Config: config,
      NetworkSettings: networkSettings(netOwner ? undefined : primaryNet?.Name ?? netMode),
      Dray: { runtime: hostConfig.Runtime!, lowerDirs, endpoints, ...(links.length ? { links } : {}), ...(internal.scratch ? { scratch: true } : {}), ...(idmap ? { idmap } : {}) },
    };
    // The name is claimed synchronously: two concurrent creates of one name cannot both pass.
    const holder = this.byName.get(cname);
    if (holder) {
      throw conflict(`Conflict. The container name "/${cname}" is already in use by container "${holder}". You have to remove (or rename) that container to be able to reuse that name.`);
    }
    this.byName.set(cname, id);
    try {
      rec.Mounts = await planMounts({
        binds: hostConfig.Binds ?? [], mounts: hostConfig.Mounts ?? [], tmpfs: hostConfig.Tmpfs ?? {},
        volumesFrom: hostConfig.VolumesFrom ?? [], imageVolumes: Object.keys(config.Volumes ?? {}),
        readContainerMounts: (ref) => this.get(ref).Mounts, volumeDriver: hostConfig.VolumeDriver,
      }, this.volumes);
    } catch (e) {
      this.byName.delete(cname);
      throw e;
    }
    try {
      await fsp.mkdir(dir, { recursive: true });
      await this.fs.create(id, idmap);
      await this.save(rec);
    } catch (e) {
      this.byName.delete(cname);
      await removeAnonymous(rec.Mounts, this.volumes, id).catch(() => {});
      await this.fs.remove(id).catch(() => {});
      await fsp.rm(dir, { recursive: true, force: true });
      throw e;
    }
    this.byId.set(id, rec);
    if (internal.ephemeralEnv?.length) this.ephemeralEnv.set(id, internal.ephemeralEnv);
    this.events.publish('container', 'create', id, this.attrs(rec));
    return { Id: id, Warnings: [] };
  }

  /**
   * The ID mapping a new container runs with: the daemon's userns-remap unless it asks for
   * --userns=host, with dockerd's refusals of what a user namespace cannot give (its wording).
   * Fixed at create and kept in the record: the container's upper directory holds host IDs of
   * that mapping, whatever the daemon is started with later.
   */
  private usernsOf(hc: HostConfig): IdMap | undefined {
    const mode = hc.UsernsMode ?? '';
    if (mode !== '' && mode !== 'host') throw invalid(`invalid USER mode: ${mode}`);
    if (!this.cfg.userns || mode === 'host') return undefined;
    if (hc.Privileged) throw invalid('privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode');
    if (hc.NetworkMode === 'host') throw invalid("cannot share the host's network namespace when user namespaces are enabled");
    if (hc.PidMode === 'host') throw invalid('cannot share the host PID namespace when user namespaces are enabled');
    return this.cfg.userns.map;
  }

  /**
   * NetworkMode "container:<id>": the process enters that container's network namespace (the one
   * its running process holds) and sees its /etc/hosts, /etc/resolv.conf and /etc/hostname, as
   * Docker gives it the other's files. A restart of the other later leaves this one in the old
   * namespace, as under Docker.
   */
  private joinNetworkOf(c: ContainerRecord, input: SpecInput): void {
    const ref = c.HostConfig.NetworkMode!.slice('container:'.length);
    const owner = this.get(ref);
    if (owner.Id === c.Id) throw invalid('cannot join own network');
    if (owner.State.Restarting) throw conflict(`cannot join network of a restarting container: ${ref}`);
    if (!owner.State.Running || !owner.State.Pid) throw conflict(`cannot join network of a non running container: ${ref}`);
    const mode = owner.HostConfig.NetworkMode ?? '';
    input.network = mode === 'host' ? { mode: 'host' } : { mode: 'path', path: `/proc/${owner.State.Pid}/ns/net` };
    const files: Record<string, string> = { '/etc/hosts': owner.HostsPath, '/etc/resolv.conf': owner.ResolvConfPath, '/etc/hostname': owner.HostnamePath };
    input.mounts = input.mounts.map((m) => (files[m.destination] ? { ...m, source: files[m.destination] } : m));
    input.hostname = owner.Config.Hostname || owner.Id.slice(0, 12);
    input.domainname = owner.Config.Domainname || undefined;
    c.Config.Hostname = input.hostname;
    // Inspect shows the other's files as the ones in use, as Docker does.
    c.HostsPath = owner.HostsPath; c.ResolvConfPath = owner.ResolvConfPath; c.HostnamePath = owner.HostnamePath;
    c.NetworkSettings = networkSettings(undefined);
  }

  /** /etc/hosts before the network adds the container's own address: localhost and --add-host. */
  private async baseHosts(c: ContainerRecord): Promise<string> {
    let hosts = '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n';
    if (c.HostConfig.NetworkMode === 'host') hosts = await fsp.readFile('/etc/hosts', 'utf8').catch(() => hosts);
    for (const h of c.HostConfig.ExtraHosts ?? []) {
      const i = h.indexOf(':');
      if (i < 0) throw invalid(`invalid argument "${h}" for "--add-host" flag: bad format for add-host: "${h}"`);
      hosts += `${h.slice(i + 1)}\t${h.slice(0, i)}\n`;
    }
    return hosts;
  }

  /**
   * /etc/hostname, /etc/hosts and /etc/resolv.conf of the container, made anew at every start as
   * Docker does (the host's resolv.conf or the network's may have changed since); a network
   * attachment passes its own resolv.conf and host entries. `inPlace` rewrites the files a created
   * container has bind-mounted already (a rename would leave it the old inode), before its start.
   */
  private async writeHostFiles(c: ContainerRecord, net?: { resolvConf: string; hostsEntries: string }, inPlace = false): Promise<void> {
    const hostname = c.Config.Hostname || c.Id.slice(0, 12);
    let resolv = net?.resolvConf;
    if (resolv === undefined) {
      resolv = await fsp.readFile('/etc/resolv.conf', 'utf8').catch(() => '');
      if (c.HostConfig.Dns?.length || c.HostConfig.DnsSearch?.length || c.HostConfig.DnsOptions?.length) {
        resolv = (c.HostConfig.Dns ?? []).map((d) => `nameserver ${d}\n`).join('') +
          ((c.HostConfig.DnsSearch ?? []).length ? `search ${c.HostConfig.DnsSearch!.join(' ')}\n` : '') +
          ((c.HostConfig.DnsOptions ?? []).length ? `options ${c.HostConfig.DnsOptions!.join(' ')}\n` : '');
      }
    }
    const hosts = (await this.baseHosts(c)) + (net?.hostsEntries ?? '');
    if (inPlace) {
      // The hostname is the same either way.
      await Promise.all([fsp.writeFile(c.HostsPath, hosts), fsp.writeFile(c.ResolvConfPath, resolv)]);
      return;
    }
    await Promise.all([
      writeDerivedFile(c.HostnamePath, hostname + '\n'),
      writeDerivedFile(c.HostsPath, hosts),
      writeDerivedFile(c.ResolvConfPath, resolv),
    ]);
    // As dockerd: a remapped container's root owns them (it may rewrite /etc/hosts).
    if (c.Dray.idmap) {
      const r = remappedRoot(c.Dray.idmap);
      await Promise.all([c.HostnamePath, c.HostsPath, c.ResolvConfPath].map((f) => fsp.chown(f, r.uid, r.gid)));
    }
  }

  private async save(c: ContainerRecord): Promise<void> {
    await writeJsonAtomic(path.join(this.containersDir, c.Id, 'container.json'), c);
  }

  /**
   * Checks --link at create as Docker does (the linked container must exist, host networking
   * takes no links) and gives the links to keep; HostConfig.Links is rewritten in Docker's stored
   * form, "/child:/parent/alias". On a user network Docker keeps links in the endpoint instead.
   */
  private planLinks(hc: HostConfig, netMode: string, parentName: string, endpoints: Record<string, EndpointConfig>): { id: string; alias: string }[] {
    const specs = [...((hc.Links ?? []) as string[]), ...Object.values(endpoints).flatMap((e) => ((e as { Links?: string[] | null }).Links ?? []))];
    if (!specs.length) return [];
    if (netMode === 'host') throw invalid("conflicting options: host type networking can't be used with links. This would result in undefined behavior");
    const out: { id: string; alias: string }[] = [];
    for (const spec of specs) {
      const { name, alias } = parseLink(spec);
      const child = this.find(name);
      if (!child) throw invalid(`could not get container for ${name}: No such container: ${name}`);
      if (child.HostConfig.NetworkMode === 'host') throw invalid("conflicting options: host type networking can't be used with links. This would result in undefined behavior");
      if (!out.some((l) => l.alias === alias)) out.push({ id: child.Id, alias });
    }
    if ((hc.Links as string[] | undefined)?.length) hc.Links = out.map((l) => `${this.byId.get(l.id)!.Name}:${linkName(parentName, l.alias)}`);
    return out;
  }

  /**
   * What the links of a container being started give it: for each linked container (which must
   * be running) a hosts entry and, on the default bridge, Docker's ALIAS_* variables. A linked
   * container removed since is skipped, as Docker drops such a link.
   */
  private linkedChildren(c: ContainerRecord): { env: string[]; hosts: string } {
    const env: string[] = [];
    let hosts = '';
    const mode = effectiveNetworkMode(c.HostConfig.NetworkMode);
    for (const l of c.Dray.links ?? []) {
      const child = this.byId.get(l.id);
      if (!child) continue;
      const name = linkName(c.Name, l.alias);
      // Not a runtime error: Docker's message reaches the client as it is.
      if (!child.State.Running) throw invalid(`Cannot link to a non running container: ${child.Name} AS ${name}`);
      const nets = child.NetworkSettings.Networks ?? {};
      const ip: string | undefined = nets[mode]?.IPAddress || (Object.values(nets) as { IPAddress?: string }[]).find((n) => n.IPAddress)?.IPAddress;
      if (!ip) throw invalid(`Cannot link to ${child.Name}, as it does not belong to the default network`);
      if (mode === 'bridge') env.push(...linkEnv(l.alias, name, ip, child.Config.Env ?? [], Object.keys(child.Config.ExposedPorts ?? {})));
      hosts += linkHostsLine(ip, l.alias, child.Config.Hostname || child.Id.slice(0, 12), child.Name.slice(1));
    }
    return { env, hosts };
  }

  /** The names a container is listed under as others' link (/parent/alias), as in Docker's ps. */
  private linkNamesOf(c: ContainerRecord): string[] {
    const out: string[] = [];
    for (const p of this.byId.values()) for (const l of p.Dray.links ?? []) if (l.id === c.Id) out.push(linkName(p.Name, l.alias));
    return out;
  }

  /** `docker rm --link /parent/alias`: the parent forgets that link. */
  async removeLink(ref: string): Promise<void> {
    const name = ref.startsWith('/') ? ref : '/' + ref;
    const cut = name.lastIndexOf('/');
    const parentName = name.slice(0, cut);
    const alias = name.slice(cut + 1);
    if (!parentName) throw systemError('Conflict, cannot remove the default link name of the container');
    const parent = this.find(parentName);
    if (!parent) throw systemError(`Cannot get parent ${parentName} for link name ${name}`);
    const link = (parent.Dray.links ?? []).find((l) => l.alias === alias);
    if (!link) throw notFound(`No such container: ${name}`);
    await this.lock.run(parent.Id, async () => {
      parent.Dray.links = (parent.Dray.links ?? []).filter((l) => l !== link);
      const kept = ((parent.HostConfig.Links ?? []) as string[]).filter((s) => parseLink(s).alias !== alias);
      if (parent.HostConfig.Links) parent.HostConfig.Links = kept;
      await this.save(parent);
    });
  }

  /** Docker's `container commit` event, once /commit made the image (an untagged one has no image event). */
  publishCommit(c: ContainerRecord, imageId: string, comment: string, ref: string): void {
    this.events.publish('container', 'commit', c.Id, this.attrs(c, { comment, imageID: imageId, imageRef: ref }));
  }

  private attrs(c: ContainerRecord, extra: Record<string, string> = {}): Record<string, string> {
    return { ...(c.Config.Labels ?? {}), image: c.Config.Image ?? '', name: c.Name.slice(1), ...extra };
  }

  private runtimeOf(c: ContainerRecord): OciRuntime {
    const rt = this.runtimes.get(c.Dray.runtime) ?? this.runtimes.get(this.cfg.defaultRuntime);
    if (!rt) throw systemError(`unknown runtime ${c.Dray.runtime}`);
    return rt;
  }

  // ---- start --------------------------------------------------------------------------------

  async start(ref: string): Promise<void> {
    const c0 = this.get(ref);
    let attempted = false;
    try {
      await this.lock.run(c0.Id, async () => {
        const c = this.get(c0.Id);
        if (c.State.Paused) throw conflict('cannot start a paused container, try unpause instead');
        if (c.State.Running) throw notModified();
        if (c.State.Status === 'removing') throw conflict(`container is marked for removal and cannot be started`);
        attempted = true;
        await this.startLocked(c);
      });
    } catch (e) {
      // As Docker: a --rm container whose start failed is removed at once, whatever the error
      // (an address already in use is a conflict too); a client waiting for its removal would
      // wait forever otherwise. Refusals before the start (running, paused) leave it be.
      if (c0.HostConfig.AutoRemove && attempted) {
        await this.remove(c0.Id, { force: true, volumes: true }).catch(() => {});
      }
      throw e;
    }
  }

  private async startLocked(c: ContainerRecord): Promise<void> {
    const id = c.Id;
    const bundle = path.join(this.bundlesDir, id);
    const rt = this.runtimeOf(c);
    const restartTimer = this.restartTimers.get(id);
    if (restartTimer) { clearTimeout(restartTimer); this.restartTimers.delete(id); }
    let mounted = false;
    let networked = false;
    let saving: Promise<void> | undefined;
    let conmon: HeldConmon | undefined;
    const t0 = monotonicMs();
    const lap = (what: string) => log.debug('start phase', { id: id.slice(0, 12), what, ms: Math.round(monotonicMs() - t0) });
    try {
      await fsp.rm(path.join(this.exitDir, id), { force: true });
      await fsp.rm(bundle, { recursive: true, force: true });
      await fsp.mkdir(bundle, { recursive: true });
      // conmon starts now and waits for go() below: its start-up runs while the bundle is made.
      conmon = holdConmon({
        conmon: this.cfg.conmon,
        runtimePath: rt.execPath,
        containerId: id,
        sessionId: id,
        name: c.Name.slice(1),
        bundle,
        logPath: this.logFile(c),
        noLog: c.HostConfig.LogConfig?.Type === 'none',
        discardLog: !!c.Dray.scratch || !!c.HostConfig.AutoRemove,
        exitDir: this.exitDir,
        socketDir: this.socketDir,
        pidFile: path.join(bundle, 'pidfile'),
        conmonPidFile: path.join(bundle, 'conmon.pid'),
        tty: !!c.Config.Tty,
        stdin: !!c.Config.OpenStdin,
        // As Docker: stdin closes when an attached client ends it only with StdinOnce (run -i).
        leaveStdinOpen: !c.Config.StdinOnce,
      });
      // A --rm container's changes die with it, as a build step's become a layer or nothing: no
      // reason to pay overlayfs's sync of the whole upper file system when it is unmounted.
      const rootfs = await this.fs.mount(id, c.Dray.lowerDirs, { volatile: c.Dray.scratch || !!c.HostConfig.AutoRemove });
      mounted = true;
      lap('mounted');
      const input = await this.specInput(c, rootfs);
      lap('spec input');
      const linked = this.linkedChildren(c);
      input.env.push(...linked.env);
      if (c.Dray.idmap) {
        // A remapped container's own user namespace, made here for its network namespace to be
        // owned by it (lib/idmap.ts usernsAt): its root then has its capabilities over its network.
        input.usernsPath = this.usernsFile(id);
        await usernsAt(input.usernsPath, c.Dray.idmap);
      }
      // A network's endpoints are set up (netavark, ~25-70 ms) while the runtime creates the
      // container in the namespace (~20 ms): both only need the namespace to exist, and the
      // container's process runs at the start, after both.
      let attached: Promise<void> | undefined;
      if (c.HostConfig.NetworkMode!.startsWith('container:')) {
        this.joinNetworkOf(c, input);
      } else if (usesNetworkService(c.HostConfig.NetworkMode!)) {
        networked = true;
        let netnsMade!: (p: string) => void;
        const netns = new Promise<string>((resolve) => { netnsMade = resolve; });
        const attaching = this.networks.attachContainer({
          usernsPath: input.usernsPath,
          id, name: c.Name.slice(1), hostname: c.Config.Hostname || id.slice(0, 12),
          networkMode: c.HostConfig.NetworkMode!,
          endpoints: c.Dray.endpoints ?? {},
          portBindings: c.HostConfig.PortBindings ?? {},
          publishAll: !!c.HostConfig.PublishAllPorts,
          exposedPorts: Object.keys(c.Config.ExposedPorts ?? {}),
          dns: c.HostConfig.Dns ?? undefined, dnsSearch: c.HostConfig.DnsSearch ?? undefined, dnsOptions: c.HostConfig.DnsOptions ?? undefined,
        }, netnsMade);
        // Set up in the runtime's shadow, unless a sysctl of the container's may name an
        // interface netavark has yet to move in (net.ipv4.conf.eth0.*): the runtime writes those
        // at create.
        const overlap = !Object.keys(c.HostConfig.Sysctls ?? {}).some((k) => k.startsWith('net.'));
        input.network = { mode: 'path', path: overlap ? await Promise.race([netns, attaching.then((n) => n.netnsPath)]) : (await attaching).netnsPath };
        // The bind-mount sources must exist at create; their content is only read once the
        // process runs, so the network's own is written into them (same inodes) when it is known.
        if (overlap) await this.writeHostFiles(c);
        attached = attaching.then(async (net) => {
          lap('network set up');
          c.NetworkSettings = net.settings;
          await this.writeHostFiles(c, { ...net, hostsEntries: net.hostsEntries + linked.hosts }, overlap);
        });
        attached.catch(() => {}); // awaited below; a failure before then must not count as unhandled
        if (!overlap) await attached;
      } else {
        await this.writeHostFiles(c);
      }
      const spec = buildSpec(input);
      if (c.Dray.idmap) this.narrowPingRange(c, spec);
      // The terminal starts at the client's size (docker sends ConsoleSize): a resize after start
      // would race with the first thing the process prints.
      const cs = c.HostConfig.ConsoleSize;
      if (c.Config.Tty && cs && cs[0] > 0 && cs[1] > 0) (spec.process as Record<string, unknown>).consoleSize = { height: cs[0], width: cs[1] };
      const seccompToLearn = rt.seccomp?.apply(spec);
      await fsp.writeFile(path.join(bundle, 'config.json'), specToJson(spec));
      lap('bundle written');
      // The running record is written while conmon and the runtime create the container (it is
      // the slow part), not after. Its pid is 0 until the next save; a crash before the start is
      // done leaves a running record without a live conmon, which reconcile() ends as an exit.
      const startedAt = new Date().toISOString();
      const runningState = (pid: number): ContainerRecord['State'] => ({ ...c.State, Status: 'running', Running: true, Paused: false, Restarting: false, OOMKilled: false, Dead: false, Pid: pid, ExitCode: 0, Error: '', StartedAt: startedAt });
      const runningRecord = () => this.save({ ...c, State: runningState(0), Dray: { ...c.Dray, hasBeenStarted: true, manuallyStopped: false } });
      // With the network still being set up, the record waits for its settings.
      saving = attached ? attached.then(runningRecord) : runningRecord();
      saving.catch(() => {}); // awaited below, or in the failure path
      const creating = conmon.go();
      // Both settle before anything is undone: a failed setup must not race the runtime's create.
      const [created, networkDone] = await Promise.allSettled([creating, attached]);
      if (created.status === 'rejected') throw created.reason;
      if (networkDone.status === 'rejected') throw networkDone.reason;
      const pid = created.value;
      // Clients that attached before start connect now, so they miss no output.
      const pending = this.pendingAttach.get(id) ?? [];
      this.pendingAttach.delete(id);
      await Promise.all(pending.map((fn) => fn(this.attachSocket(id)).catch((e) => log.warn('attach failed', { id, error: errorMessage(e) }))));
      if (seccompToLearn) await rt.seccomp!.learn(seccompToLearn, id);
      lap('created');
      await rt.start(id);
      lap('started');
      await saving;
      lap('saved');
      c.State = runningState(pid);
      c.Dray.hasBeenStarted = true;
      c.Dray.manuallyStopped = false;
      this.health.started(c);
      this.events.publish('container', 'start', id, this.attrs(c));
    } catch (e) {
      conmon?.abort();
      // The failure's record below must land after the running one, not race it.
      await saving?.catch(() => {});
      await rt.delete(id, true).catch(() => {});
      if (networked) await this.networks.detachContainer(id).catch((e2) => log.warn('network detach failed', { id, error: errorMessage(e2) }));
      await stopMounts(c.Mounts, this.volumes, { containerId: id });
      if (mounted) await this.fs.unmount(id, true).catch(() => {});
      if (c.Dray.idmap) await removeNsFile(this.usernsFile(id)).catch(() => {});
      await fsp.rm(bundle, { recursive: true, force: true }).catch(() => {});
      const err = startError(e);
      c.State = { ...c.State, Status: c.Dray.hasBeenStarted ? 'exited' : 'created', Running: false, Pid: 0, Error: err.message, ExitCode: exitCodeForStartError(err.message) };
      await this.save(c).catch(() => {});
      // Attach clients waiting for this start learn that it failed.
      const pending = this.pendingAttach.get(id) ?? [];
      this.pendingAttach.delete(id);
      for (const fn of pending) void fn('').catch(() => {});
      this.notifyExit(id, c.State.ExitCode);
      throw err;
    }
  }

  /** Where a remapped container's user namespace is kept while it runs. */
  private usernsFile(id: string): string { return path.join(this.cfg.execRoot, 'userns', id); }

  /**
   * A remapped container's network namespace is its user namespace's, and the runtime writes the
   * sysctls from inside: Docker's default ping range names every host group, which that namespace
   * cannot (EINVAL), so it becomes every group the container has.
   */
  private narrowPingRange(c: ContainerRecord, spec: ReturnType<typeof buildSpec>): void {
    const ping = 'net.ipv4.ping_group_range';
    if (spec.linux.sysctl?.[ping] !== '0 2147483647' || c.HostConfig.Sysctls?.[ping]) return;
    const size = c.Dray.idmap!.gids.reduce((n, m) => Math.max(n, m.containerID + m.size), 0);
    spec.linux.sysctl[ping] = `0 ${size - 1}`;
  }

  private async specInput(c: ContainerRecord, rootfs: string): Promise<SpecInput> {
    const hc = c.HostConfig;
    const user = await resolveUser(rootfs, c.Config.User || undefined);
    const groupAdd = (hc.GroupAdd ?? []).map((g) => {
      const n = Number(g);
      if (!Number.isInteger(n)) throw invalid(`Unable to find group ${g}`);
      return n;
    });
    const mounts: SpecInput['mounts'] = [
      { destination: '/etc/resolv.conf', source: c.ResolvConfPath, type: 'bind', options: ['rbind', 'rprivate'] },
      { destination: '/etc/hostname', source: c.HostnamePath, type: 'bind', options: ['rbind', 'rprivate'] },
      { destination: '/etc/hosts', source: c.HostsPath, type: 'bind', options: ['rbind', 'rprivate'] },
    ];
    mounts.push(...await startMounts(c.Mounts, rootfs, this.volumes, { containerId: c.Id, hostConfig: c.HostConfig }));
    const env = [...(c.Config.Env ?? []), ...(this.ephemeralEnv.get(c.Id) ?? [])];
    if (!env.some((e) => e.startsWith('HOSTNAME='))) env.push(`HOSTNAME=${c.Config.Hostname}`);
    return {
      id: c.Id,
      rootfs,
      args: [c.Path, ...c.Args],
      env,
      cwd: c.Config.WorkingDir || '/',
      user: { uid: user.uid, gid: user.gid, additionalGids: [...user.additionalGids, ...groupAdd] },
      tty: !!c.Config.Tty,
      hostname: c.Config.Hostname || c.Id.slice(0, 12),
      domainname: c.Config.Domainname || undefined,
      readonlyRootfs: !!hc.ReadonlyRootfs,
      privileged: !!hc.Privileged,
      capAdd: hc.CapAdd ?? undefined,
      capDrop: hc.CapDrop ?? undefined,
      securityOpt: hc.SecurityOpt ?? undefined,
      network: { mode: hc.NetworkMode === 'host' ? 'host' : 'none' }, // a bridge network replaces this at start
      ipc: hc.IpcMode === 'host' ? 'host' : 'private',
      pid: hc.PidMode === 'host' ? 'host' : 'private',
      uts: hc.UTSMode === 'host' ? 'host' : 'private',
      cgroupns: hc.CgroupnsMode === 'host' ? 'host' : 'private',
      mounts,
      cgroupsPath: containerCgroupPath(c.Id, hc.CgroupParent),
      deviceCgroupRules: hc.DeviceCgroupRules ?? undefined,
      noNewPrivileges: this.cfg.noNewPrivileges,
      resources: {
        memory: hc.Memory || undefined,
        memorySwap: hc.MemorySwap || undefined,
        cpuShares: hc.CpuShares || undefined,
        cpuQuota: hc.CpuQuota || undefined,
        cpuPeriod: hc.CpuPeriod || undefined,
        cpusetCpus: hc.CpusetCpus || undefined,
        pidsLimit: hc.PidsLimit && hc.PidsLimit > 0 ? hc.PidsLimit : undefined,
        nanoCpus: hc.NanoCpus || undefined,
        blkioWeight: hc.BlkioWeight || undefined,
      },
      shmSize: hc.ShmSize || undefined,
      sysctls: hc.Sysctls ?? undefined,
      ulimits: hc.Ulimits ?? undefined,
      init: !!hc.Init,
      oomScoreAdj: hc.OomScoreAdj || undefined,
      devices: hc.Devices ?? undefined,
      userns: c.Dray.idmap,
    };
  }

  attachSocket(id: string): string { return path.join(this.socketDir, id, 'attach'); }

  // ---- exit ---------------------------------------------------------------------------------

  /** Tracked, so a shutdown lets an exit's clean-up (network, mounts) finish first. */
  private trackExit(p: Promise<void>): void {
    const t: Promise<void> = p.finally(() => this.exiting.delete(t));
    this.exiting.add(t);
  }

  private async onExitFile(name: string): Promise<void> {
    if (!this.byId.has(name)) return;
    const file = path.join(this.exitDir, name);
    let text: string;
    try { text = await fsp.readFile(file, 'utf8'); } catch { return; }
    if (!text.trim()) return; // being written; the next event brings the content
    const code = Number(text.trim());
    await this.handleExit(name, Number.isFinite(code) ? code : 255);
  }

  private async handleExit(id: string, code: number): Promise<void> {
    let after: (() => Promise<void>) | undefined;
    await this.lock.run(id, async () => {
      const c = this.byId.get(id);
      if (!c || (!c.State.Running && !c.State.Restarting)) {
        await fsp.rm(path.join(this.exitDir, id), { force: true });
        return;
      }
      const rt = this.runtimeOf(c);
      this.health.stopped(c);
      const oom = code === 137 && !!c.HostConfig.Memory && (await oomKilled(containerCgroupPath(id, c.HostConfig.CgroupParent)));
      // Clean-up comes before the exit is announced, as in Docker: whoever waited for the exit
      // finds no mount, network or runtime state left. All of it runs at once: the host's mounts
      // are not the container's (its mount namespace has its own copies), so unmounting them
      // need not wait for the runtime to let go of the container.
      // A --rm container never restarts (create refuses AutoRemove with a restart policy), and
      // no exited record of it is written (below): its bundle (after the runtime, which may read
      // it) and exit file go in this same round.
      const autoRemove = !!c.HostConfig.AutoRemove;
      const dropBundle = () => autoRemove ? fsp.rm(path.join(this.bundlesDir, id), { recursive: true, force: true }) : undefined;
      // The network's veth and namespace (~10-30 ms of the kernel's) go after the exit is told
      // (networks.ts detachLocked); the endpoint itself goes before.
      await Promise.all([
        this.networks.detachContainer(id).catch((e) => log.warn('network detach failed', { id, error: errorMessage(e) })),
        rt.delete(id, true).catch((e) => log.warn('runtime delete failed', { id, error: errorMessage(e) })).then(dropBundle),
        stopMounts(c.Mounts, this.volumes, { containerId: id }),
        this.fs.unmount(id, true).catch((e) => log.warn('unmount failed', { id, error: errorMessage(e) })),
        fsp.rm(path.join(this.socketDir, id), { force: true }),
        c.Dray.idmap ? removeNsFile(this.usernsFile(id)).catch((e) => log.warn('user namespace not released', { id, error: errorMessage(e) })) : undefined,
        autoRemove ? fsp.rm(path.join(this.exitDir, id), { force: true }) : undefined,
      ]);
      c.State = { ...c.State, Status: 'exited', Running: false, Paused: false, Restarting: false, Pid: 0, ExitCode: code, OOMKilled: oom, FinishedAt: new Date().toISOString() };
      const restart = this.shouldRestart(c);
      // A --rm container's record goes at once, so no exited record is written first: a crash
      // before the removal is done leaves the running record, which reconcile() ends as an exit
      // and removes again.
      const removeNow = !restart && autoRemove;
      if (!removeNow) {
        // On a full disk the record cannot be written. The exit is still known here and told to
        // whoever waits (a build step, `docker wait`), or they would wait forever; the bundle
        // and the exit file stay, so a restart records the exit from them.
        let saved = true;
        await this.save(c).catch((e) => {
          if ((e as NodeJS.ErrnoException)?.code !== 'ENOSPC') throw e;
          saved = false;
          log.error('disk full: the exit is not recorded on disk (a restart records it from the exit file)', { id });
        });
        if (saved) {
          // The bundle goes after the record: its presence tells reconcile() that clean-up was not
          // finished.
          await fsp.rm(path.join(this.bundlesDir, id), { recursive: true, force: true });
          await fsp.rm(path.join(this.exitDir, id), { force: true });
        }
      }
      if (oom) this.events.publish('container', 'oom', id, this.attrs(c));
      this.events.publish('container', 'die', id, this.attrs(c, { exitCode: String(code) }));
      this.notifyExit(id, code);
      if (restart) after = () => this.scheduleRestart(c);
      else if (removeNow) {
        c.State = { ...c.State, Status: 'removing' };
        try {
          await this.finishRemove(c, true, true);
        } catch (e) {
          log.warn('auto-remove failed', { id, error: errorMessage(e) });
          c.State = { ...c.State, Status: 'exited' };
          await this.save(c).catch(() => {});
        }
      }
    });
    if (after) await after();
  }

  private shouldRestart(c: ContainerRecord): boolean {
    if (this.shuttingDown || c.Dray.manuallyStopped) return false;
    const p = c.HostConfig.RestartPolicy ?? { Name: 'no' };
    if (p.Name === 'always' || p.Name === 'unless-stopped') return true;
    if (p.Name === 'on-failure') return c.State.ExitCode !== 0 && (!p.MaximumRetryCount || c.RestartCount < p.MaximumRetryCount);
    return false;
  }

  private async scheduleRestart(c: ContainerRecord): Promise<void> {
    // Docker's back-off: 100 ms doubling, reset after a run of 10 s or more.
    const ranFor = Date.parse(c.State.FinishedAt) - Date.parse(c.State.StartedAt);
    const delay = ranFor >= 10_000 ? 100 : Math.min(100 * 2 ** Math.min(c.RestartCount, 10), 60_000);
    c.State = { ...c.State, Status: 'restarting', Restarting: true };
    await this.save(c);
    const t = setTimeout(() => {
      this.restartTimers.delete(c.Id);
      void this.lock.run(c.Id, async () => {
        const cur = this.byId.get(c.Id);
        if (!cur || !cur.State.Restarting || cur.Dray.manuallyStopped) return;
        cur.RestartCount++;
        this.events.publish('container', 'restart', cur.Id, this.attrs(cur));
        await this.startLocked(cur);
      }).catch((e) => log.warn('restart failed', { id: c.Id, error: errorMessage(e) }));
    }, delay);
    this.restartTimers.set(c.Id, t);
  }

  private notifyExit(id: string, code: number): void {
    const ws = this.exitWaiters.get(id) ?? [];
    this.exitWaiters.delete(id);
    for (const w of ws) w(code);
  }

  /** Resolves with the exit code at the container's next exit. */
  nextExit(id: string): Promise<number> {
    return new Promise((resolve) => {
      const ws = this.exitWaiters.get(id) ?? [];
      ws.push(resolve);
      this.exitWaiters.set(id, ws);
    });
  }

  /** Docker's wait conditions: not-running (default), next-exit, removed. */
  async wait(ref: string, condition: string): Promise<{ StatusCode: number; Error: { Message: string } | null }> {
    const c = this.get(ref);
    if (condition === 'removed') {
      const removed = new Promise<void>((resolve) => {
        const ws = this.removeWaiters.get(c.Id) ?? [];
        ws.push(resolve);
        this.removeWaiters.set(c.Id, ws);
      });
      await removed;
      return { StatusCode: c.State.ExitCode, Error: null };
    }
    if (condition === 'next-exit' || c.State.Running || c.State.Restarting) {
      const code = await this.nextExit(c.Id);
      return { StatusCode: code, Error: null };
    }
    if (condition && condition !== 'not-running') throw invalid(`invalid condition: "${condition}"`);
    return { StatusCode: c.State.ExitCode, Error: null };
  }

  // ---- stop / kill / restart / pause ---------------------------------------------------------

  async stop(ref: string, timeoutSec?: number, signal?: string): Promise<void> {
    const c = this.get(ref);
    const t = this.restartTimers.get(c.Id);
    if (!c.State.Running) {
      if (c.State.Restarting || t) {
        if (t) { clearTimeout(t); this.restartTimers.delete(c.Id); }
        await this.lock.run(c.Id, async () => {
          c.Dray.manuallyStopped = true;
          c.State = { ...c.State, Status: 'exited', Restarting: false };
          await this.save(c);
        });
        return;
      }
      throw notModified();
    }
    const exited = this.nextExit(c.Id);
    await this.lock.run(c.Id, async () => {
      c.Dray.manuallyStopped = true;
      await this.save(c);
    });
    const sig = signal || c.Config.StopSignal || 'SIGTERM';
    const timeout = timeoutSec ?? c.Config.StopTimeout ?? 10;
    if (c.State.Paused) await this.runtimeOf(c).resume(c.Id).catch(() => {});
    await this.signal(c, sig).catch(() => {});
    const done = timeout < 0 ? await exited.then(() => true) : await Promise.race([exited.then(() => true), delay(timeout * 1000).then(() => false)]);
    if (!done) {
      await this.signal(c, 'SIGKILL').catch(() => {});
      await Promise.race([exited, delay(30_000)]);
    }
    this.events.publish('container', 'stop', c.Id, this.attrs(c));
  }

  async kill(ref: string, signal = 'SIGKILL'): Promise<void> {
    const c = this.get(ref);
    if (!c.State.Running) throw conflict(`Cannot kill container: ${ref}: Container ${c.Id} is not running`);
    const sig = normalizeSignal(signal);
    // A kill with the stop signal or SIGKILL is a request to stop: restart policies leave it down.
    if (sig === 'SIGKILL' || sig === normalizeSignal(c.Config.StopSignal || 'SIGTERM')) {
      await this.lock.run(c.Id, async () => { c.Dray.manuallyStopped = true; await this.save(c); });
    }
    // As Docker, a SIGKILL returns once the container is dead: an inspect right after sees it exited.
    const exited = sig === 'SIGKILL' ? this.nextExit(c.Id) : undefined;
    await this.signal(c, sig);
    this.events.publish('container', 'kill', c.Id, this.attrs(c, { signal: String(os.constants.signals[sig as keyof typeof os.constants.signals] ?? sig) }));
    if (exited) await Promise.race([exited, delay(30_000)]);
  }

  private async signal(c: ContainerRecord, signal: string): Promise<void> {
    const sig = normalizeSignal(signal);
    if (!c.State.Pid) throw conflict(`Container ${c.Id} is not running`);
    try {
      process.kill(c.State.Pid, sig as NodeJS.Signals);
    } catch (e: any) {
      if (e.code !== 'ESRCH') throw systemError(`cannot kill container ${c.Id}: ${e.message}`);
    }
  }

  async restart(ref: string, timeoutSec?: number, signal?: string): Promise<void> {
    const c = this.get(ref);
    if (c.State.Running) await this.stop(c.Id, timeoutSec, signal);
    await this.lock.run(c.Id, async () => {
      const cur = this.get(c.Id);
      if (cur.State.Running) return;
      await this.startLocked(cur);
    });
    this.events.publish('container', 'restart', c.Id, this.attrs(c));
  }

  async pause(ref: string): Promise<void> {
    const c = this.get(ref);
    await this.lock.run(c.Id, async () => {
      if (!c.State.Running) throw conflict(`Container ${c.Id} is not running`);
      if (c.State.Paused) throw conflict(`Container ${c.Id} is already paused`);
      await this.runtimeOf(c).pause(c.Id);
      c.State = { ...c.State, Status: 'paused', Paused: true };
      this.health.stopped(c);
      await this.save(c);
    });
    this.events.publish('container', 'pause', c.Id, this.attrs(c));
  }

  async unpause(ref: string): Promise<void> {
    const c = this.get(ref);
    await this.lock.run(c.Id, async () => {
      if (!c.State.Paused) throw conflict(`Container ${c.Id} is not paused`);
      await this.runtimeOf(c).resume(c.Id);
      c.State = { ...c.State, Status: 'running', Paused: false };
      this.health.resumed(c);
      await this.save(c);
    });
    this.events.publish('container', 'unpause', c.Id, this.attrs(c));
  }

  /** `docker update`: restart policy and resource limits (applied to a running container too). */
  async update(ref: string, body: Partial<HostConfig>): Promise<void> {
    const c = this.get(ref);
    const resourceKeys = ['Memory', 'MemorySwap', 'CpuShares', 'CpuQuota', 'CpuPeriod', 'CpusetCpus', 'PidsLimit', 'BlkioWeight', 'NanoCpus'] as const;
    await this.lock.run(c.Id, async () => {
      const next: HostConfig = { ...c.HostConfig };
      if (body.RestartPolicy?.Name !== undefined) {
        if (c.HostConfig.AutoRemove && body.RestartPolicy.Name !== 'no') throw invalid('Restart policy cannot be updated because AutoRemove is enabled for the container');
        next.RestartPolicy = body.RestartPolicy;
      }
      for (const k of resourceKeys) if (body[k] !== undefined && body[k] !== 0 && body[k] !== '') (next as any)[k] = body[k];
      const normalized = normalizeHostConfig(next, this.cfg.defaultRuntime, [...this.runtimes.keys()]);
      if (c.State.Running) {
        const args: string[] = [];
        if (body.Memory) args.push('--memory', String(body.Memory));
        if (body.MemorySwap) args.push('--memory-swap', String(body.MemorySwap));
        if (body.CpuShares) args.push('--cpu-share', String(body.CpuShares));
        if (body.CpuQuota) args.push('--cpu-quota', String(body.CpuQuota));
        if (body.CpuPeriod) args.push('--cpu-period', String(body.CpuPeriod));
        if (body.CpusetCpus) args.push('--cpuset-cpus', body.CpusetCpus);
        if (body.PidsLimit) args.push('--pids-limit', String(body.PidsLimit));
        if (args.length) await this.runtimeOf(c).update(c.Id, args);
      }
      c.HostConfig = normalized;
      await this.save(c);
    });
    this.events.publish('container', 'update', c.Id, this.attrs(c));
  }

  /** Applies a change to a container's network settings (network connect/disconnect). */
  async updateNetworks(id: string, change: (c: ContainerRecord) => void): Promise<void> {
    const c = this.get(id);
    await this.lock.run(c.Id, async () => { change(c); await this.save(c); });
  }

  // ---- remove / rename ------------------------------------------------------------------------

  async remove(ref: string, opts: { force: boolean; volumes: boolean }): Promise<void> {
    const c = this.get(ref);
    if (c.State.Running || c.State.Restarting) {
      if (!opts.force) {
        const what = c.State.Paused ? 'paused' : 'running';
        throw conflict(`You cannot remove a ${what} container ${c.Id}. Stop the container before attempting removal or force remove`);
      }
      const t = this.restartTimers.get(c.Id);
      if (t) { clearTimeout(t); this.restartTimers.delete(c.Id); }
      if (c.State.Running) {
        const exited = this.nextExit(c.Id);
        await this.lock.run(c.Id, async () => { c.Dray.manuallyStopped = true; await this.save(c); });
        if (c.State.Paused) await this.runtimeOf(c).resume(c.Id).catch(() => {});
        await this.signal(c, 'SIGKILL').catch(() => {});
        await Promise.race([exited, delay(30_000)]);
      }
    }
    await this.lock.run(c.Id, async () => {
      if (!this.byId.has(c.Id)) return;
      if (c.State.Running) throw conflict(`could not kill running container ${c.Id}, cannot remove`);
      c.State = { ...c.State, Status: 'removing' };
      // The marker lets a restart finish an interrupted removal. On a full disk it cannot be
      // written, and the removal (which frees the space) must not fail for it: finishRemove is
      // safe to repeat, so a crash before it ends leaves a container a second rm takes.
      await this.save(c).catch((e) => {
        if ((e as NodeJS.ErrnoException)?.code !== 'ENOSPC') throw e;
        log.warn('disk full: removing the container without its removal marker', { id: c.Id });
      });
      await this.finishRemove(c, opts.volumes);
    });
  }

  /**
   * Deletes everything of a container; safe to repeat after a crash halfway through.
   * `released`: the exit handling of a --rm container just let go of its runtime state, network,
   * mounts, bundle and exit file; only the rootfs is checked again, since its unmount there was
   * allowed to fail and the directory must not go to the trash with the overlay still on it.
   */
  private async finishRemove(c: ContainerRecord, removeVolumes = false, released = false): Promise<void> {
    if (released) await this.fs.unmount(c.Id, true);
    else {
      // A stopped container's runtime state went at its exit; a bundle left means a crash halfway.
      if (await exists(path.join(this.bundlesDir, c.Id))) await this.runtimeOf(c).delete(c.Id, true).catch(() => {});
      await Promise.all([
        this.networks.detachContainer(c.Id).catch(() => {}),
        stopMounts(c.Mounts, this.volumes, { containerId: c.Id }),
        this.fs.unmount(c.Id, true),
        fsp.rm(path.join(this.bundlesDir, c.Id), { recursive: true, force: true }),
        fsp.rm(path.join(this.socketDir, c.Id), { force: true }),
        fsp.rm(path.join(this.exitDir, c.Id), { force: true }),
      ]);
    }
    // The record goes last, with the rootfs and logs in the same rename: until then a restart
    // finishes the job. Their files are deleted after the removal is announced.
    this.health.removed(c.Id);
    await this.trash.take(path.join(this.containersDir, c.Id));
    this.byId.delete(c.Id);
    this.ephemeralEnv.delete(c.Id);
    if (this.byName.get(c.Name.slice(1)) === c.Id) this.byName.delete(c.Name.slice(1));
    if (removeVolumes) await removeAnonymous(c.Mounts, this.volumes, c.Id).catch((e) => log.warn('removing anonymous volumes failed', { id: c.Id, error: errorMessage(e) }));
    this.events.publish('container', 'destroy', c.Id, this.attrs(c));
    const ws = this.removeWaiters.get(c.Id) ?? [];
    this.removeWaiters.delete(c.Id);
    for (const w of ws) w();
    this.notifyExit(c.Id, c.State.ExitCode);
  }

  async rename(ref: string, newName: string): Promise<void> {
    const c = this.get(ref);
    const n = newName.replace(/^\//, '');
    if (!n) throw invalid('Neither old nor new names may be empty');
    if (!isValidName(n)) throw invalid(`Invalid container name (${n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    if (c.Name === '/' + n) throw conflict(`Renaming a container with the same name as its current name`);
    const holder = this.byName.get(n);
    if (holder) throw conflict(`Conflict. The container name "/${n}" is already in use by container "${holder}". You have to remove (or rename) that container to be able to reuse that name.`);
    await this.lock.run(c.Id, async () => {
      const old = c.Name;
      this.byName.set(n, c.Id);
      c.Name = '/' + n;
      try { await this.save(c); } catch (e) { c.Name = old; this.byName.delete(n); throw e; }
      this.byName.delete(old.slice(1));
      this.events.publish('container', 'rename', c.Id, this.attrs(c, { oldName: old }));
    });
  }

  // ---- attach, logs, resize -------------------------------------------------------------------

  /**
   * Connects to the container's stdio: now if it runs, otherwise at its next start (before the
   * runtime starts the process). Resolves with the connection, or undefined if the start failed.
   */
  async attach(ref: string): Promise<{ conn?: AttachConnection; waitForStart?: Promise<AttachConnection | undefined> }> {
    const c = this.get(ref);
    if (c.State.Running) {
      return { conn: await connectAttach(this.attachSocket(c.Id)) };
    }
    const waitForStart = new Promise<AttachConnection | undefined>((resolve, reject) => {
      const list = this.pendingAttach.get(c.Id) ?? [];
      list.push(async (socket) => {
        if (!socket) { resolve(undefined); return; }
        try { resolve(await connectAttach(socket)); } catch (e) { reject(e); }
      });
      this.pendingAttach.set(c.Id, list);
    });
    return { waitForStart };
  }

  async resize(ref: string, h: number, w: number): Promise<void> {
    const c = this.get(ref);
    if (!c.State.Running) throw conflict(`Container ${c.Id} is not running`);
    await writeCtl(path.join(this.bundlesDir, c.Id, 'ctl'), `1 ${h} ${w}\n`);
  }

  /** Where conmon writes the container's log (whatever LogPath reports). */
  logFile(c: ContainerRecord): string { return path.join(this.containersDir, c.Id, 'container.log'); }

  logRotation(c: ContainerRecord): Rotation {
    const fallback = { maxSize: this.cfg.logMaxSize, maxFiles: this.cfg.logMaxFiles };
    try { return rotationOf(c.HostConfig.LogConfig, fallback); } catch { return fallback; }
  }

  logFiles(c: ContainerRecord): string[] { return logFiles(this.logFile(c), this.logRotation(c).maxFiles); }

  /** Rotates logs that outgrew the limit: rename, then conmon reopens (ctl message 2). */
  private async rotateLogs(): Promise<void> {
    for (const c of this.list()) {
      if (!c.State.Running) continue;
      const { maxSize, maxFiles } = this.logRotation(c);
      if (!maxSize) continue;
      const st = await fsp.stat(this.logFile(c)).catch(() => undefined);
      if (!st || st.size < maxSize) continue;
      await this.lock.run(c.Id, async () => {
        await rotate(this.logFile(c), maxFiles);
        await writeCtl(path.join(this.bundlesDir, c.Id, 'ctl'), '2 0 0\n').catch((e) => log.warn('log reopen failed', { id: c.Id, error: errorMessage(e) }));
      });
    }
  }

  // ---- ps ---------------------------------------------------------------------------------------

  summary(c: ContainerRecord, withSize = false): Record<string, unknown> {
    // Docker quotes arguments that contain spaces.
    const cmd = [c.Path, ...c.Args.map((a) => (a.includes(' ') ? `'${a}'` : a))].join(' ');
    const s: Record<string, unknown> = {
      Id: c.Id,
      Names: ['/' + c.Name.slice(1), ...(this.anyLinks ? this.linkNamesOf(c) : [])],
      Image: c.Config.Image,
      ImageID: c.Image,
      Command: cmd,
      Created: Math.floor(Date.parse(c.Created) / 1000),
      Ports: portList(c),
      Labels: c.Config.Labels ?? {},
      State: c.State.Status,
      Status: statusText(c),
      HostConfig: { NetworkMode: c.HostConfig.NetworkMode },
      Health: { Status: c.State.Health?.Status ?? 'none', FailingStreak: c.State.Health?.FailingStreak ?? 0 },
      NetworkSettings: { Networks: c.NetworkSettings.Networks ?? {} },
      Mounts: c.Mounts,
    };
    if (withSize) { s.SizeRw = 0; s.SizeRootFs = 0; }
    return s;
  }

  async sizes(c: ContainerRecord): Promise<{ rw: number; rootfs: number }> {
    const rw = await dirSize(this.fs.upper(c.Id));
    const img = await this.images.resolve(c.Image).then((i) => i.size).catch(() => 0);
    return { rw, rootfs: rw + img };
  }

  // ---- helpers for exec ---------------------------------------------------------------------

  runtimeFor(c: ContainerRecord): OciRuntime { return this.runtimeOf(c); }
  rootfs(c: ContainerRecord): string { return this.fs.merged(c.Id); }
}

/** The network a NetworkMode means: "default" (or none given) is the default bridge. */
export function effectiveNetworkMode(mode: string | undefined): string {
  return !mode || mode === 'default' ? 'bridge' : mode;
}

/** Modes whose network is a netavark-managed bridge (the default bridge or a user network). */
export function usesNetworkService(mode: string): boolean {
  return mode !== 'host' && mode !== 'none' && !mode.startsWith('container:');
}

/** ps's Ports: published bindings, and exposed ports without one. */
function portList(c: ContainerRecord): { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[] {
  const out: { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[] = [];
  const ports = (c.State.Running ? c.NetworkSettings.Ports : undefined) as Record<string, { HostIp: string; HostPort: string }[] | null> | undefined;
  const keys = new Set([...Object.keys(c.Config.ExposedPorts ?? {}), ...Object.keys(ports ?? {})]);
  for (const k of keys) {
    const [port, proto = 'tcp'] = k.split('/');
    const bindings = ports?.[k];
    if (bindings && bindings.length) for (const b of bindings) out.push({ IP: b.HostIp || '0.0.0.0', PrivatePort: Number(port), PublicPort: Number(b.HostPort), Type: proto });
    else out.push({ PrivatePort: Number(port), Type: proto });
  }
  return out;
}

/** `network connect` to a stopped container: remembered for its next start. */
export function rememberEndpoint(c: ContainerRecord, net: string, config: EndpointConfig | undefined): void {
  const eps = { ...(c.Dray.endpoints ?? {}) };
  if (config) eps[net] = config; else delete eps[net];
  c.Dray.endpoints = eps;
}

/** As Docker shows a container before its start; one in another's network has no network of its own. */
function networkSettings(mode: string | undefined): Record<string, any> {
  return {
    Bridge: '', SandboxID: '', SandboxKey: '', Ports: {}, HairpinMode: false, LinkLocalIPv6Address: '', LinkLocalIPv6PrefixLen: 0,
    SecondaryIPAddresses: null, SecondaryIPv6Addresses: null, EndpointID: '', Gateway: '', GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0, IPAddress: '', IPPrefixLen: 0, IPv6Gateway: '', MacAddress: '',
    Networks: mode === undefined ? {} : {
      [mode]: { IPAMConfig: null, Links: null, Aliases: null, MacAddress: '', NetworkID: '', EndpointID: '', Gateway: '', IPAddress: '', IPPrefixLen: 0, IPv6Gateway: '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0, DriverOpts: null, DNSNames: null },
    },
  };
}

function startError(e: unknown): DrayError {
  const msg = errorMessage(e).replace(/\s+$/, '');
  if (e instanceof DrayError && e.kind !== 'System') return e;
  // Docker's wording, which the docker CLI reads to choose exit code 126 or 127.
  const m = /executable file `(.+?)` not found/.exec(msg) ?? /exec `?(.+?)`?: No such file or directory/.exec(msg);
  if (m) return new DrayError('System', `failed to create task for container: OCI runtime create failed: unable to start container process: exec: "${m[1]}": executable file not found in $PATH: unknown`);
  if (/permission denied/i.test(msg)) return new DrayError('System', `failed to create task for container: OCI runtime create failed: unable to start container process: ${msg}: permission denied: unknown`);
  return new DrayError('System', `failed to create task for container: OCI runtime create failed: ${msg}: unknown`);
}

export function exitCodeForStartError(msg: string): number {
  if (/executable file not found|no such file or directory/i.test(msg)) return 127;
  if (/permission denied/i.test(msg)) return 126;
  return 128;
}

export function normalizeSignal(s: string): string {
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    const name = Object.entries(os.constants.signals).find(([, v]) => v === n)?.[0];
    if (!name) throw invalid(`Invalid signal: ${s}`);
    return name;
  }
  const up = s.toUpperCase();
  const name = up.startsWith('SIG') ? up : 'SIG' + up;
  if (!(name in os.constants.signals)) throw invalid(`Invalid signal: ${s}`);
  return name;
}

async function oomKilled(cgroupsPath: string): Promise<boolean> {
  const t = await fsp.readFile(`/sys/fs/cgroup/memory${cgroupsPath}/memory.oom_control`, 'utf8').catch(() => '');
  return /oom_kill [1-9]/.test(t);
}

async function exists(p: string): Promise<boolean> {
  try { await fsp.access(p); return true; } catch { return false; }
}

const delay = (ms: number) => new Promise<void>((r) => { const t = setTimeout(r, ms); t.unref?.(); });

/** conmon's control FIFO: never a blocking open (it would hang once conmon is gone). */
export async function writeCtl(file: string, msg: string): Promise<void> {
  let fh;
  try {
    fh = await fsp.open(file, fsc.O_WRONLY | fsc.O_NONBLOCK);
  } catch (e: any) {
    throw systemError(`control pipe ${file}: ${e.code === 'ENXIO' ? 'the monitor is gone' : e.message}`);
  }
  try { await fh.write(msg); } finally { await fh.close(); }
}
