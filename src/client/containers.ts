// /containers/* endpoints.
import type { HttpResponse } from './http';
import type { Readable } from 'node:stream';
import type { Socket } from 'node:net';
import { Transport, readAll } from './transport';
import type {
  ChangeItem, ContainerCreateBody, ContainerCreateResponse, ContainerInspect, ContainerSummary, Filters,
  PathStat, PruneResponse, TopResponse, WaitResponse, StatsJson,
} from './types';
import { jsonLines } from './stream';

const p = (id: string) => `/containers/${encodeURIComponent(id)}`;

export interface ListOptions { all?: boolean; limit?: number; size?: boolean; filters?: Filters }
export interface LogsOptions { follow?: boolean; stdout?: boolean; stderr?: boolean; since?: string; until?: string; timestamps?: boolean; tail?: string; details?: boolean }
export interface AttachOptions { stream?: boolean; logs?: boolean; stdin?: boolean; stdout?: boolean; stderr?: boolean; detachKeys?: string }

export class ContainersApi {
  constructor(private readonly t: Transport) {}

  list(o: ListOptions = {}): Promise<ContainerSummary[]> {
    return this.t.json('GET', '/containers/json', { query: { all: o.all || undefined, limit: o.limit, size: o.size || undefined, filters: o.filters && Object.keys(o.filters).length ? o.filters : undefined } });
  }

  create(body: ContainerCreateBody, o: { name?: string; platform?: string } = {}): Promise<ContainerCreateResponse> {
    return this.t.json('POST', '/containers/create', { query: { name: o.name || undefined, platform: o.platform || undefined }, body });
  }

  inspect(id: string, o: { size?: boolean } = {}): Promise<ContainerInspect> {
    return this.t.json('GET', `${p(id)}/json`, { query: { size: o.size || undefined } });
  }

  start(id: string, o: { detachKeys?: string } = {}): Promise<void> {
    return this.t.json('POST', `${p(id)}/start`, { query: { detachKeys: o.detachKeys } });
  }

  stop(id: string, o: { t?: number; signal?: string } = {}): Promise<void> {
    return this.t.json('POST', `${p(id)}/stop`, { query: { t: o.t, signal: o.signal } });
  }

  restart(id: string, o: { t?: number; signal?: string } = {}): Promise<void> {
    return this.t.json('POST', `${p(id)}/restart`, { query: { t: o.t, signal: o.signal } });
  }

  kill(id: string, signal?: string): Promise<void> {
    return this.t.json('POST', `${p(id)}/kill`, { query: { signal } });
  }

  pause(id: string): Promise<void> { return this.t.json('POST', `${p(id)}/pause`); }
  unpause(id: string): Promise<void> { return this.t.json('POST', `${p(id)}/unpause`); }

  rename(id: string, name: string): Promise<void> {
    return this.t.json('POST', `${p(id)}/rename`, { query: { name } });
  }

  remove(id: string, o: { force?: boolean; v?: boolean; link?: boolean } = {}): Promise<void> {
    return this.t.json('DELETE', p(id), { query: { force: o.force || undefined, v: o.v || undefined, link: o.link || undefined } });
  }

  /** Resolves when the condition is met; start it before `start` to catch quick exits. */
  wait(id: string, condition?: 'not-running' | 'next-exit' | 'removed', signal?: AbortSignal): Promise<WaitResponse> {
    return this.t.json('POST', `${p(id)}/wait`, { query: { condition }, signal });
  }

  /**
   * Starts the wait request and resolves once its response headers arrived: the daemon has
   * registered the waiter, so a start that follows cannot race past it.
   */
  async waitRegistered(id: string, condition?: 'not-running' | 'next-exit' | 'removed'): Promise<{ result: Promise<WaitResponse> }> {
    const res = await this.t.request('POST', `${p(id)}/wait`, { query: { condition } });
    // Wrapped in an object: an async function would otherwise flatten the inner promise.
    const result = readAll(res).then((b) => JSON.parse(b.toString('utf8').trim() || '{}') as WaitResponse);
    return { result };
  }

  resize(id: string, h: number, w: number): Promise<void> {
    return this.t.json('POST', `${p(id)}/resize`, { query: { h, w } });
  }

  attach(id: string, o: AttachOptions): Promise<{ socket: Socket; contentType?: string }> {
    return this.t.hijack('POST', `${p(id)}/attach`, { query: { stream: o.stream ?? true, logs: o.logs || undefined, stdin: o.stdin ?? false, stdout: o.stdout ?? true, stderr: o.stderr ?? true, detachKeys: o.detachKeys } });
  }

  logs(id: string, o: LogsOptions): Promise<HttpResponse> {
    return this.t.request('GET', `${p(id)}/logs`, { query: { follow: o.follow || undefined, stdout: o.stdout ?? true, stderr: o.stderr ?? true, since: o.since, until: o.until, timestamps: o.timestamps || undefined, tail: o.tail, details: o.details || undefined } });
  }

  top(id: string, psArgs?: string): Promise<TopResponse> {
    return this.t.json('GET', `${p(id)}/top`, { query: { ps_args: psArgs } });
  }

  changes(id: string): Promise<ChangeItem[] | null> { return this.t.json('GET', `${p(id)}/changes`); }

  export(id: string): Promise<HttpResponse> { return this.t.request('GET', `${p(id)}/export`); }

  async statPath(id: string, path: string): Promise<PathStat> {
    const res = await this.t.request('HEAD', `${p(id)}/archive`, { query: { path } });
    res.resume();
    const h = res.headers['x-docker-container-path-stat'];
    return JSON.parse(Buffer.from(String(h ?? ''), 'base64').toString('utf8') || '{}');
  }

  /** GET archive: a tar stream of `path`, plus its stat. */
  async getArchive(id: string, path: string): Promise<{ stream: HttpResponse; stat: PathStat | undefined }> {
    const res = await this.t.request('GET', `${p(id)}/archive`, { query: { path } });
    const h = res.headers['x-docker-container-path-stat'];
    const stat = h ? JSON.parse(Buffer.from(String(h), 'base64').toString('utf8')) : undefined;
    return { stream: res, stat };
  }

  putArchive(id: string, path: string, tar: Readable | Buffer, o: { noOverwriteDirNonDir?: boolean; copyUIDGID?: boolean } = {}): Promise<void> {
    return this.t.json('PUT', `${p(id)}/archive`, { query: { path, noOverwriteDirNonDir: o.noOverwriteDirNonDir || undefined, copyUIDGID: o.copyUIDGID || undefined }, body: tar, contentType: 'application/x-tar' });
  }

  async stats(id: string, stream: boolean): Promise<AsyncGenerator<StatsJson>> {
    const res = await this.t.request('GET', `${p(id)}/stats`, { query: { stream, 'one-shot': stream ? undefined : true } });
    return jsonLines<StatsJson>(res);
  }

  update(id: string, body: Record<string, unknown>): Promise<{ Warnings: string[] | null }> {
    return this.t.json('POST', `${p(id)}/update`, { body });
  }

  prune(filters?: Filters): Promise<PruneResponse> {
    return this.t.json('POST', '/containers/prune', { query: { filters: filters && Object.keys(filters).length ? filters : undefined } });
  }

  commit(o: { container: string; repo?: string; tag?: string; comment?: string; author?: string; pause?: boolean; changes?: string[] }, config?: Record<string, unknown>): Promise<{ Id: string }> {
    return this.t.json('POST', '/commit', { query: { container: o.container, repo: o.repo, tag: o.tag, comment: o.comment, author: o.author, pause: o.pause, changes: o.changes }, body: config ?? {} });
  }
}
