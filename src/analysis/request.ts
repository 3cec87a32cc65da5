/**
 * The request a post-call analysis sends to OpenAI's Responses API (`POST {OPENAI_BASE_URL}/responses`):
 * the call's facts, parameters and transcript as the user's message, Parley's and the persona's
 * instructions, and the persona's schema as strict structured output (`text.format` of type
 * `json_schema`). `tests/engines/sdk_types_test.ts` checks it against npm openai's
 * `ResponseCreateParamsNonStreaming`.
 *
 * @module
 */

import type { AnalysisSpec } from "../store/analysis_job.ts";
import type { CallRecord } from "../store/call_record.ts";

/** The schema's name in `text.format` (the API wants `^[a-zA-Z0-9_-]{1,64}$`). */
export const OUTCOME_FORMAT_NAME = "call_outcome";

/** What Parley tells every analyst, before the persona's own instructions. */
export const BASE_INSTRUCTIONS =
  "You read the record of one phone call between a caller and an AI voice agent, and fill in the " +
  "call's outcome in the JSON schema given. Use only what the transcript and the call's facts " +
  "support: where the call does not say, use null where the schema allows it, false for a yes/no, " +
  "or an empty list. The transcript comes from speech recognition and may contain errors.";

/** The body of the Responses request (a subset of the SDK's `ResponseCreateParamsNonStreaming`). */
export interface AnalysisRequest {
  model: string;
  instructions: string;
  input: { role: "user"; content: { type: "input_text"; text: string }[] }[];
  text: {
    format: {
      type: "json_schema";
      name: string;
      schema: Record<string, unknown>;
      strict: true;
      description: string;
    };
  };
  store: false;
  metadata: Record<string, string>;
}

/** The facts of a call the analysis reads: the record's, as the store returns it. */
export type AnalysedCall = Pick<
  CallRecord,
  | "callSid"
  | "persona"
  | "direction"
  | "from"
  | "to"
  | "parameters"
  | "startedAt"
  | "endedAt"
  | "durationMs"
  | "endReason"
  | "transcript"
  | "toolCalls"
>;

/**
 * Builds the request for `call` with `spec`.
 *
 * @example
 * ```ts
 * const body = buildAnalysisRequest(job.spec, record);
 * await fetch(`${config.openaiBaseUrl}/responses`, { method: "POST", body: JSON.stringify(body), … });
 * ```
 */
export function buildAnalysisRequest(spec: AnalysisSpec, call: AnalysedCall): AnalysisRequest {
  const instructions = spec.instructions === null
    ? BASE_INSTRUCTIONS
    : `${BASE_INSTRUCTIONS}\n\n${spec.instructions}`;
  return {
    model: spec.model,
    instructions,
    input: [{ role: "user", content: [{ type: "input_text", text: callText(call) }] }],
    text: {
      format: {
        type: "json_schema",
        name: OUTCOME_FORMAT_NAME,
        schema: spec.schema,
        strict: true,
        description: `The outcome of a call the "${spec.persona}" persona handled`,
      },
    },
    // The call's words are the user's data: not kept at OpenAI beyond the request.
    store: false,
    metadata: { call_sid: call.callSid, persona: spec.persona.slice(0, 512) },
  };
}

/** The call as text: facts, parameters, tool calls, then the transcript line by line. */
export function callText(call: AnalysedCall): string {
  const start = call.startedAt ?? call.transcript[0]?.at ?? 0;
  const facts = [
    `Call ${call.callSid}`,
    `Direction: ${call.direction ?? "unknown"}`,
    `From: ${call.from ?? "unknown"}`,
    `To: ${call.to ?? "unknown"}`,
    call.startedAt === null ? undefined : `Started: ${new Date(call.startedAt).toISOString()}`,
    call.durationMs === null ? undefined : `Duration: ${Math.round(call.durationMs / 1000)} s`,
    call.endReason === null ? undefined : `Ended: ${call.endReason}`,
  ].filter((line) => line !== undefined);
  const parameters = Object.entries(call.parameters);
  const tools = call.toolCalls.map((tool) =>
    `[${clock(tool.at - start)}] tool ${tool.name}(${tool.arguments}) → ${tool.status}`
  );
  const lines = call.transcript.map((line) =>
    `[${clock(line.at - start)}] ${line.speaker === "caller" ? "Caller" : "Agent"}: ${line.text}${
      line.interruptedAtMs === null ? "" : " (cut off by the caller)"
    }`
  );
  return [
    ...facts,
    "",
    "Call parameters:",
    ...(parameters.length === 0 ? ["(none)"] : parameters.map(([name, value]) => `${name}: ${value}`)),
    ...(tools.length === 0 ? [] : ["", "Tool calls:", ...tools]),
    "",
    "Transcript:",
    ...(lines.length === 0 ? ["(nothing was said)"] : lines),
  ].join("\n");
}

function clock(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}
