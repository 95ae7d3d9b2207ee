// Every error the registry client raises, with a stable code (as undici's UND_ERR_*): callers and
// tests match on `code`, users read `message`, which keeps Docker's wording because the docker CLI,
// compose and the SDKs show it as it is (and some match on it). The kind decides the HTTP status
// in api/errors.ts, like every DrayError.
import { DrayError, ErrorKind } from '../../lib/errors';

export const REG_ERR = {
  /** TCP connect failed: refused, no route, name not resolved. */
  CONNECT: 'REG_ERR_CONNECT',
  /** No connection within the connect timeout, or no byte within the idle timeout. */
  TIMEOUT: 'REG_ERR_TIMEOUT',
  /** TLS handshake or certificate verification failed. */
  TLS: 'REG_ERR_TLS',
  /** The connection broke mid-response. */
  RESET: 'REG_ERR_RESET',
  /** 401 that credentials could not cure. */
  UNAUTHORIZED: 'REG_ERR_UNAUTHORIZED',
  /** 403 / DENIED. */
  DENIED: 'REG_ERR_DENIED',
  MANIFEST_UNKNOWN: 'REG_ERR_MANIFEST_UNKNOWN',
  NAME_UNKNOWN: 'REG_ERR_NAME_UNKNOWN',
  BLOB_UNKNOWN: 'REG_ERR_BLOB_UNKNOWN',
  /** The bytes of a blob or manifest do not hash to the digest that names them. */
  DIGEST_MISMATCH: 'REG_ERR_DIGEST_MISMATCH',
  /** More or fewer bytes than the descriptor's size. */
  SIZE_MISMATCH: 'REG_ERR_SIZE_MISMATCH',
  /** A layer's uncompressed digest differs from the config's rootfs.diff_ids entry. */
  DIFFID_MISMATCH: 'REG_ERR_DIFFID_MISMATCH',
  MANIFEST_INVALID: 'REG_ERR_MANIFEST_INVALID',
  MANIFEST_TOO_LARGE: 'REG_ERR_MANIFEST_TOO_LARGE',
  UNSUPPORTED_MEDIA_TYPE: 'REG_ERR_UNSUPPORTED_MEDIA_TYPE',
  /** No entry of a manifest list / index fits the wanted platform. */
  NO_PLATFORM: 'REG_ERR_NO_PLATFORM',
  /** Any other unexpected HTTP status. */
  HTTP: 'REG_ERR_HTTP',
  /** A registry error code we have no special handling for. */
  REGISTRY: 'REG_ERR_REGISTRY',
  /** The token endpoint failed or answered nonsense. */
  TOKEN: 'REG_ERR_TOKEN',
  /** Bad daemon configuration (mirror URL, certs directory). */
  CONFIG: 'REG_ERR_CONFIG',
  /** Local image or tag problems (push of a missing tag). */
  LOCAL: 'REG_ERR_LOCAL',
  ABORTED: 'REG_ERR_ABORTED',
  NOT_IMPLEMENTED: 'REG_ERR_NOT_IMPLEMENTED',
} as const;

export type RegErrCode = typeof REG_ERR[keyof typeof REG_ERR];

const kindOf: Record<RegErrCode, ErrorKind> = {
  REG_ERR_CONNECT: 'System',
  REG_ERR_TIMEOUT: 'System',
  REG_ERR_TLS: 'System',
  REG_ERR_RESET: 'System',
  // Docker answers a refused login and an unauthorized pull with 500, not 401; the CLI prints the
  // message either way.
  REG_ERR_UNAUTHORIZED: 'System',
  REG_ERR_DENIED: 'NotFound',
  REG_ERR_MANIFEST_UNKNOWN: 'NotFound',
  REG_ERR_NAME_UNKNOWN: 'NotFound',
  REG_ERR_BLOB_UNKNOWN: 'System',
  REG_ERR_DIGEST_MISMATCH: 'System',
  REG_ERR_SIZE_MISMATCH: 'System',
  REG_ERR_DIFFID_MISMATCH: 'System',
  REG_ERR_MANIFEST_INVALID: 'System',
  REG_ERR_MANIFEST_TOO_LARGE: 'System',
  REG_ERR_UNSUPPORTED_MEDIA_TYPE: 'System',
  REG_ERR_NO_PLATFORM: 'NotFound',
  REG_ERR_HTTP: 'System',
  REG_ERR_REGISTRY: 'System',
  REG_ERR_TOKEN: 'System',
  REG_ERR_CONFIG: 'InvalidParameter',
  REG_ERR_LOCAL: 'NotFound',
  REG_ERR_ABORTED: 'System',
  REG_ERR_NOT_IMPLEMENTED: 'NotImplemented',
};

export class RegistryError extends DrayError {
  constructor(readonly code: RegErrCode, message: string, readonly detail: { status?: number; registryCode?: string; retryable?: boolean } = {}) {
    super(kindOf[code], message);
  }
}

export const regError = (code: RegErrCode, message: string, detail?: RegistryError['detail']) => new RegistryError(code, message, detail);

export function isRegistryError(e: unknown, code?: RegErrCode): e is RegistryError {
  return e instanceof RegistryError && (code === undefined || e.code === code);
}

/** Transport failures worth another attempt (the same request again, or from a mirror to the origin). */
export function isRetryable(e: unknown): boolean {
  if (!(e instanceof RegistryError)) return false;
  if (e.detail.retryable !== undefined) return e.detail.retryable;
  return e.code === REG_ERR.CONNECT || e.code === REG_ERR.TIMEOUT || e.code === REG_ERR.RESET
    || (e.code === REG_ERR.HTTP && (e.detail.status ?? 0) >= 500)
    || (e.code === REG_ERR.HTTP && e.detail.status === 429);
}

// ---- the registry's own error bodies -------------------------------------------------------------

/** One entry of the distribution spec's `{"errors": [{code, message, detail}]}` body. */
export interface SpecError { code: string; message?: string; detail?: unknown }

export function parseSpecErrors(body: Buffer | string): SpecError[] {
  try {
    const j = JSON.parse(body.toString());
    if (Array.isArray(j?.errors)) return j.errors.filter((e: any) => e && typeof e.code === 'string');
  } catch { /* not JSON */ }
  return [];
}

/**
 * Go distribution's errcode.Error text: the code's description in lower case ("MANIFEST_UNKNOWN"
 * → "manifest unknown"), then the registry's message: "manifest unknown: manifest unknown".
 */
export function specErrorText(e: SpecError): string {
  const code = e.code.toLowerCase().replace(/_/g, ' ');
  return e.message ? `${code}: ${e.message}` : code;
}

/** The error code a spec error maps to. */
export function specErrorCode(code: string): RegErrCode {
  switch (code) {
    case 'UNAUTHORIZED': return REG_ERR.UNAUTHORIZED;
    case 'DENIED': return REG_ERR.DENIED;
    case 'MANIFEST_UNKNOWN': return REG_ERR.MANIFEST_UNKNOWN;
    case 'NAME_UNKNOWN': return REG_ERR.NAME_UNKNOWN;
    case 'BLOB_UNKNOWN': return REG_ERR.BLOB_UNKNOWN;
    case 'DIGEST_INVALID': return REG_ERR.DIGEST_MISMATCH;
    case 'SIZE_INVALID': return REG_ERR.SIZE_MISMATCH;
    case 'MANIFEST_INVALID': case 'MANIFEST_BLOB_UNKNOWN': case 'MANIFEST_UNVERIFIED': return REG_ERR.MANIFEST_INVALID;
    case 'TOOMANYREQUESTS': return REG_ERR.HTTP;
    default: return REG_ERR.REGISTRY;
  }
}
