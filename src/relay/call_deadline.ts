/**
 * A persona's `maxCallMinutes`: shortly before the limit the agent is asked to wrap up and say
 * goodbye; at the limit the call ends (reason `max_call_minutes`).
 *
 * @module
 */

/** The wrap-up comes this long before the limit (or at three quarters of a shorter limit), ms. */
export const WRAP_UP_LEAD_MS = 30_000;

/** What the agent is told when the call nears its limit. */
export const WRAP_UP_INSTRUCTION =
  "The call is about to reach its time limit. Wrap up now: thank the caller briefly and say goodbye.";

/**
 * Timers for one call's limit, started when the stream starts.
 *
 * @example
 * ```ts
 * const deadline = new CallDeadline(5 * 60_000, { wrapUp: () => ask(), end: () => hangUp() });
 * deadline.dispose(); // the call ended first
 * ```
 */
export class CallDeadline {
  readonly #timers: ReturnType<typeof setTimeout>[];

  /** Starts the timers for a call of at most `maxMs`. */
  constructor(maxMs: number, on: { wrapUp: () => void; end: () => void }) {
    const lead = Math.min(WRAP_UP_LEAD_MS, maxMs / 4);
    this.#timers = [setTimeout(on.wrapUp, maxMs - lead), setTimeout(on.end, maxMs)];
  }

  /** Stops the timers. */
  dispose(): void {
    for (const timer of this.#timers) clearTimeout(timer);
  }
}
