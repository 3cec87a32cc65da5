/**
 * The log lines users watch: `[Realtime] Stream started: CallSid=…` and friends (the seed's
 * monitoring lines). One logger is shared by the server and every call; tests pass a sink to read
 * the lines back.
 *
 * @module
 */

/** Severity of a line; `warn` and `error` go to stderr; `debug` is dropped unless asked for. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Receives each finished line. */
export type LogSink = (level: LogLevel, line: string) => void;

/** What the server and relays log through. */
export interface Logger {
  /** Logs a line only worth reading while debugging (dropped unless the logger was built with `debug`). */
  debug(message: string): void;
  /** Logs `[Realtime] <message>`. */
  info(message: string): void;
  /** Logs a warning line. */
  warn(message: string): void;
  /** Logs an error line. */
  error(message: string): void;
  /**
   * Logs a warning at most once per `intervalMs` for `key`, then says how many were suppressed.
   * For events a hostile peer can repeat thousands of times a second.
   */
  warnRateLimited(key: string, message: string, intervalMs?: number): void;
  /** Logs an error line at most once per `intervalMs` for `key`, as {@linkcode warnRateLimited} does. */
  errorRateLimited(key: string, message: string, intervalMs?: number): void;
}

/** Options for {@linkcode createLogger}. */
export interface LoggerOptions {
  /** Where lines go. @default console (info → stdout, warn/error → stderr) */
  sink?: LogSink;
  /** Values never to print (API keys, tokens): each is replaced by `[redacted]`. */
  secrets?: readonly (string | undefined)[];
  /** Clock for rate limiting. @default performance.now */
  now?: () => number;
  /** Pass `debug` lines to the sink. @default false */
  debug?: boolean;
}

const consoleSink: LogSink = (level, line) => {
  if (level === "info" || level === "debug") console.log(line);
  else if (level === "warn") console.warn(line);
  else console.error(line);
};

/**
 * Builds a logger that prefixes `[Realtime]` and scrubs secrets.
 *
 * @example
 * ```ts
 * const log = createLogger({ secrets: [config.openaiApiKey] });
 * log.info(`Stream started: CallSid=${callSid}`);
 * ```
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const sink = options.sink ?? consoleSink;
  const secrets = (options.secrets ?? []).filter((s): s is string => s !== undefined && s.length >= 6);
  const now = options.now ?? (() => performance.now());
  const limited = new Map<string, { until: number; suppressed: number }>();

  const emit = (level: LogLevel, message: string) => {
    let line = `[Realtime] ${escapeLogText(message)}`;
    for (const secret of secrets) line = line.replaceAll(secret, "[redacted]");
    sink(level, line);
  };

  return {
    debug: (message) => {
      if (options.debug === true) emit("debug", message);
    },
    info: (message) => emit("info", message),
    warn: (message) => emit("warn", message),
    error: (message) => emit("error", message),
    warnRateLimited: (key, message, intervalMs) => emitLimited("warn", key, message, intervalMs),
    errorRateLimited: (key, message, intervalMs) => emitLimited("error", key, message, intervalMs),
  };

  function emitLimited(level: LogLevel, key: string, message: string, intervalMs = 5_000): void {
    const t = now();
    const state = limited.get(key);
    if (state !== undefined && t < state.until) {
      state.suppressed++;
      return;
    }
    const suffix = state !== undefined && state.suppressed > 0
      ? ` (${state.suppressed} more like this suppressed)`
      : "";
    limited.set(key, { until: t + intervalMs, suppressed: 0 });
    if (limited.size > 1_000) limited.clear();
    emit(level, message + suffix);
  }
}

/** C0 and C1 control characters (line feed included) and Unicode line/paragraph separators. */
// deno-lint-ignore no-control-regex
const UNSAFE_IN_LOG = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/**
 * Makes text safe for one log line: every control character (line feed, carriage return, escape
 * sequences, C1 controls, Unicode line separators) is written as `\xNN` or `\uNNNN`. The logger
 * applies it to every message, so text from a peer (a DTMF digit, a CallSid, a custom parameter, an
 * upstream error code) can never start a line of its own, move the cursor or recolour the terminal.
 * Log a multi-line text one line at a time.
 *
 * @example
 * ```ts
 * escapeLogText("1\n[Realtime] Call ended"); // "1\\x0a[Realtime] Call ended"
 * ```
 */
export function escapeLogText(text: string): string {
  return text.replace(UNSAFE_IN_LOG, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16)}`;
  });
}

/** Shortens untrusted text for a log line: at most `max` characters, control characters escaped. */
export function excerpt(text: string, max = 80): string {
  const clean = escapeLogText(text.slice(0, max));
  return text.length > max ? `${clean}… (${text.length} chars)` : clean;
}
