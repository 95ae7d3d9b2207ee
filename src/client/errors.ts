// Errors a client of the Engine API meets. The CLI maps them to Docker's messages and exit codes.

/** The daemon answered with an error status; `message` is the body's "message" (Docker's wording). */
export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The daemon could not be reached at all (no socket, refused, unknown host). */
export class ConnectionError extends Error {
  constructor(readonly host: string, cause?: unknown) {
    super(`Cannot connect to the Docker daemon at ${host}. Is the docker daemon running?`, { cause });
    this.name = 'ConnectionError';
  }
}

/** An error carried inside a JSON progress stream ({"errorDetail": …, "error": …}) after a 200. */
export class StreamError extends Error {
  constructor(message: string, readonly detail?: unknown) {
    super(message);
    this.name = 'StreamError';
  }
}

export const isNotFound = (e: unknown): e is ApiError => e instanceof ApiError && e.status === 404;
