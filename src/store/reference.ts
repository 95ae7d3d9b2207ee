// Image references, parsed and normalised as Docker does (distribution/reference):
//   busybox                      → docker.io/library/busybox:latest, shown as busybox:latest
//   localhost:5000/a/b:t         → keeps its registry
//   name@sha256:<64 hex>         → a digest reference
// Errors carry Docker's wording, "invalid reference format…", as InvalidParameter.
import { invalid } from '../lib/errors';

export const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DOMAIN = 'index.docker.io';
const OFFICIAL_PREFIX = 'library/';
const NAME_TOTAL_LENGTH_MAX = 255;

const alnum = '[a-z0-9]+';
const separator = '(?:[._]|__|[-]+)';
const pathComponent = `${alnum}(?:${separator}${alnum})*`;
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const ipv6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const domainName = `${domainComponent}(?:\\.${domainComponent})*`;
const domainRe = new RegExp(`^(?:${domainName}|${ipv6})(?::[0-9]+)?$`);
const pathRe = new RegExp(`^${pathComponent}(?:/${pathComponent})*$`);
const tagRe = /^[\w][\w.-]{0,127}$/;
const digestRe = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const anchoredHex64 = /^[a-f0-9]{64}$/;

export interface Reference {
  /** Registry host, e.g. "docker.io", "localhost:5000". */
  domain: string;
  /** Repository path inside the registry, e.g. "library/busybox". */
  path: string;
  tag?: string;
  digest?: string;
}

const invalidFormat = (detail?: string) => invalid(detail ? `invalid reference format: ${detail}` : 'invalid reference format');

/** Splits "name[:tag][@digest]" into parts; validates the grammar; does not normalise. */
function splitRaw(s: string): { name: string; tag?: string; digest?: string } {
  if (s === '') throw invalidFormat();
  let name = s;
  let digest: string | undefined;
  let tag: string | undefined;
  const at = name.indexOf('@');
  if (at >= 0) {
    digest = name.slice(at + 1);
    name = name.slice(0, at);
    if (!digestRe.test(digest)) throw invalidFormat();
    if (digest.startsWith('sha256:') && !/^sha256:[a-f0-9]{64}$/.test(digest)) throw invalidFormat();
  }
  const lastSlash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = name.slice(colon + 1);
    name = name.slice(0, colon);
    if (!tagRe.test(tag)) throw invalidFormat();
  }
  if (name === '') throw invalidFormat();
  return { name, tag, digest };
}

/** Docker's ParseNormalizedNamed: a familiar or full reference to a normalised Reference. */
export function parseReference(s: string): Reference {
  const { name, tag, digest } = splitRaw(s);
  if (anchoredHex64.test(name)) throw invalid(`invalid repository name (${name}), cannot specify 64-byte hexadecimal strings`);
  let domain: string;
  let rest: string;
  const i = name.indexOf('/');
  const first = i === -1 ? '' : name.slice(0, i);
  if (i === -1 || (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() === first)) {
    domain = DEFAULT_DOMAIN;
    rest = name;
  } else {
    domain = first;
    rest = name.slice(i + 1);
  }
  if (domain === LEGACY_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !rest.includes('/')) rest = OFFICIAL_PREFIX + rest;
  if (rest.toLowerCase() !== rest) throw invalidFormat(`repository name (${rest}) must be lowercase`);
  if (!domainRe.test(domain) || !pathRe.test(rest)) throw invalidFormat();
  if (domain.length + 1 + rest.length > NAME_TOTAL_LENGTH_MAX) throw invalidFormat('repository name must not be more than 255 characters');
  return { domain, path: rest, tag, digest };
}

/** Adds ":latest" when the reference has neither tag nor digest (Docker's TagNameOnly). */
export function withDefaultTag(r: Reference): Reference {
  return r.tag || r.digest ? r : { ...r, tag: 'latest' };
}

/** "docker.io/library/busybox" */
export function fullName(r: Reference): string {
  return `${r.domain}/${r.path}`;
}

/** "busybox", "user/app", "localhost:5000/a/b" */
export function familiarName(r: Reference): string {
  if (r.domain !== DEFAULT_DOMAIN) return `${r.domain}/${r.path}`;
  return r.path.startsWith(OFFICIAL_PREFIX) && r.path.split('/').length === 2 ? r.path.slice(OFFICIAL_PREFIX.length) : r.path;
}

/** Full string form, the key of the tag store: "docker.io/library/busybox:latest". */
export function fullString(r: Reference): string {
  return fullName(r) + (r.tag ? `:${r.tag}` : '') + (r.digest ? `@${r.digest}` : '');
}

/** Familiar string form, as Docker shows it: "busybox:latest". */
export function familiarString(r: Reference): string {
  return familiarName(r) + (r.tag ? `:${r.tag}` : '') + (r.digest ? `@${r.digest}` : '');
}

/** Normalises a tag reference (default tag added) to its full string; rejects digests when `tagOnly`. */
export function normalizeTagRef(s: string): Reference {
  return withDefaultTag(parseReference(s));
}

/** Docker's ParseAnyReference: a 64-hex ID or "sha256:<hex>" becomes a digest-only reference. */
export function parseAnyReference(s: string): { id: string } | { ref: Reference } {
  if (anchoredHex64.test(s)) return { id: `sha256:${s}` };
  if (/^sha256:[a-f0-9]{64}$/.test(s)) return { id: s };
  return { ref: parseReference(s) };
}

/** Registry host to contact for a domain (Docker Hub's API host differs from its name). */
export function registryHost(domain: string): string {
  return domain === DEFAULT_DOMAIN ? 'registry-1.docker.io' : domain;
}

/** Glob match of Docker's `reference` filter: `*` does not cross "/", as Go's path.Match. */
export function referenceFilterMatch(pattern: string, r: Reference): boolean {
  const re = new RegExp('^' + pattern.split('').map((c) => {
    if (c === '*') return '[^/]*';
    if (c === '?') return '[^/]';
    return c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }).join('') + '$');
  return [familiarString(r), familiarName(r), fullString(r), fullName(r)].some((c) => re.test(c));
}
