/**
 * The instance names of `deno task rehearse` runs, and the call records a killed run left open.
 *
 * Every run of the CLI has an instance name of its own, `<INSTANCE_ID>.rehearse-<8 hex>`: a server
 * on the same `DATA_DIR` closes only its own open records at startup, and a starting analysis or
 * webhook worker puts back only its own claims, so neither touches a rehearsal still running, nor
 * does a second rehearsal started meanwhile (a second terminal, a CI job) put back and bill again the
 * first one's analyses in flight. Claims a killed run leaves lapse through their lease.
 *
 * A run stopped with Ctrl-C or SIGTERM closes its records itself (`server_shutdown`); one killed
 * (SIGKILL, a crash) cannot, and no server start ever touches its instance. So a rehearsal starting
 * closes the open records of earlier rehearsals of the same `INSTANCE_ID` that have been silent (no
 * event, no heartbeat) for {@linkcode LEFTOVER_SILENCE_MS}: longer than the longest rehearsal call,
 * so a concurrent rehearsal's calls, which beat every few seconds and last at most 30 minutes, are
 * never among them.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import type { EndReason } from "../calls/call_events.ts";
import { LAST_SIGN_OF_LIFE_SQL } from "../store/sqlite/call_rows.ts";

/** The longest call a scenario may ask for, minutes (`maxMinutes`, see `validate.ts`). */
export const MAX_SCENARIO_MINUTES = 30;

/**
 * How long an open rehearsal record must have been silent to count as left by a killed run, ms: the
 * longest rehearsal call and 5 minutes more. A running call's record is stamped alive every 5 s.
 */
export const LEFTOVER_SILENCE_MS = (MAX_SCENARIO_MINUTES + 5) * 60_000;

/** The end reason of a record a killed rehearsal left open, as a server's startup writes for its own. */
export const LEFTOVER_END_REASON: EndReason = "server_crashed";

/** The end detail of such a record. */
export const LEFTOVER_END_DETAIL = "the rehearsal (deno task rehearse) was killed during the call: " +
  "closed at its last event by a later rehearsal";

/** The longest `INSTANCE_ID` (see `config_sections.ts`). */
const MAX_INSTANCE_ID = 100;
const SUFFIX = ".rehearse-";
const RANDOM_HEX = 8;

/**
 * A new instance name for one rehearsal run under `instanceId`: `<INSTANCE_ID>.rehearse-<8 hex>`,
 * at most 100 characters (a long `INSTANCE_ID` is cut).
 */
export function rehearsalInstanceId(instanceId: string): string {
  const random = Array.from(crypto.getRandomValues(new Uint8Array(RANDOM_HEX / 2)))
    .map((byte) => byte.toString(16).padStart(2, "0")).join("");
  return `${rehearsalPrefix(instanceId)}${random}`;
}

/**
 * True when `instance` names a rehearsal run under `instanceId`: one of {@linkcode rehearsalInstanceId},
 * or the single name all runs shared before, `<INSTANCE_ID>.rehearse`.
 */
export function isRehearsalOf(instanceId: string, instance: string): boolean {
  const prefix = rehearsalPrefix(instanceId);
  return instance === `${instanceId.slice(0, 90)}.rehearse` ||
    (instance.startsWith(prefix) && /^[0-9a-f]{8}$/.test(instance.slice(prefix.length)));
}

function rehearsalPrefix(instanceId: string): string {
  return `${instanceId.slice(0, MAX_INSTANCE_ID - SUFFIX.length - RANDOM_HEX)}${SUFFIX}`;
}

/** What {@linkcode closeLeftoverRecords} needs. */
export interface LeftoverOptions {
  /** The call database (already migrated: open the store first). */
  databasePath: string;
  /** The user's `INSTANCE_ID`: only its rehearsals' records are looked at. */
  instanceId: string;
  /** This run's instance name: its records are never touched. */
  ownInstance: string;
  /** Epoch ms. @default Date.now() */
  now?: number;
}

/**
 * Closes the open records of earlier rehearsals under `instanceId` silent for
 * {@linkcode LEFTOVER_SILENCE_MS}, at their last event or heartbeat, with
 * {@linkcode LEFTOVER_END_REASON}; returns their CallSids.
 */
export function closeLeftoverRecords(options: LeftoverOptions): string[] {
  const cutoff = (options.now ?? Date.now()) - LEFTOVER_SILENCE_MS;
  const db = new DatabaseSync(options.databasePath);
  try {
    // Waits out a server's or another rehearsal's write on the same file rather than failing.
    db.exec("PRAGMA busy_timeout = 2000");
    db.exec("BEGIN IMMEDIATE");
    try {
      const open = db.prepare(
        `SELECT call_sid, instance, ${LAST_SIGN_OF_LIFE_SQL} AS last_at FROM calls
         WHERE ended_at IS NULL AND instance IS NOT NULL`,
      ).all() as { call_sid: string; instance: string; last_at: number }[];
      const close = db.prepare(
        `UPDATE calls SET end_reason = ?, end_detail = ?, ended_at = ${LAST_SIGN_OF_LIFE_SQL}
         WHERE call_sid = ? AND ended_at IS NULL`,
      );
      const closed = open.filter((row) =>
        row.instance !== options.ownInstance && isRehearsalOf(options.instanceId, row.instance) &&
        row.last_at < cutoff
      ).map((row) => String(row.call_sid));
      for (const callSid of closed) close.run(LEFTOVER_END_REASON, LEFTOVER_END_DETAIL, callSid);
      db.exec("COMMIT");
      return closed;
    } catch (error) {
      db.exec("ROLLBACK");
      throw error;
    }
  } finally {
    db.close();
  }
}
