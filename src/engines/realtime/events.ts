/**
 * OpenAI Realtime (GA) events: the client events Parley sends, built as strings, and the subset of
 * server events the relay acts on, parsed into a typed union. Nothing outside `src/engines/realtime` knows
 * the Realtime wire shape.
 *
 * @module
 */

import { fitsTwilioPayload } from "../../audio/base64.ts";
import type { TokenUsage } from "./token_usage.ts";

/** A server event the relay acts on; anything else is `{ type: "other" }`. */
export type RealtimeServerEvent =
  | { type: "session.created" }
  | { type: "session.updated" }
  | { type: "error"; code: string; message: string }
  | { type: "input_audio_buffer.speech_started"; itemId: string }
  | { type: "input_audio_buffer.speech_stopped"; itemId: string }
  /** The caller's audio became item `itemId` (server VAD, or a client's commit). */
  | { type: "input_audio_buffer.committed"; itemId: string }
  | { type: "caller.transcript"; itemId: string; transcript: string }
  /** The caller's words of `itemId` could not be transcribed; `reason` in the server's words. */
  | { type: "caller.transcript_failed"; itemId: string; reason: string }
  | { type: "response.created"; responseId: string }
  | { type: "response.output_audio.delta"; responseId: string; itemId: string; delta: string }
  | { type: "response.output_audio.done"; responseId: string; itemId: string }
  | { type: "agent.transcript"; responseId: string; itemId: string; transcript: string }
  | {
    type: "response.done";
    responseId: string;
    status: string;
    reason: string;
    usage: TokenUsage | undefined;
  }
  /** A `function_call` output item is complete (`response.output_item.done`). */
  | { type: "function_call"; responseId: string; callId: string; name: string; arguments: string }
  | { type: "other"; name: string }
  | { type: "invalid"; problem: string };

/**
 * Parses one text message from the Realtime API. Never throws.
 */
export function parseRealtimeEvent(text: string): RealtimeServerEvent {
  const value = parseRealtimeJson(text);
  return typeof value === "string" ? { type: "invalid", problem: value } : realtimeEventOf(value);
}

/** One message's JSON object, or (a string) why it is not one. Never throws. */
export function parseRealtimeJson(text: string): Record<string, unknown> | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return "not JSON";
  }
  return typeof parsed === "object" && parsed !== null
    ? parsed as Record<string, unknown>
    : "not a JSON object";
}

/** The server event a parsed message's object carries (see {@linkcode parseRealtimeEvent}). */
export function realtimeEventOf(value: Record<string, unknown>): RealtimeServerEvent {
  const type = value.type;
  switch (type) {
    case "response.output_audio.delta": {
      const delta = value.delta;
      if (typeof delta !== "string" || !fitsTwilioPayload(delta)) {
        return { type: "invalid", problem: `${type}: "delta" is not base64 audio` };
      }
      return { type, responseId: str(value.response_id), itemId: str(value.item_id), delta };
    }
    case "response.output_audio.done":
      return { type, responseId: str(value.response_id), itemId: str(value.item_id) };
    case "input_audio_buffer.speech_started":
    case "input_audio_buffer.speech_stopped":
    case "input_audio_buffer.committed":
      return { type, itemId: str(value.item_id) };
    case "conversation.item.input_audio_transcription.completed":
      return { type: "caller.transcript", itemId: str(value.item_id), transcript: str(value.transcript) };
    case "conversation.item.input_audio_transcription.failed": {
      const error = record(value.error);
      return {
        type: "caller.transcript_failed",
        itemId: str(value.item_id),
        reason: str(error.message) || str(error.code) || str(error.type) || "no reason given",
      };
    }
    case "response.output_audio_transcript.done":
      return {
        type: "agent.transcript",
        responseId: str(value.response_id),
        itemId: str(value.item_id),
        transcript: str(value.transcript),
      };
    case "response.created":
      return { type, responseId: str(record(value.response).id) };
    case "response.output_item.done":
      return outputItemDoneOf(value);
    case "response.done":
      return responseDoneOf(value);
    case "error": {
      const error = record(value.error);
      return { type, code: str(error.code) || str(error.type), message: str(error.message) };
    }
    case "session.created":
    case "session.updated":
      return { type };
    default:
      return { type: "other", name: typeof type === "string" ? type : "(no type)" };
  }
}

/** A `response.output_item.done`: a function call, or (any other item) an event nobody reads. */
function outputItemDoneOf(value: Record<string, unknown>): RealtimeServerEvent {
  // The whole call in one event; argument deltas and `…arguments.done` before it are not needed.
  const item = record(value.item);
  if (item.type !== "function_call") return { type: "other", name: "response.output_item.done" };
  return {
    type: "function_call",
    responseId: str(value.response_id),
    callId: str(item.call_id),
    name: str(item.name),
    arguments: str(item.arguments),
  };
}

/** A `response.done`: how the answer ended (and why, if it did not complete) and its token usage. */
function responseDoneOf(value: Record<string, unknown>): RealtimeServerEvent {
  const response = record(value.response);
  const details = record(response.status_details);
  const errorDetail = record(details.error);
  return {
    type: "response.done",
    responseId: str(response.id),
    status: str(response.status),
    reason: str(details.reason) || str(errorDetail.message) || str(errorDetail.code),
    usage: parseUsage(response.usage),
  };
}

function parseUsage(value: unknown): TokenUsage | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const usage = value as Record<string, unknown>;
  const input = record(usage.input_token_details);
  const output = record(usage.output_token_details);
  const cachedDetails = input.cached_tokens_details;
  const cached = record(cachedDetails);
  return {
    inputTextTokens: num(input.text_tokens),
    inputAudioTokens: num(input.audio_tokens),
    inputCachedTokens: num(input.cached_tokens),
    ...(typeof cachedDetails === "object" && cachedDetails !== null
      ? { inputCachedAudioTokens: num(cached.audio_tokens), inputCachedTextTokens: num(cached.text_tokens) }
      : {}),
    outputTextTokens: num(output.text_tokens),
    outputAudioTokens: num(output.audio_tokens),
  };
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null ? value as Record<string, unknown> : {};
}

function str(value: unknown): string {
  return typeof value === "string" ? value : "";
}

function num(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) ? value : 0;
}

/** `input_audio_buffer.append` for one caller frame; the base64 payload is passed through as is. */
export function appendAudioEvent(payload: string): string {
  return `{"type":"input_audio_buffer.append","audio":"${payload}"}`;
}

/** `response.create`, optionally with instructions for this response only. */
export function responseCreateEvent(instructions?: string): string {
  return JSON.stringify(
    instructions === undefined
      ? { type: "response.create" }
      : { type: "response.create", response: { instructions } },
  );
}

/**
 * `input_audio_buffer.commit`: the caller's audio so far becomes their message and is transcribed; it
 * starts no answer. Refused (`input_audio_buffer_commit_empty`) when nothing was appended since.
 */
export function commitAudioEvent(): string {
  return `{"type":"input_audio_buffer.commit"}`;
}

/** `response.cancel` for the response in progress. */
export function responseCancelEvent(): string {
  return `{"type":"response.cancel"}`;
}

/** `conversation.item.truncate`: the model forgets audio of `itemId` after `audioEndMs`. */
export function truncateEvent(itemId: string, audioEndMs: number): string {
  return JSON.stringify({
    type: "conversation.item.truncate",
    item_id: itemId,
    content_index: 0,
    audio_end_ms: Math.max(0, Math.floor(audioEndMs)),
  });
}

/**
 * `conversation.item.create` carrying one earlier turn as text: how a new session is given the
 * conversation so far (user turns as `input_text`, assistant turns as `output_text`).
 */
export function historyItemEvent(speaker: "caller" | "agent", text: string): string {
  const item = speaker === "caller"
    ? { type: "message", role: "user", content: [{ type: "input_text", text }] }
    : { type: "message", role: "assistant", content: [{ type: "output_text", text }] };
  return JSON.stringify({ type: "conversation.item.create", item });
}

/**
 * `conversation.item.create` with a `function_call_output`: the result of the tool call `callId`.
 * Follow it with `response.create` once no response is in progress.
 */
export function functionCallOutputEvent(callId: string, output: string): string {
  return JSON.stringify({
    type: "conversation.item.create",
    item: { type: "function_call_output", call_id: callId, output },
  });
}
