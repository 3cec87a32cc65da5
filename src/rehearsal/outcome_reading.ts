/**
 * What a rehearsal's `outcome` checks read: the call's post-call analysis, through the same routes a
 * user has (`GET /api/personas/:id` says whether the persona has an analysis, `GET /api/calls/:sid`
 * carries its `outcome`). The analysis starts when the call ends and may retry (429, 5xx), so the
 * reading waits for it to settle, `done` or `failed`, up to {@linkcode OUTCOME_WAIT_MS}: on the call's
 * live feed, which sends `call.analyzed` once it is stored, then reads the record again. When the feed
 * ends without it (the analysis was not queued yet), it looks again after {@linkcode RETRY_MS}.
 *
 * @module
 */

import type { CallRecord } from "../store/call_record.ts";
import { feedSaysAnalyzed } from "./analysis_feed.ts";
import { apiHeaders, type ParleyTarget } from "./phone_requests.ts";
import { errorText } from "../log.ts";

/**
 * A call's `outcome` as `GET /api/calls/:sid` gives it (the API's `CallOutcome`, which
 * `src/api/payload_guards.ts` keeps in step with this): written here because the rehearsal reads the
 * API as a client does, and `api/` imports the rehearsal's report, not the other way round.
 */
export interface CallOutcome {
  /** `pending` (waiting for a try), `running`, `done` or `failed`. */
  state: "pending" | "running" | "done" | "failed";
  /** The outcome, fitting the persona's schema, once `done`. */
  result: Record<string, unknown> | null;
  /** Why the last try failed (a retry's reason, or the final one when `failed`). */
  error: string | null;
  attempts: number;
  /** The analysis's own cost, USD (also in the call's `costUsd`). */
  costUsd: number | null;
}

/** How long a finished call's analysis may take to settle (its retries included), ms. */
export const OUTCOME_WAIT_MS = 120_000;

/** The pause before the record is read again when the feed ended without `call.analyzed`, ms. */
const RETRY_MS = 250;

/** What the runner learnt of the call's analysis. */
export type OutcomeReading =
  /** The persona declares no `analysis`: its `outcome` checks are skipped. */
  | { kind: "no_analysis" }
  /** It did not settle in time, or could not be read: the checks fail with `reason`. */
  | { kind: "unsettled"; reason: string }
  /** `done` (with its result) or `failed` (with its error). */
  | { kind: "settled"; outcome: CallOutcome };

/** A call record as `GET /api/calls/:sid` gives it, with its analysis. */
export type RecordWithOutcome = CallRecord & { outcome: CallOutcome | null };

/**
 * Waits for the analysis of `callSid` (persona `persona`) to settle. Returns the reading and, once
 * settled, the record as it stands then (its `costUsd` includes the analysis's own).
 *
 * @example
 * ```ts
 * const { reading } = await readOutcome(target, "CA…", "alex");
 * if (reading.kind === "settled") console.log(reading.outcome.result);
 * ```
 */
export async function readOutcome(
  target: ParleyTarget,
  callSid: string,
  persona: string,
  waitMs = OUTCOME_WAIT_MS,
): Promise<{ reading: OutcomeReading; record?: RecordWithOutcome }> {
  const headers = apiHeaders(target);
  const get = async (path: string): Promise<{ status: number; body: Record<string, unknown> }> => {
    const response = await fetch(`${target.origin}${path}`, { headers });
    return { status: response.status, body: await response.json().catch(() => ({})) };
  };
  try {
    const summary = await get(`/api/personas/${encodeURIComponent(persona)}`);
    if (summary.status !== 200) {
      return unsettled(
        `GET /api/personas/${persona} answered ${summary.status}: ${summary.body.error ?? ""}`,
      );
    }
    if (summary.body.analysis !== true) return { reading: { kind: "no_analysis" } };
    const deadline = performance.now() + waitMs;
    let last = "no analysis was queued for the call";
    while (true) {
      const { status, body } = await get(`/api/calls/${callSid}`);
      if (status !== 200) {
        return unsettled(`GET /api/calls/${callSid} answered ${status}: ${body.error ?? ""}`);
      }
      const record = body as unknown as RecordWithOutcome;
      const outcome = record.outcome;
      if (outcome?.state === "done" || outcome?.state === "failed") {
        return { reading: { kind: "settled", outcome }, record };
      }
      if (outcome !== null && outcome !== undefined) {
        last = `the analysis is ${outcome.state} after ${outcome.attempts} attempt(s)` +
          (outcome.error === null ? "" : ` (last error: ${outcome.error})`);
      }
      if (performance.now() >= deadline) {
        return unsettled(`${last} ${Math.round(waitMs / 1000)} s after the call`);
      }
      if (await feedSaysAnalyzed(target, callSid, deadline - performance.now())) continue;
      const pause = Math.min(RETRY_MS, deadline - performance.now());
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, pause)));
    }
  } catch (error) {
    return unsettled(`cannot read the outcome: ${errorText(error)}`);
  }
}

function unsettled(reason: string): { reading: OutcomeReading } {
  return { reading: { kind: "unsettled", reason } };
}
