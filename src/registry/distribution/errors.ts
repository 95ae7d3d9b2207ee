// The registry's errors: the OCI Distribution Spec's codes (plus the few distribution adds), each
// with its HTTP status and message in one table, sent as {"errors":[{code,message,detail}]}.
// Statuses and messages follow distribution's, which every client has been tested against.

export type ErrorCode =
  | 'BLOB_UNKNOWN' | 'BLOB_UPLOAD_INVALID' | 'BLOB_UPLOAD_UNKNOWN' | 'DIGEST_INVALID'
  | 'MANIFEST_BLOB_UNKNOWN' | 'MANIFEST_INVALID' | 'MANIFEST_UNKNOWN' | 'NAME_INVALID'
  | 'NAME_UNKNOWN' | 'SIZE_INVALID' | 'UNAUTHORIZED' | 'DENIED' | 'UNSUPPORTED' | 'TOOMANYREQUESTS'
  | 'RANGE_INVALID' | 'TAG_INVALID' | 'PAGINATION_NUMBER_INVALID' | 'UNAVAILABLE' | 'UNKNOWN';

const TABLE: Record<ErrorCode, [number, string]> = {
  BLOB_UNKNOWN: [404, 'blob unknown to registry'],
  BLOB_UPLOAD_INVALID: [400, 'blob upload invalid'],
  BLOB_UPLOAD_UNKNOWN: [404, 'blob upload unknown to registry'],
  DIGEST_INVALID: [400, 'provided digest did not match uploaded content'],
  MANIFEST_BLOB_UNKNOWN: [400, 'blob unknown to registry'],
  MANIFEST_INVALID: [400, 'manifest invalid'],
  MANIFEST_UNKNOWN: [404, 'manifest unknown'],
  NAME_INVALID: [400, 'invalid repository name'],
  NAME_UNKNOWN: [404, 'repository name not known to registry'],
  SIZE_INVALID: [400, 'provided length did not match content length'],
  UNAUTHORIZED: [401, 'authentication required'],
  DENIED: [403, 'requested access to the resource is denied'],
  UNSUPPORTED: [405, 'The operation is unsupported.'],
  TOOMANYREQUESTS: [429, 'too many requests'],
  RANGE_INVALID: [416, 'invalid content range'],
  TAG_INVALID: [400, 'manifest tag did not match URI'],
  PAGINATION_NUMBER_INVALID: [400, 'invalid number of results requested'],
  UNAVAILABLE: [503, 'service unavailable'],
  UNKNOWN: [500, 'unknown error'],
};

/**
 * `message` is for logs and for the body's detail: the body's own message is always the table's,
 * as distribution sends it (clients print it after the code), and what went wrong in particular
 * goes into its detail.
 */
export class RegistryError extends Error {
  readonly status: number;
  readonly headers: Record<string, string> = {};
  constructor(readonly code: ErrorCode, readonly detail?: unknown, message?: string, status?: number) {
    super(message ?? TABLE[code][1]);
    this.name = 'RegistryError';
    this.status = status ?? TABLE[code][0];
  }

  withHeader(name: string, value: string): this { this.headers[name] = value; return this; }

  body(): string {
    const standard = TABLE[this.code][1];
    const e: Record<string, unknown> = { code: this.code, message: standard };
    let detail = this.detail;
    if (this.message !== standard) {
      if (detail === undefined || typeof detail === 'string') detail = detail === undefined ? this.message : `${this.message} (${detail})`;
      else if (typeof detail === 'object' && !Array.isArray(detail)) detail = { reason: this.message, ...(detail as object) };
    }
    if (detail !== undefined) e.detail = detail;
    return JSON.stringify({ errors: [e] });
  }
}

export const regError = (code: ErrorCode, detail?: unknown, opts: { message?: string; status?: number } = {}) =>
  new RegistryError(code, detail, opts.message, opts.status);

export const isRegistryError = (e: unknown, code?: ErrorCode): e is RegistryError =>
  e instanceof RegistryError && (code === undefined || e.code === code);
