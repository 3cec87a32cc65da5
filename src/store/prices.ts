/**
 * What a call costs: one price table per model, overridable with `PRICES_JSON`. Realtime models are
 * priced per token (USD per 1M tokens) and each `response.done` usage is turned into dollars; GPT-Live
 * models are priced per session minute (`{"perMinute": 0.05}`), billed per second.
 *
 * Cached input tokens: OpenAI reports how many cached tokens were audio and text
 * (`cached_tokens_details`); when a response lacks that breakdown, the total is split in proportion to
 * the audio and text input (`cachedAudio = cached × audioIn / (audioIn + textIn)`, the rest is text).
 * Input counts include their cached part, as the API reports them, so the uncached part of each is
 * billed at the full rate and the cached part at the cached rate.
 *
 * @module
 */

import type { Usage } from "../calls/call_events.ts";

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

/** Built-in prices (OpenAI's list, 2026-11; check before each release). */
export const DEFAULT_PRICES: PriceTable = Object.freeze({
  "gpt-realtime": full,
  "gpt-realtime-1.5": full,
  "gpt-realtime-2": v2,
  "gpt-realtime-2.1": v2,
  "gpt-realtime-2.1-mini": mini,
  "gpt-realtime-mini": mini,
  "gpt-live-1": { perMinute: 0.05 },
  "gpt-live-1.1": { perMinute: 0.05 },
});

/** Raised by {@linkcode parsePriceOverrides}; `problems` holds one line per bad model or field. */
export class PriceConfigError extends Error {
  /** Each problem, naming the model and field. */
  readonly problems: string[];
  /** Builds the error from its problem lines. */
  constructor(problems: string[]) {
    super(`Invalid PRICES_JSON:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "PriceConfigError";
    this.problems = problems;
  }
}

/**
 * Applies `PRICES_JSON` overrides to `base`. A model priced per token that is already in `base` may
 * override some fields; a new one must give all six. A model priced per minute gives `perMinute`
 * alone. Unknown fields are rejected, so a typo does not silently keep a price.
 *
 * @example
 * ```ts
 * const prices = parsePriceOverrides('{"gpt-realtime-2.1": {"textOut": 20}, "gpt-live-1.1": {"perMinute": 0.04}}');
 * ```
 * @throws {PriceConfigError} listing every problem, each naming the model and field.
 */
export function parsePriceOverrides(json: string, base: PriceTable = DEFAULT_PRICES): PriceTable {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    throw new PriceConfigError([`not valid JSON: ${error.message}`]);
  }
  if (!isPlainObject(parsed)) {
    throw new PriceConfigError([
      `expected an object of models, like {"gpt-realtime-2.1": {"audioIn": 32, …}}, got ${describe(parsed)}`,
    ]);
  }
  const problems: string[] = [];
  // A Map, then Object.fromEntries: a model named "__proto__" stays a plain key.
  const table = new Map<string, Readonly<ModelPrices> | Readonly<MinutePrice>>(Object.entries(base));
  for (const [model, value] of Object.entries(parsed)) {
    if (!isPlainObject(value)) {
      problems.push(`model "${model}": expected an object of prices, got ${describe(value)}`);
      continue;
    }
    if ("perMinute" in value || isMinutePrice(own(base, model))) {
      const problem = minutePriceProblem(model, value, own(base, model));
      if (problem === undefined) table.set(model, { perMinute: value.perMinute as number });
      else problems.push(problem);
      continue;
    }
    const known = tokenPrices(own(base, model));
    const prices: Partial<ModelPrices> = { ...known };
    for (const [field, price] of Object.entries(value)) {
      if (!(PRICE_FIELDS as readonly string[]).includes(field)) {
        problems.push(`model "${model}": unknown field "${field}": use ${PRICE_FIELDS.join(", ")}`);
      } else if (typeof price !== "number" || !Number.isFinite(price) || price < 0) {
        problems.push(
          `model "${model}": field "${field}" must be a non-negative number of USD per 1M tokens, got ${
            describe(price)
          }`,
        );
      } else {
        prices[field as keyof ModelPrices] = price;
      }
    }
    if (known === undefined) {
      const missing = PRICE_FIELDS.filter((field) => !(field in value));
      if (missing.length > 0) {
        problems.push(
          `model "${model}": not a built-in model, so every field is needed: missing ${missing.join(", ")}`,
        );
      }
    }
    table.set(model, prices as ModelPrices);
  }
  if (problems.length > 0) throw new PriceConfigError(problems);
  return Object.freeze(Object.fromEntries(table));
}

function minutePriceProblem(
  model: string,
  value: Record<string, unknown>,
  known: Readonly<ModelPrices> | Readonly<MinutePrice> | undefined,
): string | undefined {
  if (known !== undefined && !isMinutePrice(known)) {
    return `model "${model}": priced per token, so "perMinute" does not apply: use ${
      PRICE_FIELDS.join(", ")
    }`;
  }
  const extra = Object.keys(value).filter((field) => field !== "perMinute");
  if (extra.length > 0) {
    return `model "${model}": priced per minute, so only "perMinute" applies, not "${extra[0]}"`;
  }
  const price = value.perMinute;
  if (typeof price !== "number" || !Number.isFinite(price) || price < 0) {
    return `model "${model}": field "perMinute" must be a non-negative number of USD per minute, got ${
      describe(price)
    }`;
  }
  return undefined;
}

/**
 * The price table to use: {@linkcode DEFAULT_PRICES} with `PRICES_JSON` applied when set.
 *
 * @throws {PriceConfigError} when `pricesJson` is invalid.
 */
export function resolvePrices(pricesJson: string | undefined): PriceTable {
  return pricesJson === undefined ? DEFAULT_PRICES : parsePriceOverrides(pricesJson);
}

/**
 * Prices of `model`, or undefined when unknown. A dated snapshot (`gpt-realtime-2025-08-28`) falls
 * back to its base name when only that is listed.
 */
export function pricesFor(
  model: string,
  prices: PriceTable = DEFAULT_PRICES,
): Readonly<ModelPrices> | undefined {
  return tokenPrices(listed(model, prices));
}

/** USD per minute of `model` (billed by session time), or undefined when it has no such price. */
export function minutePriceFor(model: string, prices: PriceTable = DEFAULT_PRICES): number | undefined {
  const price = listed(model, prices);
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
  prices: PriceTable = DEFAULT_PRICES,
): number | null {
  const perMinute = minutePriceFor(model, prices);
  return perMinute === undefined ? null : Math.round(Math.max(0, minutes) * perMinute * 1e6) / 1e6;
}

function listed(
  model: string,
  prices: PriceTable,
): Readonly<ModelPrices> | Readonly<MinutePrice> | undefined {
  return own(prices, model) ?? own(prices, model.replace(/-\d{4}-\d{2}-\d{2}$/, ""));
}

function isMinutePrice(
  price: Readonly<ModelPrices> | Readonly<MinutePrice> | undefined,
): price is Readonly<MinutePrice> {
  return price !== undefined && "perMinute" in price;
}

function tokenPrices(
  price: Readonly<ModelPrices> | Readonly<MinutePrice> | undefined,
): Readonly<ModelPrices> | undefined {
  return price === undefined || "perMinute" in price ? undefined : price;
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
  usage: Usage,
  prices: PriceTable = DEFAULT_PRICES,
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
export function impossibleTokenCounts(usage: Usage): string[] {
  return Object.entries(usage)
    .filter(([, n]) => n !== undefined && !(typeof n === "number" && n >= 0 && n <= MAX_PLAUSIBLE_TOKENS))
    .map(([field, n]) => `${field}=${String(n)}`);
}

// Own keys only: "constructor" or "toString" are not models.
function own(prices: PriceTable, model: string): Readonly<ModelPrices> | Readonly<MinutePrice> | undefined {
  return Object.hasOwn(prices, model) ? prices[model] : undefined;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `"${value}"`;
  if (typeof value === "object") return "an object";
  return String(value);
}
