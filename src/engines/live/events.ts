/**
 * GPT-Live events on the primary WebSocket (`wss://api.openai.com/v1/live/sessions`): the client
 * events Parley sends, built as strings, and the server events an engine acts on, parsed into a
 * typed union. With `session.ts` (the opening `session.start`), the only module that knows the
 * GPT-Live JSON shape.
 *
 * Wire facts, from npm `openai@7.57.0` `resources/live/live.d.ts` (the reference):
 * - Audio goes in as `session.input_audio.append {audio}` (base64, the session's format, no header;
 *   no acknowledgement) and comes out as `session.output_audio.delta {delta}`, to be played in
 *   delivery order. On the primary socket an audio delta has no timeline position.
 * - No client event creates, cancels or truncates speech: the model owns turn-taking and barge-in.
 * - Transcripts arrive as `session.input_transcript.delta` / `session.output_transcript.delta`
 *   `{delta, start_ms, end_ms}` (ms from the session start); there is no "done" event, so turns are
 *   assembled by `transcripts.ts`.
 * - `session.usage.updated {usage:{seconds}}` is cumulative (never sum it); `session.closed` carries
 *   the close `reason` and the final `usage`.
 * - `session.commentary.append {content, delegation_id}` gives the model speakable context (≤ 500
 *   tokens); `delegation_id` is required and nullable, null for general context (the greeting).
 * - Tools run through Responses delegation: the backend's calls arrive as `response.event` whose
 *   nested `event` is a Responses streaming event (`response.output_item.done` with a
 *   `function_call` item); the answer is `response.item.create` with a `function_call_output`,
 *   then `response.create`. Both require `delegation.type: "responses"`.
 * - `error {error:{type, code, message, param?, client_event_id?}}` and `info {code, message}`.
 *
 * Timing assumption (the fakes make it; confirm on a real deployment): GPT-Live paces its output
 * audio in real time on the primary socket — one full-duplex model listening while it speaks cannot
 * render its answer ahead of saying it — so Twilio should hold little unplayed audio, and when the
 * model stops mid-answer, little is left to `clear`. Network jitter can still bunch deltas.
 *
 * @module
 */

import { fitsTwilioPayload } from "../../audio/base64.ts";

/** Why a GPT-Live session ended, as `session.closed` reports it. */
export const LIVE_CLOSE_REASONS = [
  "close_requested",
  "expired",
  "content",
  "remote_hangup",
  "connection_lost",
] as const;

/**
 * One `session.closed` reason: one of {@linkcode LIVE_CLOSE_REASONS}, or another string a newer
 * server sends (kept, so the log can show it).
 */
export type LiveCloseReason = string;

/** A server event an engine acts on; `other` for the rest, `invalid` when it cannot be used. */
export type LiveServerEvent =
  | { type: "session.started"; sessionId: string; model: string }
  | { type: "session.output_audio.delta"; delta: string }
  | { type: "session.input_transcript.delta"; delta: string; startMs: number; endMs: number }
  | { type: "session.output_transcript.delta"; delta: string; startMs: number; endMs: number }
  | { type: "session.usage.updated"; seconds: number; contextUsageRatio: number | undefined }
  | { type: "session.closed"; reason: LiveCloseReason; seconds: number | undefined }
  | {
    type: "error";
    code: string;
    message: string;
    errorType: string;
    param: string | undefined;
    clientEventId: string | undefined;
  }
  | { type: "info"; code: string; message: string }
  | {
    type: "response.function_call";
    delegationId: string | undefined;
    callId: string;
    name: string;
    arguments: string;
  }
  | { type: "response.event"; delegationId: string | undefined; name: string }
  | { type: "other"; name: string }
  | { type: "invalid"; problem: string };

/**
 * Parses one text message from GPT-Live. Never throws: anything unusable becomes
 * `{ type: "invalid", problem }` naming the event and the field.
 *
 * @example
 * ```ts
 * parseLiveEvent('{"type":"session.output_audio.delta","delta":"//8="}');
 * // { type: "session.output_audio.delta", delta: "//8=" }
 * ```
 */
export function parseLiveEvent(text: string): LiveServerEvent {
  let value: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(text);
    if (!isRecord(parsed)) return { type: "invalid", problem: "not a JSON object" };
    value = parsed;
  } catch {
    return { type: "invalid", problem: "not JSON" };
  }
  const type = value.type;
  if (typeof type !== "string") return { type: "invalid", problem: 'no string "type"' };
  switch (type) {
    case "session.output_audio.delta":
      // Twilio gets the payload as is: a quote or backslash in it would break out of its frame.
      return typeof value.delta === "string" && fitsTwilioPayload(value.delta)
        ? { type, delta: value.delta }
        : invalid(type, "delta", "is not base64 audio");
    case "session.input_transcript.delta":
    case "session.output_transcript.delta":
      return parseTranscriptDelta(type, value);
    case "session.started": {
      const session = record(value.session);
      if (typeof session.id !== "string" || session.id === "") {
        return invalid(type, "session.id", "is missing");
      }
      return { type, sessionId: session.id, model: str(session.model) };
    }
    case "session.usage.updated": {
      const seconds = record(value.usage).seconds;
      if (!isCount(seconds)) return invalid(type, "usage.seconds", "is not a number of seconds");
      const ratio = record(value.context_window).usage_ratio;
      return { type, seconds, contextUsageRatio: isCount(ratio) ? ratio : undefined };
    }
    case "session.closed": {
      const seconds = record(value.usage).seconds;
      return {
        type,
        reason: str(value.reason) || "unknown",
        seconds: isCount(seconds) ? seconds : undefined,
      };
    }
    case "error": {
      const error = record(value.error);
      return {
        type,
        code: str(error.code) || str(error.type) || "unknown",
        message: str(error.message),
        errorType: str(error.type),
        param: optionalStr(error.param),
        clientEventId: optionalStr(error.client_event_id) ?? optionalStr(value.client_event_id),
      };
    }
    case "info":
      return { type, code: str(value.code), message: str(value.message) };
    case "response.event":
      return parseResponseEvent(value);
    default:
      return { type: "other", name: type };
  }
}

/**
 * Latest position on a session timeline a fragment can carry, ms: a day, longer than any call. A later
 * one (1e308, say) would end every turn at once and hold one open to the end of the session.
 */
export const MAX_TIMELINE_MS = 24 * 60 * 60 * 1000;

function parseTranscriptDelta(
  type: "session.input_transcript.delta" | "session.output_transcript.delta",
  value: Record<string, unknown>,
): LiveServerEvent {
  if (typeof value.delta !== "string") return invalid(type, "delta", "is not a string");
  const { start_ms: startMs, end_ms: endMs } = value;
  if (!isCount(startMs) || startMs > MAX_TIMELINE_MS) {
    return invalid(type, "start_ms", "is not a timeline position");
  }
  if (!isCount(endMs) || endMs < startMs || endMs > MAX_TIMELINE_MS) {
    return invalid(type, "end_ms", "is not a position at or after start_ms");
  }
  return { type, delta: value.delta, startMs, endMs };
}

function parseResponseEvent(value: Record<string, unknown>): LiveServerEvent {
  const delegationId = optionalStr(value.delegation_id);
  if (!isRecord(value.event) || typeof value.event.type !== "string") {
    return invalid("response.event", "event.type", "is missing");
  }
  const nested = value.event;
  const item = record(nested.item);
  if (nested.type !== "response.output_item.done" || item.type !== "function_call") {
    return { type: "response.event", delegationId, name: nested.type as string };
  }
  for (const field of ["call_id", "name", "arguments"] as const) {
    if (typeof item[field] !== "string") {
      return invalid("response.event", `event.item.${field}`, "is not a string");
    }
  }
  return {
    type: "response.function_call",
    delegationId,
    callId: item.call_id as string,
    name: item.name as string,
    arguments: item.arguments as string,
  };
}

function invalid(type: string, field: string, problem: string): LiveServerEvent {
  return { type: "invalid", problem: `${type}: "${field}" ${problem}` };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function record(value: unknown): Record<string, unknown> {
  return isRecord(value) ? value : {};
}

function str(value: unknown): string {
  return typeof value === "string" ? value : "";
}

function optionalStr(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value) && value >= 0;
}

/** Options of the command builders: an id GPT-Live echoes as `client_event_id` (e.g. in an `error`). */
export interface LiveCommandOptions {
  /** Sent as `event_id`; errors caused by this command carry it back. */
  eventId?: string;
}

/** Options of {@linkcode commentaryAppendEvent}. */
export interface CommentaryOptions extends LiveCommandOptions {
  /** A client delegation this context answers; null (the default) for general session context. */
  delegationId?: string | null;
}

/**
 * `session.input_audio.append` for one caller frame: Twilio's base64 μ-law payload (already
 * validated as base64 by `src/twilio/media_stream.ts`) is passed through untouched, without
 * re-serialising the audio.
 */
export function inputAudioAppendEvent(payload: string): string {
  return `{"type":"session.input_audio.append","audio":"${payload}"}`;
}

/**
 * `session.commentary.append`: speakable context the model may say in its own words. With
 * `delegation_id: null`, sent right after `session.started`, it is how the agent speaks first
 * (Twilio's agent library words the greeting as an instruction here).
 *
 * @example
 * ```ts
 * socket.send(commentaryAppendEvent("Greet the caller and ask how you can help."));
 * ```
 */
export function commentaryAppendEvent(content: string, options: CommentaryOptions = {}): string {
  return JSON.stringify({
    type: "session.commentary.append",
    ...eventId(options),
    content,
    delegation_id: options.delegationId ?? null,
  });
}

/**
 * `response.item.create` with a `function_call_output`: the result of a tool the delegated
 * Responses backend called. Follow it with {@linkcode responseCreateEvent} so the backend goes on.
 */
export function functionCallOutputEvent(
  callId: string,
  output: string,
  options: LiveCommandOptions = {},
): string {
  return JSON.stringify({
    type: "response.item.create",
    ...eventId(options),
    item: { type: "function_call_output", call_id: callId, output },
  });
}

/** `response.create`: the delegated Responses backend continues (e.g. after tool results). */
export function responseCreateEvent(options: LiveCommandOptions = {}): string {
  return JSON.stringify({ type: "response.create", ...eventId(options) });
}

/** `session.close`: GPT-Live finalises, answers `session.closed` (reason and usage) and closes. */
export function sessionCloseEvent(options: LiveCommandOptions = {}): string {
  return JSON.stringify({ type: "session.close", ...eventId(options) });
}

function eventId(options: LiveCommandOptions): { event_id?: string } {
  return options.eventId === undefined ? {} : { event_id: options.eventId };
}
