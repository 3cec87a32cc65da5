/**
 * One try of a post-call analysis: `POST {OPENAI_BASE_URL}/responses`, and what came of it: the
 * outcome (checked against the persona's schema), a failure worth another try (429, 5xx, no answer),
 * or a final one (any other refusal, a refusal by the model, an answer that does not fit the schema).
 *
 * @module
 */

import type { AnalysisUsage } from "../store/analysis_job.ts";
import type { AnalysisRequest } from "./request.ts";
import { type JsonSchema, valueProblems } from "../personas/analysis_schema.ts";
import { errorText } from "../log.ts";

/** What one try came to. */
export type AnalysisTry =
  | { kind: "done"; outcome: Record<string, unknown>; usage: AnalysisUsage; model: string }
  | { kind: "retry"; reason: string; retryAfterMs: number | undefined }
  | { kind: "failed"; reason: string; usage?: AnalysisUsage };

/** Where and how to ask. */
export interface ResponsesEndpoint {
  /** `OPENAI_BASE_URL`, without trailing slash. */
  baseUrl: string;
  apiKey: string;
  /** Longest wait for an answer, ms. @default 120000 */
  timeoutMs?: number;
  fetch?: typeof fetch;
  /** Aborts a request under way (shutdown): it comes back as a retry. */
  signal?: AbortSignal;
}

/** Asks once; never throws for what the network or the API does. */
export async function tryAnalysis(
  endpoint: ResponsesEndpoint,
  request: AnalysisRequest,
): Promise<AnalysisTry> {
  let response: Response;
  try {
    response = await (endpoint.fetch ?? fetch)(`${endpoint.baseUrl}/responses`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${endpoint.apiKey}` },
      body: JSON.stringify(request),
      signal: endpoint.signal === undefined
        ? AbortSignal.timeout(endpoint.timeoutMs ?? 120_000)
        : AbortSignal.any([endpoint.signal, AbortSignal.timeout(endpoint.timeoutMs ?? 120_000)]),
    });
  } catch (error) {
    return {
      kind: "retry",
      reason: `no answer from ${hostOf(endpoint.baseUrl)}: ${clean(errorText(error))}`,
      retryAfterMs: undefined,
    };
  }
  const text = await response.text().catch(() => "");
  if (response.status === 429 || response.status >= 500) {
    return {
      kind: "retry",
      reason: `${response.status} ${apiMessage(text) ?? response.statusText}`,
      retryAfterMs: retryAfter(response.headers),
    };
  }
  if (!response.ok) {
    return { kind: "failed", reason: `${response.status} ${apiMessage(text) ?? response.statusText}` };
  }
  return readAnswer(text, request);
}

/** A completed answer's outcome, checked against the request's schema; or why it is no outcome. */
function readAnswer(text: string, request: AnalysisRequest): AnalysisTry {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text);
  } catch {
    return { kind: "retry", reason: "the answer is not JSON", retryAfterMs: undefined };
  }
  const usage = usageOf(body.usage);
  if (body.status !== "completed") {
    const why = (body.incomplete_details as { reason?: string } | null | undefined)?.reason ??
      (body.error as { message?: string } | null | undefined)?.message ?? String(body.status);
    return { kind: "failed", reason: `the response is ${String(body.status)}: ${clean(why)}`, usage };
  }
  const parts = (Array.isArray(body.output) ? body.output : [])
    .filter((item): item is { type: string; content: { type: string; text?: string; refusal?: string }[] } =>
      typeof item === "object" && item !== null && item.type === "message" && Array.isArray(item.content)
    )
    .flatMap((item) => item.content);
  const refusal = parts.find((part) => part.type === "refusal");
  if (refusal !== undefined) {
    return { kind: "failed", reason: `the model refused: ${clean(refusal.refusal ?? "")}`, usage };
  }
  const output = parts.filter((part) => part.type === "output_text").map((part) => part.text ?? "").join("");
  let outcome: unknown;
  try {
    outcome = JSON.parse(output);
  } catch {
    return { kind: "failed", reason: `the answer is not JSON: ${clean(output.slice(0, 80))}`, usage };
  }
  const problems = valueProblems(outcome, request.text.format.schema as JsonSchema);
  if (problems.length > 0) {
    return {
      kind: "failed",
      reason: `the answer does not fit the schema: ${clean(problems.slice(0, 3).join("; "))}`,
      usage,
    };
  }
  return {
    kind: "done",
    outcome: outcome as Record<string, unknown>,
    usage,
    model: typeof body.model === "string" ? body.model : request.model,
  };
}

function usageOf(value: unknown): AnalysisUsage {
  const usage = (value ?? {}) as {
    input_tokens?: number;
    output_tokens?: number;
    input_tokens_details?: { cached_tokens?: number };
  };
  const count = (n: unknown) => typeof n === "number" && Number.isFinite(n) && n >= 0 ? n : 0;
  return {
    inputTokens: count(usage.input_tokens),
    cachedInputTokens: count(usage.input_tokens_details?.cached_tokens),
    outputTokens: count(usage.output_tokens),
  };
}

/** OpenAI's `retry-after-ms` or `retry-after` (seconds), as the SDK reads them. */
function retryAfter(headers: Headers): number | undefined {
  const ms = Number(headers.get("retry-after-ms"));
  if (headers.has("retry-after-ms") && Number.isFinite(ms) && ms >= 0) return ms;
  const s = Number(headers.get("retry-after"));
  if (headers.has("retry-after") && Number.isFinite(s) && s >= 0) return s * 1000;
  return undefined;
}

function apiMessage(text: string): string | undefined {
  try {
    const message = (JSON.parse(text) as { error?: { message?: unknown } }).error?.message;
    return typeof message === "string" ? clean(message.slice(0, 300)) : undefined;
  } catch {
    return undefined;
  }
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return "OPENAI_BASE_URL";
  }
}

/** No raw control characters reach logs or the record. */
function clean(text: string): string {
  // deno-lint-ignore no-control-regex -- raw control characters never reach the logs
  return text.replace(/[\x00-\x1f\x7f]/g, " ");
}
