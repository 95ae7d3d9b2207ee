// Structured daemon log: one JSON object per line on stderr.
type Level = 'debug' | 'info' | 'warn' | 'error';
let debugEnabled = false;
export function setDebug(on: boolean) { debugEnabled = on; }
function emit(level: Level, msg: string, fields?: Record<string, unknown>) {
  if (level === 'debug' && !debugEnabled) return;
  process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }) + '\n');
}
export const log = {
  debug: (msg: string, f?: Record<string, unknown>) => emit('debug', msg, f),
  info: (msg: string, f?: Record<string, unknown>) => emit('info', msg, f),
  warn: (msg: string, f?: Record<string, unknown>) => emit('warn', msg, f),
  error: (msg: string, f?: Record<string, unknown>) => emit('error', msg, f),
};
