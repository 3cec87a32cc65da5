/**
 * Call records on Postgres (the {@linkcode CallRecords} and {@linkcode AfterStreamDecisions} ports).
 * Events from the bus are queued and written a moment later in one transaction per batch, so the
 * audio path never waits on the database. Each event gets its call's next position (`seq`) in the
 * database, under the record's row lock, so events of one call written by several instances are
 * numbered once, in commit order; the event row, the folded record and a `NOTIFY` carrying
 * `<seq> <CallSid>` commit together (see `event_bus.ts`). The crash clean-up (the records a stopped
 * process left open) is in `abandoned_records.ts`; its `call.ended` events go through this file's write.
 *
 * @module
 */

import type { Sql, TransactionSql } from "postgres";
import type { CallEvent, EndReason } from "../../calls/call_events.ts";
import { DEFAULT_PRICES, type PriceTable } from "../../engines/prices.ts";
import {
  type CallRecord,
  type CallSummary,
  DEFAULT_LIST_LIMIT,
  type ListCallsOptions,
  MAX_LIST_LIMIT,
  type StoreHealth,
} from "../call_record.ts";
import type {
  AbandonedRecordsOptions,
  AfterStreamDecision,
  AfterStreamDecisions,
  CallRecords,
  RingingRecord,
} from "../ports.ts";
import { applyEvent, emptyRecord, publicRecord, type StoredRecord } from "./fold.ts";
import { CallHeartbeat } from "../heartbeat.ts";
import { errorText } from "../../log.ts";
import { groupByCall, isDataError, notStored, type QueuedEvent, withoutNul } from "./event_batch.ts";
import {
  type AppendEvents,
  closeOpenRecordsOf as closeOpenRecordsIn,
  ringingRecordsOf,
} from "./abandoned_records.ts";

/** The channel events are announced on: the payload is `<seq> <CallSid>`. */
export const EVENT_CHANNEL = "parley_call_events";

/** Delay that gathers events into one write, ms. */
export const PG_FLUSH_DELAY_MS = 20;

/** Wait before retrying a failed write, ms. */
const RETRY_MS = 1_000;

/** Options for {@linkcode PostgresCallRecords}. */
export interface PostgresCallRecordsOptions {
  instance: string;
  prices?: PriceTable;
  onError?: (message: string) => void;
  /** Events kept in memory while writes fail. @default 10000 */
  maxPendingEvents?: number;
  /** How often a running call's record is stamped alive, ms. @default HEARTBEAT_MS */
  heartbeatMs?: number;
  /** Wall clock of the heartbeat, epoch ms. @default Date.now */
  wallClock?: () => number;
}

/** Call records and after-stream decisions over a Postgres pool. */
export class PostgresCallRecords implements CallRecords, AfterStreamDecisions {
  readonly listener: (event: CallEvent, seq?: number) => void;
  #sql: Sql;
  #instance: string;
  #prices: PriceTable;
  #onError: (message: string) => void;
  #max: number;
  #pending: QueuedEvent[] = [];
  /** Keys of this process's events: `<random>:<counter>`. */
  readonly #keyPrefix = crypto.randomUUID();
  #keyCounter = 0;
  #dropped = 0;
  #failingSince: number | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The write under way (writes are serial, in queue order). */
  #writing: Promise<void> = Promise.resolve();
  #closed = false;
  #heartbeat: CallHeartbeat;
  /** {@linkcode #append}, bound: the crash clean-up's `call.ended` events go through it. */
  readonly #appendIn: AppendEvents = (tx, callSid, events) => this.#append(tx, callSid, events);

  constructor(sql: Sql, options: PostgresCallRecordsOptions) {
    this.#sql = sql;
    this.#instance = options.instance;
    this.#prices = options.prices ?? DEFAULT_PRICES;
    this.#onError = options.onError ?? ((message) => console.error(message));
    this.#max = options.maxPendingEvents ?? 10_000;
    // The position the bus gave is local to this process: the database numbers events per call.
    this.listener = (event) => {
      if (this.#closed) {
        this.#onError(
          `[Realtime] Call store could not record ${event.type} for CallSid=${event.callSid}: it is closed`,
        );
        return;
      }
      this.#heartbeat.saw(event);
      this.#pending.push({ event, key: `${this.#keyPrefix}:${++this.#keyCounter}`, retried: false });
      if (this.#pending.length > this.#max) {
        this.#pending.shift();
        this.#dropped++;
      }
      this.#timer ??= setTimeout(() => void this.flush(), PG_FLUSH_DELAY_MS);
    };
    // After the events seen so far are written (serial): the pending ones are flushed first, so a beat
    // never lands before its call's row exists (it would stamp nothing).
    this.#heartbeat = new CallHeartbeat({
      beat: (callSids, at) => {
        if (this.#closed) return;
        void this.flush();
        this.#writing = this.#writing.then(() =>
          this.#sql`UPDATE calls SET alive_at = ${at}
            WHERE call_sid = ANY(${callSids as string[]}) AND ended_at IS NULL`.then(() => {}, () => {
            // A failing database is reported by the event writes; a lost beat only makes an end earlier.
          })
        );
      },
      ...(options.heartbeatMs === undefined ? {} : { intervalMs: options.heartbeatMs }),
      ...(options.wallClock === undefined ? {} : { wallClock: options.wallClock }),
    });
  }

  /** Writes everything queued so far; resolves when it is written (or has failed and will be retried). */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#pending;
    this.#pending = [];
    if (batch.length === 0) return this.#writing;
    this.#writing = this.#writing.then(async () => {
      try {
        await this.#writeBatch(batch);
        if (this.#failingSince !== undefined) {
          this.#onError(
            `[Realtime] Call store writes again to Postgres after ${
              ((performance.now() - this.#failingSince) / 1000).toFixed(1)
            } s`,
          );
          this.#failingSince = undefined;
        }
      } catch (error) {
        if (this.#failingSince === undefined) {
          this.#failingSince = performance.now();
          this.#onError(
            `[Realtime] Call store cannot write to Postgres: ${errorText(error)}: keeping ${batch.length} ` +
              `event(s) in memory (at most ${this.#max}, oldest dropped beyond) and retrying; calls go on`,
          );
        }
        for (const queued of batch) queued.retried = true;
        this.#pending = batch.concat(this.#pending);
        while (this.#pending.length > this.#max) {
          this.#pending.shift();
          this.#dropped++;
        }
        if (!this.#closed) this.#timer ??= setTimeout(() => void this.flush(), RETRY_MS);
      }
    });
    return this.#writing;
  }

  /**
   * Writes `batch` in one transaction. When the database refuses the data itself (not a passing
   * failure), each call's events are tried in their own transaction and a call whose events are
   * refused is reported and skipped, so one bad event never holds the queue.
   */
  async #writeBatch(batch: readonly QueuedEvent[]): Promise<void> {
    const calls = groupByCall(batch);
    try {
      await this.#sql.begin(async (tx) => {
        for (const [callSid, events] of calls) await this.#append(tx, callSid, events);
      });
    } catch (error) {
      if (!isDataError(error)) throw error;
      for (const [callSid, events] of calls) {
        try {
          await this.#sql.begin((tx) => this.#append(tx, callSid, events));
        } catch (error) {
          if (!isDataError(error)) throw error;
          this.#onError(
            `[Realtime] Call store could not record ${events.length} event(s) for CallSid=${callSid}: ${
              errorText(error)
            }`,
          );
        }
      }
    }
  }

  /**
   * Numbers one call's events after its record's last position (under the record's row lock), folds
   * them into the record, stores both and announces the last position. Events a failed write may have
   * stored after all (its COMMIT went through, the answer was lost) are skipped by their key.
   */
  async #append(tx: TransactionSql, callSid: string, queued: readonly QueuedEvent[]): Promise<void> {
    const instance = this.#instance;
    const rows = await tx<{ record: StoredRecord }[]>`
      SELECT record FROM calls WHERE call_sid = ${callSid} FOR UPDATE`;
    const exists = rows.length > 0;
    const events = exists ? await notStored(tx, callSid, queued) : queued;
    if (events.length === 0) return;
    const record = rows[0]?.record ?? emptyRecord(callSid, Math.round(events[0]!.event.at), instance);
    const stored: {
      call_sid: string;
      seq: number;
      instance: string;
      event: CallEvent;
      event_key: string | null;
    }[] = [];
    for (const { event, key } of events) {
      const seq = record.eventSeq + 1;
      applyEvent(record, event, seq, instance, this.#prices, this.#onError);
      stored.push({ call_sid: callSid, seq, instance, event: withoutNul(event), event_key: key });
    }
    await tx`INSERT INTO call_events (call_sid, seq, instance, event, event_key)
      SELECT call_sid, seq, instance, event, event_key
      FROM jsonb_to_recordset(${
      tx.json(stored as never)
    }) AS r(call_sid text, seq bigint, instance text, event jsonb, event_key text)`;
    const columns = {
      call_sid: record.callSid,
      created_at: record.createdAt,
      persona: record.persona,
      from_number: record.from,
      to_number: record.to,
      instance: record.instance,
      ended_at: record.endedAt,
      event_seq: record.eventSeq,
      record: tx.json(withoutNul(record) as never),
    };
    if (exists) {
      await tx`UPDATE calls SET ${tx(columns)} WHERE call_sid = ${callSid}`;
    } else {
      await tx`INSERT INTO calls ${tx(columns)}`;
    }
    await tx`SELECT pg_notify(${EVENT_CHANNEL}, ${`${record.eventSeq} ${callSid}`})`;
  }

  async record(event: CallEvent): Promise<void> {
    await this.flush();
    this.#heartbeat.saw(event);
    await this.#sql.begin((tx) => this.#append(tx, event.callSid, [{ event, key: null, retried: false }]));
  }

  async listCalls(options: ListCallsOptions = {}): Promise<CallSummary[]> {
    await this.flush();
    const limit = Math.min(Math.max(1, Math.trunc(options.limit ?? DEFAULT_LIST_LIMIT)), MAX_LIST_LIMIT);
    const sql = this.#sql;
    const persona = options.persona === undefined ? sql`` : sql`AND persona = ${options.persona}`;
    const since = options.since === undefined ? sql`` : sql`AND created_at >= ${options.since}`;
    const rows = await sql<{ record: StoredRecord }[]>`
      SELECT record - 'statuses' - 'transcript' - 'turns' - 'latency' - 'interruptions' - 'responses'
        - 'toolCalls' - 'eventSeq' - 'pricedUsd' - 'unpriced' - 'analysisUsd' - 'analysisUnpriced' AS record
      FROM calls WHERE true ${persona} ${since} ORDER BY created_at DESC, call_sid DESC LIMIT ${limit}`;
    return rows.map((row) => row.record as CallSummary);
  }

  async getCall(callSid: string): Promise<CallRecord | undefined> {
    await this.flush();
    const rows = await this.#sql<
      { record: StoredRecord }[]
    >`SELECT record FROM calls WHERE call_sid = ${callSid}`;
    return rows[0] === undefined ? undefined : publicRecord(rows[0].record);
  }

  async isOpenCall(callSid: string): Promise<boolean> {
    await this.flush();
    // A direction is set only by Parley's own events: the placed call, or the voice webhook it answered.
    const rows = await this.#sql`SELECT 1 FROM calls
      WHERE call_sid = ${callSid} AND ended_at IS NULL AND record->>'direction' IS NOT NULL`;
    return rows.length > 0;
  }

  async afterStreamDecision(callSid: string): Promise<AfterStreamDecision | "pending" | undefined> {
    const record = await this.getCall(callSid);
    if (record === undefined) return undefined;
    if (record.afterStream == null) {
      return record.startedAt !== null && record.endedAt === null ? "pending" : undefined;
    }
    return { action: record.afterStream, target: record.transferTarget ?? undefined };
  }

  health(): StoreHealth {
    return {
      pendingEvents: this.#pending.length,
      droppedEvents: this.#dropped,
      failing: this.#failingSince !== undefined,
    };
  }

  /**
   * Ends this instance's open records (and unnamed ones) with a `call.ended` event at the time of
   * their last event or heartbeat (whichever is later), appended like any other (so live feeds hear it).
   */
  async closeAbandonedRecords(
    reason: EndReason,
    detail: string,
    options: AbandonedRecordsOptions = {},
  ): Promise<string[]> {
    await this.flush();
    const closing = { instance: this.#instance, reason, detail, unnamedToo: true, append: this.#appendIn };
    return await this.#sql.begin((tx) =>
      closeOpenRecordsIn(tx, { ...closing, sparePlacedSince: options.sparePlacedSince })
    ) as string[];
  }

  async takeUpRingingRecords(placedSince: number): Promise<RingingRecord[]> {
    await this.flush();
    return await this.#sql.begin((tx) =>
      ringingRecordsOf(tx, this.#instance, placedSince)
    ) as RingingRecord[];
  }

  /**
   * In `tx`: ends the open records of `instance` as `reason` through this store's own write, and returns
   * their CallSids (a dead peer's: see {@linkcode closeOpenRecordsOf} in `abandoned_records.ts`).
   */
  closeOpenRecordsOf(
    tx: TransactionSql,
    instance: string,
    reason: EndReason,
    detail: string,
  ): Promise<string[]> {
    return closeOpenRecordsIn(tx, { instance, reason, detail, append: this.#appendIn });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#heartbeat.close();
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.length > 0) void this.flush();
  }

  /** Resolves when every queued write has been tried (for an orderly shutdown before the pool ends). */
  settled(): Promise<void> {
    return this.#pending.length > 0 ? this.flush() : this.#writing;
  }
}
