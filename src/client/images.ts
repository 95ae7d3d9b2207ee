// /images/*, /build and Dray's /dray/images/* endpoints.
import type { HttpResponse } from './http';
import { Readable, PassThrough } from 'node:stream';
import { Transport } from './transport';
import type { Query } from './transport';
import type { Filters, HistoryItem, ImageDeleteItem, ImageInspect, ImageSummary, PruneResponse } from './types';
import { progressMessages, JsonMessage } from './stream';

const p = (name: string) => `/images/${encodeURIComponent(name).replace(/%2F/g, '/')}`;
const f = (filters?: Filters) => (filters && Object.keys(filters).length ? filters : undefined);

export class ImagesApi {
  constructor(private readonly t: Transport) {}

  list(o: { all?: boolean; filters?: Filters; digests?: boolean; sharedSize?: boolean } = {}): Promise<ImageSummary[]> {
    return this.t.json('GET', '/images/json', { query: { all: o.all || undefined, filters: f(o.filters), digests: o.digests || undefined, 'shared-size': o.sharedSize || undefined } });
  }

  inspect(name: string): Promise<ImageInspect> { return this.t.json('GET', `${p(name)}/json`); }

  history(name: string): Promise<HistoryItem[]> { return this.t.json('GET', `${p(name)}/history`); }

  tag(name: string, repo: string, tag?: string): Promise<void> {
    return this.t.json('POST', `${p(name)}/tag`, { query: { repo, tag } });
  }

  remove(name: string, o: { force?: boolean; noprune?: boolean } = {}): Promise<ImageDeleteItem[]> {
    return this.t.json('DELETE', p(name), { query: { force: o.force || undefined, noprune: o.noprune || undefined } });
  }

  prune(filters?: Filters): Promise<PruneResponse> {
    return this.t.json('POST', '/images/prune', { query: { filters: f(filters) } });
  }

  /** POST /images/create?fromImage=…: progress messages; throws StreamError on an in-stream error. */
  async pull(fromImage: string, tag: string | undefined, o: { platform?: string; auth?: string } = {}): Promise<AsyncGenerator<JsonMessage>> {
    const headers: Record<string, string> = {};
    if (o.auth) headers['X-Registry-Auth'] = o.auth;
    const res = await this.t.request('POST', '/images/create', { query: { fromImage, tag, platform: o.platform || undefined }, headers });
    return progressMessages(res);
  }

  /** POST /images/create?fromSrc=-: import a root filesystem tarball. */
  async import(src: Readable | Buffer | string, o: { repo?: string; tag?: string; message?: string; changes?: string[]; platform?: string }): Promise<AsyncGenerator<JsonMessage>> {
    const fromSrc = typeof src === 'string' ? src : '-';
    const res = await this.t.request('POST', '/images/create', {
      query: { fromSrc, repo: o.repo, tag: o.tag, message: o.message, changes: o.changes, platform: o.platform },
      body: typeof src === 'string' ? undefined : src, contentType: 'application/x-tar',
    });
    return progressMessages(res);
  }

  async push(name: string, tag: string | undefined, auth = 'e30='): Promise<AsyncGenerator<JsonMessage>> {
    const res = await this.t.request('POST', `${p(name)}/push`, { query: { tag }, headers: { 'X-Registry-Auth': auth } });
    return progressMessages(res);
  }

  /** GET /images/get?names=…: a tar stream. */
  save(names: string[]): Promise<HttpResponse> {
    return this.t.request('GET', '/images/get', { query: { names } });
  }

  async load(tar: Readable | Buffer, quiet: boolean): Promise<AsyncGenerator<JsonMessage>> {
    const res = await this.t.request('POST', '/images/load', { query: { quiet: quiet || undefined }, body: tar, contentType: 'application/x-tar' });
    return progressMessages(res);
  }

  /**
   * POST /build (legacy builder): the body is the context tar; resolves with the JSON-lines response
   * (stream/status/aux/errorDetail), which the caller reads.
   */
  build(context: Readable | Buffer, query: Query, registryConfig?: string, secrets?: Map<string, Buffer>, namedContexts: AsyncIterable<Buffer>[] = []): Promise<HttpResponse> {
    const headers: Record<string, string> = {};
    if (registryConfig) headers['X-Registry-Config'] = registryConfig;
    let body: Readable | Buffer = context;
    // Dray extension: --build-context directories, framed, ahead of the context (builder/named-contexts.ts).
    if (namedContexts.length) body = Readable.from(concatStreams([...namedContexts, Buffer.isBuffer(context) ? [context] : context]));
    if (secrets?.size) {
      // Dray extension: the secrets go ahead of the context in the body, as a JSON document whose
      // length the header gives (drayd's builder/secrets.ts); never in the context tar.
      const doc = Buffer.from(JSON.stringify(Object.fromEntries([...secrets].map(([k, v]) => [k, v.toString('base64')]))));
      headers['X-Dray-Build-Secrets'] = String(doc.length);
      body = prefixed(doc, context);
    }
    return this.t.request('POST', '/build', { query, body, contentType: 'application/x-tar', headers: Object.keys(headers).length ? headers : undefined });
  }

  /** Dray extension (dray build's incremental context): which files of the manifest drayd needs. */
  buildContextNeed(key: string, manifest: unknown): Promise<{ need: number[] }> {
    return this.t.json('POST', '/dray/build/context', { query: { key }, body: manifest });
  }

  /** Dray extension (dray build --output): the filesystem of a built image, as a tar. */
  buildRootfs(image: string): Promise<HttpResponse> {
    return this.t.request('GET', '/dray/build/rootfs', { query: { image } });
  }

  /** Dray extension (dray build --cache-to): the step cache entries of these images and their parents. */
  buildCacheExport(images: string[]): Promise<{ version: 1; entries: Record<string, unknown>; images: string[] }> {
    return this.t.json('GET', '/dray/build/cache', { query: { image: images } });
  }

  /** Dray extension (dray build --cache-from type=local): adds exported entries. */
  buildCacheImport(doc: unknown, checkOnly = false): Promise<{ Imported: number }> {
    return this.t.json('POST', '/dray/build/cache', { body: doc, query: { check: checkOnly || undefined } });
  }

  /** Dray extension (dray build --cache-to type=registry): pushes the cache of these images to `ref`. */
  async buildCacheToRegistry(ref: string, images: string[], auth = 'e30='): Promise<AsyncGenerator<JsonMessage>> {
    const res = await this.t.request('POST', '/dray/build/cache/export', { query: { ref, image: images }, headers: { 'X-Registry-Auth': auth } });
    return progressMessages(res);
  }

  /** Dray extension (dray build --cache-from type=registry): pulls the cache `ref` names. */
  async buildCacheFromRegistry(ref: string, auth = 'e30='): Promise<AsyncGenerator<JsonMessage>> {
    const res = await this.t.request('POST', '/dray/build/cache/import', { query: { ref }, headers: { 'X-Registry-Auth': auth } });
    return progressMessages(res);
  }

  /** POST /build/prune. */
  pruneBuildCache(o: { all?: boolean; keepStorage?: number; filters?: Filters }): Promise<PruneResponse> {
    return this.t.json('POST', '/build/prune', { query: { all: o.all || undefined, 'keep-storage': o.keepStorage || undefined, filters: f(o.filters) } });
  }

  /** Dray extension: make a base image locally (busybox from Debian's busybox-static). */
  bootstrap(name: string): Promise<{ Id: string; RepoTags?: string[] }> {
    return this.t.json('POST', '/dray/images/bootstrap', { query: { name } });
  }
}

async function* concatStreams(parts: (AsyncIterable<Buffer> | Iterable<Buffer>)[]): AsyncGenerator<Buffer> {
  for (const p of parts) for await (const c of p) yield c;
}

/** `head`, then the bytes of `rest`, as one stream. */
function prefixed(head: Buffer, rest: Readable | Buffer): Readable {
  const out = new PassThrough();
  out.write(head);
  if (Buffer.isBuffer(rest)) { out.end(rest); return out; }
  rest.on('error', (e) => out.destroy(e));
  rest.pipe(out);
  return out;
}
