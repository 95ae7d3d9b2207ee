// The engine's side of registries: pull, push, login and remote inspect, over the registry client
// (registry/remote/) and the image store (images.ts). Here live the parts that are about the
// daemon's state — which tag moved, the RepoDigests, events — and Docker's wording of the
// errors it reports for them (moby's distribution/errors.go: "manifest for x not found: …",
// "pull access denied for x, repository does not exist or may require 'docker login': …").
import type { ImageService } from './images';
import type { Image } from './types';
import { RegistryClient, RegistryConfig } from '../registry/remote/client';
import { Puller, inspectRemote, listTags } from '../registry/remote/pull';
import { Pusher, PushLayerSource } from '../registry/remote/push';
import { login, LoginResult } from '../registry/remote/login';
import { Partials } from '../registry/remote/partials';
import { Sources } from '../registry/remote/sources';
import { resolveReference, Target } from '../registry/remote/resolve';
import { parsePlatform } from '../registry/remote/platform';
import type { AuthConfig } from '../registry/remote/credentials';
import { errorLine, ProgressSink, statusLine } from '../registry/remote/progress';
import { RegistryError, REG_ERR, regError } from '../registry/remote/errors';
import { Reference, parseReference, familiarName, familiarString, fullName } from '../store/reference';
import { notFound } from '../lib/errors';

export class DistributionService {
  readonly client: RegistryClient;
  readonly puller: Puller;
  readonly pusher: Pusher;
  private readonly partials: Partials;
  private readonly sources: Sources;

  constructor(readonly cfg: RegistryConfig, private readonly images: ImageService) {
    const store = images.registryStore();
    this.client = new RegistryClient(cfg);
    this.partials = new Partials(store.layout.partialDir);
    this.sources = new Sources(store.layout.distributionDir);
    this.puller = new Puller(this.client, { ...store, partials: this.partials, sources: this.sources });
    this.pusher = new Pusher(this.client, this.sources);
  }

  async init(): Promise<void> {
    await this.partials.init();
    await this.sources.init();
  }

  shutdown(): void { this.client.close(); }

  /** POST /images/create?fromImage=: pulls `ref` (tag or digest) and tags it. */
  async pull(ref: string, o: { platform?: string; creds: AuthConfig; progress: ProgressSink }): Promise<Image> {
    const platform = o.platform ? parsePlatform(o.platform) : undefined;
    const t = resolveReference(ref);
    let r;
    try {
      r = await this.puller.pull({ target: t, platform, creds: o.creds, progress: o.progress });
    } catch (e) {
      throw translatePullError(e, t);
    }
    const repoDigest: Reference = { domain: t.ref.domain, path: t.ref.path, digest: r.manifestDigest };
    const { image, upToDate } = await this.images.commitPulled(r.configBytes, t.ref, repoDigest);
    o.progress(statusLine(`Digest: ${r.manifestDigest}`));
    o.progress(statusLine(upToDate ? `Status: Image is up to date for ${familiarString(t.ref)}` : `Status: Downloaded newer image for ${familiarString(t.ref)}`));
    return image;
  }

  /** docker pull --all-tags: each tag of the repository in turn, one summary line at the end. */
  async pullAllTags(name: string, o: { platform?: string; creds: AuthConfig; progress: ProgressSink }): Promise<void> {
    const base = parseReference(name);
    const t = resolveReference({ ...base, tag: 'latest' });
    let tags: string[];
    try { tags = await listTags(this.client, t, o.creds); } catch (e) { throw translatePullError(e, t); }
    if (!tags.length) throw regError(REG_ERR.MANIFEST_UNKNOWN, `no tags found in repository ${familiarName(base)}`);
    let newer = false;
    for (const tag of tags) {
      const lines: string[] = [];
      await this.pull(familiarString({ ...base, tag }), { ...o, progress: (m) => {
        // Each tag's own Status line is folded into one for the repository.
        if (m.status?.startsWith('Status: ')) { lines.push(m.status); return; }
        o.progress(m);
      } });
      newer ||= lines.some((l) => l.startsWith('Status: Downloaded'));
    }
    o.progress(statusLine(newer ? `Status: Downloaded newer image for ${familiarName(base)}` : `Status: Image is up to date for ${familiarName(base)}`));
  }

  /**
   * POST /images/{name}/push?tag=: the tag asked for, the tag in the name, or with neither every
   * tag of the repository. Errors after the first line are the stream's, as Docker sends them.
   */
  async push(name: string, tag: string | undefined, o: { creds: AuthConfig; progress: ProgressSink }): Promise<void> {
    let ref = parseReference(name);
    if (ref.digest) throw regError(REG_ERR.LOCAL, 'cannot push a digest reference');
    if (tag) ref = { ...ref, tag };
    const repo: Reference = { domain: ref.domain, path: ref.path };
    o.progress(statusLine(`The push refers to repository [${fullName(repo)}]`));
    const tags = ref.tag ? [ref] : this.images.tagsOf(fullName(repo));
    if (!tags.length) throw regError(REG_ERR.LOCAL, `An image does not exist locally with the tag: ${familiarName(repo)}`);
    for (const r of tags) {
      const img = await this.images.forPush(r);
      if (!img) throw regError(REG_ERR.LOCAL, `tag does not exist: ${familiarString(r)}`);
      const unpin = this.images.pinImage(img.id);
      try {
        const layers: PushLayerSource[] = img.layers.map((l) => ({ ...l, compression: compressionOf(l.mediaType) }));
        const res = await this.pusher.push({ target: resolveReference(r), tag: r.tag!, configBytes: img.configBytes, layers, creds: o.creds, progress: o.progress });
        await this.images.addRepoDigest(img.id, { ...repo, digest: res.digest });
        this.images.publishPush(img.id, r);
        o.progress({ progressDetail: {}, aux: { Tag: r.tag, Digest: res.digest, Size: res.size } } as never);
      } finally { unpin(); }
    }
  }

  /**
   * Pushes the image `id` into `target`'s repository by digest only (no tag names it there): a
   * build cache's step images. Returns the manifest's descriptor.
   */
  async pushUntagged(id: string, target: Target, o: { creds: AuthConfig; progress: ProgressSink }): Promise<{ mediaType: string; digest: string; size: number }> {
    const img = await this.images.forPushById(id);
    if (!img) throw notFound(`No such image: ${id}`);
    const unpin = this.images.pinImage(img.id);
    try {
      const layers: PushLayerSource[] = img.layers.map((l) => ({ ...l, compression: compressionOf(l.mediaType) }));
      const res = await this.pusher.push({ target, configBytes: img.configBytes, layers, creds: o.creds, progress: o.progress });
      return { mediaType: res.mediaType, digest: res.digest, size: res.size };
    } finally { unpin(); }
  }

  /** Pulls `target` (a digest) and commits the image with no reference: pushUntagged's counterpart. */
  async pullUntagged(target: Target, o: { creds: AuthConfig; progress: ProgressSink }): Promise<Image> {
    let r;
    try { r = await this.puller.pull({ target, creds: o.creds, progress: o.progress }); } catch (e) { throw translatePullError(e, target); }
    return this.images.commitUntagged(r.configBytes);
  }

  /** GET /distribution/{name}/json. */
  inspect(name: string, creds: AuthConfig) {
    return inspectRemote(this.client, resolveReference(name), creds);
  }

  /** POST /auth. */
  login(creds: AuthConfig): Promise<LoginResult> { return login(this.client, creds); }

  /** What /info reports under RegistryConfig. */
  registryInfo(): object {
    const cidrs = ['::1/128', '127.0.0.0/8', ...this.cfg.insecure.filter((x) => x.includes('/'))];
    const names = this.cfg.insecure.filter((x) => !x.includes('/'));
    const index = (name: string, mirrors: string[], secure: boolean) => ({ Name: name, Mirrors: mirrors, Secure: secure, Official: name === 'docker.io' });
    const IndexConfigs: Record<string, object> = { 'docker.io': index('docker.io', this.cfg.mirrors['docker.io'] ?? [], true) };
    for (const n of names) IndexConfigs[n] = index(n, this.cfg.mirrors[n] ?? [], false);
    for (const [k, v] of Object.entries(this.cfg.mirrors)) if (!IndexConfigs[k]) IndexConfigs[k] = index(k, v, true);
    return {
      AllowNondistributableArtifactsCIDRs: null, AllowNondistributableArtifactsHostnames: null,
      InsecureRegistryCIDRs: cidrs, IndexConfigs, Mirrors: (this.cfg.mirrors['docker.io'] ?? []).map((m) => `${m}/`),
    };
  }

  /** Credentials for `registry` from an X-Registry-Config map (builds send one per registry). */
  static credsFromConfigMap(map: Record<string, AuthConfig>, registry: string): AuthConfig {
    for (const [k, v] of Object.entries(map)) {
      const host = k.replace(/^[a-z]+:\/\//, '').split('/')[0];
      const isHub = host === 'index.docker.io' || host === 'docker.io' || host === 'registry-1.docker.io';
      if (host === registry || (registry === 'docker.io' && isHub)) return v;
    }
    return {};
  }
}

function compressionOf(mediaType: string): 'gzip' | 'zstd' | 'none' {
  if (mediaType.endsWith('gzip')) return 'gzip';
  if (mediaType.endsWith('zstd')) return 'zstd';
  return 'none';
}

/** Docker's translatePullError: what a registry's "not found" means for the reference pulled. */
function translatePullError(e: unknown, t: Target): unknown {
  if (!(e instanceof RegistryError)) return e;
  switch (e.code) {
    case REG_ERR.MANIFEST_UNKNOWN:
      return new RegistryError(e.code, `manifest for ${familiarString(t.ref)} not found: ${e.message}`, e.detail);
    case REG_ERR.NAME_UNKNOWN:
      return new RegistryError(e.code, `repository ${t.familiarName} not found: ${e.message}`, e.detail);
    case REG_ERR.DENIED:
      return new RegistryError(e.code, `pull access denied for ${t.familiarName}, repository does not exist or may require 'docker login': ${e.message}`, e.detail);
  }
  return e;
}

export { errorLine, notFound };
