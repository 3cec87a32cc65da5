/**
 * What a call record is made of, whichever adapter keeps it: the summary `/api/calls` lists and the
 * whole record `/api/calls/:callSid` answers. Times are epoch milliseconds.
 *
 * @module
 */

import type {
  AfterStreamAction,
  CallerAudioDrops,
  CallSource,
  CallStatus,
  EndReason,
  ToolCallSummary,
} from "../calls/call_events.ts";
import type { TokenCounts } from "../engines/usage.ts";
import type { EngineId } from "../engines/voices.ts";

/** One line of the conversation. */
export interface TranscriptLine {
  at: number;
  speaker: "caller" | "agent";
  text: string;
  /** Agent lines only: the caller cut in after this many ms of the answer. */
  interruptedAtMs: number | null;
  /** When the line began to be heard, epoch ms (null when not known: then `at`, when its text came). */
  spokenAt: number | null;
}

/** Latency of one agent turn, measured from the end of the caller's speech. */
export interface TurnLatency {
  at: number;
  firstAudioSentMs: number;
  firstAudioHeardMs: number | null;
}

/** The caller talking over the agent. */
export interface InterruptionRecord {
  at: number;
  itemId: string;
  audioEndMs: number;
  clearLatencyMs: number;
}

/** One status callback from Twilio. */
export interface StatusChange {
  at: number;
  status: CallStatus;
  detail: string;
}

/** Usage of one response (as its engine describes it: `describeUsage`), priced when recorded. */
export interface ResponseUsage {
  at: number;
  model: string;
  responseId: string;
  usage: TokenCounts;
  /** USD, or null for a model without a price. */
  costUsd: number | null;
}

/** Per-call latency percentiles (heard, falling back to sent; see the module doc). */
export interface LatencySummary {
  turns: number;
  p50Ms: number;
  p95Ms: number;
}

/** The call's summary: what `/api/calls` lists. Times are epoch milliseconds. */
export interface CallSummary {
  callSid: string;
  streamSid: string | null;
  persona: string | null;
  model: string | null;
  /** The engine that served the call (`realtime` or `live`). */
  engine: EngineId | null;
  direction: string | null;
  /** What the call came through: `phone`, `softphone` or `rehearsal`. */
  source: CallSource;
  from: string | null;
  to: string | null;
  parameters: Record<string, string>;
  /** Latest Twilio status. */
  status: CallStatus | null;
  /** The first event seen for the call. */
  createdAt: number;
  startedAt: number | null;
  upstreamConnectMs: number | null;
  sessionConfiguredAt: number | null;
  endedAt: number | null;
  durationMs: number | null;
  endReason: EndReason | null;
  endDetail: string | null;
  /** Token sums over all responses (0 for engines not billed by the token). */
  usage: TokenCounts & { responses: number };
  /** Session minutes billed (engines billed by the minute; 0 otherwise). */
  minutes: number;
  /** The most agent audio left unplayed at Twilio when the model stopped speaking, ms (GPT-Live). */
  maxUnplayedMs: number | null;
  /** Upstream sessions replaced mid-call (drop, stall, rollover). */
  reconnects: number;
  /** The longest time without an upstream during a reconnect, ms. */
  maxReconnectGapMs: number | null;
  /** Caller frames not sent upstream, by reason; null when none were dropped. */
  callerFramesDropped: CallerAudioDrops | null;
  costUsd: number | null;
  /** What Twilio was told to do after the stream (`hangup`, `dial`, `fallback`), once decided. */
  afterStream: AfterStreamAction | null;
  /** The number a `transferred` call was dialled to. */
  transferTarget: string | null;
  /** The instance (`INSTANCE_ID`) that runs or ran the call; null for records from before instances. */
  instance: string | null;
}

/** The whole record: the summary plus everything that happened, in order. */
export interface CallRecord extends CallSummary {
  statuses: StatusChange[];
  transcript: TranscriptLine[];
  turns: TurnLatency[];
  latency: LatencySummary | null;
  interruptions: InterruptionRecord[];
  responses: ResponseUsage[];
  /** The model's tool calls, in order. */
  toolCalls: ToolCallRecord[];
  /** The position of the last event the record holds (see `EventBus`): a live feed resumes after it. */
  eventSeq: number;
}

/** One tool call: arguments truncated to 200 characters, the output's size and the time taken. */
export interface ToolCallRecord extends ToolCallSummary {
  at: number;
}

/** Filters for {@linkcode CallRecords.listCalls}. */
export interface ListCallsOptions {
  /** At most this many calls (capped at {@linkcode MAX_LIST_LIMIT}). @default 50 */
  limit?: number;
  /** Only calls of this persona. */
  persona?: string;
  /** Only calls first seen at or after this epoch ms. */
  since?: number;
}

/** Default page size of {@linkcode CallRecords.listCalls}. */
export const DEFAULT_LIST_LIMIT = 50;
/** Largest page {@linkcode CallRecords.listCalls} returns. */
export const MAX_LIST_LIMIT = 500;

/** The store's write queue, as `/metrics` shows it. */
export interface StoreHealth {
  /** Events waiting to be written (only non-zero for a moment, or while writes fail). */
  pendingEvents: number;
  /** Events dropped since start because the queue was full while writes failed. */
  droppedEvents: number;
  /** True while writes are failing. */
  failing: boolean;
}

/**
 * Nearest-rank p50 and p95 of the turns' latency (heard, else sent), or null with no turns.
 *
 * @example
 * ```ts
 * summarizeLatency([{ at: 0, firstAudioSentMs: 300, firstAudioHeardMs: null }]); // { turns: 1, p50Ms: 300, p95Ms: 300 }
 * ```
 */
export function summarizeLatency(turns: readonly TurnLatency[]): LatencySummary | null {
  if (turns.length === 0) return null;
  const values = turns.map((t) => t.firstAudioHeardMs ?? t.firstAudioSentMs).sort((a, b) => a - b);
  const rank = (p: number) => values[Math.max(0, Math.ceil(p * values.length) - 1)]!;
  return { turns: values.length, p50Ms: rank(0.5), p95Ms: rank(0.95) };
}
