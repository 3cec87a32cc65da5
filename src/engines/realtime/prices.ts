/**
 * What Realtime models cost: USD per 1M tokens, and each response's {@linkcode TokenUsage} in dollars.
 *
 * Cached input tokens: OpenAI reports how many cached tokens were audio and text
 * (`cached_tokens_details`); when a response lacks that breakdown, the total is split in proportion to
 * the audio and text input (`cachedAudio = cached × audioIn / (audioIn + textIn)`, the rest is text).
 * Input counts include their cached part, as the API reports them, so the uncached part of each is
 * billed at the full rate and the cached part at the cached rate.
 *
 * @module
 */

import { listedPrice, type ModelPrices, type PriceTable, tokenPrices } from "../price_table.ts";
import type { TokenUsage } from "./token_usage.ts";

const full: ModelPrices = {
  audioIn: 32,
  audioCached: 0.4,
  audioOut: 64,
  textIn: 4,
  textCached: 0.4,
  textOut: 16,
};
const v2: ModelPrices = {
  audioIn: 32,
  audioCached: 0.4,
  audioOut: 64,
  textIn: 4,
  textCached: 0.4,
  textOut: 24,
};
const mini: ModelPrices = {
  audioIn: 10,
  audioCached: 0.3,
  audioOut: 20,
  textIn: 0.6,
  textCached: 0.06,
  textOut: 2.4,
};

/** Built-in prices of Realtime models (OpenAI's list, 2026-11; check before each release). */
export const REALTIME_PRICES: PriceTable = Object.freeze({
  "gpt-realtime": full,
  "gpt-realtime-1.5": full,
  "gpt-realtime-2": v2,
  "gpt-realtime-2.1": v2,
  "gpt-realtime-2.1-mini": mini,
  "gpt-realtime-mini": mini,
});

/**
 * Prices of `model`, or undefined when unknown. A dated snapshot (`gpt-realtime-2025-08-28`) falls
 * back to its base name when only that is listed.
 */
export function pricesFor(
  model: string,
  prices: PriceTable = REALTIME_PRICES,
): Readonly<ModelPrices> | undefined {
  return tokenPrices(listedPrice(model, prices));
}

/**
 * Estimated cost of one response in USD, or `null` when the model has no price (unknown ≠ free).
 * Cached input uses OpenAI's audio/text breakdown, or a proportional split without one (module doc).
 *
 * @example
 * ```ts
 * estimateCost("gpt-realtime-2.1", {
 *   inputTextTokens: 0, inputAudioTokens: 1_000_000, inputCachedTokens: 0,
 *   outputTextTokens: 0, outputAudioTokens: 0,
 * }); // 32
 * ```
 */
export function estimateCost(
  model: string,
  usage: TokenUsage,
  prices: PriceTable = REALTIME_PRICES,
): number | null {
  const p = pricesFor(model, prices);
  if (p === undefined || impossibleTokenCounts(usage).length > 0) return null;
  const audioIn = Math.max(0, usage.inputAudioTokens);
  const textIn = Math.max(0, usage.inputTextTokens);
  const input = audioIn + textIn;
  const cached = Math.min(Math.max(0, usage.inputCachedTokens), input);
  // OpenAI's own breakdown when it gives one; else split in proportion to the input.
  const exact = usage.inputCachedAudioTokens !== undefined && usage.inputCachedTextTokens !== undefined;
  const cachedAudio = exact
    ? Math.min(Math.max(0, usage.inputCachedAudioTokens!), audioIn)
    : input === 0
    ? 0
    : cached * audioIn / input;
  const cachedText = exact
    ? Math.min(Math.max(0, usage.inputCachedTextTokens!), textIn)
    : cached - cachedAudio;
  const micro = (audioIn - cachedAudio) * p.audioIn + cachedAudio * p.audioCached +
    (textIn - cachedText) * p.textIn + cachedText * p.textCached +
    Math.max(0, usage.outputAudioTokens) * p.audioOut + Math.max(0, usage.outputTextTokens) * p.textOut;
  return micro / 1_000_000;
}

/** No response bills more tokens than this (a whole 60-minute session is about 100,000). */
export const MAX_PLAUSIBLE_TOKENS = 1e9;

/**
 * The token counts of `usage` that cannot be true (negative, not a number, or absurdly large, such
 * as 1e300), as `field=value`; empty when all are plausible. Such a response is kept unpriced.
 *
 * @example
 * ```ts
 * impossibleTokenCounts({ inputTextTokens: 1e300, inputAudioTokens: 0, inputCachedTokens: 0,
 *   outputTextTokens: 0, outputAudioTokens: 0 }); // ["inputTextTokens=1e+300"]
 * ```
 */
export function impossibleTokenCounts(usage: TokenUsage): string[] {
  return Object.entries(usage)
    .filter(([, n]) => n !== undefined && !(typeof n === "number" && n >= 0 && n <= MAX_PLAUSIBLE_TOKENS))
    .map(([field, n]) => `${field}=${String(n)}`);
}
