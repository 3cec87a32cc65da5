/**
 * What a call costs: one price table per model, overridable with `PRICES_JSON`. Each engine prices
 * its own models (`realtime/prices.ts`: per token; `live/prices.ts`: per session minute,
 * `{"perMinute": 0.05}`); this module joins their tables and applies the overrides.
 *
 * @module
 */

import {
  isMinutePrice,
  type MinutePrice,
  type ModelPrices,
  ownPrice,
  PRICE_FIELDS,
  type PriceTable,
  tokenPrices,
} from "./price_table.ts";
import { ENGINE_REGISTRY } from "./registry.ts";

export { type MinutePrice, type ModelPrices, PRICE_FIELDS, type PriceTable } from "./price_table.ts";
export { estimateMinuteCost, minutePriceFor } from "./live/prices.ts";
export { estimateCost, impossibleTokenCounts, MAX_PLAUSIBLE_TOKENS, pricesFor } from "./realtime/prices.ts";

/** Built-in prices of every engine's models (OpenAI's list, 2026-11; check before each release). */
export const DEFAULT_PRICES: PriceTable = ENGINE_REGISTRY.prices();

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
    if ("perMinute" in value || isMinutePrice(ownPrice(base, model))) {
      const problem = minutePriceProblem(model, value, ownPrice(base, model));
      if (problem === undefined) table.set(model, { perMinute: value.perMinute as number });
      else problems.push(problem);
      continue;
    }
    const known = tokenPrices(ownPrice(base, model));
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
