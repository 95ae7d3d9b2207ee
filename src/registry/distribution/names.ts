// The grammar of the OCI Distribution Spec for repository names, tags and digests, and the
// digest algorithms the registry can verify (sha256, sha512).
import { createHash, Hash } from 'node:crypto';
import { regError } from './errors';

const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const DIGEST = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;
/** distribution's limit, which clients assume: the name with the registry's host fits in 255. */
export const MAX_NAME = 255;

export const ALGORITHMS: Record<string, number> = { sha256: 64, sha512: 128 };

export function validName(name: string): boolean {
  return name.length <= MAX_NAME && NAME.test(name);
}

export function validTag(tag: string): boolean {
  return TAG.test(tag);
}

export interface Digest {
  algorithm: string;
  hex: string;
  /** "sha256:…" */
  text: string;
}

/** Parses a digest the registry can verify; anything else is DIGEST_INVALID. */
export function parseDigest(s: string): Digest {
  const m = DIGEST.exec(s);
  if (!m) throw regError('DIGEST_INVALID', { digest: s }, { message: 'invalid digest' });
  const [, algorithm, hex] = m;
  const len = ALGORITHMS[algorithm];
  if (len === undefined) throw regError('DIGEST_INVALID', { digest: s }, { message: `unsupported digest algorithm: ${algorithm}` });
  if (hex.length !== len || !/^[a-f0-9]+$/.test(hex)) throw regError('DIGEST_INVALID', { digest: s }, { message: 'invalid digest' });
  return { algorithm, hex, text: s };
}

/** Whether a string has a digest's shape (algorithm:encoded), verifiable or not. */
export function looksLikeDigest(s: string): boolean {
  return DIGEST.test(s);
}

export function tryParseDigest(s: string): Digest | undefined {
  try { return parseDigest(s); } catch { return undefined; }
}

export function newHash(algorithm: string): Hash {
  return createHash(algorithm);
}

export function digestOf(data: Uint8Array | string, algorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}
