/**
 * The Realtime API's usage shape: the tokens of one response, as `response.done` reports them, priced
 * per token (`prices.ts`) and summarized for the call record by {@linkcode REALTIME_USAGE}.
 *
 * @module
 */

import type { UsageRules } from "../usage.ts";
import { estimateCost, impossibleTokenCounts, MAX_PLAUSIBLE_TOKENS } from "./prices.ts";
import type { TokenUsage } from "./token_usage.ts";

export type { TokenUsage } from "./token_usage.ts";

/** The Realtime engine's usage report: one response's tokens. */
export interface RealtimeUsage extends TokenUsage {
  responseId: string;
}

/** A count the record can keep: impossible ones (negative, absurd) are kept as 0. */
function plausible(n: number): number {
  return n >= 0 && n <= MAX_PLAUSIBLE_TOKENS ? Math.round(n) : 0;
}

/** Each report is one answer, priced per token; impossible counts leave it unpriced. */
export const REALTIME_USAGE: UsageRules<RealtimeUsage> = {
  summarize(usage) {
    const { responseId, ...tokens } = usage;
    const impossible = impossibleTokenCounts(tokens);
    return {
      response: {
        id: responseId,
        tokens: {
          inputTextTokens: plausible(usage.inputTextTokens),
          inputAudioTokens: plausible(usage.inputAudioTokens),
          inputCachedTokens: plausible(usage.inputCachedTokens),
          outputTextTokens: plausible(usage.outputTextTokens),
          outputAudioTokens: plausible(usage.outputAudioTokens),
        },
      },
      cost: "increment",
      ...(impossible.length === 0 ? {} : {
        problem: `reported impossible token counts (${impossible.join(", ")}): stored as 0 and left unpriced`,
      }),
    };
  },
  price: (model, { responseId: _, ...tokens }, prices) => estimateCost(model, tokens, prices),
};
