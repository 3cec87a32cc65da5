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
    // An excerpt cut before the logger saw it may end inside a secret: what is left of it goes too.
    if (line.includes(EXCERPT_CUT)) line = maskCutSecrets(line, secrets);
    // Cut after the secrets are masked, so a cut never leaves part of one.
    sink(level, capLogLine(line));
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

/** The longest line the logger writes, characters (`[Realtime] ` and any `… (N chars)` included). */
export const MAX_LOG_LINE_CHARS = 4_000;

/**
 * C0 and C1 control characters (line feed included), Unicode line/paragraph separators and the
 * bidirectional controls (U+061C, U+200E-F, U+202A-E, U+2066-9), which reorder what a terminal or an
 * editor shows ("Trojan Source").
 */
// deno-lint-ignore no-control-regex
const UNSAFE_IN_LOG = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Makes text safe for one log line: every control character (line feed, carriage return, escape
 * sequences, C1 controls, Unicode line separators, bidirectional overrides and isolates) is written
 * as `\xNN` or `\uNNNN`. The logger applies it to every message, so text from a peer (a DTMF digit,
 * a CallSid, a custom parameter, an upstream error code, a transcript) can never start a line of its
 * own, move the cursor, recolour the terminal or reorder what it shows.
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
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/** What a caught value says: an Error's message, anything else as a string. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** What {@linkcode excerpt} puts where it cut. */
const EXCERPT_CUT = "… (";

/** Shortens untrusted text for a log line: at most `max` characters, control characters escaped. */
export function excerpt(text: string, max = 80): string {
  const clean = escapeLogText(text.slice(0, max));
  return text.length > max ? `${clean}${EXCERPT_CUT}${text.length} chars)` : clean;
}

/**
 * Masks the start of a secret (6 characters or more) that a cut left right before an excerpt's `… (`:
 * `excerpt()` cuts text before the logger masks it, so a key cut in half would not match whole.
 */
function maskCutSecrets(line: string, secrets: readonly string[]): string {
  let cut = line.indexOf(EXCERPT_CUT);
  while (cut >= 0) {
    for (const secret of secrets) {
      for (let kept = Math.min(secret.length - 1, cut); kept >= 6; kept--) {
        if (line.startsWith(secret.slice(0, kept), cut - kept)) {
          line = `${line.slice(0, cut - kept)}[redacted]${line.slice(cut)}`;
          cut += "[redacted]".length - kept;
          break;
        }
      }
    }
    cut = line.indexOf(EXCERPT_CUT, cut + EXCERPT_CUT.length);
  }
  return line;
}

/**
 * Cuts an escaped line to {@linkcode MAX_LOG_LINE_CHARS}, saying how long it was: never inside an
 * escape (`\x1b`, `\u202e`) nor between the two halves of a surrogate pair.
 */
function capLogLine(line: string): string {
  if (line.length <= MAX_LOG_LINE_CHARS) return line;
  const suffix = `… (${line.length} chars)`;
  let end = MAX_LOG_LINE_CHARS - suffix.length;
  const escape = /\\(x[0-9a-f]{0,1}|u[0-9a-f]{0,3})$/.exec(line.slice(end - 5, end));
  if (escape !== null) end -= escape[0].length;
  const last = line.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return line.slice(0, end) + suffix;
}
