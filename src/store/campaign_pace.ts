/**
 * A campaign's `callsPerSecond` pace as one number kept in the store (`campaigns.next_dial_at`), so
 * every instance dialling the campaign draws from the same slots: a generic cell rate algorithm (the
 * "theoretical arrival time"). Calls are spaced `1000 / callsPerSecond` ms apart, with a burst of at
 * most `callsPerSecond` calls (at least one) when the campaign has been idle.
 *
 * @module
 */

/**
 * The campaign's `next_dial_at` after one more call at `at`, or undefined when the pace has no slot
 * free at `at` (the call must wait).
 *
 * @example
 * ```ts
 * nextDialSlot(1, 0, 5_000); // 6_000: one call now, the next from 6 s
 * nextDialSlot(1, 6_000, 5_500); // undefined: too soon
 * ```
 */
export function nextDialSlot(callsPerSecond: number, nextDialAt: number, at: number): number | undefined {
  const spacing = 1000 / Math.max(callsPerSecond, 0.001);
  const burst = Math.max(1, Math.floor(callsPerSecond));
  const earliest = Math.max(nextDialAt, at);
  // Up to `burst - 1` slots ahead of now may be taken at once.
  if (earliest - at > (burst - 1) * spacing + 1e-6) return undefined;
  // Whole ms (the column is an integer), rounded up: never faster than the pace.
  return Math.ceil(earliest + spacing);
}
