/**
 * Namespaced logging for Node processes (`shard:oracle:verify`, `shard:relay`, ...).
 * Level from SHARD_LOG_LEVEL (error | warn | info | debug; default info). Log ids and counts,
 * never prompt text.
 */
const LEVELS = { error: 0, warn: 1, info: 2, debug: 3 } as const;
export type LogLevel = keyof typeof LEVELS;

let currentLevel: LogLevel = parseLevel(process.env.SHARD_LOG_LEVEL) ?? 'info';

/** Parses a level name; returns undefined for anything that is not one. */
export function parseLevel(value: string | undefined): LogLevel | undefined {
  const v = value?.trim().toLowerCase();
  return v && v in LEVELS ? (v as LogLevel) : undefined;
}

/** Changes the process-wide level (the CLIs call this for `--log-level`). */
export function setLogLevel(level: LogLevel): void {
  currentLevel = level;
}

/**
 * Applies a CLI's `--log-level` value (no-op when undefined). Returns a usage message for a
 * bad value, which the CLI turns into its own usage error; null when applied.
 */
export function applyLogLevelFlag(value: string | undefined): string | null {
  if (value === undefined) return null;
  const level = parseLevel(value);
  if (!level) return `--log-level must be error, warn, info or debug, got "${value}"`;
  setLogLevel(level);
  return null;
}

export interface Logger {
  error(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  debug(msg: string, fields?: Record<string, unknown>): void;
}

/** Creates a logger for one namespace; lines go to stderr as `time level namespace msg {json}`. */
export function createLogger(namespace: string): Logger {
  const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (LEVELS[level] > LEVELS[currentLevel]) return;
    const extra = fields && Object.keys(fields).length > 0 ? ' ' + safeJson(fields) : '';
    process.stderr.write(`${new Date().toISOString()} ${level} ${namespace} ${msg}${extra}\n`);
  };
  return {
    error: (m, f) => emit('error', m, f),
    warn: (m, f) => emit('warn', m, f),
    info: (m, f) => emit('info', m, f),
    debug: (m, f) => emit('debug', m, f)
  };
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value, (_k, v) =>
      v instanceof Error
        ? { name: v.name, message: v.message }
        : typeof v === 'bigint'
          ? String(v)
          : v
    );
  } catch {
    return '"[unserializable]"';
  }
}
