/**
 * The SQLite call records a previous run of this instance left open (`ended_at` NULL), and what
 * startup does with them: takes up the calls still ringing, closes the rest at their last sign of
 * life, and, for a run that stops with calls in progress (`--watch`), notes why before it goes.
 *
 * Separate from `call_store.ts` because it runs once per start or stop, not per event: plain
 * statements on the database handle, outside the write queue (the store writes what is queued first).
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { type EndReason, FINAL_CALL_STATUSES } from "../../calls/call_events.ts";
import type { AbandonedRecordsOptions, NoteCutOptions, RingingRecord } from "../ports.ts";
import { LAST_SIGN_OF_LIFE_SQL, type Row } from "./call_rows.ts";

/** Twilio's final statuses as an SQL list: `('completed', 'busy', …)`. */
const FINAL_STATUSES_SQL = `(${[...FINAL_CALL_STATUSES].map((status) => `'${status}'`).join(", ")})`;

/**
 * A record of a call placed here (a `call.placed`) whose stream never started and whose final status
 * has not come: what the next start takes up rather than closes (with `instance` and `placed_at`
 * bounds). One with a final status is over (the run stopped before it wrote the end): it closes.
 */
const RINGING_SQL = `(placed_at IS NOT NULL AND started_at IS NULL AND persona IS NOT NULL
  AND (status IS NULL OR status NOT IN ${FINAL_STATUSES_SQL}))`;

/**
 * The open records of one instance (and unnamed ones) in the call database; each method is the
 * synchronous body of the `CallRecords` method (`ports.ts`) of the same name.
 *
 * @example
 * ```ts
 * const leftOpen = new LeftOpenRecords(db, "local");
 * const ringing = leftOpen.takeUpRingingRecords(Date.now() - 60_000);
 * const closed = leftOpen.closeAbandonedRecords("server_crashed", "…");
 * ```
 */
export class LeftOpenRecords {
  #db: DatabaseSync;
  #instance: string;

  /** Works on `db`'s `calls` table for the records of `instance`. */
  constructor(db: DatabaseSync, instance: string) {
    this.#db = db;
    this.#instance = instance;
  }

  /** Closes the open records (but the spared ringing ones) at their last sign of life; returns their CallSids. */
  closeAbandonedRecords(reason: EndReason, detail: string, options: AbandonedRecordsOptions = {}): string[] {
    // A reason noted by noteCutRecords (ended_at still NULL) is kept: that run knew why its calls ended.
    const rows = this.#db.prepare(
      `UPDATE calls SET end_reason = COALESCE(end_reason, ?),
         end_detail = CASE WHEN end_reason IS NULL THEN ? ELSE end_detail END,
         ended_at = ${LAST_SIGN_OF_LIFE_SQL}
       WHERE ended_at IS NULL AND (instance = ? OR instance IS NULL)
         AND NOT (${RINGING_SQL} AND instance IS ? AND placed_at >= ?)
       RETURNING call_sid`,
    ).all(
      reason,
      detail,
      this.#instance,
      this.#instance,
      options.sparePlacedSince ?? Number.MAX_SAFE_INTEGER,
    ) as Row[];
    return rows.map((row) => String(row.call_sid));
  }

  /** Drops any noted reason from the ringing records placed at or after `placedSince`; returns them, oldest first. */
  takeUpRingingRecords(placedSince: number): RingingRecord[] {
    const rows = this.#db.prepare(
      `UPDATE calls SET end_reason = NULL, end_detail = NULL
       WHERE ended_at IS NULL AND ${RINGING_SQL} AND instance = ? AND placed_at >= ?
       RETURNING call_sid, persona, placed_at, webhook_at`,
    ).all(this.#instance, placedSince) as Row[];
    return rows
      .map((row) => ({
        callSid: String(row.call_sid),
        persona: String(row.persona),
        placedAt: Number(row.placed_at),
        webhookAt: row.webhook_at == null ? null : Number(row.webhook_at),
      }))
      .sort((a, b) => a.placedAt - b.placedAt || (a.callSid < b.callSid ? -1 : 1));
  }

  /** Notes `reason` and `detail` on the open records (with `callSids`, those only), leaving them open; returns their CallSids. */
  noteCutRecords(reason: EndReason, detail: string, options: NoteCutOptions = {}): string[] {
    // Written before the caller's promise settles (node:sqlite is synchronous): enough in an `unload` listener.
    const only = options.callSids === undefined ? null : JSON.stringify(options.callSids);
    const rows = this.#db.prepare(
      `UPDATE calls SET end_reason = ?, end_detail = ?
       WHERE ended_at IS NULL AND (instance = ? OR instance IS NULL)
         AND (? IS NULL OR call_sid IN (SELECT value FROM json_each(?))) RETURNING call_sid`,
    ).all(reason, detail, this.#instance, only, only) as Row[];
    return rows.map((row) => String(row.call_sid));
  }
}
