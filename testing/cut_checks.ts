/**
 * The check a barge-in test makes of where Parley cut the agent off: at what the fake caller heard,
 * allowing only for what the test can measure (the clear's travel and a stall of the test process).
 *
 * @module
 */

import assert from "node:assert/strict";

/** Allowed gap between where Parley cut (`audio_end_ms`, or the ms it cleared at) and what was heard, ms. */
export const CUT_TOLERANCE_MS = 60;

/** When a cut could happen, for {@linkcode assertCutAtHeard}. */
export interface CutWindow {
  /** When the clear reached the fake caller (performance.now). */
  clearAt: number;
  /** When the cut could begin: `speech_started` sent, or the gate's end; the clear's arrival if unknown. */
  notBefore: number;
  /** The worst stall of this process while the answer played (`watchLoopLag`), ms. */
  stalledMs: number;
}

/**
 * The cut says what the caller heard: Parley cut somewhere between `notBefore` and the clear's arrival,
 * while Twilio played on, so `cutMs` may fall short of what was heard at the clear by that span (a few
 * ms, unless the machine stalled), never over. Parley reckons from the last mark echo it has read; a
 * stall of this process (Parley's and the fakes') leaves echoes unread until it ends, so the reckoning
 * may also fall short by the stall measured, and by no more.
 */
export function assertCutAtHeard(
  cutMs: number,
  heardMs: number,
  { clearAt, notBefore, stalledMs }: CutWindow,
  context = "",
): void {
  const inFlightMs = Math.max(0, clearAt - notBefore);
  assert.ok(
    cutMs >= heardMs - inFlightMs - stalledMs - CUT_TOLERANCE_MS && cutMs <= heardMs + CUT_TOLERANCE_MS,
    `${context}cut at ${cutMs} ms vs heard ${heardMs} ms ` +
      `(the clear came ${inFlightMs.toFixed(1)} ms after the cut could begin; ` +
      `the process stalled up to ${stalledMs.toFixed(1)} ms)`,
  );
}
