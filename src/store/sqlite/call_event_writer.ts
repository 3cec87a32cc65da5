/**
 * Writes one {@linkcode CallEvent} into the SQLite call record: each event type's rows and columns,
 * merged by CallSid whatever order the events come in. The store (`call_store.ts`) decides when (in a
 * batch, inside a transaction); this module decides what.
 *
 * @module
 */

import type { StatementSync } from "node:sqlite";
import { type CallEvent, FINAL_CALL_STATUSES } from "../../calls/call_events.ts";
import { engineForModel } from "../../engines/voices.ts";
import type { PriceTable } from "../../engines/prices.ts";
import { ENGINE_REGISTRY } from "../../engines/registry.ts";
import { parseParameters, type Row } from "./call_rows.ts";

/** The final statuses as an SQL list (fixed words, no input): `'completed', 'busy', …`. */
const FINAL_STATUS_LIST = [...FINAL_CALL_STATUSES].map((status) => `'${status}'`).join(", ");

/** What writing an event needs of the store. */
export interface CallEventWriter {
  /** Runs one statement with its values. */
  run(sql: string, ...values: (string | number | null)[]): void;
  /** The prepared statement for `sql`. */
  statement(sql: string): StatementSync;
  /** This process's `INSTANCE_ID`. */
  instance: string;
  /** Prices for `costUsd`. */
  prices: PriceTable;
  /** Where a usage report that cannot be read is told. */
  onError(message: string): void;
}

type EventOf<T extends CallEvent["type"]> = Extract<CallEvent, { type: T }>;

/** Applies `event` (at position `seq` on the bus, when it has one) to the call's record. */
export function applyCallEvent(w: CallEventWriter, event: CallEvent, seq: number | undefined): void {
  const at = Math.round(event.at);
  // The first instance to see a call names it; the one that runs its stream takes it (call.started).
  w.run(
    `INSERT INTO calls (call_sid, created_at, instance, event_seq) VALUES (?, ?, ?, ?)
     ON CONFLICT (call_sid) DO UPDATE SET created_at = MIN(created_at, excluded.created_at),
     event_seq = MAX(event_seq, excluded.event_seq)`,
    event.callSid,
    at,
    w.instance,
    seq ?? 0,
  );
  switch (event.type) {
    case "call.placed":
    case "call.webhook":
    case "call.status":
    case "call.started":
      return applyCallSetup(w, event, at);
    case "transcript":
    case "turn.latency":
    case "interruption":
    case "tool.called":
      return applyConversation(w, event, at);
    case "usage":
      return applyUsage(w, event, at);
    case "upstream.connected":
    case "session.configured":
    case "agent.stopped":
    case "reconnected":
    case "caller_audio.dropped":
      return applySessionHealth(w, event, at);
    case "call.after_stream":
    case "call.ended":
      return applyCallEnd(w, event, at);
    case "call.analyzed":
      // The analysis's own cost joins the call's (set, not added: the same event twice counts once).
      if (event.state === "done") {
        w.run(
          "UPDATE calls SET analysis_cost_usd = ?, analysis_unpriced = ? WHERE call_sid = ?",
          event.costUsd ?? 0,
          event.costUsd === null ? 1 : 0,
          event.callSid,
        );
      }
      return;
  }
}

/** Who, where and which persona: the placed call, the voice webhook, Twilio's statuses, the stream's start. */
function applyCallSetup(
  w: CallEventWriter,
  event: EventOf<"call.placed" | "call.webhook" | "call.status" | "call.started">,
  at: number,
): void {
  switch (event.type) {
    case "call.placed":
      mergeParameters(w, event.callSid, event.parameters);
      w.run(
        `UPDATE calls SET persona = COALESCE(persona, ?), direction = COALESCE(direction, 'outbound-api'),
         from_number = COALESCE(from_number, ?), to_number = COALESCE(to_number, ?),
         placed_at = COALESCE(placed_at, ?) WHERE call_sid = ?`,
        event.persona,
        event.from,
        event.to,
        at,
        event.callSid,
      );
      break;
    case "call.webhook":
      mergeParameters(w, event.callSid, event.parameters);
      // Twilio's webhook knows the direction best; the persona chosen at start wins over both.
      w.run(
        `UPDATE calls SET persona = COALESCE(persona, ?), direction = ?, source = ?,
         from_number = COALESCE(from_number, ?), to_number = COALESCE(to_number, ?),
         webhook_at = MAX(COALESCE(webhook_at, 0), ?) WHERE call_sid = ?`,
        event.persona,
        event.direction,
        event.source ?? "phone",
        event.from,
        event.to,
        at,
        event.callSid,
      );
      break;
    case "call.status":
      w.run(
        "INSERT INTO call_statuses (call_sid, at, status, detail) VALUES (?, ?, ?, ?)",
        event.callSid,
        at,
        event.status,
        event.detail,
      );
      // A callback that arrives late (out of order) never replaces a final status.
      w.run(
        `UPDATE calls SET status = ? WHERE call_sid = ? AND (status IS NULL OR status NOT IN (${FINAL_STATUS_LIST}))`,
        event.status,
        event.callSid,
      );
      break;
    case "call.started":
      mergeParameters(w, event.callSid, event.parameters);
      w.run(
        `UPDATE calls SET stream_sid = ?, persona = ?, model = ?, engine = ?,
         started_at = COALESCE(started_at, ?), instance = ? WHERE call_sid = ?`,
        event.streamSid,
        event.persona,
        event.model,
        event.engine ?? engineForModel(event.model),
        at,
        w.instance,
        event.callSid,
      );
      break;
  }
}

/** What was said and how fast: transcript lines, turn latencies, interruptions, tool calls. */
function applyConversation(
  w: CallEventWriter,
  event: EventOf<"transcript" | "turn.latency" | "interruption" | "tool.called">,
  at: number,
): void {
  switch (event.type) {
    case "transcript":
      w.run(
        `INSERT INTO transcript (call_sid, at, speaker, text, interrupted_at_ms, spoken_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
        event.callSid,
        at,
        event.speaker,
        event.text,
        event.interruptedAtMs ?? null,
        event.spokenAt ?? null,
      );
      break;
    case "turn.latency":
      w.run(
        `INSERT INTO turn_latencies (call_sid, at, first_audio_sent_ms, first_audio_heard_ms)
         VALUES (?, ?, ?, ?)`,
        event.callSid,
        at,
        event.firstAudioSentMs,
        event.firstAudioHeardMs ?? null,
      );
      break;
    case "interruption":
      w.run(
        `INSERT INTO interruptions (call_sid, at, item_id, audio_end_ms, clear_latency_ms)
         VALUES (?, ?, ?, ?, ?)`,
        event.callSid,
        at,
        event.itemId,
        event.audioEndMs,
        event.clearLatencyMs,
      );
      break;
    case "tool.called":
      w.run(
        `INSERT INTO tool_calls (call_sid, at, call_id, name, arguments, status, result_bytes, duration_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        event.callSid,
        at,
        event.callId,
        event.name,
        event.arguments,
        event.status,
        event.resultBytes,
        event.durationMs,
      );
      break;
  }
}

/** A usage report, read and priced by its engine's own rules. */
function applyUsage(w: CallEventWriter, event: EventOf<"usage">, at: number): void {
  // The engine's own rules read its report: what the record keeps, and the price.
  const summary = ENGINE_REGISTRY.describeUsage(event.engine, event.usage);
  const cost = ENGINE_REGISTRY.priceUsage(event.engine, event.model, event.usage, w.prices);
  if (summary.problem !== undefined) {
    // Kept with an unknown cost (so the call's cost reads "unknown", not a number).
    const subject = summary.response === undefined
      ? `a ${event.engine} usage report`
      : `response ${summary.response.id}`;
    w.onError(`[Realtime] Call store: ${subject} of CallSid=${event.callSid} ${summary.problem}`);
  }
  if (summary.response !== undefined) {
    const t = summary.response.tokens;
    const tokens = [
      t.inputTextTokens,
      t.inputAudioTokens,
      t.inputCachedTokens,
      t.outputTextTokens,
      t.outputAudioTokens,
    ];
    w.run(
      `INSERT INTO usage (call_sid, at, model, response_id, input_text_tokens, input_audio_tokens,
       input_cached_tokens, output_text_tokens, output_audio_tokens, cost_usd)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      event.callSid,
      at,
      event.model,
      summary.response.id,
      ...tokens,
      cost,
    );
    w.run(
      `UPDATE calls SET input_text_tokens = input_text_tokens + ?, input_audio_tokens = input_audio_tokens + ?,
       input_cached_tokens = input_cached_tokens + ?, output_text_tokens = output_text_tokens + ?,
       output_audio_tokens = output_audio_tokens + ?, responses = responses + 1 WHERE call_sid = ?`,
      ...tokens,
      event.callSid,
    );
  }
  if (summary.minutes !== undefined) {
    // Cumulative: the latest report is the call's time so far.
    w.run(
      "UPDATE calls SET minutes = MAX(minutes, ?) WHERE call_sid = ?",
      summary.minutes,
      event.callSid,
    );
  }
  w.run(
    summary.cost === "increment"
      ? `UPDATE calls SET model = COALESCE(model, ?), cost_usd = cost_usd + ?,
         unpriced_responses = unpriced_responses + ? WHERE call_sid = ?`
      : "UPDATE calls SET model = COALESCE(model, ?), cost_usd = ?, unpriced_responses = ? WHERE call_sid = ?",
    event.model,
    cost ?? 0,
    cost === null ? 1 : 0,
    event.callSid,
  );
}

/** How the upstream session fared: connect time, configuration, unplayed audio, reconnects, dropped caller frames. */
function applySessionHealth(
  w: CallEventWriter,
  event: EventOf<
    "upstream.connected" | "session.configured" | "agent.stopped" | "reconnected" | "caller_audio.dropped"
  >,
  at: number,
): void {
  switch (event.type) {
    case "upstream.connected":
      w.run(
        "UPDATE calls SET upstream_connect_ms = ? WHERE call_sid = ?",
        event.connectMs,
        event.callSid,
      );
      break;
    case "session.configured":
      w.run(
        "UPDATE calls SET session_configured_at = COALESCE(session_configured_at, ?) WHERE call_sid = ?",
        at,
        event.callSid,
      );
      break;
    case "agent.stopped":
      w.run(
        "UPDATE calls SET max_unplayed_ms = MAX(COALESCE(max_unplayed_ms, 0), ?) WHERE call_sid = ?",
        event.unplayedMs,
        event.callSid,
      );
      break;
    case "reconnected":
      w.run(
        `UPDATE calls SET reconnects = reconnects + 1,
         max_reconnect_gap_ms = MAX(COALESCE(max_reconnect_gap_ms, 0), ?) WHERE call_sid = ?`,
        event.gapMs,
        event.callSid,
      );
      break;
    case "caller_audio.dropped":
      w.run(
        "UPDATE calls SET caller_frames_dropped = ? WHERE call_sid = ?",
        JSON.stringify(event.drops),
        event.callSid,
      );
      break;
  }
}

/** What followed the stream, and the end (the first end wins). */
function applyCallEnd(
  w: CallEventWriter,
  event: EventOf<"call.after_stream" | "call.ended">,
  at: number,
): void {
  switch (event.type) {
    case "call.after_stream":
      w.run(
        "UPDATE calls SET after_stream = ?, transfer_target = ? WHERE call_sid = ?",
        event.action,
        event.target ?? null,
        event.callSid,
      );
      break;
    case "call.ended":
      // The first end wins: a later one is the teardown echoing it.
      w.run(
        `UPDATE calls SET ended_at = ?, end_reason = ?, end_detail = ? WHERE call_sid = ? AND ended_at IS NULL`,
        at,
        event.reason,
        event.detail,
        event.callSid,
      );
      break;
  }
}

/** Merges `parameters` into the call's stored custom parameters. */
function mergeParameters(w: CallEventWriter, callSid: string, parameters: Record<string, string>): void {
  if (Object.keys(parameters).length === 0) return;
  const row = w.statement("SELECT parameters FROM calls WHERE call_sid = ?").get(callSid) as Row;
  const merged = { ...parseParameters(row.parameters), ...parameters };
  w.run("UPDATE calls SET parameters = ? WHERE call_sid = ?", JSON.stringify(merged), callSid);
}
