/**
 * The JSON of calls: the list, one record and its live feed, placing and hanging up a call. Part of the API's types (`../types.ts`, which the pages import); imports
 * nothing outside them.
 *
 * @module
 */

/** One line of a call's conversation. */
export interface TranscriptLine {
  at: number;
  speaker: "caller" | "agent";
  text: string;
  /** Agent lines only: the caller cut in after this many ms of the answer. */
  interruptedAtMs: number | null;
  /** When the line began to be heard, epoch ms (null when not known: then `at`, when its text came). */
  spokenAt: number | null;
}

/** Latency of one agent turn, from the end of the caller's speech. */
export interface TurnLatency {
  at: number;
  firstAudioSentMs: number;
  /** Null when Twilio never confirmed playback. */
  firstAudioHeardMs: number | null;
}

/** One status callback from Twilio. */
export interface StatusChange {
  at: number;
  /** Twilio's call status (`ringing`, `busy`, …). */
  status: string;
  /** The callback's details, `Name=value` pairs. */
  detail: string;
}

/** One tool call of the model. */
export interface ToolCallRecord {
  at: number;
  callId: string;
  name: string;
  /** The arguments as sent, truncated to 200 characters. */
  arguments: string;
  /** `ok`, or why the model was told it failed. */
  status: string;
  resultBytes: number;
  durationMs: number;
}

/** A call's latency percentiles. */
export interface LatencySummary {
  turns: number;
  p50Ms: number;
  p95Ms: number;
}

/** One call as `GET /api/calls` lists it. */
export interface CallSummary {
  callSid: string;
  persona: string | null;
  model: string | null;
  engine: string | null;
  /** `inbound`, `outbound-api`, `browser` (the softphone), … */
  direction: string | null;
  /** What the call came through: `phone`, `softphone` (the Talk button) or `rehearsal`. */
  source: string;
  from: string | null;
  to: string | null;
  parameters: Record<string, string>;
  /** Latest Twilio status. */
  status: string | null;
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
  durationMs: number | null;
  endReason: string | null;
  endDetail: string | null;
  /** USD, the post-call analysis's included, or null when a model had no price. */
  costUsd: number | null;
  /** The post-call analysis, when the persona declares one (README, "Outcomes"). */
  outcome: CallOutcome | null;
}

/** A call's post-call analysis: where it is, and once done, the outcome in the persona's schema. */
export interface CallOutcome {
  /** `pending` (waiting for a try), `running`, `done` or `failed`. */
  state: "pending" | "running" | "done" | "failed";
  /** The outcome, fitting the persona's schema, once `done`. */
  result: Record<string, unknown> | null;
  /** Why the last try failed (a retry's reason, or the final one when `failed`). */
  error: string | null;
  attempts: number;
  model: string;
  /** The analysis's own cost, USD (also in the call's `costUsd`). */
  costUsd: number | null;
  /** When it last changed, epoch ms. */
  updatedAt: number;
}

/** `GET /api/calls`. */
export interface CallList {
  calls: CallSummary[];
}

/** `GET /api/calls/:callSid`, and the `snapshot` event of its live feed. */
export interface CallRecord extends CallSummary {
  statuses: StatusChange[];
  transcript: TranscriptLine[];
  turns: TurnLatency[];
  latency: LatencySummary | null;
  toolCalls: ToolCallRecord[];
  /**
   * The call's recording (personas with `record: true`), in `GET /api/calls/:callSid` only: null when
   * there is none.
   */
  recording?: RecordingSummary | null;
}

/** A call's recording, as `GET /api/calls/:callSid` describes it. */
export interface RecordingSummary {
  /** `recording` while the call goes on; `repaired` when a crash left it and startup fixed it. */
  state: "recording" | "complete" | "repaired";
  /** Its length, ms (null while recording). */
  durationMs: number | null;
  /** Where to fetch it (`audio/wav`, byte ranges). */
  url: string;
}

/**
 * The data of the events the pages read from `GET /api/calls/:callSid/events`, by event name (the
 * feed sends other events too). Each event also carries `type`, `at` and `callSid`.
 */
export interface CallFeedEvents {
  snapshot: CallRecord;
  "call.status": { at: number; status: string; detail: string };
  "call.started": { at: number };
  transcript: {
    at: number;
    speaker: "caller" | "agent";
    text: string;
    /** Agent lines the caller cut off only. */
    interruptedAtMs?: number;
    /** When the line began to be heard, epoch ms, when known. */
    spokenAt?: number;
  };
  "turn.latency": {
    at: number;
    firstAudioSentMs: number;
    /** Absent when Twilio never confirmed playback. */
    firstAudioHeardMs?: number | undefined;
  };
  "tool.called": ToolCallRecord;
  /**
   * A usage report was counted (an answer's tokens, or GPT-Live's session time so far): the record's
   * cost has changed. `engine` says whose; its `usage` payload is that engine's own shape.
   */
  usage: { at: number; engine: string };
  "call.ended": { at: number; reason: string; detail: string };
}

/** `POST /api/calls` → 201. */
export interface PlacedCall {
  callSid: string;
  persona: string;
  /** The voice asked for, when one was. */
  voice?: string;
}

/** `POST /api/calls/:callSid/hangup`: how the call was ended. */
export interface HungUpCall {
  callSid: string;
  via: "stream" | "twilio";
}
