/**
 * Reads the SQLite call record back: a `calls` row as the summary `/api/calls` lists, and the whole
 * record with its child rows (statuses, transcript, turns, interruptions, responses, tool calls).
 *
 * @module
 */

import type {
  AfterStreamAction,
  CallerAudioDrops,
  CallStatus,
  EndReason,
  ToolCallStatus,
} from "../../calls/call_events.ts";
import type { CallRecord, CallSummary, TurnLatency } from "../call_record.ts";
import { summarizeLatency } from "../call_record.ts";
import type { EngineId } from "../../engines/voices.ts";
import type { TokenCounts } from "../../engines/usage.ts";

/** A row as `node:sqlite` returns it. */
export type Row = Record<string, unknown>;

/**
 * SQL for a `calls` row's last sign of life, epoch ms: its latest event (created, started, configured,
 * a status, a transcript line, a turn, an interruption, a usage report) or per-call heartbeat. Where
 * a record a crash (or a killed rehearsal) left open is closed.
 */
export const LAST_SIGN_OF_LIFE_SQL: string = (() => {
  const last = (table: string) =>
    `COALESCE((SELECT MAX(at) FROM ${table} t WHERE t.call_sid = calls.call_sid), 0)`;
  return `MAX(created_at, COALESCE(started_at, 0), COALESCE(session_configured_at, 0),
    ${last("call_statuses")}, ${last("transcript")}, ${last("turn_latencies")}, ${last("interruptions")},
    ${last("usage")}, COALESCE(alive_at, 0))`;
})();

/**
 * The whole record from its `calls` row; `rows(table)` reads the call's rows of a child table in order.
 */
export function toCallRecord(row: Row, rows: (table: string) => Row[]): CallRecord {
  const turns = rows("turn_latencies").map((r): TurnLatency => ({
    at: num(r.at),
    firstAudioSentMs: num(r.first_audio_sent_ms),
    firstAudioHeardMs: numOrNull(r.first_audio_heard_ms),
  }));
  return {
    ...toSummary(row),
    statuses: rows("call_statuses").map((r) => ({
      at: num(r.at),
      status: String(r.status) as CallStatus,
      detail: String(r.detail),
    })),
    transcript: rows("transcript").map((r) => ({
      at: num(r.at),
      speaker: r.speaker === "agent" ? "agent" : "caller",
      text: String(r.text),
      interruptedAtMs: numOrNull(r.interrupted_at_ms),
      spokenAt: numOrNull(r.spoken_at),
    })),
    turns,
    latency: summarizeLatency(turns),
    interruptions: rows("interruptions").map((r) => ({
      at: num(r.at),
      itemId: String(r.item_id),
      audioEndMs: num(r.audio_end_ms),
      clearLatencyMs: num(r.clear_latency_ms),
    })),
    responses: rows("usage").map((r) => ({
      at: num(r.at),
      model: String(r.model),
      responseId: String(r.response_id),
      usage: toUsage(r),
      costUsd: numOrNull(r.cost_usd),
    })),
    toolCalls: rows("tool_calls").map((r) => ({
      at: num(r.at),
      callId: String(r.call_id),
      name: String(r.name),
      arguments: String(r.arguments),
      status: String(r.status) as ToolCallStatus,
      resultBytes: num(r.result_bytes),
      durationMs: num(r.duration_ms),
    })),
    eventSeq: num(row.event_seq),
  };
}

/** The summary `/api/calls` lists, from a `calls` row. */
export function toSummary(row: Row): CallSummary {
  const startedAt = numOrNull(row.started_at);
  const endedAt = numOrNull(row.ended_at);
  return {
    callSid: String(row.call_sid),
    streamSid: strOrNull(row.stream_sid),
    persona: strOrNull(row.persona),
    model: strOrNull(row.model),
    engine: strOrNull(row.engine) as EngineId | null,
    direction: strOrNull(row.direction),
    source: row.source === "softphone" || row.source === "rehearsal" ? row.source : "phone",
    from: strOrNull(row.from_number),
    to: strOrNull(row.to_number),
    parameters: parseParameters(row.parameters),
    status: strOrNull(row.status) as CallStatus | null,
    createdAt: num(row.created_at),
    startedAt,
    upstreamConnectMs: numOrNull(row.upstream_connect_ms),
    sessionConfiguredAt: numOrNull(row.session_configured_at),
    endedAt,
    durationMs: startedAt !== null && endedAt !== null ? endedAt - startedAt : null,
    endReason: strOrNull(row.end_reason) as EndReason | null,
    endDetail: strOrNull(row.end_detail),
    usage: { ...toUsage(row), responses: num(row.responses) },
    minutes: num(row.minutes),
    maxUnplayedMs: numOrNull(row.max_unplayed_ms),
    reconnects: num(row.reconnects),
    maxReconnectGapMs: numOrNull(row.max_reconnect_gap_ms),
    callerFramesDropped: row.caller_frames_dropped == null
      ? null
      : JSON.parse(String(row.caller_frames_dropped)) as CallerAudioDrops,
    costUsd: num(row.unpriced_responses) > 0 || num(row.analysis_unpriced) > 0
      ? null
      : num(row.cost_usd) + num(row.analysis_cost_usd),
    afterStream: strOrNull(row.after_stream) as AfterStreamAction | null,
    transferTarget: strOrNull(row.transfer_target),
    instance: strOrNull(row.instance),
  };
}

/** The token counts of a `calls` or `usage` row. */
export function toUsage(row: Row): TokenCounts {
  return {
    inputTextTokens: num(row.input_text_tokens),
    inputAudioTokens: num(row.input_audio_tokens),
    inputCachedTokens: num(row.input_cached_tokens),
    outputTextTokens: num(row.output_text_tokens),
    outputAudioTokens: num(row.output_audio_tokens),
  };
}

/** The stored custom parameters (JSON), or none when they cannot be read. */
export function parseParameters(value: unknown): Record<string, string> {
  try {
    const parsed: unknown = JSON.parse(String(value ?? "{}"));
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) {
      return parsed as Record<string, string>;
    }
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
  }
  return {};
}

/** A column as a number. */
export function num(value: unknown): number {
  return Number(value);
}

/** A nullable column as a number or null. */
export function numOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value);
}

/** A nullable column as a string or null. */
export function strOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : String(value);
}
