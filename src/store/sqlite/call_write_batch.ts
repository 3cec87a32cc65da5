/**
 * One batch of the SQLite call store's write queue: the events and heartbeats waiting there, written
 * in order, and the rule that tells a bad event (reported and skipped, so the rest of the batch goes
 * in) from a failing database (thrown, so the queue keeps the batch and retries).
 *
 * Separate from `call_store.ts`, which decides when a batch is written and inside which transaction;
 * what one event writes is `call_event_writer.ts`.
 *
 * @module
 */

import type { CallEvent } from "../../calls/call_events.ts";
import { errorText } from "../../log.ts";
import { applyCallEvent, type CallEventWriter } from "./call_event_writer.ts";

/** An event waiting to be written, with its position on the bus (undefined when it has none). */
export interface QueuedEvent {
  event: CallEvent;
  seq: number | undefined;
}

/** A heartbeat in the write queue: these running calls were alive at `at`. */
export interface Heartbeat {
  type: "heartbeat";
  callSids: readonly string[];
  at: number;
}

/** What waits in the call store's write queue. */
export type QueuedWrite = QueuedEvent | Heartbeat;

/**
 * True for a failure of the database as a whole, which passes (a lock held elsewhere, a full disk,
 * an I/O error): the batch is retried. Anything else is a problem with one event, which is skipped.
 */
function isPassingFailure(error: unknown): boolean {
  const code = (error as { errcode?: unknown }).errcode;
  // SQLITE_BUSY, LOCKED, NOMEM, READONLY, IOERR, FULL, CANTOPEN, PROTOCOL (primary codes).
  if (typeof code === "number" && [5, 6, 7, 8, 10, 13, 14, 15].includes(code & 0xff)) return true;
  const message = errorText(error);
  return /locked|busy|disk is full|disk I\/O|readonly|unable to open|not open/i.test(message);
}

/**
 * Writes `batch` through `writer`, in order; the caller holds the transaction. A bad event is reported
 * to `writer.onError` and skipped; a failing database throws.
 *
 * @example
 * ```ts
 * transaction(() => writeCallBatch(writer, [{ event, seq: 1 }, { type: "heartbeat", callSids, at }]));
 * ```
 */
export function writeCallBatch(writer: CallEventWriter, batch: readonly QueuedWrite[]): void {
  for (const queued of batch) {
    if ("type" in queued) {
      for (const callSid of queued.callSids) {
        writer.run(
          "UPDATE calls SET alive_at = ? WHERE call_sid = ? AND ended_at IS NULL",
          queued.at,
          callSid,
        );
      }
      continue;
    }
    const { event, seq } = queued;
    try {
      applyCallEvent(writer, event, seq);
    } catch (error) {
      if (isPassingFailure(error)) throw error;
      writer.onError(
        `[Realtime] Call store could not record ${event.type} for CallSid=${event.callSid}: ${
          errorText(error)
        }`,
      );
    }
  }
}
