// Go orders strings by their bytes, and so do Docker's listings. localeCompare would differ for
// case and punctuation, and it loads ICU's collation data into the daemon (a few MiB of RSS).
export const byBytes = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
