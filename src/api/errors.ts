// The one table from error kinds to HTTP status codes.
import { DrayError, ErrorKind } from '../lib/errors';

const statusOf: Record<ErrorKind, number> = {
  NotFound: 404,
  Conflict: 409,
  InvalidParameter: 400,
  NotModified: 304,
  Forbidden: 403,
  Unavailable: 503,
  NotImplemented: 501,
  System: 500,
};

export function httpStatus(err: unknown): number {
  return err instanceof DrayError ? statusOf[err.kind] : 500;
}
