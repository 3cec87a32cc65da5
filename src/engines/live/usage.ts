/**
 * GPT-Live's usage shape: billed session seconds so far (cumulative), priced per minute
 * (`prices.ts`) and summarized for the call record by {@linkcode LIVE_USAGE}.
 *
 * @module
 */

import type { UsageRules } from "../usage.ts";
import { estimateMinuteCost } from "./prices.ts";

/** GPT-Live's usage report: the session's billed seconds so far. */
export interface LiveUsage {
  seconds: number;
}

/**
 * Most session seconds a report can claim: a day, longer than any call (a persona's `maxCallMinutes`
 * is at most 1440). A report of more (1e308, say) cannot be true, and is left out and unpriced.
 */
export const MAX_PLAUSIBLE_SECONDS = 24 * 60 * 60;

function plausible(seconds: number): boolean {
  return Number.isFinite(seconds) && seconds >= 0 && seconds <= MAX_PLAUSIBLE_SECONDS;
}

/**
 * Each report is the session's total so far, priced per minute; a call's sessions add up
 * (`acrossSessions`). An impossible one leaves the call's minutes as they were and its cost unknown
 * until the next report.
 */
export const LIVE_USAGE: UsageRules<LiveUsage> = {
  summarize: (usage) =>
    plausible(usage.seconds) ? { minutes: usage.seconds / 60, cost: "total" } : {
      cost: "total",
      problem: `reported an impossible session time (seconds=${
        String(usage.seconds)
      }): left out and unpriced`,
    },
  price: (model, usage, prices) =>
    plausible(usage.seconds) ? estimateMinuteCost(model, usage.seconds / 60, prices) : null,
  // Each session is billed from its own start: the call's time is the sum of its sessions'. An
  // impossible report stands for the call's until its session reports again (its total is unknown).
  acrossSessions: (latest) =>
    latest.find((usage) => !plausible(usage.seconds)) ??
      { seconds: latest.reduce((sum, usage) => sum + usage.seconds, 0) },
};
