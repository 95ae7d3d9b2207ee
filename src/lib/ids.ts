import { randomBytes, createHash } from 'node:crypto';

export const newId = (): string => randomBytes(32).toString('hex');
export const shortId = (id: string): string => id.replace(/^sha256:/, '').slice(0, 12);
export const sha256 = (data: string | Uint8Array): string => 'sha256:' + createHash('sha256').update(data).digest('hex');
export const hexOf = (digest: string): string => digest.replace(/^sha256:/, '');
export const isFullHexId = (s: string): boolean => /^[0-9a-f]{64}$/.test(s);
