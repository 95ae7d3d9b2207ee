// Sizes and durations the way docker/go-units and Go's time package write and read them.

const decimalAbbrs = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];
const binaryAbbrs = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB'];

/** Go's %.Ng: N significant digits, trailing zeros dropped. */
export function formatG(v: number, precision: number): string {
  if (v === 0) return '0';
  const exp = Math.floor(Math.log10(Math.abs(v)));
  if (exp < -4 || exp >= precision) {
    const [m, e] = v.toExponential(precision - 1).split('e');
    const mant = m.includes('.') ? m.replace(/\.?0+$/, '') : m;
    const n = Number(e);
    return `${mant}e${n < 0 ? '-' : '+'}${String(Math.abs(n)).padStart(2, '0')}`;
  }
  const s = v.toPrecision(precision);
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
}

function customSize(size: number, base: number, abbrs: string[], precision = 4): string {
  let i = 0;
  while (size >= base && i < abbrs.length - 1) { size /= base; i++; }
  return `${formatG(size, precision)}${abbrs[i]}`;
}

/** go-units HumanSize: decimal units, 4 significant digits ("4.26MB", "1.2kB", "0B"). */
export const humanSize = (size: number): string => customSize(size, 1000, decimalAbbrs);
/** go-units HumanSizeWithPrecision. */
export const humanSizeWithPrecision = (size: number, precision: number): string => customSize(size, 1000, decimalAbbrs, precision);
/** go-units BytesSize: binary units ("1.5MiB"). */
export const bytesSize = (size: number): string => customSize(size, 1024, binaryAbbrs);

const binaryMap: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };
const decimalMap: Record<string, number> = { k: 1e3, m: 1e6, g: 1e9, t: 1e12, p: 1e15 };
const sizeRe = /^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$/;

function parseSize(s: string, map: Record<string, number>): number {
  const m = sizeRe.exec(s);
  if (!m || m[0].length !== s.length) throw new Error(`invalid size: '${s}'`);
  const n = parseFloat(m[1]);
  if (!Number.isFinite(n)) throw new Error(`invalid size: '${s}'`);
  const unit = m[3] ? map[m[3].toLowerCase()] : 1;
  return Math.trunc(n * unit);
}

/** go-units RAMInBytes: "10m" = 10 MiB; what --memory, --shm-size and friends accept. */
export const ramInBytes = (s: string): number => parseSize(s, binaryMap);
/** go-units FromHumanSize: decimal ("10MB" = 10,000,000). */
export const fromHumanSize = (s: string): number => parseSize(s, decimalMap);

/** opts.MemSwapBytes: like RAMInBytes, and "-1" means unlimited. */
export const memSwapBytes = (s: string): number => (s === '-1' ? -1 : ramInBytes(s));

const durUnits: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Go's time.ParseDuration, in nanoseconds: "1h30m", "1.5s", "300ms", "0". */
export function parseDuration(s: string): number {
  const bad = () => new Error(`time: invalid duration ${JSON.stringify(s)}`);
  let rest = s;
  let sign = 1;
  if (rest[0] === '-' || rest[0] === '+') { if (rest[0] === '-') sign = -1; rest = rest.slice(1); }
  if (rest === '0') return 0;
  if (rest === '') throw bad();
  let total = 0;
  while (rest.length) {
    const m = /^(\d*)(?:\.(\d*))?/.exec(rest)!;
    if (!m[0] || m[0] === '.') throw bad();
    if (m[1] === '' && (m[2] === undefined || m[2] === '')) throw bad();
    rest = rest.slice(m[0].length);
    const u = /^[^\d.]+/.exec(rest);
    if (!u) throw new Error(`time: missing unit in duration ${JSON.stringify(s)}`);
    const mult = durUnits[u[0]];
    if (mult === undefined) throw new Error(`time: unknown unit ${JSON.stringify(u[0])} in duration ${JSON.stringify(s)}`);
    rest = rest.slice(u[0].length);
    total += Number(`${m[1] || '0'}.${m[2] || '0'}`) * mult;
  }
  return Math.round(sign * total);
}

/** Go's Duration.String(): "1h2m3s", "1.5s", "300ms", "0s". */
export function formatDuration(ns: number): string {
  if (ns === 0) return '0s';
  const neg = ns < 0;
  let d = Math.abs(ns);
  let out: string;
  if (d < 1e9) {
    const [unit, div] = d < 1e3 ? ['ns', 1] : d < 1e6 ? ['µs', 1e3] : ['ms', 1e6];
    out = `${trimFrac(d / (div as number))}${unit}`;
  } else {
    const h = Math.floor(d / 3600e9); d -= h * 3600e9;
    const m = Math.floor(d / 60e9); d -= m * 60e9;
    const sec = trimFrac(d / 1e9);
    out = h ? `${h}h${m}m${sec}s` : m ? `${m}m${sec}s` : `${sec}s`;
  }
  return neg ? `-${out}` : out;
}

const trimFrac = (v: number) => { const s = v.toFixed(9); return s.replace(/\.?0+$/, ''); };

/** go-units HumanDuration: "Less than a second", "About a minute", "3 hours", "2 weeks"… */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(ms / 60000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.trunc(ms / 3600000 + 0.5);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(ms / 3600000 / 24 / 365)} years`;
}

/** "2 hours ago" from a Unix time in seconds (ps, images) or an RFC 3339 string. */
export function timeAgo(t: number | string, now = Date.now()): string {
  const ms = typeof t === 'number' ? t * 1000 : Date.parse(t);
  if (!Number.isFinite(ms) || ms <= 0) return '';
  return `${humanDuration(now - ms)} ago`;
}

/** Converts --since/--until values (durations relative to now, RFC 3339, Unix seconds) for the API. */
/**
 * Docker's time values (`until`, `since`, `--since`): a Unix timestamp, an RFC 3339 date, or a Go
 * duration counted back from now. In milliseconds since the epoch.
 */
export function timeOrDurationAgo(v: string, now = Date.now()): number {
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  try { return now - parseDuration(v) / 1e6; } catch { /* not a duration */ }
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new Error(`failed to parse value as time or duration: "${v}"`);
  return t;
}

export function apiTimestamp(v: string, now = Date.now()): string {
  if (v === '') return '';
  if (/^\d+(\.\d+)?$/.test(v)) return v;
  try { return String(Math.floor(timeOrDurationAgo(v, now) / 1000)); } catch { return v; }
}
