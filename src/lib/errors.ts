// Typed errors of the engine. Only api/ maps them to HTTP status codes (api/errors.ts); the wording
// of messages follows Docker's because clients and scripts match on it.

export type ErrorKind =
  | 'NotFound'
  | 'Conflict'
  | 'InvalidParameter'
  | 'NotModified'
  | 'Forbidden'
  | 'Unavailable'
  | 'NotImplemented'
  | 'System';

export class DrayError extends Error {
  constructor(readonly kind: ErrorKind, message: string) {
    super(message);
    this.name = kind;
  }
}

export const notFound = (msg: string) => new DrayError('NotFound', msg);
export const conflict = (msg: string) => new DrayError('Conflict', msg);
export const invalid = (msg: string) => new DrayError('InvalidParameter', msg);
export const notModified = (msg = '') => new DrayError('NotModified', msg);
export const forbidden = (msg: string) => new DrayError('Forbidden', msg);
export const unavailable = (msg: string) => new DrayError('Unavailable', msg);
export const notImplemented = (msg: string) => new DrayError('NotImplemented', msg);
export const systemError = (msg: string) => new DrayError('System', msg);

export function isKind(err: unknown, kind: ErrorKind): boolean {
  return err instanceof DrayError && err.kind === kind;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
