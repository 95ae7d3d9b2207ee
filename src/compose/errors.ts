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
