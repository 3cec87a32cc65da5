/**
 * What the Responses API's text models cost (the post-call analysis, `src/analysis/`): USD per 1M
 * tokens, in the engines' price-table shape (no audio, so the audio fields are 0), joined into
 * `DEFAULT_PRICES` and so overridable by `PRICES_JSON`.
 *
 * @module
 */

import { listedPrice, type ModelPrices, type PriceTable, tokenPrices } from "./price_table.ts";

function text(textIn: number, textCached: number, textOut: number): ModelPrices {
  return { audioIn: 0, audioCached: 0, audioOut: 0, textIn, textCached, textOut };
}

/** Built-in prices of Responses models (OpenAI's list, 2026-11; check before each release). */
export const RESPONSES_PRICES: PriceTable = Object.freeze({
  "gpt-5": text(1.25, 0.125, 10),
  "gpt-5-mini": text(0.25, 0.025, 2),
  "gpt-5-nano": text(0.05, 0.005, 0.4),
  "gpt-4.1": text(2, 0.5, 8),
  "gpt-4.1-mini": text(0.4, 0.1, 1.6),
  "gpt-4o-mini": text(0.15, 0.075, 0.6),
});

/** Token counts of one Responses call (input includes its cached part, as the API reports it). */
export interface ResponsesTokens {
  inputTokens: number;
  cachedInputTokens: number;
  outputTokens: number;
}

/**
 * The cost of one Responses call in USD, or null when `model` has no per-token price in `prices`.
 * A dated snapshot (`gpt-5-mini-2025-08-07`) falls back to its base name.
 */
export function responsesCost(model: string, tokens: ResponsesTokens, prices: PriceTable): number | null {
  const price = tokenPrices(listedPrice(model, prices));
  if (price === undefined) return null;
  const cached = Math.min(tokens.cachedInputTokens, tokens.inputTokens);
  return ((tokens.inputTokens - cached) * price.textIn + cached * price.textCached +
    tokens.outputTokens * price.textOut) / 1_000_000;
}
