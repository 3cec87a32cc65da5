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

/** Each report is the session's total so far, priced per minute. */
export const LIVE_USAGE: UsageRules<LiveUsage> = {
  summarize: (usage) => ({ minutes: usage.seconds / 60, cost: "total" }),
  price: (model, usage, prices) => estimateMinuteCost(model, usage.seconds / 60, prices),
};
