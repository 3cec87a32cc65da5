/**
 * The webhook outbox on Postgres (tables `webhook_outbox` and `webhook_attempts`), shared by every
 * instance on the database. A claim is one `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)`
 * that sets the lease: concurrent claims skip the rows another one has locked, and a row whose claim
 * committed first no longer matches (its lease is re-checked), so one instance at a time holds a
 * message. An attempt's result is written only if its instance still holds the lease at the attempt's
 * end; else (the lease ran out, another instance may have taken the message) it is dropped.
 *
 * Times are epoch milliseconds (bigint columns, read back as strings and converted).
 *
 * @module
 */

import type { Sql } from "postgres";
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

interface OutboxRow {
  id: string;
  type: string;
  call_sid: string | null;
  payload: string;
  created_at: string;
  expires_at: string;
  state: string;
  attempts: number;
  next_try_at: string | null;
  last_status: number | null;
  last_error: string | null;
  delivered_at: string | null;
  lease_until: string | null;
}

interface AttemptRow {
  message_id: string;
  at: string;
  instance: string;
  status: number | null;
  error: string | null;
  duration_ms: number;
}

const toNumber = (value: string | number | null): number | null => value === null ? null : Number(value);

const toAttempt = (row: AttemptRow): WebhookAttempt => ({
  at: Number(row.at),
  instance: row.instance,
  status: row.status,
  error: row.error,
  durationMs: Number(row.duration_ms),
});

const toDelivery = (row: OutboxRow, attemptLog: WebhookAttempt[]): WebhookDelivery => ({
  id: row.id,
  type: row.type,
  callSid: row.call_sid,
  createdAt: Number(row.created_at),
  state: row.state as WebhookState,
  attempts: Number(row.attempts),
  nextTryAt: row.state === "pending" ? toNumber(row.next_try_at) : null,
  lastStatus: row.last_status,
  lastError: row.last_error,
  deliveredAt: toNumber(row.delivered_at),
  expiresAt: Number(row.expires_at),
  attemptLog,
});

/**
 * The outbox over `sql` (the store's pool; `close()` leaves the pool to the store).
 *
 * @example
 * ```ts
 * const outbox = postgresWebhookOutbox(sql);
 * const claimed = await outbox.claimDue("web-1", Date.now(), 10, 60_000);
 * ```
 */
export function postgresWebhookOutbox(sql: Sql): WebhookOutbox {
  return new PostgresWebhookOutbox(sql);
}

/** The outbox over a Postgres pool it does not own. */
class PostgresWebhookOutbox implements WebhookOutbox {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  async enqueue(m: WebhookMessageInput): Promise<boolean> {
    const rows = await this.#sql`
      INSERT INTO webhook_outbox (id, type, call_sid, payload, created_at, expires_at, next_try_at)
      VALUES (${m.id}, ${m.type}, ${m.callSid}, ${m.payload}, ${m.at}, ${m.expiresAt}, ${m.at})
      ON CONFLICT (id) DO NOTHING RETURNING id`;
    return rows.length === 1;
  }

  async claimDue(instance: string, now: number, limit: number, leaseMs: number): Promise<ClaimedWebhook[]> {
    const rows = await this.#sql<OutboxRow[]>`
      UPDATE webhook_outbox SET claimed_by = ${instance}, lease_until = ${now + leaseMs}
      WHERE id IN (
        SELECT id FROM webhook_outbox
        WHERE state = 'pending' AND next_try_at <= ${now}
          AND (lease_until IS NULL OR lease_until <= ${now})
        ORDER BY next_try_at, created_at LIMIT ${limit}
        FOR UPDATE SKIP LOCKED)
      RETURNING id, type, call_sid, payload, attempts, created_at, expires_at, next_try_at`;
    return [...rows]
      .sort((a, b) =>
        Number(a.next_try_at) - Number(b.next_try_at) || Number(a.created_at) - Number(b.created_at)
      )
      .map((row) => ({
        id: row.id,
        type: row.type,
        callSid: row.call_sid,
        payload: row.payload,
        attempts: Number(row.attempts),
        createdAt: Number(row.created_at),
        expiresAt: Number(row.expires_at),
      }));
  }

  async finishAttempt(id: string, attempt: WebhookAttempt, outcome: WebhookOutcome): Promise<boolean> {
    const endedAt = attempt.at + attempt.durationMs;
    return await this.#sql.begin(async (tx) => {
      // Fenced: only the instance whose lease lasted to the attempt's end writes its result.
      const updated = await tx`
        UPDATE webhook_outbox SET attempts = attempts + 1, state = ${outcome.state},
          next_try_at = ${outcome.state === "pending" ? outcome.nextTryAt : null},
          last_status = ${attempt.status}, last_error = ${attempt.error},
          delivered_at = COALESCE(${outcome.state === "delivered" ? attempt.at : null}::bigint, delivered_at),
          claimed_by = NULL, lease_until = NULL
        WHERE id = ${id} AND claimed_by = ${attempt.instance} AND lease_until >= ${endedAt}
        RETURNING id`;
      if (updated.length === 0) return false;
      await tx`
        INSERT INTO webhook_attempts (message_id, at, instance, status, error, duration_ms)
        VALUES (${id}, ${attempt.at}, ${attempt.instance}, ${attempt.status}, ${attempt.error},
          ${attempt.durationMs})`;
      return true;
    }) as boolean;
  }

  async nextDueAt(): Promise<number | undefined> {
    const rows = await this.#sql<{ at: string | null }[]>`
      SELECT MIN(GREATEST(next_try_at, lease_until)) AS at FROM webhook_outbox WHERE state = 'pending'`;
    const at = rows[0]?.at ?? null;
    return at === null ? undefined : Number(at);
  }

  async list(options: ListDeliveriesOptions = {}): Promise<WebhookDelivery[]> {
    const limit = Math.min(Math.max(1, options.limit ?? DEFAULT_DELIVERIES_LIMIT), MAX_DELIVERIES_LIMIT);
    const rows = options.callSid === undefined
      ? await this.#sql<OutboxRow[]>`
        SELECT * FROM webhook_outbox ORDER BY created_at DESC, id COLLATE "C" DESC LIMIT ${limit}`
      : await this.#sql<OutboxRow[]>`
        SELECT * FROM webhook_outbox WHERE call_sid = ${options.callSid}
        ORDER BY created_at DESC, id COLLATE "C" DESC LIMIT ${limit}`;
    return await this.#withAttempts(rows);
  }

  async get(id: string): Promise<WebhookDelivery | undefined> {
    const rows = await this.#sql<OutboxRow[]>`SELECT * FROM webhook_outbox WHERE id = ${id}`;
    return (await this.#withAttempts(rows))[0];
  }

  async redeliver(id: string, now: number, expiresAt: number): Promise<WebhookDelivery | undefined> {
    const changed = await this.#sql.begin(async (tx) => {
      // The row stays locked to the end: a claim skips it, so none comes between the check and the update.
      const [row] = await tx<{ lease_until: string | null }[]>`
        SELECT lease_until FROM webhook_outbox WHERE id = ${id} FOR UPDATE`;
      if (row === undefined) return false;
      // An instance is sending it now: due again at once, it would go out twice in parallel.
      if (row.lease_until !== null && Number(row.lease_until) > now) {
        throw new WebhookBeingSentError(id, Number(row.lease_until));
      }
      await tx`
        UPDATE webhook_outbox SET state = 'pending', next_try_at = ${now}, expires_at = ${expiresAt},
          claimed_by = NULL, lease_until = NULL
        WHERE id = ${id}`;
      return true;
    }) as boolean;
    return changed ? await this.get(id) : undefined;
  }

  close(): void {
    // The pool is the store's: it ends it.
  }

  /** The deliveries of `rows`, in their order, each with its attempts (one query for all). */
  async #withAttempts(rows: readonly OutboxRow[]): Promise<WebhookDelivery[]> {
    if (rows.length === 0) return [];
    const attempts = await this.#sql<AttemptRow[]>`
      SELECT message_id, at, instance, status, error, duration_ms FROM webhook_attempts
      WHERE message_id IN ${this.#sql(rows.map((row) => row.id))} ORDER BY id`;
    const byMessage = new Map<string, WebhookAttempt[]>();
    for (const attempt of attempts) {
      let list = byMessage.get(attempt.message_id);
      if (list === undefined) byMessage.set(attempt.message_id, list = []);
      list.push(toAttempt(attempt));
    }
    return rows.map((row) => toDelivery(row, byMessage.get(row.id) ?? []));
  }
}
