import type { EngineUsage } from "../engines/usage.ts";
import type { EngineId } from "../engines/voices.ts";
import type { CampaignAttemptRef } from "./campaign_attempt.ts";

/**
 * What happens on a call, as events: the relay, the webhooks and the calls API emit them; the call
 * store, the metrics and the live SSE feed listen. One vocabulary for all three.
 *
 * @module
 */

/**
 * Why a call ended: the one list the type, the records, the metrics, the logs and the README follow.
 * `never_connected`: the webhook was answered (or the call placed) but no media stream started.
 * `server_crashed`: written at startup for a record the previous run left open (it was killed or
 * crashed mid-call).
 * `hung_up_by_user`: hung up from the calling page or the API (`POST /api/calls/:callSid/hangup`), directly
 * or through Twilio, or by the user of a browser call (the softphone).
 * `upstream_refused`: OpenAI answered the handshake with an HTTP error (401, 403, 429…);
 * `upstream_unreachable`: it could not be reached at all (DNS, connection refused, timeout).
 */
export const END_REASONS = [
  "caller_hung_up",
  "agent_hung_up",
  "transferred",
  "voicemail_left",
  "hung_up_by_user",
  "upstream_refused",
  "upstream_unreachable",
  "upstream_dropped",
  "no_start",
  "never_connected",
  "server_shutdown",
  "server_crashed",
  "max_call_minutes",
  "error",
] as const;

/**
 * What a call came through: `phone` (Twilio), `softphone` (the browser's Talk button) or `rehearsal`
 * (a virtual phone of `deno task rehearse`, see `src/rehearsal/`).
 */
export const CALL_SOURCES = ["phone", "softphone", "rehearsal"] as const;

/** What a call came through. */
export type CallSource = typeof CALL_SOURCES[number];

/** Why a call ended. */
export type EndReason = typeof END_REASONS[number];

/**
 * What Twilio does once the stream has ended (the `<Connect action>` answer): hang up, dial the
 * transfer target, or say the persona's fallback message.
 */
export const AFTER_STREAM_ACTIONS = ["hangup", "dial", "fallback"] as const;

/** What Twilio does once the stream has ended. */
export type AfterStreamAction = typeof AFTER_STREAM_ACTIONS[number];

/** One tool call: what the log line, the record and the live feed show. */
export interface ToolCallSummary {
  callId: string;
  name: string;
  /** The arguments as sent, truncated to 200 characters. */
  arguments: string;
  status: ToolCallStatus;
  /** Size of the output given back to the model, bytes. */
  resultBytes: number;
  durationMs: number;
}

/** How a tool call went: `ok`, or why the model was told it failed. */
export type ToolCallStatus = "ok" | "bad_arguments" | "unknown_tool" | "failed" | "timed_out" | "refused";

/** Progress of a call as Twilio's status callback reports it. */
export type CallStatus =
  | "queued"
  | "initiated"
  | "ringing"
  | "answered"
  | "in-progress"
  | "completed"
  | "busy"
  | "no-answer"
  | "failed"
  | "canceled"
  | "machine-detected";

/**
 * Twilio's final call statuses. Status callbacks may arrive out of order (each is its own request): a
 * record's status, once final, is not replaced by one that arrives later.
 */
export const FINAL_CALL_STATUSES: ReadonlySet<CallStatus> = new Set([
  "completed",
  "busy",
  "no-answer",
  "failed",
  "canceled",
]);

/** One thing that happened on a call. `at` is epoch milliseconds. */
export type CallEvent =
  | {
    type: "call.placed";
    at: number;
    callSid: string;
    persona: string;
    from: string;
    to: string;
    parameters: Record<string, string>;
  }
  | {
    type: "call.webhook";
    at: number;
    callSid: string;
    persona: string;
    direction: string;
    /** What placed the call: a phone (Twilio), the browser's softphone, or a rehearsal. @default "phone" */
    source?: CallSource;
    from: string;
    to: string;
    parameters: Record<string, string>;
  }
  | {
    type: "call.status";
    at: number;
    callSid: string;
    status: CallStatus;
    detail: string;
    /**
     * The campaign attempt that placed the call, from the status callback's URL (the dialer puts it
     * there): it finds the attempt even when its CallSid was never noted (a process killed between
     * Twilio taking the call and the store hearing of it).
     */
    campaignAttempt?: CampaignAttemptRef;
  }
  | {
    type: "call.started";
    at: number;
    callSid: string;
    streamSid: string;
    persona: string;
    model: string;
    /** The engine serving the call. @default engineForModel(model) */
    engine?: EngineId;
    parameters: Record<string, string>;
  }
  | { type: "upstream.connected"; at: number; callSid: string; connectMs: number }
  | { type: "session.configured"; at: number; callSid: string }
  | {
    type: "transcript";
    at: number;
    callSid: string;
    speaker: "caller" | "agent";
    text: string;
    /** Agent turns only: the caller cut the agent off after this many ms of the answer. */
    interruptedAtMs?: number;
    /**
     * When the line began to be heard, epoch ms (the caller's speech starting; the agent's first audio
     * playing to the caller), when known; `at` is when its text came, after the words.
     */
    spokenAt?: number;
  }
  | {
    type: "turn.latency";
    at: number;
    callSid: string;
    /** Caller stopped speaking → first agent frame sent to Twilio. */
    firstAudioSentMs: number;
    /** Caller stopped speaking → Twilio reports playback of that frame began (undefined if never). */
    firstAudioHeardMs: number | undefined;
  }
  | {
    type: "interruption";
    at: number;
    callSid: string;
    itemId: string;
    /** What the caller heard of the item, sent as `audio_end_ms`. */
    audioEndMs: number;
    /** `speech_started` (or the end of gating) → `clear` sent, in ms. */
    clearLatencyMs: number;
  }
  /**
   * A usage report of `engine` (one answer's tokens, session time so far…): `usage` is in the
   * engine's own shape, read only through its definition (`ENGINE_REGISTRY.describeUsage`/`priceUsage`).
   */
  | { type: "usage"; at: number; callSid: string; model: string; engine: EngineId; usage: EngineUsage }
  /**
   * The model stopped speaking (engines whose model owns barge-in, GPT-Live) with this much of its
   * audio still unplayed at Twilio, ms.
   */
  | { type: "agent.stopped"; at: number; callSid: string; unplayedMs: number }
  /** A new upstream session took over the call after a drop, a stall or the session cap. */
  | {
    type: "reconnected";
    at: number;
    callSid: string;
    /** Why the old session went: `dropped` (close, network error, fatal error), `stalled`, `rollover`. */
    cause: ReconnectCause;
    /** Time without an upstream, ms (caller audio in it was dropped). */
    gapMs: number;
    /** Tries it took (1–3). */
    tries: number;
  }
  /** Caller frames dropped during the call, by reason (sent at the end when any were dropped). */
  | { type: "caller_audio.dropped"; at: number; callSid: string; drops: CallerAudioDrops }
  | { type: "call.ended"; at: number; callSid: string; reason: EndReason; detail: string }
  /** The model called a tool (a persona's or a built-in). */
  | ({ type: "tool.called"; at: number; callSid: string } & ToolCallSummary)
  /** Decided when the stream ends: what the `<Connect action>` request is answered with. */
  | { type: "call.after_stream"; at: number; callSid: string; action: AfterStreamAction; target?: string }
  /**
   * The post-call analysis settled (`src/analysis/worker.ts`): `done` with the outcome and its cost,
   * or `failed` with the reason. The hook the webhook outbox sends as `call.analyzed`.
   */
  | {
    type: "call.analyzed";
    at: number;
    callSid: string;
    state: "done" | "failed";
    outcome: Record<string, unknown> | null;
    error: string | null;
    costUsd: number | null;
  };

/** Why an upstream session was replaced mid-call. */
export type ReconnectCause = "dropped" | "stalled" | "rollover";

/** Caller frames dropped, by reason. */
export interface CallerAudioDrops {
  /** Oldest frames pushed out of the queue before the upstream was ready (~2 s kept). */
  queue: number;
  /** The upstream socket had too much unsent data. */
  backpressure: number;
  /** Audio arriving faster than real time, more than 1 s ahead of the wall clock. */
  ahead: number;
  /** Spoken while the upstream was being replaced. */
  gap: number;
  /** Frames naming another stream's streamSid. */
  foreignStream: number;
}

/**
 * Receives call events, with the event's position in its call (`seq`, given by the bus). Must not
 * throw and must return quickly: it runs on the audio path.
 */
export type CallEventListener = (event: CallEvent, seq?: number) => void;
