/**
 * The call record, in embedded SQLite (`node:sqlite`, WAL). The store listens to {@linkcode CallEvent}s
 * and writes them in batches a moment later (see `write_queue.ts`): a locked or full database
 * never blocks the event loop for more than {@linkcode BUSY_TIMEOUT_MS} nor throws into it, and
 * the events wait in a bounded queue until the disk takes them again. Events for one call are merged by CallSid, whatever order they come in (a `call.placed` or
 * `call.webhook` usually precedes `call.started`). What each event writes is `call_event_writer.ts`,
 * writing a queued batch `call_write_batch.ts`; reading rows back into records is `call_rows.ts`; the
 * records a previous run left open are `left_open_records.ts`.
 *
 * Derived figures:
 * - `durationMs` = `endedAt − startedAt` (stream start to end), null unless both are known.
 * - `latency.p50Ms` / `p95Ms`: nearest-rank percentiles over the turns' *heard* latency
 *   (`firstAudioHeardMs`), using the *sent* latency (`firstAudioSentMs`) for a turn whose playback
 *   Twilio never confirmed — the sent figure is a lower bound, the closest we have.
 * - `costUsd`: each response is priced when it is recorded (see `prices.ts`); the call's cost is the
 *   sum, plus the post-call analysis's own cost once it is done (`call.analyzed`), or null when any
 *   of them used a model without a price (unknown is not free).
 *
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { dirname } from "node:path";
import type { AfterStreamAction, CallEvent, CallEventListener, EndReason } from "../../calls/call_events.ts";
import type { CallRecord, CallSummary, ListCallsOptions, StoreHealth } from "../call_record.ts";
import { DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT } from "../call_record.ts";
import type {
  AbandonedRecordsOptions,
  AfterStreamDecision,
  AfterStreamDecisions,
  CallRecords,
  NoteCutOptions,
  RingingRecord,
} from "../ports.ts";
import { migrate } from "./schema.ts";
import { DEFAULT_PRICES, type PriceTable } from "../../engines/prices.ts";
import { WriteQueue } from "./write_queue.ts";
import { applyCallEvent, type CallEventWriter } from "./call_event_writer.ts";
import { type Row, strOrNull, toCallRecord, toSummary } from "./call_rows.ts";
import { type QueuedWrite, writeCallBatch } from "./call_write_batch.ts";
import { LeftOpenRecords } from "./left_open_records.ts";
import { CallHeartbeat } from "../heartbeat.ts";
import { errorText } from "../../log.ts";

export type * from "../call_record.ts";
export { DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, summarizeLatency } from "../call_record.ts";

/** The call database: the {@linkcode CallRecords} port, and the after-stream decisions it keeps. */
export type CallStore = CallRecords & AfterStreamDecisions;

/** Options for {@linkcode openCallStore}. */
export interface CallStoreOptions {
  /** Prices for `costUsd`. @default DEFAULT_PRICES */
  prices?: PriceTable;
  /** Where listener failures go. @default console.error */
  onError?: (message: string) => void;
  /** Events kept in memory while writes fail. @default 10000 */
  maxPendingEvents?: number;
  /** First retry after a failed write, ms (doubles up to 5 s). @default 100 */
  firstRetryMs?: number;
  /** This process's `INSTANCE_ID`, written on the calls it runs. @default "local" */
  instance?: string;
  /** How often a running call's record is stamped alive, ms. @default HEARTBEAT_MS */
  heartbeatMs?: number;
  /** Wall clock of the heartbeat, epoch ms. @default Date.now */
  wallClock?: () => number;
}

/**
 * How long one write may wait for another process's lock on the file, ms. `node:sqlite` is
 * synchronous: this is how long the event loop (and so every call's audio) can stall on a lock.
 */
export const BUSY_TIMEOUT_MS = 20;

/** Where the database lives under `DATA_DIR`. */
export function callDatabasePath(dataDir: string): string {
  return `${dataDir.replace(/[\\/]+$/, "")}/parley.db`;
}

/**
 * Opens (creating folder, file and schema on first run) the call database at `path`.
 *
 * @example
 * ```ts
 * const store = openCallStore(callDatabasePath(config.dataDir));
 * const off = hub.subscribe(store.listener);
 * // … on shutdown:
 * off();
 * store.close();
 * ```
 * @throws {Error} when the file cannot be opened or its schema is newer than this build.
 */
export function openCallStore(path: string, options: CallStoreOptions = {}): CallStore {
  if (path !== ":memory:") Deno.mkdirSync(dirname(path), { recursive: true });
  const db = new DatabaseSync(path);
  try {
    db.exec("PRAGMA journal_mode = WAL");
    // WAL + NORMAL: a committed event survives a process crash; only a power loss can drop the last ones.
    db.exec("PRAGMA synchronous = NORMAL");
    db.exec("PRAGMA foreign_keys = ON");
    // Long enough to ride out a checkpoint, short enough that a held lock never stalls the audio.
    db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    migrate(db, `call database "${path}"`);
    return new SqliteCallStore(db, path, options);
  } catch (error) {
    db.close();
    throw error;
  }
}

/** How long events from `listener` wait to be written together, ms. */
export const FLUSH_DELAY_MS = 100;

class SqliteCallStore implements CallStore {
  readonly listener: CallEventListener;
  #db: DatabaseSync;
  #prices: PriceTable;
  #statements = new Map<string, StatementSync>();
  #onError: (message: string) => void;
  #queue: WriteQueue<QueuedWrite>;
  /**
   * The CallSids with events in the queue (cleared when a batch is written): a read of one call
   * writes the queue first only when that call's events wait there, so reading a call the queue does
   * not hold (a new CallSid at its webhook) leaves the other calls' events to their batch.
   */
  readonly #queuedCalls = new Set<string>();
  #heartbeat: CallHeartbeat;
  #instance: string;
  #writer: CallEventWriter;
  #leftOpen: LeftOpenRecords;

  constructor(db: DatabaseSync, path: string, options: CallStoreOptions) {
    this.#db = db;
    this.#prices = options.prices ?? DEFAULT_PRICES;
    this.#onError = options.onError ?? ((message: string) => console.error(message));
    this.#instance = options.instance ?? "local";
    this.#writer = {
      run: (sql, ...values) => this.#run(sql, ...values),
      statement: (sql) => this.#statement(sql),
      instance: this.#instance,
      prices: this.#prices,
      onError: (message) => this.#onError(message),
    };
    this.#leftOpen = new LeftOpenRecords(db, this.#instance);
    const where = `DATA_DIR "${dirname(path)}" (${path})`;
    this.#queue = new WriteQueue<QueuedWrite>({
      write: (batch) => {
        this.#writeBatch(batch);
        // A batch is the whole queue: written, no call has events waiting.
        this.#queuedCalls.clear();
      },
      flushDelayMs: FLUSH_DELAY_MS,
      ...(options.maxPendingEvents === undefined ? {} : { maxPending: options.maxPendingEvents }),
      ...(options.firstRetryMs === undefined ? {} : { firstRetryMs: options.firstRetryMs }),
      onFailing: (error, pending) =>
        this.#onError(
          `[Realtime] Call store cannot write to ${where}: ${errorText(error)}: ` +
            `keeping ${pending} event(s) in memory (at most ${
              options.maxPendingEvents ?? 10_000
            }, oldest dropped beyond) and retrying; calls go on`,
        ),
      onRecovered: ({ failedForMs, written, dropped }) =>
        this.#onError(
          `[Realtime] Call store writes again to ${where} after ${(failedForMs / 1000).toFixed(1)} s: ` +
            `${written} event(s) written, ${dropped} dropped`,
        ),
    });
    // Events are queued and written together a moment later, in one transaction: the relay's hot
    // path never waits on SQLite, and a crash loses at most the last FLUSH_DELAY_MS of events.
    this.listener = (event, seq) => {
      if (!this.#db.isOpen) {
        this.#onError(
          `[Realtime] Call store could not record ${event.type} for CallSid=${event.callSid}: it is closed`,
        );
        return;
      }
      this.#heartbeat.saw(event);
      this.#queuedCalls.add(event.callSid);
      this.#queue.push({ event, seq });
    };
    // Through the queue like any event: a failing disk keeps it in memory with the rest.
    this.#heartbeat = new CallHeartbeat({
      beat: (callSids, at) => {
        if (!this.#db.isOpen) return;
        this.#queue.push({ type: "heartbeat", callSids, at });
        if (!this.#queue.failing) this.#queue.flush();
      },
      ...(options.heartbeatMs === undefined ? {} : { intervalMs: options.heartbeatMs }),
      ...(options.wallClock === undefined ? {} : { wallClock: options.wallClock }),
    });
  }

  /** Writes queued events in one transaction; a bad event is reported and skipped, a failing database throws. */
  #writeBatch(events: readonly QueuedWrite[]): void {
    this.#transaction(() => writeCallBatch(this.#writer, events));
  }

  /** Writes what is queued, if the database takes it now; never throws. */
  #flush(): void {
    if (this.#db.isOpen) this.#queue.flush();
  }

  /** Writes what is queued when events of `callSid` wait there (its record is then whole); never throws. */
  #flushFor(callSid: string): void {
    if (this.#queuedCalls.has(callSid)) this.#flush();
  }

  health(): StoreHealth {
    return {
      pendingEvents: this.#queue.pending,
      droppedEvents: this.#queue.dropped,
      failing: this.#queue.failing,
    };
  }

  // deno-lint-ignore require-await
  async closeAbandonedRecords(
    reason: EndReason,
    detail: string,
    options: AbandonedRecordsOptions = {},
  ): Promise<string[]> {
    this.#flush();
    return this.#leftOpen.closeAbandonedRecords(reason, detail, options);
  }

  // deno-lint-ignore require-await
  async takeUpRingingRecords(placedSince: number): Promise<RingingRecord[]> {
    this.#flush();
    return this.#leftOpen.takeUpRingingRecords(placedSince);
  }

  // deno-lint-ignore require-await
  async noteCutRecords(reason: EndReason, detail: string, options: NoteCutOptions = {}): Promise<string[]> {
    this.#flush();
    // Written before the promise settles (node:sqlite is synchronous): enough in an `unload` listener.
    return this.#leftOpen.noteCutRecords(reason, detail, options);
  }

  // deno-lint-ignore require-await
  async record(event: CallEvent, seq?: number): Promise<void> {
    this.#flush();
    this.#heartbeat.saw(event);
    this.#transaction(() => applyCallEvent(this.#writer, event, seq));
  }

  // deno-lint-ignore require-await
  async afterStreamDecision(callSid: string): Promise<AfterStreamDecision | "pending" | undefined> {
    this.#flushFor(callSid);
    const row = this.#statement(
      "SELECT after_stream, transfer_target, started_at, ended_at FROM calls WHERE call_sid = ?",
    ).get(callSid) as Row | undefined;
    if (row === undefined) return undefined;
    if (row.after_stream == null) {
      return row.started_at != null && row.ended_at == null ? "pending" : undefined;
    }
    return {
      action: String(row.after_stream) as AfterStreamAction,
      target: strOrNull(row.transfer_target) ?? undefined,
    };
  }

  // deno-lint-ignore require-await
  async listCalls(options: ListCallsOptions = {}): Promise<CallSummary[]> {
    this.#flush();
    const limit = Math.min(Math.max(1, Math.trunc(options.limit ?? DEFAULT_LIST_LIMIT)), MAX_LIST_LIMIT);
    const where: string[] = [];
    const values: (string | number)[] = [];
    if (options.persona !== undefined) {
      where.push("persona = ?");
      values.push(options.persona);
    }
    if (options.since !== undefined) {
      where.push("created_at >= ?");
      values.push(options.since);
    }
    const sql = `SELECT * FROM calls ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""}
      ORDER BY created_at DESC, rowid DESC LIMIT ?`;
    return this.#statement(sql).all(...values, limit).map((row) => toSummary(row as Row));
  }

  // deno-lint-ignore require-await
  async isOpenCall(callSid: string): Promise<boolean> {
    this.#flushFor(callSid);
    // A direction is set only by Parley's own events: the placed call, or the voice webhook it answered.
    return this.#statement(
      "SELECT 1 FROM calls WHERE call_sid = ? AND ended_at IS NULL AND direction IS NOT NULL",
    ).get(callSid) !== undefined;
  }

  // deno-lint-ignore require-await
  async getCall(callSid: string): Promise<CallRecord | undefined> {
    this.#flushFor(callSid);
    const row = this.#statement("SELECT * FROM calls WHERE call_sid = ?").get(callSid) as Row | undefined;
    if (row === undefined) return undefined;
    return toCallRecord(
      row,
      (table) =>
        this.#statement(`SELECT * FROM ${table} WHERE call_sid = ? ORDER BY id`).all(callSid) as Row[],
    );
  }

  close(): void {
    if (!this.#db.isOpen) return;
    this.#heartbeat.close();
    this.#flush();
    this.#queue.close();
    if (this.#queue.pending > 0) {
      this.#onError(`[Realtime] Call store is closing: ${this.#queue.pending} call event(s) not recorded`);
    }
    this.#statements.clear();
    this.#db.close();
  }

  #transaction(body: () => void): void {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      body();
      this.#db.exec("COMMIT");
    } catch (error) {
      try {
        if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      } catch { /* SQLite may have rolled back already (a full disk); the first error says why */ }
      throw error;
    }
  }

  #run(sql: string, ...values: (string | number | null)[]): void {
    this.#statement(sql).run(...values);
  }

  #statement(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (statement === undefined) this.#statements.set(sql, statement = this.#db.prepare(sql));
    return statement;
  }
}
