// Reference → what the client talks to. Names are normalised as Docker does (store/reference.ts:
// `busybox` → docker.io/library/busybox:latest); Docker Hub's name (docker.io, and the legacy
// index.docker.io) is not the host that serves its API, registry-1.docker.io.
import { Reference, parseReference, withDefaultTag, familiarName, familiarString, fullString, DEFAULT_DOMAIN } from '../../store/reference';

export interface Target {
  ref: Reference;
  /** The registry as users name it: "docker.io", "localhost:5000" (the key of mirrors, certs.d, credentials). */
  registry: string;
  /** The host[:port] the API lives on. */
  host: string;
  /** Repository path in the registry: "library/busybox". */
  repository: string;
  /** Tag or digest asked for (the manifest reference in /v2/<repo>/manifests/<reference>). */
  reference: string;
  /** "busybox" (Docker's FamiliarName), for progress lines. */
  familiarName: string;
}

/** API host of a registry name. */
export function apiHost(registry: string): string {
  return registry === DEFAULT_DOMAIN || registry === 'index.docker.io' ? 'registry-1.docker.io' : registry;
}

/** The key Docker clients store Docker Hub's credentials under; other registries by host. */
export const DOCKER_HUB_AUTH_KEY = 'https://index.docker.io/v1/';

export function resolveReference(s: string | Reference): Target {
  const ref = withDefaultTag(typeof s === 'string' ? parseReference(s) : s);
  return {
    ref,
    registry: ref.domain,
    host: apiHost(ref.domain),
    repository: ref.path,
    reference: ref.digest ?? ref.tag!,
    familiarName: familiarName(ref),
  };
}

/**
 * The registry a login server address names: "https://index.docker.io/v1/", "docker.io" and ""
 * mean Docker Hub; "http://host:5000/" and "host:5000" mean host:5000.
 */
export function registryOfServerAddress(addr: string): string {
  const s = addr.trim();
  if (s === '' || s === DOCKER_HUB_AUTH_KEY) return DEFAULT_DOMAIN;
  const host = s.replace(/^[a-z]+:\/\//i, '').split('/')[0];
  if (host === 'index.docker.io' || host === 'registry-1.docker.io' || host === DEFAULT_DOMAIN) return DEFAULT_DOMAIN;
  return host;
}

export { familiarString, fullString };
