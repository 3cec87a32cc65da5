/**
 * SIGTERM / SIGINT: drain, then stop. The first signal stops new calls (the webhook answers the
 * persona's fallback, `/healthz` says `draining`) and lets live calls go on until they end or
 * `DRAIN_TIMEOUT_S` passes; then the remaining calls end with `server_shutdown`. A second signal
 * ends them at once. Signals that arrive together count as one: `deno task dev` under Deno's
 * `--watch` hands one Ctrl-C to the script as SIGINT, SIGINT and SIGTERM within a few milliseconds.
 *
 * Under Deno's `--watch` (`deno task dev`), Deno itself ends the script 0.5 s after a Ctrl-C (SIGINT)
 * or a code change (SIGTERM, then a restart in the same process), whatever the script does. Measured
 * on Deno 2.9.6: a code change hands the script SIGTERM only, Ctrl-C hands it SIGINT first; a
 * SIGTERM sent to the process from outside reaches the script alone and Deno does nothing else.
 * So with `underWatcher`, SIGINT drains for {@linkcode WATCHER_GRACE_MS} only and then ends the
 * calls with `server_shutdown` (their records are closed before Deno stops the script); SIGTERM
 * drains as usual (a restart cuts it short; a SIGTERM from outside gets the whole drain).
 *
 * The calls placed here that still ring when the calls end are left open for the next start to take
 * up (`leavePlacedOnStop`: a single machine, any stop; `leavePlacedOnRestart`: a code change under
 * `deno task dev`), so a callee who answers once the next start is up is connected, not hung up on
 * (one who answers during the drain hears the persona's fallback message; while the server is down,
 * Twilio's own error).
 *
 * @module
 */

import type { Logger } from "./log.ts";

/** Signals closer together than this are one request to stop, ms. */
export const SIGNAL_DEBOUNCE_MS = 1_000;

/**
 * Under Deno's `--watch`, how long a Ctrl-C drains before the calls are ended, ms: Deno stops the
 * script 500 ms after the signal, and closing the records must fit before that.
 */
export const WATCHER_GRACE_MS = 250;

/** The longest delay a timer holds, ms (2^31 − 1, about 24.8 days); a longer one fires after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** What {@linkcode waitForShutdown} drains. */
export interface Drainable {
  /** Calls being relayed now. */
  activeCalls(): number;
  /** Stops taking calls; resolves when none is left. */
  drain(): Promise<void>;
  /**
   * Ends every call now; with `leavePlaced`, placed calls still ringing are left for the next start
   * (a code change under `deno task dev`, which starts the script again at once; any stop of a single
   * machine, whose next start has this instance's name).
   */
  shutdown(options?: { leavePlaced?: boolean }): Promise<void>;
}

/** Options for {@linkcode waitForShutdown}. */
export interface ShutdownOptions {
  log: Logger;
  /** `DRAIN_TIMEOUT_S`, in seconds. */
  drainTimeoutS: number;
  /** Signals to listen to. @default ["SIGINT", "SIGTERM"] */
  signals?: Deno.Signal[];
  /**
   * Running under Deno's `--watch` (`deno task dev`): SIGINT is a Ctrl-C that Deno follows with the
   * end of the process 0.5 s later, so the drain lasts {@linkcode WATCHER_GRACE_MS}. @default false
   */
  underWatcher?: boolean;
  /**
   * With `underWatcher`, a SIGTERM (most likely a code change: the script starts again at once) leaves
   * the calls placed here that still ring open for the next start to take up. Only when the next start
   * has this instance's name (`ParleyConfig.instanceIdKept`). @default false
   */
  leavePlacedOnRestart?: boolean;
  /**
   * Any stop (SIGTERM or SIGINT, under the watcher or not) leaves the calls placed here that still ring
   * open for the next start to take up: a single machine (SQLite), whose next start has this instance's
   * name. Not with DATABASE_URL: a stopped instance may never come back, and no peer sweeps it. @default false
   */
  leavePlacedOnStop?: boolean;
  /** @default Deno.addSignalListener */
  addSignalListener?: (signal: Deno.Signal, listener: () => void) => void;
  /** @default Deno.removeSignalListener */
  removeSignalListener?: (signal: Deno.Signal, listener: () => void) => void;
}

/** How the drain went. */
export interface ShutdownReport {
  /** The signal that started it. */
  signal: Deno.Signal;
  /** Calls live when it started. */
  drained: number;
  /** Calls still live at the timeout or the second signal, ended with `server_shutdown`. */
  ended: number;
  /** How long the drain took, ms. */
  tookMs: number;
  /** When the signal came, `performance.now()` ms. */
  signalAt: number;
}

/**
 * Waits for the first signal, drains `parley`, and resolves once every call has ended. Signal
 * listeners are removed before it resolves, so a later signal has its default effect.
 *
 * @example
 * ```ts
 * const report = await waitForShutdown(parley, { log, drainTimeoutS: config.drainTimeoutS });
 * await server.shutdown();
 * ```
 */
export async function waitForShutdown(parley: Drainable, options: ShutdownOptions): Promise<ShutdownReport> {
  const { log } = options;
  const signals = listenForSignals(options.signals ?? ["SIGINT", "SIGTERM"], options);
  try {
    const signal = await signals.first;
    const startedAt = performance.now();
    const drained = parley.activeCalls();
    // Ctrl-C under `deno task dev`: Deno ends the process 0.5 s from now, drain or not.
    const watcherCtrlC = options.underWatcher === true && signal === "SIGINT";
    // A timer holds at most MAX_TIMER_MS (a longer one fires after 1 ms): the config refuses a longer
    // DRAIN_TIMEOUT_S; an embedder's is cut to the longest wait rather than ending every call at once.
    const timeoutMs = watcherCtrlC ? WATCHER_GRACE_MS : Math.min(options.drainTimeoutS * 1000, MAX_TIMER_MS);
    log.info(
      watcherCtrlC
        ? `Shutting down (Ctrl-C under deno task dev): Deno stops the server in 0.5 s, so the ${drained} ` +
          `call(s) in progress end now with server_shutdown (deno task start drains them)`
        : `Shutting down (${signal}${
          options.underWatcher === true ? ": a code change restarts the server, or a stop" : ""
        }): draining ${drained} call(s) in progress; new calls get the fallback. ` +
          `Calls still live after DRAIN_TIMEOUT_S=${options.drainTimeoutS} end; send the signal again to end them now`,
    );
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    const outcome = await Promise.race([
      parley.drain().then(() => "drained" as const),
      timeout,
      signals.again,
    ]);
    clearTimeout(timer);
    const ended = parley.activeCalls();
    if (outcome !== "drained" && !watcherCtrlC) {
      log.info(
        `${outcome === "timeout" ? `DRAIN_TIMEOUT_S=${options.drainTimeoutS} passed` : "Second signal"}: ` +
          `ending ${ended} call(s) with server_shutdown`,
      );
    }
    // SIGTERM under `deno task dev` is (most likely) a code change: the restarted script takes up the
    // calls placed here that still ring, so their callee, who may answer any moment, is not hung up on.
    // A single machine's next start (a deploy, a Ctrl-C and start again) takes them up as well.
    const restarting = options.underWatcher === true && signal === "SIGTERM";
    const leavePlaced = options.leavePlacedOnStop === true ||
      (restarting && options.leavePlacedOnRestart === true);
    await parley.shutdown(leavePlaced ? { leavePlaced: true } : {});
    const tookMs = performance.now() - startedAt;
    log.info(
      `Drained ${Math.max(0, drained - ended)} of ${drained} call(s) in ${(tookMs / 1000).toFixed(1)} s` +
        (ended > 0 ? `; ${ended} ended with server_shutdown` : ""),
    );
    return { signal, drained, ended, tookMs, signalAt: startedAt };
  } finally {
    signals.remove();
  }
}

/** The stop signals as {@linkcode listenForSignals} hears them. */
interface StopSignals {
  /** The first signal. */
  first: Promise<Deno.Signal>;
  /** A signal more than {@linkcode SIGNAL_DEBOUNCE_MS} after the first: end the calls now. */
  again: Promise<"signal">;
  /** Removes the listeners, so a later signal has its default effect. */
  remove(): void;
}

/** Listens for `signals`: the first one, and a later one (closer ones are the same request to stop). */
function listenForSignals(
  signals: readonly Deno.Signal[],
  options: Pick<ShutdownOptions, "addSignalListener" | "removeSignalListener">,
): StopSignals {
  const add = options.addSignalListener ?? ((signal, listener) => Deno.addSignalListener(signal, listener));
  const remove = options.removeSignalListener ??
    ((signal, listener) => Deno.removeSignalListener(signal, listener));
  let firstAt = -Infinity;
  let first!: (signal: Deno.Signal) => void;
  let again!: () => void;
  const firstSignal = new Promise<Deno.Signal>((resolve) => first = resolve);
  const secondSignal = new Promise<"signal">((resolve) => again = () => resolve("signal"));
  const listeners = signals.map((signal) => {
    const listener = () => {
      const now = performance.now();
      if (firstAt === -Infinity) {
        firstAt = now;
        first(signal);
      } else if (now - firstAt > SIGNAL_DEBOUNCE_MS) again();
    };
    add(signal, listener);
    return [signal, listener] as const;
  });
  return {
    first: firstSignal,
    again: secondSignal,
    remove() {
      for (const [signal, listener] of listeners) remove(signal, listener);
    },
  };
}
