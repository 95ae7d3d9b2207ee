// Log drivers as Docker names them. What a client sees is Docker's: the driver's name in
// HostConfig.LogConfig and /info, its options (max-size, max-file) and their checks, and whether
// `logs` can read it. What is on disk is conmon's k8s-file format (engine/logs.ts) for every driver
// that keeps a log; `none` keeps nothing (conmon's own none driver).
//
//   json-file  Docker's default; rotation only where max-size is given (else the daemon's own
//              default, --log-max-size / --log-max-files, so a log cannot fill the disk)
//   local      rotation by default, at 20 MB over 5 files, as Docker's local driver
//   none       no log: `logs` fails with Docker's "configured logging driver does not support reading"
import { invalid } from '../lib/errors';
import { fromHumanSize } from '../lib/units';

export interface LogConfig { Type: string; Config: Record<string, string> }

export const DEFAULT_LOG_DRIVER = 'json-file';
export const LOG_DRIVERS = ['json-file', 'local', 'none'];

/** The name conmon-era records carry (before drivers had Docker's names): read as json-file. */
const LEGACY = 'k8s-file';

/** Options every driver takes (Docker's logger.Attr*, and the log mode). */
const COMMON_OPTS = ['labels', 'labels-regex', 'env', 'env-regex', 'tag', 'mode', 'max-buffer-size'];
const DRIVER_OPTS: Record<string, string[]> = {
  'json-file': ['max-size', 'max-file', 'compress'],
  local: ['max-size', 'max-file', 'compress'],
};

const LOCAL_MAX_SIZE = 20 * 1024 * 1024;
const LOCAL_MAX_FILES = 5;

/**
 * Docker's mergeAndVerifyLogConfig at create: no type means the daemon's default, the daemon's
 * log-opts fill in what a container of the default type leaves out, and the result is checked.
 */
export function resolveLogConfig(req: Partial<LogConfig> | undefined, daemon: LogConfig): LogConfig {
  const cfg: LogConfig = { Type: req?.Type || daemon.Type, Config: { ...(req?.Config ?? {}) } };
  if (cfg.Type === daemon.Type) for (const [k, v] of Object.entries(daemon.Config)) if (!(k in cfg.Config)) cfg.Config[k] = v;
  validateLogConfig(cfg);
  return cfg;
}

/** Docker's checks and wording: the driver must exist, its options be known and their values good. */
export function validateLogConfig(cfg: LogConfig): void {
  if (cfg.Type === 'none') return;
  const mode = cfg.Config.mode;
  if (mode !== undefined && mode !== '' && mode !== 'blocking' && mode !== 'non-blocking') throw invalid(`logger: logging mode not supported: ${mode}`);
  if ('max-buffer-size' in cfg.Config && mode !== 'non-blocking') throw invalid("logger: max-buffer-size option is only supported with 'mode=non-blocking'");
  // Docker looks the name up among its log plugins last, and that is the error it reports.
  if (!DRIVER_OPTS[cfg.Type]) throw invalid(`error looking up logging plugin ${cfg.Type}: plugin "${cfg.Type}" not found`);
  for (const k of Object.keys(cfg.Config)) {
    if (COMMON_OPTS.includes(k) || DRIVER_OPTS[cfg.Type].includes(k)) continue;
    throw invalid(cfg.Type === 'local' ? `unknown log opt '${k}' for log driver local` : `unknown log opt '${k}' for ${cfg.Type} log driver`);
  }
  rotationOf(cfg, { maxSize: 0, maxFiles: 1 });
}

export interface Rotation {
  /** Bytes after which the live file is rotated; 0 = never. */
  maxSize: number;
  /** Files kept, the live one included. */
  maxFiles: number;
}

/** How a container's log is rotated; `fallback` is the daemon's default for json-file without max-size. */
export function rotationOf(cfg: LogConfig | undefined, fallback: Rotation): Rotation {
  const type = !cfg || cfg.Type === LEGACY ? 'json-file' : cfg.Type;
  const o = cfg?.Config ?? {};
  if (type === 'none') return { maxSize: 0, maxFiles: 1 };
  const size = (v: string) => {
    let n: number;
    try { n = fromHumanSize(v); } catch { throw invalid(type === 'local' ? `invalid value for max-size: ${v}: invalid size: '${v}'` : `invalid size: '${v}'`); }
    if (n <= 0 && type === 'json-file') throw invalid('max-size must be a positive number');
    if (n < 0) throw invalid('max-size must not be negative');
    return n;
  };
  const files = (v: string) => {
    const n = Number(v);
    if (!/^-?\d+$/.test(v)) throw invalid(type === 'local' ? `invalid value for max-file: ${v}: strconv.Atoi: parsing "${v}": invalid syntax` : `strconv.Atoi: parsing "${v}": invalid syntax`);
    if (type === 'json-file' && n < 1) throw invalid('max-file cannot be less than 1');
    if (n < 0) throw invalid('max-file must not be negative');
    return Math.max(1, n);
  };
  if (type === 'local') {
    return { maxSize: o['max-size'] !== undefined ? size(o['max-size']) : LOCAL_MAX_SIZE, maxFiles: o['max-file'] !== undefined ? files(o['max-file']) : LOCAL_MAX_FILES };
  }
  if (o['max-size'] === undefined) {
    if (o['max-file'] !== undefined) files(o['max-file']);
    return fallback;
  }
  return { maxSize: size(o['max-size']), maxFiles: o['max-file'] !== undefined ? files(o['max-file']) : 1 };
}

/** Whether `logs` can read the driver's log. */
export function readable(cfg: LogConfig | undefined): boolean {
  return cfg?.Type !== 'none';
}

/** The message Docker gives for `logs` of a container whose driver keeps nothing. */
export const NOT_READABLE = 'configured logging driver does not support reading';
