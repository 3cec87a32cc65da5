/**
 * Dispositions and retries: how a campaign call ended (from Twilio's final status, the answering
 * machine result and Parley's end reason), and what becomes of its lead under the retry policy.
 *
 * @module
 */

import type { CallStatus, EndReason } from "../calls/call_events.ts";
import type { Disposition, LeadSettlement, RetryRule } from "../store/campaign.ts";

/** The retry policy when a campaign names none for an outcome: `after` in minutes, `max` retries. */
export const DEFAULT_RETRY: Readonly<Record<Disposition, RetryRule>> = {
  "no-answer": { after: 60, max: 2 },
  "busy": { after: 15, max: 3 },
  "failed": { after: 30, max: 1 },
  "voicemail_left": { after: 60, max: 0 },
  "completed": { after: 0, max: 0 },
  "do_not_call": { after: 0, max: 0 },
};

/** What the dialer saw of one call before its final status. */
export interface CallOutcome {
  /** Twilio's final status. */
  status: CallStatus;
  /** Twilio's detail of it (`ErrorCode=…`, `SipResponseCode=…`). */
  detail: string;
  /** Parley's end reason, when the call was relayed. */
  endReason: EndReason | "do_not_call" | undefined;
  /** An answering machine picked up. */
  machine: boolean;
}

/**
 * The disposition of a finished call. A machine that got no voicemail counts as `no-answer` (no person
 * spoke); a cancelled call as `failed`.
 */
export function dispositionOf(outcome: CallOutcome): Disposition {
  if (outcome.endReason === "do_not_call") return "do_not_call";
  switch (outcome.status) {
    case "busy":
      return "busy";
    case "no-answer":
      return "no-answer";
    case "failed":
    case "canceled":
      return "failed";
    default:
      if (outcome.endReason === "voicemail_left") return "voicemail_left";
      return outcome.machine ? "no-answer" : "completed";
  }
}

/**
 * What becomes of a lead whose attempt number `attempts` ended with `disposition` at `at`: another
 * try `after` minutes later while retries are left (`max` retries: `max + 1` attempts in all), else done.
 */
export function settlementAfter(
  disposition: Disposition,
  attempts: number,
  retry: Record<Disposition, RetryRule>,
  at: number,
): LeadSettlement {
  const rule = retry[disposition] ?? DEFAULT_RETRY[disposition];
  if (attempts <= rule.max) {
    return { state: "pending", nextTryAt: at + Math.round(rule.after * 60_000), disposition };
  }
  return { state: "done", disposition };
}
