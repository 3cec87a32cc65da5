/**
 * A batch of call events on its way to Postgres (`call_records.ts` writes it): the events by call,
 * their keys, which of them a failed write may have stored after all, and what Postgres cannot hold.
 *
 * @module
 */

import type { TransactionSql } from "postgres";
import type { CallEvent } from "../../calls/call_events.ts";

/**
 * An event waiting to be written, with its key (unique to this process) and whether a write of it
 * already failed: a COMMIT whose answer was lost may have stored it, so a retry skips what is there.
 */
export interface QueuedEvent {
  event: CallEvent;
  key: string | null;
  retried: boolean;
}

/** Of `queued` (one call's), the events not stored yet: all of them unless a write of one already failed. */
export async function notStored(
  tx: TransactionSql,
  callSid: string,
  queued: readonly QueuedEvent[],
): Promise<readonly QueuedEvent[]> {
  const keys = queued.filter((q) => q.retried && q.key !== null).map((q) => q.key!);
  if (keys.length === 0) return queued;
  const found = await tx<{ event_key: string }[]>`
    SELECT event_key FROM call_events WHERE call_sid = ${callSid} AND event_key = ANY(${keys})`;
  if (found.length === 0) return queued;
  const stored = new Set(found.map((row) => row.event_key));
  return queued.filter((q) => q.key === null || !stored.has(q.key));
}

/** The batch's events by call, calls in CallSid order (so two instances lock rows in one order: no deadlock). */
export function groupByCall(batch: readonly QueuedEvent[]): [string, QueuedEvent[]][] {
  const calls = new Map<string, QueuedEvent[]>();
  for (const queued of batch) {
    const events = calls.get(queued.event.callSid);
    if (events === undefined) calls.set(queued.event.callSid, [queued]);
    else events.push(queued);
  }
  return [...calls].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0);
}

/** True for Postgres refusing the data itself (SQLSTATE class 22 or 23), which no retry fixes. */
export function isDataError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^2[23]/.test(code);
}

/** `value` with every NUL character replaced (Postgres text and JSON cannot hold one). */
export function withoutNul<T>(value: T): T {
  return JSON.parse(
    JSON.stringify(value, (_key, v) => typeof v === "string" ? v.replaceAll("\0", "\uFFFD") : v),
  ) as T;
}
