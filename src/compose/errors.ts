// Errors of dray compose. The loader's are the user's to fix (a file, a path in it, what is wrong);
// the CLI prints the message as is and exits 1, as Docker Compose does.
export class ComposeError extends Error {
  constructor(message: string, readonly status = 1) {
    super(message);
    this.name = 'ComposeError';
  }
}

/** Compose's errdefs.ErrInvalid suffix: "...: invalid compose project". */
export const invalidProject = (msg: string) => new ComposeError(`${msg}: invalid compose project`);

/** The feature exists in the Compose Specification but not in dray compose yet. */
export const notImplemented = (what: string) => new ComposeError(`${what}: not implemented in dray compose`, 1);

/**
 * The client's ApiError, told by its name: the client compose uses is the CLI's (dray-main.js,
 * warmed up in the waiting CLI process), whose classes are not this bundle's copies.
 */
export const isApiError = (e: unknown, ...status: number[]): e is { name: 'ApiError'; status: number; message: string } =>
  (e as { name?: string } | null)?.name === 'ApiError' && (!status.length || status.includes((e as { status: number }).status));
