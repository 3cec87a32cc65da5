/**
 * A file size limit (`ulimit -f`, systemd's `LimitFSIZE=`, a container's RLIMIT_FSIZE) must not end
 * the server. A write past the limit raises SIGXFSZ, whose default action kills the process, and every
 * call with it. With a listener installed the signal is only heard: the write fails with EFBIG
 * ("File too large") and whoever wrote handles it as any failing disk (the call store keeps its
 * events and retries; a recording stops and says so). The limit is named in the log, once a minute
 * at most, so the reason of those failures is plain (its value is not: Deno reads /proc/self/limits
 * only with every permission).
 *
 * @module
 */

/** Reports closer together than this are one, ms. */
export const FILE_SIZE_REPORT_EVERY_MS = 60_000;

/** Options for {@linkcode surviveFileSizeLimit}. */
export interface FileSizeLimitOptions {
  /** Where the report goes (an error: writes are failing). */
  report(message: string): void;
  /** Monotonic clock, ms. @default performance.now */
  now?: () => number;
}

/**
 * Listens to SIGXFSZ so that a write past the file size limit fails instead of ending the process.
 * Returns the function that removes the listener.
 *
 * @example
 * ```ts
 * const stop = surviveFileSizeLimit({ report: (m) => log.error(m) });
 * // … serve …
 * stop();
 * ```
 */
export function surviveFileSizeLimit(options: FileSizeLimitOptions): () => void {
  const now = options.now ?? (() => performance.now());
  let reportedAt: number | undefined;
  const listener = () => {
    const at = now();
    if (reportedAt !== undefined && at - reportedAt < FILE_SIZE_REPORT_EVERY_MS) return;
    reportedAt = at;
    options.report(
      `A write went past this process's file size limit (RLIMIT_FSIZE, ulimit -f): ` +
        `it failed (File too large) and is ` +
        `retried or reported by what wrote it; the calls go on. Raise the limit (ulimit -f unlimited, ` +
        `LimitFSIZE=infinity)`,
    );
  };
  try {
    Deno.addSignalListener("SIGXFSZ", listener);
  } catch {
    return () => {}; // a platform without the signal (Windows) has no such limit either
  }
  return () => Deno.removeSignalListener("SIGXFSZ", listener);
}
