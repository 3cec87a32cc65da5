/**
 * Ctrl-C (SIGINT) and SIGTERM during `deno task rehearse`: the first stops the rehearsal (no further
 * run starts; the CLI hangs up the calls in progress and closes the Parley it started, which closes
 * their records), a second one quits at once. Signals closer together than `SIGNAL_DEBOUNCE_MS` are
 * one request to stop, as for the server (`../shutdown.ts`).
 *
 * @module
 */

import { SIGNAL_DEBOUNCE_MS } from "../shutdown.ts";

/** The exit code of a rehearsal stopped by a signal: 128 + the signal's number, as shells report it. */
export const STOP_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;

/** A signal that stops a rehearsal. */
export type StopSignal = keyof typeof STOP_EXIT_CODES;

/** The stop signals, heard. */
export interface RehearsalStop {
  /** Aborted at the first signal. */
  readonly signal: AbortSignal;
  /** Resolves with the first signal. */
  readonly requested: Promise<StopSignal>;
  /** Removes the listeners: a later signal has its default effect again. */
  remove(): void;
}

/** What {@linkcode listenForStop} may be given (tests). */
export interface StopOptions {
  /** Called on a second signal, before the process exits. @default prints a line to stderr */
  onSecond?: (signal: StopSignal) => void;
  /** @default Deno.exit */
  exit?: (code: number) => void;
  /** @default Deno.addSignalListener */
  addSignalListener?: (signal: StopSignal, listener: () => void) => void;
  /** @default Deno.removeSignalListener */
  removeSignalListener?: (signal: StopSignal, listener: () => void) => void;
  /** Monotonic clock, ms. @default performance.now */
  now?: () => number;
}

/**
 * Listens for SIGINT and SIGTERM (SIGINT only on Windows): the first aborts {@linkcode RehearsalStop.signal}
 * and resolves {@linkcode RehearsalStop.requested}; a later one (after `SIGNAL_DEBOUNCE_MS`) exits at once
 * with its code.
 *
 * @example
 * ```ts
 * const stop = listenForStop();
 * try {
 *   const outcome = await Promise.race([work(stop.signal), stop.requested]);
 * } finally {
 *   stop.remove();
 * }
 * ```
 */
export function listenForStop(options: StopOptions = {}): RehearsalStop {
  const add = options.addSignalListener ?? ((signal, listener) => Deno.addSignalListener(signal, listener));
  const remove = options.removeSignalListener ??
    ((signal, listener) => Deno.removeSignalListener(signal, listener));
  const exit = options.exit ?? ((code: number) => Deno.exit(code));
  const onSecond = options.onSecond ?? ((signal: StopSignal) =>
    console.error(
      `⏹ ${signal} again: quitting now; records still open are closed by a later deno task rehearse`,
    ));
  const now = options.now ?? (() => performance.now());
  const controller = new AbortController();
  let firstAt = -Infinity;
  let resolve!: (signal: StopSignal) => void;
  const requested = new Promise<StopSignal>((r) => resolve = r);
  const signals: StopSignal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  const listeners = signals.map((signal) => {
    const listener = () => {
      const at = now();
      if (firstAt === -Infinity) {
        firstAt = at;
        controller.abort();
        resolve(signal);
      } else if (at - firstAt > SIGNAL_DEBOUNCE_MS) {
        onSecond(signal);
        exit(STOP_EXIT_CODES[signal]);
      }
    };
    add(signal, listener);
    return [signal, listener] as const;
  });
  return {
    signal: controller.signal,
    requested,
    remove() {
      for (const [signal, listener] of listeners) remove(signal, listener);
    },
  };
}
