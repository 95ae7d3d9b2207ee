// What exists of a project on the engine, found by labels (com.docker.compose.project) and, for
// networks and volumes declared in the model, by name: the planner compares it with the model.
import type { DockerClient } from '../client';
import type { ContainerSummary, ImageSummary, Network, Volume } from '../client/types';
import * as L from './labels';

export interface Observed {
  /** The project's containers, one-off ones included. */
  containers: ContainerSummary[];
  networks: Network[];
  volumes: Volume[];
  /** Image IDs by reference ("busybox:latest"); undefined when images were not asked for. */
  images?: Map<string, string>;
}

/** "busybox" → "busybox:latest"; "docker.io/library/x:1" → "x:1": how RepoTags spell references. */
export function normalizeRef(ref: string): string {
  let r = ref;
  if (r.startsWith('docker.io/')) r = r.slice('docker.io/'.length);
  if (r.startsWith('index.docker.io/')) r = r.slice('index.docker.io/'.length);
  if (r.startsWith('library/')) r = r.slice('library/'.length);
  if (r.includes('@')) return r;
  const slash = r.lastIndexOf('/');
  return r.lastIndexOf(':') > slash ? r : `${r}:latest`;
}

export function imageIndex(images: ImageSummary[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const i of images) {
    for (const t of i.RepoTags ?? []) if (t !== '<none>:<none>') m.set(normalizeRef(t), i.Id);
    for (const d of i.RepoDigests ?? []) m.set(normalizeRef(d), i.Id);
    m.set(i.Id, i.Id);
  }
  return m;
}

/** The image ID a reference names now, if the engine has it. */
export function imageIdOf(obs: Observed, ref: string): string | undefined {
  if (!obs.images) return undefined;
  return obs.images.get(normalizeRef(ref)) ?? obs.images.get(ref) ?? (/^(sha256:)?[0-9a-f]{12,64}$/.test(ref) ? [...new Set(obs.images.values())].find((id) => id.replace('sha256:', '').startsWith(ref.replace('sha256:', ''))) : undefined);
}

export interface ObserveOptions { networks?: boolean; volumes?: boolean; images?: boolean; containers?: boolean }

/** One request per kind, all at once. */
export async function observe(client: DockerClient, project: string, o: ObserveOptions = {}): Promise<Observed> {
  const want = { containers: true, networks: true, volumes: true, images: true, ...o };
  const [containers, networks, volumes, images] = await Promise.all([
    want.containers ? client.containers.list({ all: true, filters: { label: [`${L.PROJECT}=${project}`] } }) : Promise.resolve([]),
    want.networks ? client.networks.list() : Promise.resolve([]),
    want.volumes ? client.volumes.list().then((v) => v.Volumes ?? []) : Promise.resolve([]),
    want.images ? client.images.list() : Promise.resolve(undefined),
  ]);
  return { containers, networks, volumes, images: images ? imageIndex(images) : undefined };
}

export const labelOf = (c: { Labels: Record<string, string> | null }, k: string): string | undefined => c.Labels?.[k] ?? undefined;
export const numberOf = (c: ContainerSummary): number => Number(labelOf(c, L.NUMBER) ?? 0);
export const serviceOf = (c: ContainerSummary): string => labelOf(c, L.SERVICE) ?? '';
export const isOneoff = (c: ContainerSummary): boolean => labelOf(c, L.ONEOFF) === 'True';
export const nameOf = (c: { Names?: string[]; Name?: string }): string => (c.Names?.[0] ?? c.Name ?? '').replace(/^\//, '');
