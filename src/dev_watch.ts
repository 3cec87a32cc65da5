/**
 * How `deno task dev` ends. Deno's `--watch` runs Parley inside the watcher's own process and, on a
 * code change, hands the script SIGTERM, waits 0.5 s and starts it again in the same process (a
 * restart). A SIGTERM sent to the process from outside reaches the script the same way, but then Deno
 * does nothing more: a script that merely returned would leave the watcher waiting for the next change.
 * The two cannot be told apart when the signal comes (measured on Deno 2.9.6; no kill(2) is made on a
 * restart), so after the drain {@linkcode endUnderWatcher} waits until
 * {@linkcode WATCHER_SETTLE_MS} after the signal: a restart has replaced the script by then (this code
 * never runs), and a stop from outside raises the signal again, which ends the watcher too.
 *
 * @module
 */

/**
 * How long after the signal a script still running under `--watch` was not restarted, ms: Deno's
 * restart comes 500 ms after its SIGTERM; the rest is margin for a busy machine.
 */
export const WATCHER_SETTLE_MS = 2_000;

/**
 * Called once the drain is over and the server closed, under `deno task dev`: ends the process with
 * `signal` (its listeners are gone, so its default action applies) unless Deno's watcher restarts the
 * script first. Resolves only if the process outlives the signal (never, in practice).
 *
 * @example
 * ```ts
 * const report = await main(Deno.args);
 * if (underWatcher) await endUnderWatcher(report.signal, report.signalAt);
 * ```
 */
export async function endUnderWatcher(signal: Deno.Signal, signalAt: number): Promise<void> {
  const wait = signalAt + WATCHER_SETTLE_MS - performance.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  Deno.kill(Deno.pid, signal);
}
