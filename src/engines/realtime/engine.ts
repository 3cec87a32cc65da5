/**
 * The Realtime API (`gpt-realtime-*`) as an {@linkcode Engine}: turn-based, billed per token. The
 * client truncates and cancels the agent's answer on barge-in; the server's VAD settings come from
 * the persona. Wire facts: GA events only (the beta shape was switched off on 2026-05-12), the model
 * in the URL's `model` query parameter, `session.update` first, audio deltas faster than real time
 * and possibly still arriving after a `response.cancel`.
 *
 * @module
 */

import type { CutItem, Engine, EngineEvent, EngineReader, SessionOpening, SessionPlan } from "../engine.ts";
import {
  appendAudioEvent,
  commitAudioEvent,
  functionCallOutputEvent,
  historyItemEvent,
  parseRealtimeJson,
  realtimeEventOf,
  type RealtimeServerEvent,
  responseCancelEvent,
  responseCreateEvent,
  truncateEvent,
} from "./events.ts";
import { fitsTwilioPayload } from "../../audio/base64.ts";
import { sessionUpdateEvent } from "./session.ts";
import { REALTIME_VOICES } from "./voices.ts";

/**
 * The session URL: `base` with the `model` query parameter set.
 *
 * @example
 * ```ts
 * realtimeSessionUrl("wss://api.openai.com/v1/realtime", "gpt-realtime-2.1");
 * // "wss://api.openai.com/v1/realtime?model=gpt-realtime-2.1"
 * ```
 */
export function realtimeSessionUrl(base: string, model: string): string {
  const url = new URL(base);
  url.searchParams.set("model", model);
  return url.toString();
}

/**
 * The Realtime engine for the endpoint `baseUrl` (OPENAI_REALTIME_URL).
 *
 * @example
 * ```ts
 * const engine = createRealtimeEngine("wss://api.openai.com/v1/realtime");
 * engine.sessionUrl("gpt-realtime-2.1");
 * ```
 */
export function createRealtimeEngine(baseUrl: string): Engine<"realtime"> {
  return {
    id: "realtime",
    capabilities: {
      truncates: true,
      serverVad: true,
      waitsForSession: false,
      needsIdle: false,
      billedPerMinute: false,
      voices: REALTIME_VOICES,
    },
    sessionUrl: (model) => realtimeSessionUrl(baseUrl, model),
    opening: realtimeOpening,
    audioMessage: appendAudioEvent,
    reader: () => REALTIME_READER,
    interruption: realtimeInterruption,
    // A response whose instructions end with the request (refused harmlessly while one is active).
    prompt: (plan, instruction) => [responseCreateEvent(`${plan.instructions}\n\n${instruction}`)],
    closeMessage: () => undefined,
    commitMessage: commitAudioEvent,
    toolOutput: functionCallOutputEvent,
    continueMessage: () => responseCreateEvent(),
    note: (text) => ({ messages: [historyItemEvent("caller", text)], thenContinue: true }),
    instructionsProblem: () => undefined,
  };
}

/** Why an audio delta is dropped: its `delta` is no base64 audio (a non-string, or text). */
const NOT_AUDIO = 'response.output_audio.delta: "delta" is not base64 audio';

/** Realtime events need no per-session state: one reader serves every session. */
const REALTIME_READER: EngineReader = {
  read(text, emit) {
    const value = parseRealtimeJson(text);
    if (typeof value === "string") return emit({ type: "invalid", problem: value });
    // Hot path: an audio delta becomes the engine's event at once, with no event in between.
    if (value.type === "response.output_audio.delta") {
      const delta = value.delta;
      // Twilio gets the payload as is: a quote or backslash in it would break out of its frame.
      if (typeof delta !== "string" || !fitsTwilioPayload(delta)) {
        return emit({ type: "invalid", problem: NOT_AUDIO });
      }
      return emit({
        type: "agent.audio",
        responseId: str(value.response_id),
        itemId: str(value.item_id),
        delta,
      });
    }
    emit(toEngineEvent(realtimeEventOf(value)));
  },
  openingSent() {},
  idle() {},
  flush() {},
};

function realtimeOpening(plan: SessionPlan): SessionOpening {
  const options = {
    model: plan.model,
    instructions: plan.instructions,
    voice: plan.voice,
    tools: plan.tools,
  };
  const first = [sessionUpdateEvent(plan.persona, options)];
  for (const turn of plan.history) first.push(historyItemEvent(turn.speaker, turn.text));
  if (plan.greeting !== undefined) {
    // Without waiting for session.updated: no dead air at the start.
    first.push(responseCreateEvent(`${plan.instructions}\n\n${plan.greeting}`));
  }
  return { first, afterReady: [] };
}

function realtimeInterruption(cut: readonly CutItem[], activeResponse: string | undefined): string[] {
  const messages = cut.map((item) => truncateEvent(item.itemId, item.heardMs));
  if (activeResponse !== undefined) messages.push(responseCancelEvent());
  return messages;
}

function str(value: unknown): string {
  return typeof value === "string" ? value : "";
}

function toEngineEvent(event: RealtimeServerEvent): EngineEvent {
  switch (event.type) {
    case "response.output_audio.delta":
      return { type: "agent.audio", responseId: event.responseId, itemId: event.itemId, delta: event.delta };
    case "response.output_audio.done":
      return { type: "agent.audio.done", responseId: event.responseId, itemId: event.itemId };
    case "input_audio_buffer.speech_started":
      return { type: "caller.started", itemId: event.itemId };
    case "input_audio_buffer.speech_stopped":
      return { type: "caller.stopped", at: undefined };
    case "input_audio_buffer.committed":
      return { type: "caller.committed", itemId: event.itemId };
    case "response.created":
      return { type: "response.started", responseId: event.responseId };
    case "response.done":
      return {
        type: "response.done",
        responseId: event.responseId,
        failure: event.status === "failed" || event.status === "incomplete"
          ? { status: event.status, reason: event.reason || "no reason given" }
          : undefined,
        usage: event.usage === undefined ? undefined : { responseId: event.responseId, ...event.usage },
      };
    case "function_call":
      return { type: "tool.call", callId: event.callId, name: event.name, arguments: event.arguments };
    case "caller.transcript":
      return { type: "transcript", speaker: "caller", text: event.transcript, itemId: event.itemId };
    case "caller.transcript_failed":
      return { type: "transcript.failed", speaker: "caller", itemId: event.itemId, reason: event.reason };
    case "agent.transcript":
      return { type: "transcript", speaker: "agent", text: event.transcript, itemId: event.itemId };
    case "session.updated":
      return { type: "session.ready", sessionId: undefined };
    case "error":
      // A cancel that raced the server's own cancel (interrupt_response) is harmless.
      if (event.code === "response_cancel_not_active") return { type: "ignored" };
      return {
        type: "error",
        code: event.code,
        message: event.message,
        endsCall: event.code === "session_expired"
          ? "the OpenAI session reached its 60-minute limit"
          : undefined,
      };
    case "invalid":
      return event;
    default:
      return { type: "ignored" };
  }
}
