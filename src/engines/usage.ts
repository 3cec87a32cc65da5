/**
 * What a call record keeps of usage, whatever the engine: each engine reports usage in its own shape
 * (`realtime/usage.ts`: one answer's tokens; `live/usage.ts`: session seconds so far), prices it and
 * describes it with its {@linkcode UsageRules}, read through the registry. The call events, the store
 * and the metrics carry the payload without looking inside it.
 *
 * @module
 */

import type { PriceTable } from "./price_table.ts";

/** An engine's usage report, as the call events carry it: only its engine's rules read it. */
export type EngineUsage = unknown;

/** Token counts, as a call record shows them (all 0 on engines not billed by the token). */
export interface TokenCounts {
  inputTextTokens: number;
  inputAudioTokens: number;
  inputCachedTokens: number;
  outputTextTokens: number;
  outputAudioTokens: number;
}

/** What a call record keeps of one usage report, in the engine's own words. */
export interface UsageSummary {
  /** Set when the report is one answer's: a row of the record's `responses`, its tokens added to the call's. */
  response?: { id: string; tokens: TokenCounts };
  /** Billed session minutes so far (cumulative: the record keeps the largest); unset when not billed by time. */
  minutes?: number;
  /**
   * `increment`: the report's cost comes on top of the call's earlier ones (one answer); `total`: it is
   * the call's whole cost so far (a cumulative report replaces the previous; the relay adds a call's
   * sessions up first with `acrossSessions`, `src/relay/call_usage.ts`).
   */
  cost: "increment" | "total";
  /**
   * Why the report cannot be true, for the log, as a predicate of the report: "reported impossible
   * token counts (…): stored as 0 and left unpriced". Its price is then unknown.
   */
  problem?: string;
}

/** How an engine reads its own usage reports. */
export interface UsageRules<Usage = EngineUsage> {
  /** What the record keeps of `usage`. */
  summarize(usage: Usage): UsageSummary;
  /** The cost of `usage` on `model` in USD, or null when unknown (no price, or an impossible report). */
  price(model: string, usage: Usage, prices: PriceTable): number | null;
  /**
   * For engines whose reports are a session's total so far (`cost: "total"`): the call's total, from
   * the latest report of each of its sessions, oldest first. A session that replaces another (a
   * reconnect, the session cap, a rollover) counts from 0 again, so the call's usage is their sum.
   * Unset when each report stands on its own (one answer's tokens): nothing to add up.
   */
  acrossSessions?(latest: readonly Usage[]): Usage;
}
