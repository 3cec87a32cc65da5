/**
 * The call record, in embedded SQLite (`node:sqlite`, WAL). The store listens to {@linkcode CallEvent}s
 * and writes them in batches a moment later (see `write_queue.ts`): a locked or full database
 * never blocks the event loop for more than {@linkcode BUSY_TIMEOUT_MS} nor throws into it, and
 * the events wait in a bounded queue until the disk takes them again. Events for one call are merged by CallSid, whatever order they come in (a `call.placed` or
 * `call.webhook` usually precedes `call.started`).
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
import type {
  AfterStreamAction,
  CallerAudioDrops,
  CallEvent,
  CallEventListener,
  CallStatus,
  EndReason,
  ToolCallStatus,
} from "../../calls/call_events.ts";
import type { CallRecord, CallSummary, ListCallsOptions, StoreHealth, TurnLatency } from "../call_record.ts";
import { DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, summarizeLatency } from "../call_record.ts";
import type { AfterStreamDecision, AfterStreamDecisions, CallRecords } from "../ports.ts";
import { migrate } from "./schema.ts";
import { engineForModel, type EngineId } from "../../engines/voices.ts";
import { DEFAULT_PRICES, type PriceTable } from "../../engines/prices.ts";
import { ENGINE_REGISTRY } from "../../engines/registry.ts";
import type { TokenCounts } from "../../engines/usage.ts";
import { WriteQueue } from "./write_queue.ts";
import { CallHeartbeat } from "../heartbeat.ts";

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

type Row = Record<string, unknown>;

/** An event waiting to be written, with its position on the bus (undefined when it has none). */
interface QueuedEvent {
  event: CallEvent;
  seq: number | undefined;
}

/** A heartbeat in the write queue: these running calls were alive at `at`. */
interface Heartbeat {
  type: "heartbeat";
  callSids: readonly string[];
  at: number;
}

/** How long events from `listener` wait to be written together, ms. */
export const FLUSH_DELAY_MS = 20;

/**
 * True for a failure of the database as a whole, which passes (a lock held elsewhere, a full disk,
 * an I/O error): the batch is retried. Anything else is a problem with one event, which is skipped.
 */
function isPassingFailure(error: unknown): boolean {
  const code = (error as { errcode?: unknown }).errcode;
  // SQLITE_BUSY, LOCKED, NOMEM, READONLY, IOERR, FULL, CANTOPEN, PROTOCOL (primary codes).
  if (typeof code === "number" && [5, 6, 7, 8, 10, 13, 14, 15].includes(code & 0xff)) return true;
  const message = error instanceof Error ? error.message : String(error);
  return /locked|busy|disk is full|disk I\/O|readonly|unable to open|not open/i.test(message);
}

class SqliteCallStore implements CallStore {
  readonly listener: CallEventListener;
  #db: DatabaseSync;
  #prices: PriceTable;
  #statements = new Map<string, StatementSync>();
  #onError: (message: string) => void;
  #queue: WriteQueue<QueuedEvent | Heartbeat>;
  #heartbeat: CallHeartbeat;
  #instance: string;

  constructor(db: DatabaseSync, path: string, options: CallStoreOptions) {
    this.#db = db;
    this.#prices = options.prices ?? DEFAULT_PRICES;
    this.#onError = options.onError ?? ((message: string) => console.error(message));
    this.#instance = options.instance ?? "local";
    const where = `DATA_DIR "${dirname(path)}" (${path})`;
    this.#queue = new WriteQueue<QueuedEvent | Heartbeat>({
      write: (batch) => this.#writeBatch(batch),
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
  #writeBatch(events: readonly (QueuedEvent | Heartbeat)[]): void {
    this.#transaction(() => {
      for (const queued of events) {
        if ("type" in queued) {
          for (const callSid of queued.callSids) {
            this.#run(
              "UPDATE calls SET alive_at = ? WHERE call_sid = ? AND ended_at IS NULL",
              queued.at,
              callSid,
            );
          }
          continue;
        }
        const { event, seq } = queued;
        try {
          this.#apply(event, seq);
        } catch (error) {
          if (isPassingFailure(error)) throw error;
          this.#onError(
            `[Realtime] Call store could not record ${event.type} for CallSid=${event.callSid}: ${
              errorText(error)
            }`,
          );
        }
      }
    });
  }

  /** Writes what is queued, if the database takes it now; never throws. */
  #flush(): void {
    if (this.#db.isOpen) this.#queue.flush();
  }

  health(): StoreHealth {
    return {
      pendingEvents: this.#queue.pending,
      droppedEvents: this.#queue.dropped,
      failing: this.#queue.failing,
    };
  }

  // deno-lint-ignore require-await
  async closeAbandonedRecords(reason: EndReason, detail: string): Promise<string[]> {
    this.#flush();
    const lastEvent = (table: string) => `(SELECT MAX(at) FROM ${table} t WHERE t.call_sid = calls.call_sid)`;
    const rows = this.#db.prepare(
      `UPDATE calls SET end_reason = ?, end_detail = ?, ended_at = MAX(created_at,
         COALESCE(started_at, 0), COALESCE(session_configured_at, 0),
         COALESCE(${lastEvent("call_statuses")}, 0), COALESCE(${lastEvent("transcript")}, 0),
         COALESCE(${lastEvent("turn_latencies")}, 0), COALESCE(${lastEvent("interruptions")}, 0),
         COALESCE(${lastEvent("usage")}, 0), COALESCE(alive_at, 0))
       WHERE ended_at IS NULL AND (instance = ? OR instance IS NULL) RETURNING call_sid`,
    ).all(reason, detail, this.#instance) as Row[];
    return rows.map((row) => String(row.call_sid));
  }

  // deno-lint-ignore require-await
  async record(event: CallEvent, seq?: number): Promise<void> {
    this.#flush();
    this.#heartbeat.saw(event);
    this.#transaction(() => this.#apply(event, seq));
  }

  // deno-lint-ignore require-await
  async afterStreamDecision(callSid: string): Promise<AfterStreamDecision | undefined> {
    this.#flush();
    const row = this.#statement("SELECT after_stream, transfer_target FROM calls WHERE call_sid = ?")
      .get(callSid) as Row | undefined;
    if (row?.after_stream == null) return undefined;
    return {
      action: String(row.after_stream) as AfterStreamAction,
      target: strOrNull(row.transfer_target) ?? undefined,
    };
  }

  #apply(event: CallEvent, seq: number | undefined): void {
    const at = Math.round(event.at);
    {
      // The first instance to see a call names it; the one that runs its stream takes it (call.started).
      this.#run(
        `INSERT INTO calls (call_sid, created_at, instance, event_seq) VALUES (?, ?, ?, ?)
         ON CONFLICT (call_sid) DO UPDATE SET created_at = MIN(created_at, excluded.created_at),
         event_seq = MAX(event_seq, excluded.event_seq)`,
        event.callSid,
        at,
        this.#instance,
        seq ?? 0,
      );
      switch (event.type) {
        case "call.placed":
          this.#mergeParameters(event.callSid, event.parameters);
          this.#run(
            `UPDATE calls SET persona = COALESCE(persona, ?), direction = COALESCE(direction, 'outbound-api'),
             from_number = COALESCE(from_number, ?), to_number = COALESCE(to_number, ?) WHERE call_sid = ?`,
            event.persona,
            event.from,
            event.to,
            event.callSid,
          );
          break;
        case "call.webhook":
          this.#mergeParameters(event.callSid, event.parameters);
          // Twilio's webhook knows the direction best; the persona chosen at start wins over both.
          this.#run(
            `UPDATE calls SET persona = COALESCE(persona, ?), direction = ?, source = ?,
             from_number = COALESCE(from_number, ?), to_number = COALESCE(to_number, ?) WHERE call_sid = ?`,
            event.persona,
            event.direction,
            event.source ?? "phone",
            event.from,
            event.to,
            event.callSid,
          );
          break;
        case "call.status":
          this.#run(
            "INSERT INTO call_statuses (call_sid, at, status, detail) VALUES (?, ?, ?, ?)",
            event.callSid,
            at,
            event.status,
            event.detail,
          );
          this.#run("UPDATE calls SET status = ? WHERE call_sid = ?", event.status, event.callSid);
          break;
        case "call.started":
          this.#mergeParameters(event.callSid, event.parameters);
          this.#run(
            `UPDATE calls SET stream_sid = ?, persona = ?, model = ?, engine = ?,
             started_at = COALESCE(started_at, ?), instance = ? WHERE call_sid = ?`,
            event.streamSid,
            event.persona,
            event.model,
            event.engine ?? engineForModel(event.model),
            at,
            this.#instance,
            event.callSid,
          );
          break;
        case "upstream.connected":
          this.#run(
            "UPDATE calls SET upstream_connect_ms = ? WHERE call_sid = ?",
            event.connectMs,
            event.callSid,
          );
          break;
        case "session.configured":
          this.#run(
            "UPDATE calls SET session_configured_at = COALESCE(session_configured_at, ?) WHERE call_sid = ?",
            at,
            event.callSid,
          );
          break;
        case "transcript":
          this.#run(
            "INSERT INTO transcript (call_sid, at, speaker, text, interrupted_at_ms) VALUES (?, ?, ?, ?, ?)",
            event.callSid,
            at,
            event.speaker,
            event.text,
            event.interruptedAtMs ?? null,
          );
          break;
        case "turn.latency":
          this.#run(
            `INSERT INTO turn_latencies (call_sid, at, first_audio_sent_ms, first_audio_heard_ms)
             VALUES (?, ?, ?, ?)`,
            event.callSid,
            at,
            event.firstAudioSentMs,
            event.firstAudioHeardMs ?? null,
          );
          break;
        case "interruption":
          this.#run(
            `INSERT INTO interruptions (call_sid, at, item_id, audio_end_ms, clear_latency_ms)
             VALUES (?, ?, ?, ?, ?)`,
            event.callSid,
            at,
            event.itemId,
            event.audioEndMs,
            event.clearLatencyMs,
          );
          break;
        case "usage": {
          // The engine's own rules read its report: what the record keeps, and the price.
          const summary = ENGINE_REGISTRY.describeUsage(event.engine, event.usage);
          const cost = ENGINE_REGISTRY.priceUsage(event.engine, event.model, event.usage, this.#prices);
          if (summary.problem !== undefined) {
            // Kept with an unknown cost (so the call's cost reads "unknown", not a number).
            const subject = summary.response === undefined
              ? `a ${event.engine} usage report`
              : `response ${summary.response.id}`;
            this.#onError(`[Realtime] Call store: ${subject} of CallSid=${event.callSid} ${summary.problem}`);
          }
          if (summary.response !== undefined) {
            const t = summary.response.tokens;
            const tokens = [
              t.inputTextTokens,
              t.inputAudioTokens,
              t.inputCachedTokens,
              t.outputTextTokens,
              t.outputAudioTokens,
            ];
            this.#run(
              `INSERT INTO usage (call_sid, at, model, response_id, input_text_tokens, input_audio_tokens,
               input_cached_tokens, output_text_tokens, output_audio_tokens, cost_usd)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
              event.callSid,
              at,
              event.model,
              summary.response.id,
              ...tokens,
              cost,
            );
            this.#run(
              `UPDATE calls SET input_text_tokens = input_text_tokens + ?, input_audio_tokens = input_audio_tokens + ?,
               input_cached_tokens = input_cached_tokens + ?, output_text_tokens = output_text_tokens + ?,
               output_audio_tokens = output_audio_tokens + ?, responses = responses + 1 WHERE call_sid = ?`,
              ...tokens,
              event.callSid,
            );
          }
          if (summary.minutes !== undefined) {
            // Cumulative: the latest report is the call's time so far.
            this.#run(
              "UPDATE calls SET minutes = MAX(minutes, ?) WHERE call_sid = ?",
              summary.minutes,
              event.callSid,
            );
          }
          this.#run(
            summary.cost === "increment"
              ? `UPDATE calls SET model = COALESCE(model, ?), cost_usd = cost_usd + ?,
                 unpriced_responses = unpriced_responses + ? WHERE call_sid = ?`
              : "UPDATE calls SET model = COALESCE(model, ?), cost_usd = ?, unpriced_responses = ? WHERE call_sid = ?",
            event.model,
            cost ?? 0,
            cost === null ? 1 : 0,
            event.callSid,
          );
          break;
        }
        case "agent.stopped":
          this.#run(
            "UPDATE calls SET max_unplayed_ms = MAX(COALESCE(max_unplayed_ms, 0), ?) WHERE call_sid = ?",
            event.unplayedMs,
            event.callSid,
          );
          break;
        case "reconnected":
          this.#run(
            `UPDATE calls SET reconnects = reconnects + 1,
             max_reconnect_gap_ms = MAX(COALESCE(max_reconnect_gap_ms, 0), ?) WHERE call_sid = ?`,
            event.gapMs,
            event.callSid,
          );
          break;
        case "caller_audio.dropped":
          this.#run(
            "UPDATE calls SET caller_frames_dropped = ? WHERE call_sid = ?",
            JSON.stringify(event.drops),
            event.callSid,
          );
          break;
        case "tool.called":
          this.#run(
            `INSERT INTO tool_calls (call_sid, at, call_id, name, arguments, status, result_bytes, duration_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
            event.callSid,
            at,
            event.callId,
            event.name,
            event.arguments,
            event.status,
            event.resultBytes,
            event.durationMs,
          );
          break;
        case "call.after_stream":
          this.#run(
            "UPDATE calls SET after_stream = ?, transfer_target = ? WHERE call_sid = ?",
            event.action,
            event.target ?? null,
            event.callSid,
          );
          break;
        case "call.analyzed":
          // The analysis's own cost joins the call's (set, not added: the same event twice counts once).
          if (event.state === "done") {
            this.#run(
              "UPDATE calls SET analysis_cost_usd = ?, analysis_unpriced = ? WHERE call_sid = ?",
              event.costUsd ?? 0,
              event.costUsd === null ? 1 : 0,
              event.callSid,
            );
          }
          break;
        case "call.ended":
          // The first end wins: a later one is the teardown echoing it.
          this.#run(
            `UPDATE calls SET ended_at = ?, end_reason = ?, end_detail = ? WHERE call_sid = ? AND ended_at IS NULL`,
            at,
            event.reason,
            event.detail,
            event.callSid,
          );
          break;
      }
    }
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
    this.#flush();
    // A direction is set only by Parley's own events: the placed call, or the voice webhook it answered.
    return this.#statement(
      "SELECT 1 FROM calls WHERE call_sid = ? AND ended_at IS NULL AND direction IS NOT NULL",
    ).get(callSid) !== undefined;
  }

  // deno-lint-ignore require-await
  async getCall(callSid: string): Promise<CallRecord | undefined> {
    this.#flush();
    const row = this.#statement("SELECT * FROM calls WHERE call_sid = ?").get(callSid) as Row | undefined;
    if (row === undefined) return undefined;
    const rows = (table: string) =>
      this.#statement(`SELECT * FROM ${table} WHERE call_sid = ? ORDER BY id`).all(callSid) as Row[];
    const turns = rows("turn_latencies").map((r): TurnLatency => ({
      at: num(r.at),
      firstAudioSentMs: num(r.first_audio_sent_ms),
      firstAudioHeardMs: numOrNull(r.first_audio_heard_ms),
    }));
    return {
      ...toSummary(row),
      statuses: rows("call_statuses").map((r) => ({
        at: num(r.at),
        status: String(r.status) as CallStatus,
        detail: String(r.detail),
      })),
      transcript: rows("transcript").map((r) => ({
        at: num(r.at),
        speaker: r.speaker === "agent" ? "agent" : "caller",
        text: String(r.text),
        interruptedAtMs: numOrNull(r.interrupted_at_ms),
      })),
      turns,
      latency: summarizeLatency(turns),
      interruptions: rows("interruptions").map((r) => ({
        at: num(r.at),
        itemId: String(r.item_id),
        audioEndMs: num(r.audio_end_ms),
        clearLatencyMs: num(r.clear_latency_ms),
      })),
      responses: rows("usage").map((r) => ({
        at: num(r.at),
        model: String(r.model),
        responseId: String(r.response_id),
        usage: toUsage(r),
        costUsd: numOrNull(r.cost_usd),
      })),
      toolCalls: rows("tool_calls").map((r) => ({
        at: num(r.at),
        callId: String(r.call_id),
        name: String(r.name),
        arguments: String(r.arguments),
        status: String(r.status) as ToolCallStatus,
        resultBytes: num(r.result_bytes),
        durationMs: num(r.duration_ms),
      })),
      eventSeq: num(row.event_seq),
    };
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

  #mergeParameters(callSid: string, parameters: Record<string, string>): void {
    if (Object.keys(parameters).length === 0) return;
    const row = this.#statement("SELECT parameters FROM calls WHERE call_sid = ?").get(callSid) as Row;
    const merged = { ...parseParameters(row.parameters), ...parameters };
    this.#run("UPDATE calls SET parameters = ? WHERE call_sid = ?", JSON.stringify(merged), callSid);
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

function toSummary(row: Row): CallSummary {
  const startedAt = numOrNull(row.started_at);
  const endedAt = numOrNull(row.ended_at);
  return {
    callSid: String(row.call_sid),
    streamSid: strOrNull(row.stream_sid),
    persona: strOrNull(row.persona),
    model: strOrNull(row.model),
    engine: strOrNull(row.engine) as EngineId | null,
    direction: strOrNull(row.direction),
    source: row.source === "softphone" || row.source === "rehearsal" ? row.source : "phone",
    from: strOrNull(row.from_number),
    to: strOrNull(row.to_number),
    parameters: parseParameters(row.parameters),
    status: strOrNull(row.status) as CallStatus | null,
    createdAt: num(row.created_at),
    startedAt,
    upstreamConnectMs: numOrNull(row.upstream_connect_ms),
    sessionConfiguredAt: numOrNull(row.session_configured_at),
    endedAt,
    durationMs: startedAt !== null && endedAt !== null ? endedAt - startedAt : null,
    endReason: strOrNull(row.end_reason) as EndReason | null,
    endDetail: strOrNull(row.end_detail),
    usage: { ...toUsage(row), responses: num(row.responses) },
    minutes: num(row.minutes),
    maxUnplayedMs: numOrNull(row.max_unplayed_ms),
    reconnects: num(row.reconnects),
    maxReconnectGapMs: numOrNull(row.max_reconnect_gap_ms),
    callerFramesDropped: row.caller_frames_dropped == null
      ? null
      : JSON.parse(String(row.caller_frames_dropped)) as CallerAudioDrops,
    costUsd: num(row.unpriced_responses) > 0 || num(row.analysis_unpriced) > 0
      ? null
      : num(row.cost_usd) + num(row.analysis_cost_usd),
    afterStream: strOrNull(row.after_stream) as AfterStreamAction | null,
    transferTarget: strOrNull(row.transfer_target),
    instance: strOrNull(row.instance),
  };
}

function toUsage(row: Row): TokenCounts {
  return {
    inputTextTokens: num(row.input_text_tokens),
    inputAudioTokens: num(row.input_audio_tokens),
    inputCachedTokens: num(row.input_cached_tokens),
    outputTextTokens: num(row.output_text_tokens),
    outputAudioTokens: num(row.output_audio_tokens),
  };
}

function parseParameters(value: unknown): Record<string, string> {
  try {
    const parsed: unknown = JSON.parse(String(value ?? "{}"));
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) {
      return parsed as Record<string, string>;
    }
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
  }
  return {};
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function num(value: unknown): number {
  return Number(value);
}

function numOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value);
}

function strOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : String(value);
}
