/**
 * What GPT-Live models cost: USD per session minute, billed per second.
 *
 * @module
 */

import { isMinutePrice, listedPrice, type PriceTable } from "../price_table.ts";

/** Built-in prices of GPT-Live models (OpenAI's list, 2026-11; check before each release). */
export const LIVE_PRICES: PriceTable = Object.freeze({
  "gpt-live-1": { perMinute: 0.05 },
  "gpt-live-1.1": { perMinute: 0.05 },
});

/** USD per minute of `model` (billed by session time), or undefined when it has no such price. */
export function minutePriceFor(model: string, prices: PriceTable = LIVE_PRICES): number | undefined {
  const price = listedPrice(model, prices);
  return isMinutePrice(price) ? price.perMinute : undefined;
}

/**
 * Estimated cost of `minutes` of a session of `model` in USD (rounded to a millionth), or `null`
 * when the model has no per-minute price.
 *
 * @example
 * ```ts
 * estimateMinuteCost("gpt-live-1.1", 2.5); // 0.125
 * ```
 */
export function estimateMinuteCost(
  model: string,
  minutes: number,
  prices: PriceTable = LIVE_PRICES,
): number | null {
  const perMinute = minutePriceFor(model, prices);
  return perMinute === undefined ? null : Math.round(Math.max(0, minutes) * perMinute * 1e6) / 1e6;
}
