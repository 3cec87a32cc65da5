/**
 * How late this process's event loop ran while a test step was under way: a timer ticks every few
 * milliseconds and the worst lateness of a tick is kept.
 *
 * The tests run Parley and the fakes in one process. When the machine stalls it (a busy neighbour, a
 * garbage collection), messages wait in the sockets and are read late, together: a mark echo Twilio
 * sent on time is read as if it had just happened. A check on what Parley reckons from those messages
 * can allow for the stall it measured, and for nothing more.
 *
 * @module
 */

/** A running watch; {@linkcode LoopLagWatch.stop} ends it. */
export interface LoopLagWatch {
  /** The worst lateness of a tick since the watch began or the last `take`, ms; starts a new span. */
  take(): number;
  /** Stops the timer (again is harmless). */
  stop(): void;
}

/**
 * Starts watching the event loop's lateness, with a tick every `intervalMs`.
 *
 * @example
 * ```ts
 * const lag = watchLoopLag();
 * try {
 *   await someStep();
 *   const stalledMs = lag.take();
 * } finally {
 *   lag.stop();
 * }
 * ```
 */
export function watchLoopLag(intervalMs = 5): LoopLagWatch {
  let last = performance.now();
  let worst = 0;
  const look = () => {
    const now = performance.now();
    worst = Math.max(worst, now - last - intervalMs);
    last = now;
  };
  const timer = setInterval(look, intervalMs);
  return {
    take() {
      look();
      const taken = Math.max(0, worst);
      worst = 0;
      return taken;
    },
    stop() {
      clearInterval(timer);
    },
  };
}
