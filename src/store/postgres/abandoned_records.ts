/**
 * The crash clean-up of call records on Postgres: finding the records an instance left open, handing
 * its still-ringing placed calls to another instance, and ending the rest with a `call.ended` event.
 * It runs at startup for this instance's own records (`PostgresCallRecords.closeAbandonedRecords` and
 * `takeUpRingingRecords`) and in a live peer's sweep for a dead instance's (`instance_heartbeat.ts`).
 *
 * It is separate from `call_records.ts`, which writes and reads records while calls run: these are
 * queries over many records at once, inside a caller's transaction, run only after a process stopped.
 * The `call.ended` events go through the caller's own write path ({@linkcode AppendEvents}), so they
 * are numbered, folded and announced like any other event (live feeds hear them).
 *
 * @module
 */

import type { TransactionSql } from "postgres";
import { type CallEvent, type EndReason, FINAL_CALL_STATUSES } from "../../calls/call_events.ts";
import type { RingingRecord } from "../ports.ts";
import { lastEventAt, type StoredRecord } from "./fold.ts";
import type { QueuedEvent } from "./event_batch.ts";

/**
 * In `tx`: appends `events` to the record of `callSid` (numbered after its last position, folded,
 * stored and announced): `PostgresCallRecords`' own write of one call's events.
 */
export type AppendEvents = (
  tx: TransactionSql,
  callSid: string,
  events: readonly QueuedEvent[],
) => Promise<void>;

/**
 * In `tx`: the open records of calls `instance` placed (a `call.placed` event) at or after
 * `placedSince` whose stream never started and whose final status has not come, oldest first,
 * locked for the transaction.
 */
export async function ringingRecordsOf(
  tx: TransactionSql,
  instance: string,
  placedSince: number,
): Promise<RingingRecord[]> {
  const rows = await tx<
    { call_sid: string; persona: string; placed_at: string; webhook_at: string | null }[]
  >`
    SELECT c.call_sid, c.persona, p.placed_at, w.webhook_at
    FROM calls c
    CROSS JOIN LATERAL (
      SELECT min(round((e.event->>'at')::float8))::bigint AS placed_at FROM call_events e
      WHERE e.call_sid = c.call_sid AND e.event->>'type' = 'call.placed') p
    CROSS JOIN LATERAL (
      SELECT max(round((e.event->>'at')::float8))::bigint AS webhook_at FROM call_events e
      WHERE e.call_sid = c.call_sid AND e.event->>'type' = 'call.webhook') w
    WHERE c.ended_at IS NULL AND c.instance = ${instance} AND c.persona IS NOT NULL
      AND c.record->>'startedAt' IS NULL AND p.placed_at >= ${placedSince}
      AND (c.record->>'status' IS NULL OR c.record->>'status' <> ALL(${[...FINAL_CALL_STATUSES]}::text[]))
    ORDER BY p.placed_at, c.call_sid FOR UPDATE OF c`;
  return rows.map((row) => ({
    callSid: row.call_sid,
    persona: row.persona,
    placedAt: Number(row.placed_at),
    webhookAt: row.webhook_at === null ? null : Number(row.webhook_at),
  }));
}

/** Whose ringing records {@linkcode takeOverRingingRecords} hands over, to whom, and since when. */
export interface TakeOverRingingOptions {
  /** The instance that placed the calls (a dead peer). */
  from: string;
  /** The instance that follows them from now on. */
  to: string;
  /** Only calls placed at or after this time, epoch ms. */
  placedSince: number;
}

/**
 * In `tx`: the ringing records of `from` (see {@linkcode ringingRecordsOf}) placed at or after
 * `placedSince` pass to `to`, which follows them from now on; returns them.
 */
export async function takeOverRingingRecords(
  tx: TransactionSql,
  options: TakeOverRingingOptions,
): Promise<RingingRecord[]> {
  const { from, to, placedSince } = options;
  const ringing = await ringingRecordsOf(tx, from, placedSince);
  if (ringing.length === 0) return ringing;
  await tx`UPDATE calls SET instance = ${to}, record = jsonb_set(record, '{instance}', to_jsonb(${to}::text))
    WHERE call_sid IN ${tx(ringing.map((r) => r.callSid))}`;
  return ringing;
}

/** Which open records {@linkcode closeOpenRecordsOf} ends, how, and through which write. */
export interface CloseOpenRecordsOptions {
  /** The instance whose open records end. */
  instance: string;
  /** The `call.ended` event's reason. */
  reason: EndReason;
  /** The `call.ended` event's detail. */
  detail: string;
  /** Also end the records from before instances were named. @default false */
  unnamedToo?: boolean;
  /** Spare the calls `instance` placed since then (epoch ms) whose stream never started. */
  sparePlacedSince?: number | undefined;
  /** The write the `call.ended` events go through. */
  append: AppendEvents;
}

/**
 * In `tx`: ends the open records of `instance` (and unnamed ones with `unnamedToo`) with a
 * `call.ended` event at their last event or heartbeat, and returns their CallSids; with
 * `sparePlacedSince`, not those of calls `instance` placed since then whose stream never started.
 */
export async function closeOpenRecordsOf(
  tx: TransactionSql,
  options: CloseOpenRecordsOptions,
): Promise<string[]> {
  const { instance, reason, detail, sparePlacedSince } = options;
  const unnamed = options.unnamedToo ? tx`OR instance IS NULL` : tx``;
  const rows = await tx<{ record: StoredRecord; alive_at: string | null }[]>`
    SELECT record, alive_at FROM calls WHERE ended_at IS NULL AND (instance = ${instance} ${unnamed})
    ORDER BY call_sid FOR UPDATE`;
  const spared = new Set(
    sparePlacedSince === undefined
      ? []
      : (await ringingRecordsOf(tx, instance, sparePlacedSince)).map((ringing) => ringing.callSid),
  );
  const closing = rows.filter(({ record }) => !spared.has(record.callSid));
  for (const { record, alive_at } of closing) {
    const ended: CallEvent = {
      type: "call.ended",
      at: Math.max(lastEventAt(record), Number(alive_at ?? 0)),
      callSid: record.callSid,
      reason,
      detail,
    };
    await options.append(tx, record.callSid, [{ event: ended, key: null, retried: false }]);
  }
  return closing.map((row) => row.record.callSid);
}
