/**
 * The judge: a text model reads a rehearsal's transcript and says, for each plain-words criterion,
 * whether it holds and why. One Responses API request per run (`POST {OPENAI_BASE_URL}/responses`),
 * with structured output (`text.format` json_schema, strict), so the answer is always one verdict
 * per criterion.
 *
 * @module
 */

import { DEFAULT_PRICES, type PriceTable } from "../engines/prices.ts";
import { responsesCost } from "../engines/responses_prices.ts";
import type { TranscriptLine } from "../store/call_record.ts";
import type { CheckResult } from "./checks.ts";
import { errorText } from "../log.ts";

/** OPENAI_BASE_URL's default. */
export const DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1";
/** OPENAI_JUDGE_MODEL's default: small, cheap, good at reading a transcript. */
export const DEFAULT_JUDGE_MODEL = "gpt-5-mini";
/** How long the judge may take, ms. */
export const JUDGE_TIMEOUT_MS = 60_000;

/** One criterion to judge. */
export interface Criterion {
  name: string;
  text: string;
}

/** Where and how to judge. */
export interface JudgeOptions {
  apiKey: string;
  /** @default DEFAULT_OPENAI_BASE_URL */
  baseUrl?: string;
  /** @default DEFAULT_JUDGE_MODEL */
  model?: string;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** What the judge's tokens cost (the engines' Responses prices, with PRICES_JSON). @default DEFAULT_PRICES */
  prices?: PriceTable;
}

/** The judge's verdicts, one per criterion, in order, and what judging cost. */
export interface Judgement {
  results: CheckResult[];
  /** USD, or null for a model without a price here. */
  costUsd: number | null;
}

/** The JSON schema the judge answers in (strict: every field required, nothing else allowed). */
export const JUDGEMENT_SCHEMA = {
  type: "object",
  properties: {
    verdicts: {
      type: "array",
      items: {
        type: "object",
        properties: {
          criterion: { type: "integer", description: "The criterion's number, from 1" },
          pass: { type: "boolean" },
          reason: { type: "string", description: "One sentence citing what was said" },
        },
        required: ["criterion", "pass", "reason"],
        additionalProperties: false,
      },
    },
  },
  required: ["verdicts"],
  additionalProperties: false,
} as const;

/** The Responses API request judging `criteria` on `transcript`. */
export function judgeRequest(
  model: string,
  transcript: readonly Pick<TranscriptLine, "speaker" | "text">[],
  criteria: readonly Criterion[],
) {
  const lines = transcript.map((line) => `${line.speaker === "agent" ? "AGENT" : "CALLER"}: ${line.text}`);
  return {
    model,
    instructions: "You review phone calls between a company's voice agent (AGENT) and a caller (CALLER). " +
      "For each numbered criterion, decide from the transcript alone whether it holds. Fail a criterion " +
      "the transcript gives no evidence for. Give one verdict per criterion with a one-sentence reason " +
      "that quotes or cites what was said.",
    input: [{
      role: "user" as const,
      content: `Transcript:\n${lines.length === 0 ? "(nobody spoke)" : lines.join("\n")}\n\nCriteria:\n${
        criteria.map((c, i) => `${i + 1}. ${c.text}`).join("\n")
      }`,
    }],
    text: {
      format: {
        type: "json_schema" as const,
        name: "call_judgement",
        strict: true,
        schema: JUDGEMENT_SCHEMA as unknown as Record<string, unknown>,
      },
    },
    store: false,
  };
}

/**
 * Judges `criteria` on `transcript`. A judge that cannot answer fails every criterion with the reason
 * (the run fails rather than passing unjudged).
 *
 * @example
 * ```ts
 * const { results } = await judge(record.transcript, [{ name: "no price", text: "the agent never named a price" }], { apiKey });
 * ```
 */
export async function judge(
  transcript: readonly Pick<TranscriptLine, "speaker" | "text">[],
  criteria: readonly Criterion[],
  options: JudgeOptions,
): Promise<Judgement> {
  if (criteria.length === 0) return { results: [], costUsd: 0 };
  const model = options.model ?? DEFAULT_JUDGE_MODEL;
  const url = `${(options.baseUrl ?? DEFAULT_OPENAI_BASE_URL).replace(/\/+$/, "")}/responses`;
  const failAll = (why: string): Judgement => ({
    results: criteria.map((c) => ({ name: c.name, status: "failed", reason: `not judged: ${why}` })),
    costUsd: 0,
  });
  const asked = await askJudge(url, judgeRequest(model, transcript, criteria), options);
  if (!asked.ok) return failAll(asked.why);
  const body = asked.body;
  const costUsd = judgeCost(model, body.usage, options.prices ?? DEFAULT_PRICES);
  const answer = outputText(body);
  if (answer.refusal !== undefined) return { ...failAll(`the judge refused: ${answer.refusal}`), costUsd };
  let verdicts: { criterion: number; pass: boolean; reason: string }[];
  try {
    verdicts = JSON.parse(answer.text ?? "").verdicts;
    if (!Array.isArray(verdicts)) throw new Error("no verdicts");
  } catch {
    return {
      ...failAll(`the judge's answer is not the judgement asked for (status ${String(body.status)})`),
      costUsd,
    };
  }
  const results = criteria.map((criterion, index): CheckResult => {
    const verdict = verdicts.find((v) => v.criterion === index + 1);
    if (verdict === undefined) {
      return { name: criterion.name, status: "failed", reason: "not judged: the judge gave no verdict" };
    }
    return {
      name: criterion.name,
      status: verdict.pass === true ? "passed" : "failed",
      reason: String(verdict.reason),
    };
  });
  return { results, costUsd };
}

/** Posts `request` to the judge at `url`: its JSON answer, or why there is none (unreachable, not JSON, an error status). */
async function askJudge(
  url: string,
  request: unknown,
  options: JudgeOptions,
): Promise<{ ok: true; body: Record<string, unknown> } | { ok: false; why: string }> {
  let body: Record<string, unknown>;
  try {
    const response = await (options.fetch ?? fetch)(url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${options.apiKey}` },
      body: JSON.stringify(request),
      signal: AbortSignal.timeout(JUDGE_TIMEOUT_MS),
    });
    const text = await response.text();
    try {
      body = JSON.parse(text);
    } catch {
      return { ok: false, why: `the judge at ${url} answered ${response.status} with no JSON` };
    }
    if (!response.ok) {
      const error = (body.error ?? {}) as { message?: unknown };
      return {
        ok: false,
        why: `the judge at ${url} answered ${response.status}: ${
          String(error.message ?? "no message").slice(0, 300)
        }`,
      };
    }
  } catch (error) {
    return { ok: false, why: `cannot reach the judge at ${url}: ${errorText(error)}` };
  }
  return { ok: true, body };
}

/** The text (or refusal) of the response's assistant message. */
function outputText(body: Record<string, unknown>): { text?: string; refusal?: string } {
  const output = Array.isArray(body.output) ? body.output : [];
  for (const item of output) {
    if (item?.type !== "message" || !Array.isArray(item.content)) continue;
    for (const part of item.content) {
      if (part?.type === "output_text" && typeof part.text === "string") return { text: part.text };
      if (part?.type === "refusal" && typeof part.refusal === "string") return { refusal: part.refusal };
    }
  }
  return {};
}

/** The judge's tokens priced as the post-call analysis's are (cached input at its own price); null when unpriced. */
function judgeCost(model: string, usage: unknown, prices: PriceTable): number | null {
  const u = usage as {
    input_tokens?: unknown;
    output_tokens?: unknown;
    input_tokens_details?: { cached_tokens?: unknown };
  } | undefined;
  if (typeof u?.input_tokens !== "number" || typeof u.output_tokens !== "number") return null;
  const cached = u.input_tokens_details?.cached_tokens;
  return responsesCost(model, {
    inputTokens: u.input_tokens,
    cachedInputTokens: typeof cached === "number" ? cached : 0,
    outputTokens: u.output_tokens,
  }, prices);
}
