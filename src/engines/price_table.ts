/**
 * The shape of a price table: per model, USD per 1M tokens (Realtime) or per session minute
 * (GPT-Live). Each engine lists its models' prices in its own folder (`realtime/prices.ts`,
 * `live/prices.ts`); `prices.ts` joins them and applies `PRICES_JSON`.
 *
 * @module
 */

/** Prices of one model, in USD per 1M tokens. */
export interface ModelPrices {
  audioIn: number;
  audioCached: number;
  audioOut: number;
  textIn: number;
  textCached: number;
  textOut: number;
}

/** The price of a model billed by session time (GPT-Live), in USD per minute. */
export interface MinutePrice {
  perMinute: number;
}

/** Prices by model name: per token, or per minute. */
export type PriceTable = Readonly<Record<string, Readonly<ModelPrices> | Readonly<MinutePrice>>>;

/** The six fields of {@linkcode ModelPrices}, in the order the README lists them. */
export const PRICE_FIELDS: readonly (keyof ModelPrices)[] = [
  "audioIn",
  "audioCached",
  "audioOut",
  "textIn",
  "textCached",
  "textOut",
];

/**
 * The entry of `model` in `prices`; a dated snapshot (`gpt-realtime-2025-08-28`) falls back to its
 * base name when only that is listed.
 */
export function listedPrice(
  model: string,
  prices: PriceTable,
): Readonly<ModelPrices> | Readonly<MinutePrice> | undefined {
  return ownPrice(prices, model) ?? ownPrice(prices, model.replace(/-\d{4}-\d{2}-\d{2}$/, ""));
}

/** A per-minute price, not a per-token one. */
export function isMinutePrice(
  price: Readonly<ModelPrices> | Readonly<MinutePrice> | undefined,
): price is Readonly<MinutePrice> {
  return price !== undefined && "perMinute" in price;
}

/** The per-token prices of an entry, or undefined for a per-minute one or none. */
export function tokenPrices(
  price: Readonly<ModelPrices> | Readonly<MinutePrice> | undefined,
): Readonly<ModelPrices> | undefined {
  return price === undefined || "perMinute" in price ? undefined : price;
}

/** The entry listed under exactly `model`: own keys only ("constructor" or "toString" are not models). */
export function ownPrice(
  prices: PriceTable,
  model: string,
): Readonly<ModelPrices> | Readonly<MinutePrice> | undefined {
  return Object.hasOwn(prices, model) ? prices[model] : undefined;
}
