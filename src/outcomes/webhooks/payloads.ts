/**
 * What each webhook event carries. Every body is `{ type, timestamp, data }` (the Standard Webhooks
 * envelope); the message id is stable per event and call (`msg_<type>_<CallSid>`), so a receiver
 * de-duplicates retries and redeliveries on `webhook-id`.
 *
 * @module
 */

import type { CallEvent } from "../../calls/call_events.ts";
import type { CallRecord } from "../../store/call_record.ts";

/** The events Parley sends (`call.analyzed` and `recording.ready` come from their own modules). */
export type WebhookEventType = "call.started" | "call.ended" | "call.analyzed" | "recording.ready";

/** The body of every webhook. */
export interface WebhookEnvelope<D = Record<string, unknown>> {
  type: WebhookEventType;
  /** When the event happened, ISO 8601. */
  timestamp: string;
  data: D;
}

/** The stable id of `type` for `callSid`: the same event is always the same message. */
export function webhookMessageId(type: WebhookEventType, callSid: string): string {
  return `msg_${type.replace(".", "_")}_${callSid}`;
}

/**
 * Which call, who is calling whom, with which persona, engine and parameters, and what it came through
 * (`source`: a rehearsal's calls reach the receiver too, and must be told from a customer's): both
 * events open with it.
 */
function callIdentity(record: CallRecord): Record<string, unknown> {
  return {
    callSid: record.callSid,
    source: record.source,
    persona: record.persona,
    model: record.model,
    engine: record.engine,
    direction: record.direction,
    from: record.from,
    to: record.to,
    parameters: record.parameters,
  };
}

/** `call.started`: who is calling whom, with which persona and parameters. */
export function callStartedData(record: CallRecord): Record<string, unknown> {
  return {
    ...callIdentity(record),
    startedAt: iso(record.startedAt ?? record.createdAt),
  };
}

/**
 * `call.ended`: persona, numbers, times, duration, end reason, transcript, cost, latency and
 * parameters, from the stored record.
 */
export function callEndedData(record: CallRecord): Record<string, unknown> {
  return {
    ...callIdentity(record),
    startedAt: record.startedAt === null ? null : iso(record.startedAt),
    endedAt: record.endedAt === null ? null : iso(record.endedAt),
    durationMs: record.durationMs,
    endReason: record.endReason,
    endDetail: record.endDetail,
    transcript: record.transcript.map((line) => ({
      at: iso(line.at),
      speaker: line.speaker,
      text: line.text,
      interruptedAtMs: line.interruptedAtMs,
      spokenAt: line.spokenAt === null ? null : iso(line.spokenAt),
    })),
    costUsd: record.costUsd,
    usage: record.usage,
    minutes: record.minutes,
    latency: record.latency,
  };
}

/**
 * `call.analyzed`: the analysis's state, outcome, error and cost, and the call's cost from `record`
 * (read after the store took the event, so it includes the analysis's; null without a record).
 */
export function callAnalyzedData(
  event: Extract<CallEvent, { type: "call.analyzed" }>,
  record: CallRecord | undefined,
): Record<string, unknown> {
  const { callSid, state, outcome, error, costUsd } = event;
  return {
    callSid,
    state,
    outcome,
    error,
    costUsd,
    callCostUsd: record === undefined ? null : record.costUsd,
  };
}

function iso(at: number): string {
  return new Date(at).toISOString();
}
