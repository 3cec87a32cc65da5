/**
 * The webhook outbox over SQLite (tables `webhook_outbox` and `webhook_attempts` of the call
 * database), on its own connection. A claim is one `UPDATE … RETURNING` inside `BEGIN IMMEDIATE`,
 * which takes SQLite's write lock: two processes on one `parley.db` never claim the same message.
 *
 * @module
 */

import { asPromise, openSqliteConnection, type SqliteConnection } from "./connection.ts";
import {
  type ClaimedWebhook,
  DEFAULT_DELIVERIES_LIMIT,
  type ListDeliveriesOptions,
  MAX_DELIVERIES_LIMIT,
  type WebhookAttempt,
  WebhookBeingSentError,
  type WebhookDelivery,
  type WebhookMessageInput,
  type WebhookOutbox,
  type WebhookOutcome,
  type WebhookState,
} from "../webhook_outbox.ts";

/**
 * Opens the outbox of the call database at `path` (creating and migrating it if needed).
 *
 * @example
 * ```ts
 * const outbox = openSqliteWebhookOutbox(callDatabasePath(config.dataDir));
 * ```
 */
export function openSqliteWebhookOutbox(path: string): WebhookOutbox {
  return new SqliteWebhookOutbox(openSqliteConnection(path));
}

/** The outbox over one SQLite connection: each method runs synchronously, its throw a rejection. */
class SqliteWebhookOutbox implements WebhookOutbox {
  readonly #connection: SqliteConnection;
  readonly #sql: SqliteConnection["sql"];
  readonly #transaction: SqliteConnection["transaction"];

  constructor(connection: SqliteConnection) {
    this.#connection = connection;
    this.#sql = connection.sql;
    this.#transaction = connection.transaction;
  }

  enqueue(m: WebhookMessageInput): Promise<boolean> {
    return asPromise(() =>
      Number(
        this.#sql(
          `INSERT INTO webhook_outbox (id, type, call_sid, payload, created_at, expires_at, next_try_at)
           VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
        ).run(m.id, m.type, m.callSid, m.payload, m.at, m.expiresAt, m.at).changes,
      ) > 0
    );
  }

  claimDue(instance: string, now: number, limit: number, leaseMs: number): Promise<ClaimedWebhook[]> {
    return asPromise(() =>
      this.#transaction(() =>
        this.#sql(
          `UPDATE webhook_outbox SET claimed_by = ?, lease_until = ?
           WHERE id IN (
             SELECT id FROM webhook_outbox
             WHERE state = 'pending' AND next_try_at <= ? AND (lease_until IS NULL OR lease_until <= ?)
             ORDER BY next_try_at, created_at LIMIT ?)
           RETURNING id, type, call_sid, payload, attempts, created_at, expires_at`,
        ).all(instance, now + leaseMs, now, now, limit).map(toClaimed)
      )
    );
  }

  finishAttempt(id: string, attempt: WebhookAttempt, outcome: WebhookOutcome): Promise<boolean> {
    return asPromise(() =>
      this.#transaction(() => {
        const updated = this.#sql(
          `UPDATE webhook_outbox SET attempts = attempts + 1, state = ?, next_try_at = ?,
             last_status = ?, last_error = ?, delivered_at = COALESCE(?, delivered_at),
             claimed_by = NULL, lease_until = NULL
           WHERE id = ? AND claimed_by = ?`,
        ).run(
          outcome.state,
          outcome.state === "pending" ? outcome.nextTryAt : null,
          attempt.status,
          attempt.error,
          outcome.state === "delivered" ? attempt.at : null,
          id,
          attempt.instance,
        );
        if (Number(updated.changes) === 0) return false;
        this.#sql(
          `INSERT INTO webhook_attempts (message_id, at, instance, status, error, duration_ms)
           VALUES (?, ?, ?, ?, ?, ?)`,
        ).run(id, attempt.at, attempt.instance, attempt.status, attempt.error, attempt.durationMs);
        return true;
      })
    );
  }

  nextDueAt(): Promise<number | undefined> {
    return asPromise(() => {
      const row = this.#sql(
        "SELECT MIN(COALESCE(MAX(next_try_at, lease_until), next_try_at)) AS at FROM webhook_outbox WHERE state = 'pending'",
      ).get();
      return row?.at === null || row?.at === undefined ? undefined : Number(row.at);
    });
  }

  list(options: ListDeliveriesOptions = {}): Promise<WebhookDelivery[]> {
    return asPromise(() => {
      const limit = Math.min(Math.max(1, options.limit ?? DEFAULT_DELIVERIES_LIMIT), MAX_DELIVERIES_LIMIT);
      const rows = options.callSid === undefined
        ? this.#sql("SELECT * FROM webhook_outbox ORDER BY created_at DESC, id DESC LIMIT ?").all(limit)
        : this.#sql(
          "SELECT * FROM webhook_outbox WHERE call_sid = ? ORDER BY created_at DESC, id DESC LIMIT ?",
        ).all(options.callSid, limit);
      return rows.map((row) => toDelivery(row, attemptsOf(this.#sql, String(row.id))));
    });
  }

  get(id: string): Promise<WebhookDelivery | undefined> {
    return asPromise(() => this.#find(id));
  }

  redeliver(id: string, now: number, expiresAt: number): Promise<WebhookDelivery | undefined> {
    return asPromise(() =>
      // One write transaction: no claim comes between the lease check and the update.
      this.#transaction(() => {
        const row = this.#sql("SELECT lease_until FROM webhook_outbox WHERE id = ?").get(id);
        if (row === undefined) return undefined;
        // An instance is sending it now: due again at once, it would go out twice in parallel.
        if (row.lease_until !== null && Number(row.lease_until) > now) {
          throw new WebhookBeingSentError(id, Number(row.lease_until));
        }
        this.#sql(
          `UPDATE webhook_outbox SET state = 'pending', next_try_at = ?, expires_at = ?,
             claimed_by = NULL, lease_until = NULL WHERE id = ?`,
        ).run(now, expiresAt, id);
        return this.#find(id);
      })
    );
  }

  close(): void {
    this.#connection.close();
  }

  /** Message `id` with its attempts, or undefined for an unknown id (synchronously). */
  #find(id: string): WebhookDelivery | undefined {
    const row = this.#sql("SELECT * FROM webhook_outbox WHERE id = ?").get(id);
    return row === undefined ? undefined : toDelivery(row, attemptsOf(this.#sql, id));
  }
}

type Row = Record<string, unknown>;

/** Message `id`'s attempts, oldest first. */
function attemptsOf(sql: SqliteConnection["sql"], id: string): WebhookAttempt[] {
  return sql("SELECT * FROM webhook_attempts WHERE message_id = ? ORDER BY id").all(id).map((row) => ({
    at: Number(row.at),
    instance: String(row.instance),
    status: row.status === null ? null : Number(row.status),
    error: row.error === null ? null : String(row.error),
    durationMs: Number(row.duration_ms),
  }));
}

/** A `webhook_outbox` row as a delivery, with its attempts. */
function toDelivery(row: Row, attemptLog: WebhookAttempt[]): WebhookDelivery {
  return {
    id: String(row.id),
    type: String(row.type),
    callSid: row.call_sid === null ? null : String(row.call_sid),
    createdAt: Number(row.created_at),
    state: String(row.state) as WebhookState,
    attempts: Number(row.attempts),
    nextTryAt: row.state === "pending" && row.next_try_at !== null ? Number(row.next_try_at) : null,
    lastStatus: row.last_status === null ? null : Number(row.last_status),
    lastError: row.last_error === null ? null : String(row.last_error),
    deliveredAt: row.delivered_at === null ? null : Number(row.delivered_at),
    expiresAt: Number(row.expires_at),
    attemptLog,
  };
}

/** A claimed row as the worker takes it. */
function toClaimed(row: Row): ClaimedWebhook {
  return {
    id: String(row.id),
    type: String(row.type),
    callSid: row.call_sid === null ? null : String(row.call_sid),
    payload: String(row.payload),
    attempts: Number(row.attempts),
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
  };
}
