/**
 * A call record built from its events in TypeScript: the Postgres adapter keeps every event
 * (`call_events`, the source of truth) and the record folded from them (`calls.record`, JSON), with
 * the same merge rules as the SQLite adapter's SQL: first end wins, the instance that runs the
 * stream takes the call, parameters merge, tokens add up, minutes are cumulative.
 *
 * @module
 */

import { type CallEvent, type CallStatus, FINAL_CALL_STATUSES } from "../../calls/call_events.ts";
import { ENGINE_REGISTRY, engineForModel } from "../../engines/registry.ts";
import type { PriceTable } from "../../engines/prices.ts";
import { type CallRecord, summarizeLatency } from "../call_record.ts";

/** A record as kept: the record plus what derived fields are computed from. */
export interface StoredRecord extends CallRecord {
  /** Running cost of the priced responses (or the minutes' cost). */
  pricedUsd: number;
  /** Responses (or minute reports) with no price: the cost reads unknown while any. */
  unpriced: number;
  /** The post-call analysis's own cost, once done (absent in records folded before it was kept). */
  analysisUsd?: number;
  /** True when the analysis's model has no price: the cost reads unknown. */
  analysisUnpriced?: boolean;
}

/** An empty record for `callSid`, first seen at `at` by `instance`. */
export function emptyRecord(callSid: string, at: number, instance: string): StoredRecord {
  return {
    callSid,
    streamSid: null,
    persona: null,
    model: null,
    engine: null,
    direction: null,
    source: "phone",
    from: null,
    to: null,
    parameters: {},
    status: null,
    createdAt: at,
    startedAt: null,
    upstreamConnectMs: null,
    sessionConfiguredAt: null,
    endedAt: null,
    durationMs: null,
    endReason: null,
    endDetail: null,
    usage: {
      inputTextTokens: 0,
      inputAudioTokens: 0,
      inputCachedTokens: 0,
      outputTextTokens: 0,
      outputAudioTokens: 0,
      responses: 0,
    },
    minutes: 0,
    maxUnplayedMs: null,
    reconnects: 0,
    maxReconnectGapMs: null,
    callerFramesDropped: null,
    costUsd: 0,
    afterStream: null,
    transferTarget: null,
    instance,
    statuses: [],
    transcript: [],
    turns: [],
    latency: null,
    interruptions: [],
    responses: [],
    toolCalls: [],
    eventSeq: 0,
    pricedUsd: 0,
    unpriced: 0,
  };
}

/**
 * Applies `event` (published by `instance`, at position `seq`) to `record` in place.
 * `onError` hears about impossible token counts (stored as 0, left unpriced, as SQLite does).
 */
export function applyEvent(
  record: StoredRecord,
  event: CallEvent,
  seq: number,
  instance: string,
  prices: PriceTable,
  onError: (message: string) => void,
): void {
  const at = Math.round(event.at);
  record.createdAt = Math.min(record.createdAt, at);
  record.eventSeq = Math.max(record.eventSeq, seq);
  switch (event.type) {
    case "call.placed":
    case "call.webhook":
      applyOrigin(record, event);
      break;
    case "call.started":
    case "upstream.connected":
    case "session.configured":
      applyStreamStart(record, event, at, instance);
      break;
    case "transcript":
    case "turn.latency":
    case "interruption":
    case "tool.called":
      appendEntry(record, event, at);
      break;
    case "usage":
      applyUsage(record, event, at, prices, onError);
      break;
    case "agent.stopped":
    case "reconnected":
    case "caller_audio.dropped":
      applyStreamHealth(record, event);
      break;
    case "call.status":
    case "call.after_stream":
    case "call.analyzed":
    case "call.ended":
      applyCallState(record, event, at);
      break;
  }
  deriveTotals(record);
}

/** Where the call comes from (placed by Parley, or its webhook): parameters, persona, direction, numbers. */
function applyOrigin(
  record: StoredRecord,
  event: Extract<CallEvent, { type: "call.placed" | "call.webhook" }>,
): void {
  switch (event.type) {
    case "call.placed":
      Object.assign(record.parameters, event.parameters);
      record.persona ??= event.persona;
      record.direction ??= "outbound-api";
      record.from ??= event.from;
      record.to ??= event.to;
      break;
    case "call.webhook":
      Object.assign(record.parameters, event.parameters);
      record.persona ??= event.persona;
      record.direction = event.direction;
      record.source = event.source ?? "phone";
      record.from ??= event.from;
      record.to ??= event.to;
      break;
  }
}

/** The stream coming up: the instance that runs it takes the call; then the upstream and session. */
function applyStreamStart(
  record: StoredRecord,
  event: Extract<CallEvent, { type: "call.started" | "upstream.connected" | "session.configured" }>,
  at: number,
  instance: string,
): void {
  switch (event.type) {
    case "call.started":
      Object.assign(record.parameters, event.parameters);
      record.streamSid = event.streamSid;
      record.persona = event.persona;
      record.model = event.model;
      record.engine = event.engine ?? engineForModel(event.model);
      record.startedAt ??= at;
      record.instance = instance;
      break;
    case "upstream.connected":
      record.upstreamConnectMs = event.connectMs;
      break;
    case "session.configured":
      record.sessionConfiguredAt ??= at;
      break;
  }
}

/** How the stream held up: unplayed audio at a stop, reconnects, caller frames dropped. */
function applyStreamHealth(
  record: StoredRecord,
  event: Extract<CallEvent, { type: "agent.stopped" | "reconnected" | "caller_audio.dropped" }>,
): void {
  switch (event.type) {
    case "agent.stopped":
      record.maxUnplayedMs = Math.max(record.maxUnplayedMs ?? 0, event.unplayedMs);
      break;
    case "reconnected":
      record.reconnects += 1;
      record.maxReconnectGapMs = Math.max(record.maxReconnectGapMs ?? 0, event.gapMs);
      break;
    case "caller_audio.dropped":
      record.callerFramesDropped = event.drops;
      break;
  }
}

/** The call's state: its statuses, what follows the stream, its analysis's cost, its end. */
function applyCallState(
  record: StoredRecord,
  event: Extract<CallEvent, { type: "call.status" | "call.after_stream" | "call.analyzed" | "call.ended" }>,
  at: number,
): void {
  switch (event.type) {
    case "call.status":
      record.statuses.push({ at, status: event.status as CallStatus, detail: event.detail });
      // A callback that arrives late (out of order) never replaces a final status.
      if (record.status === null || !FINAL_CALL_STATUSES.has(record.status)) {
        record.status = event.status as CallStatus;
      }
      break;
    case "call.after_stream":
      record.afterStream = event.action;
      record.transferTarget = event.target ?? null;
      break;
    case "call.analyzed":
      // The analysis's own cost joins the call's (set, not added: the same event twice counts once).
      if (event.state === "done") {
        record.analysisUsd = event.costUsd ?? 0;
        record.analysisUnpriced = event.costUsd === null;
      }
      break;
    case "call.ended":
      // The first end wins: a later one is the teardown echoing it.
      if (record.endedAt === null) {
        record.endedAt = at;
        record.endReason = event.reason;
        record.endDetail = event.detail;
      }
      break;
  }
}

/** An event that adds one entry to one of the record's lists (transcript, turns, interruptions, tools). */
function appendEntry(
  record: StoredRecord,
  event: Extract<CallEvent, { type: "transcript" | "turn.latency" | "interruption" | "tool.called" }>,
  at: number,
): void {
  switch (event.type) {
    case "transcript":
      record.transcript.push({
        at,
        speaker: event.speaker,
        text: event.text,
        interruptedAtMs: event.interruptedAtMs ?? null,
        spokenAt: event.spokenAt ?? null,
      });
      break;
    case "turn.latency":
      record.turns.push({
        at,
        firstAudioSentMs: event.firstAudioSentMs,
        firstAudioHeardMs: event.firstAudioHeardMs ?? null,
      });
      break;
    case "interruption":
      record.interruptions.push({
        at,
        itemId: event.itemId,
        audioEndMs: event.audioEndMs,
        clearLatencyMs: event.clearLatencyMs,
      });
      break;
    case "tool.called":
      record.toolCalls.push({
        at,
        callId: event.callId,
        name: event.name,
        arguments: event.arguments,
        status: event.status,
        resultBytes: event.resultBytes,
        durationMs: event.durationMs,
      });
      break;
  }
}

/** A usage report: the engine's own rules say what the record keeps and what it costs (as SQLite does). */
function applyUsage(
  record: StoredRecord,
  event: Extract<CallEvent, { type: "usage" }>,
  at: number,
  prices: PriceTable,
  onError: (message: string) => void,
): void {
  const summary = ENGINE_REGISTRY.describeUsage(event.engine, event.usage);
  const cost = ENGINE_REGISTRY.priceUsage(event.engine, event.model, event.usage, prices);
  if (summary.problem !== undefined) {
    const subject = summary.response === undefined
      ? `a ${event.engine} usage report`
      : `response ${summary.response.id}`;
    onError(`[Realtime] Call store: ${subject} of CallSid=${event.callSid} ${summary.problem}`);
  }
  record.model ??= event.model;
  if (summary.response !== undefined) {
    const tokens = summary.response.tokens;
    record.responses.push({
      at,
      model: event.model,
      responseId: summary.response.id,
      usage: tokens,
      costUsd: cost,
    });
    record.usage.inputTextTokens += tokens.inputTextTokens;
    record.usage.inputAudioTokens += tokens.inputAudioTokens;
    record.usage.inputCachedTokens += tokens.inputCachedTokens;
    record.usage.outputTextTokens += tokens.outputTextTokens;
    record.usage.outputAudioTokens += tokens.outputAudioTokens;
    record.usage.responses += 1;
  }
  // Cumulative: the latest report is the call's time so far.
  if (summary.minutes !== undefined) record.minutes = Math.max(record.minutes, summary.minutes);
  if (summary.cost === "increment") {
    record.pricedUsd += cost ?? 0;
    if (cost === null) record.unpriced += 1;
  } else {
    record.pricedUsd = cost ?? 0;
    record.unpriced = cost === null ? 1 : 0;
  }
}

/** The fields computed from the others: cost (unknown while anything is unpriced), duration, latency. */
function deriveTotals(record: StoredRecord): void {
  record.costUsd = record.unpriced > 0 || record.analysisUnpriced === true
    ? null
    : record.pricedUsd + (record.analysisUsd ?? 0);
  record.durationMs = record.startedAt !== null && record.endedAt !== null
    ? record.endedAt - record.startedAt
    : null;
  record.latency = summarizeLatency(record.turns);
}

/** The time of the record's last event (what a crash clean-up ends it at). */
export function lastEventAt(record: CallRecord): number {
  const times = [
    record.createdAt,
    record.startedAt ?? 0,
    record.sessionConfiguredAt ?? 0,
    ...record.statuses.map((s) => s.at),
    ...record.transcript.map((l) => l.at),
    ...record.turns.map((t) => t.at),
    ...record.interruptions.map((i) => i.at),
    ...record.responses.map((r) => r.at),
  ];
  return Math.max(...times);
}

/** The record as the port returns it (without the fold's bookkeeping). */
export function publicRecord(stored: StoredRecord): CallRecord {
  const {
    pricedUsd: _priced,
    unpriced: _unpriced,
    analysisUsd: _analysis,
    analysisUnpriced: _analysisUnpriced,
    ...record
  } = stored;
  return record;
}
