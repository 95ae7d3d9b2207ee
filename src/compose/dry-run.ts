// `dray compose --dry-run`: the command runs as it would, against the real engine for everything
// it reads, while everything it would change is answered here instead, as Docker Compose's dry-run
// client does: a container "created" is remembered (and listed and inspected from then on, running
// and healthy, so that whatever waits on it proceeds), a start, stop, kill, removal, network or
// volume change succeeds without being sent, a pull only checks that the registry knows the image.
// The progress lines are the ones the real run draws, prefixed "DRY-RUN MODE - ".
//
// Two layers make "changes nothing" hold: the API objects below override every call that changes
// something, and under them the transport refuses every request that is not a GET or HEAD, so a
// change that has no stand-in here fails with a clear error instead of happening.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Socket } from 'node:net';
import { DockerClient, Transport } from '../client';
import type { RequestOptions } from '../client';
import { ContainersApi, ListOptions } from '../client/containers';
import { ExecApi } from '../client/exec';
import { ImagesApi } from '../client/images';
import { NetworksApi } from '../client/networks';
import { VolumesApi } from '../client/volumes';
import { SystemApi } from '../client/system';
import { HttpResponse } from '../client/http';
import type { ContainerCreateBody, ContainerInspect, ContainerSummary, ExecInspect, ImageDeleteItem, Volume } from '../client/types';
import type { JsonMessage } from '../client/stream';
import { ComposeError } from './errors';

export const DRY_RUN_PREFIX = 'DRY-RUN MODE - ';

/** A transport that reads through `real` and refuses to send anything that could change state. */
function readOnlyTransport(real: Transport): Transport {
  const t = Object.create(real) as Transport;
  const refuse = (method: string, path: string) => {
    // A wait is a POST that changes nothing: it is sent, as Docker Compose's dry run sends it.
    if (method === 'POST' && /^\/containers\/[^/]+\/wait(\?|$)/.test(path)) return;
    if (method !== 'GET' && method !== 'HEAD') throw new ComposeError(`${method} ${path.replace(/\?.*/, '')} is not supported in dry-run mode`);
  };
  t.raw = (method: string, path: string, opts?: RequestOptions) => { refuse(method, path); return real.raw(method, path, opts); };
  t.hijack = (method: string, path: string, opts?: RequestOptions): Promise<{ socket: Socket; contentType?: string }> => {
    refuse(method, path);
    return real.hijack(method, path, opts);
  };
  return t;
}

interface FakeContainer { summary: ContainerSummary; body: ContainerCreateBody }

/** What the dry run pretends to have made, shared by its API objects. */
class DryState {
  readonly containers = new Map<string, FakeContainer>();
  readonly execs = new Set<string>();
}

async function* noMessages(): AsyncGenerator<JsonMessage> { /* nothing to report */ }

/** Whether a fake container matches the label filters of a list request (the only filter compose uses). */
function matchesLabels(c: ContainerSummary, filters: ListOptions['filters']): boolean {
  const labels = (filters as Record<string, string[]> | undefined)?.label ?? [];
  return labels.every((l) => {
    const i = l.indexOf('=');
    return i < 0 ? l in (c.Labels ?? {}) : c.Labels?.[l.slice(0, i)] === l.slice(i + 1);
  });
}

class DryContainers extends ContainersApi {
  constructor(t: Transport, private readonly s: DryState) { super(t); }

  override async list(o: ListOptions = {}): Promise<ContainerSummary[]> {
    const real = await super.list(o);
    return [...real, ...[...this.s.containers.values()].map((f) => f.summary).filter((c) => matchesLabels(c, o.filters))];
  }

  override async create(body: ContainerCreateBody, o: { name?: string } = {}) {
    // The name stands for the ID, as in Docker Compose: it is what the progress lines show.
    const id = o.name || randomBytes(32).toString('hex');
    this.s.containers.set(id, {
      body,
      summary: { Id: id, Names: [`/${id}`], Image: String(body.Image ?? ''), Labels: (body.Labels as Record<string, string>) ?? {}, State: 'created', Status: 'Created' } as unknown as ContainerSummary,
    });
    return { Id: id, Warnings: [] };
  }

  override async inspect(id: string, o: { size?: boolean } = {}): Promise<ContainerInspect> {
    const fake = this.s.containers.get(id);
    if (!fake) return super.inspect(id, o);
    // Running and healthy: what lets `--wait` and a service_healthy dependent go on.
    return {
      Id: id, Name: fake.summary.Names[0], Image: fake.summary.Image,
      State: { Status: 'running', Running: true, Paused: false, Restarting: false, ExitCode: 0, Health: { Status: 'healthy' } },
      Config: { ...fake.body, Labels: fake.summary.Labels },
      HostConfig: {}, Mounts: [], NetworkSettings: { Networks: {} },
    } as unknown as ContainerInspect;
  }

  override async attach(): Promise<{ socket: Socket; contentType?: string }> { throw new ComposeError('interactive run is not supported in dry-run mode'); }
  override async start(): Promise<void> {}
  override async stop(): Promise<void> {}
  override async restart(): Promise<void> {}
  override async kill(): Promise<void> {}
  override async pause(): Promise<void> {}
  override async unpause(): Promise<void> {}
  override async rename(id: string, name: string): Promise<void> {
    const fake = this.s.containers.get(id);
    if (!fake) return;
    this.s.containers.delete(id);
    fake.summary.Names = [`/${name}`];
    this.s.containers.set(id, fake);
  }
  override async remove(id: string): Promise<void> { this.s.containers.delete(id); }
  override async putArchive(): Promise<void> {}
}

class DryExec extends ExecApi {
  constructor(t: Transport, private readonly s: DryState) { super(t); }
  override async create(): Promise<{ Id: string }> {
    const id = randomBytes(32).toString('hex');
    this.s.execs.add(id);
    return { Id: id };
  }
  override async startDetached(id: string): Promise<void> {
    if (!this.s.execs.has(id)) throw new ComposeError(`invalid exec ID ${JSON.stringify(id)}`);
  }
  override async start(): Promise<{ socket: Socket }> { throw new ComposeError('interactive exec is not supported in dry-run mode'); }
  override async inspect(id: string): Promise<ExecInspect> {
    if (this.s.execs.has(id)) return { ID: id, Running: false, ExitCode: 0 } as unknown as ExecInspect;
    return super.inspect(id);
  }
}

class DryImages extends ImagesApi {
  constructor(private readonly rt: Transport) { super(rt); }

  /** The registry is asked for the image's manifest (drayd's GET /distribution), nothing is pulled. */
  override async pull(fromImage: string, tag: string | undefined, o: { auth?: string } = {}): Promise<AsyncGenerator<JsonMessage>> {
    const ref = tag ? (tag.startsWith('sha256:') ? `${fromImage}@${tag}` : `${fromImage}:${tag}`) : fromImage;
    await this.rt.json('GET', `/distribution/${ref}/json`, { headers: o.auth ? { 'X-Registry-Auth': o.auth } : {} });
    return noMessages();
  }

  override async push(): Promise<AsyncGenerator<JsonMessage>> { return noMessages(); }

  /** A build that reads its context (so a missing one still fails) and builds nothing. */
  override async build(context: Readable | Buffer): Promise<HttpResponse> {
    if (context instanceof Readable) context.resume();
    const res = new HttpResponse();
    res.statusCode = 200;
    res.push(null);
    return res;
  }

  override async remove(): Promise<ImageDeleteItem[]> { return []; }
  override async tag(): Promise<void> {}
}

class DryNetworks extends NetworksApi {
  override async create(body: { Name: string }): Promise<{ Id: string }> { return { Id: body.Name }; }
  override async remove(): Promise<void> {}
  override async connect(): Promise<void> {}
  override async disconnect(): Promise<void> {}
}

class DryVolumes extends VolumesApi {
  override async create(body: { Name?: string; Driver?: string; DriverOpts?: Record<string, string>; Labels?: Record<string, string> }): Promise<Volume> {
    return { Name: body.Name ?? '', Driver: body.Driver ?? 'local', Labels: body.Labels ?? {}, Options: body.DriverOpts ?? null, Mountpoint: '', Scope: 'local' } as unknown as Volume;
  }
  override async remove(): Promise<void> {}
}

/** A client that reads from `real`'s engine and only pretends to change it. */
export function dryRunClient(real: DockerClient): DockerClient {
  const t = readOnlyTransport(real.transport);
  const s = new DryState();
  const c = Object.create(real) as { -readonly [K in keyof DockerClient]: DockerClient[K] };
  c.transport = t;
  c.containers = new DryContainers(t, s);
  c.exec = new DryExec(t, s);
  c.images = new DryImages(t);
  c.networks = new DryNetworks(t);
  c.volumes = new DryVolumes(t);
  c.system = new SystemApi(t);
  return c as DockerClient;
}
