// Elapsed-time measurement for drayd's logs and records. Not the global `performance`: its first
// use loads node:perf_hooks and its timeline, ~2.7 MiB of resident memory that an idle drayd
// would otherwise keep for the sake of a few debug timings.
/** A monotonic clock in milliseconds (fractional), for differences only. */
export const monotonicMs = (): number => Number(process.hrtime.bigint()) / 1e6;
