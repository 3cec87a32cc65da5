/**
 * The storage ports: what Parley keeps, as async interfaces, so that one adapter or another (SQLite in
 * `DATA_DIR` today, Postgres next) plugs in behind them. Every read and write returns a promise; nothing
 * on the audio path awaits one (events reach the store through {@linkcode CallRecords.listener}, which
 * queues). One contract suite (`tests/store/_contract.ts`) runs against every adapter.
 *
 * @module
 */

import type { AfterStreamAction, CallEvent, CallEventListener, EndReason } from "../calls/call_events.ts";
import type { CallRecord, CallSummary, ListCallsOptions, StoreHealth } from "./call_record.ts";
import type { Lead, LeadCall, LeadCursor, LeadInput, LeadUpdate } from "./lead.ts";
import type { Campaigns, DoNotCallList } from "./campaign_ports.ts";
import type { AnalysisJob, AnalysisSpec, AnalysisSuccess } from "./analysis_job.ts";
import type { SignInSessions } from "../http/session.ts";
import type { UsedStreamTokens } from "../twilio/stream_token.ts";
import type { CallControl } from "../calls/call_control.ts";
import type { WebhookOutbox } from "./webhook_outbox.ts";

// Declared beside the code that uses them (so http/ and twilio/ need nothing from store/), and part
// of the storage ports all the same.
export type { SignInSessions, UsedStreamTokens, WebhookOutbox };
export type { Campaigns, DoNotCallList };

/**
 * Call records. A record is built from the call's events, merged by CallSid whatever order they come
 * in; it names the instance that runs the call (`instance`) and the last event position it holds
 * (`eventSeq`, see {@linkcode EventBus}).
 */
export interface CallRecords {
  /**
   * For the bus: queues the event (with its per-call position `seq`) and writes it a moment later, so
   * the audio path never waits on storage. Never throws (failures are reported). Reads see every
   * event queued before them.
   */
  readonly listener: CallEventListener;
  /** Writes one event now. Rejects on a storage failure. */
  record(event: CallEvent, seq?: number): Promise<void>;
  /** Calls, newest first (by `createdAt`). */
  listCalls(options?: ListCallsOptions): Promise<CallSummary[]>;
  /** The full record, or undefined for an unknown CallSid. */
  getCall(callSid: string): Promise<CallRecord | undefined>;
  /** True when the call's record is open (no end yet) and Parley placed or answered it. */
  isOpenCall(callSid: string): Promise<boolean>;
  /** How the queued writes are going, for `/metrics` (local to this process, so synchronous). */
  health(): StoreHealth;
  /**
   * Ends every open record of this store's instance (and records from before instances were named)
   * that a previous run left open (a crash or SIGKILL) with `reason`, at the time of its last event
   * or heartbeat (whichever is later), and returns their CallSids. Calls of other instances are left alone. Call it once at startup.
   * With `sparePlacedSince` (epoch ms), the records {@linkcode takeUpRingingRecords} takes up for that
   * time are left open.
   */
  closeAbandonedRecords(
    reason: EndReason,
    detail: string,
    options?: AbandonedRecordsOptions,
  ): Promise<string[]>;
  /**
   * At startup, before {@linkcode closeAbandonedRecords}: the open records of calls this instance
   * placed (a `call.placed`) at or after `placedSince` (epoch ms) whose media stream never started and
   * whose final Twilio status has not come — still ringing, or answered by the voice webhook with
   * Twilio's `start` still to come, when the previous run stopped. A reason {@linkcode noteCutRecords}
   * noted on them is dropped; they stay open, for the new run to follow again. Oldest first.
   */
  takeUpRingingRecords(placedSince: number): Promise<RingingRecord[]>;
  /**
   * For a process that stops with calls in progress it cannot end itself (Deno's `--watch` restarting
   * the script): notes `reason` and `detail` on this instance's open records (and unnamed ones), leaving
   * them open, and returns their CallSids. The next start's {@linkcode closeAbandonedRecords} closes them
   * with the noted reason and detail instead of its own, and returns them with the others, so their
   * `call.ended` webhooks go out and their analyses are queued then, once. Only an adapter that writes
   * before its promise settles (SQLite) has it: nothing awaited runs in an `unload` listener.
   * With `callSids`, only those of the open records (a shutdown's placed calls left ringing: the next
   * start takes them up and drops the reason, or, too late for that, closes them with it).
   */
  noteCutRecords?(reason: EndReason, detail: string, options?: NoteCutOptions): Promise<string[]>;
  /** Closes the records; later events are dropped with a reported error. */
  close(): void;
}

/** Which open records {@linkcode CallRecords.noteCutRecords} notes. */
export interface NoteCutOptions {
  /** Only these CallSids (of this instance's open records). @default every open record */
  callSids?: readonly string[];
}

/** What {@linkcode CallRecords.closeAbandonedRecords} leaves open. */
export interface AbandonedRecordsOptions {
  /**
   * Leave open the records of calls this instance placed at or after this time (epoch ms) whose
   * stream never started: those {@linkcode CallRecords.takeUpRingingRecords} takes up.
   */
  sparePlacedSince?: number;
}

/** A call this instance placed whose record the previous run left open before its stream started. */
export interface RingingRecord {
  callSid: string;
  /** The persona the call was placed with. */
  persona: string;
  /** When it was placed (its `call.placed`), epoch ms. */
  placedAt: number;
  /** When its voice webhook was answered (the latest `call.webhook`), epoch ms; null while it rang. */
  webhookAt: number | null;
}

/** The leads the calling page calls. A lead's calls are the calls to or from its phone number. */
export interface Leads {
  /** Every lead, by name then id. */
  list(): Promise<Lead[]>;
  /** At most `limit` leads after `after` (or from the start), by name (case-insensitive) then id. */
  page(limit: number, after?: LeadCursor): Promise<Lead[]>;
  /** How many leads there are. */
  count(): Promise<number>;
  /** The oldest lead with this phone number (E.164), if any. */
  findByPhone(phone: string): Promise<Lead | undefined>;
  /** Adds `creates` and applies `updates` in one transaction; resolves to the leads as stored. */
  importBatch(
    creates: readonly LeadInput[],
    updates: readonly LeadUpdate[],
  ): Promise<{ created: Lead[]; updated: Lead[] }>;
  /** The lead, or undefined for an unknown id. */
  get(id: number): Promise<Lead | undefined>;
  /** Adds leads in one transaction; resolves to them with their ids. */
  create(leads: readonly LeadInput[]): Promise<Lead[]>;
  /** Replaces the given fields; undefined for an unknown id. */
  update(id: number, changes: Partial<LeadInput>): Promise<Lead | undefined>;
  /** True when a lead was deleted. */
  delete(id: number): Promise<boolean>;
  /** Calls to or from `phone`, newest first (at most 100). */
  callsOf(phone: string): Promise<LeadCall[]>;
  /** Closes the leads. */
  close(): void;
}

/**
 * Post-call analyses (`src/analysis/`), durable: a row per call, **claimed** by one instance at a time
 * (SQLite: one `BEGIN IMMEDIATE` transaction; Postgres: `FOR UPDATE SKIP LOCKED`), tried again after a
 * backoff, and settled `done` with the outcome or `failed` with the reason. A claim holds for
 * `leaseMs`: a claim a crashed instance left is taken again once it lapses.
 */
export interface AnalysisJobs {
  /** Adds a pending analysis of `callSid` due at `at`; false (nothing changed) when the call has one. */
  enqueue(callSid: string, spec: AnalysisSpec, at: number): Promise<boolean>;
  /**
   * Claims up to `limit` analyses due at `now` (pending, or running with a lapsed claim), earliest
   * first: state `running`, claimed by `instance` until `now + leaseMs`, attempts up by one.
   */
  claim(instance: string, now: number, limit: number, leaseMs: number): Promise<AnalysisJob[]>;
  /** Puts `instance`'s running analyses back to pending, due now (its previous run's, at startup). */
  release(instance: string, now: number): Promise<number>;
  /** A try failed and another will come: pending again, due at `nextTryAt`, with the reason. */
  retry(callSid: string, nextTryAt: number, error: string, at: number): Promise<void>;
  /** The analysis succeeded: `done`, with the outcome, usage and cost. */
  succeed(callSid: string, success: AnalysisSuccess): Promise<void>;
  /** The analysis failed for good: `failed`, with the reason. */
  fail(callSid: string, error: string, at: number): Promise<void>;
  /** The call's analysis, if it has one. */
  get(callSid: string): Promise<AnalysisJob | undefined>;
  /** The analyses of these calls (those that have one). */
  getMany(callSids: readonly string[]): Promise<Map<string, AnalysisJob>>;
  /** When the earliest pending analysis is due, or undefined when none is pending. */
  nextTryAt(): Promise<number | undefined>;
  /** Closes the analyses. */
  close(): void;
}

/** What Twilio was told to do after a call's stream, as the `<Connect action>` route reads it. */
export interface AfterStreamDecision {
  action: AfterStreamAction;
  /** The transfer target of a `dial`. */
  target: string | undefined;
}

/** The after-stream decisions, kept in the call record (`call.after_stream` events). */
export interface AfterStreamDecisions {
  /**
   * The decision recorded for `callSid`; `"pending"` while its stream has started and the record has
   * neither ended nor a decision (the instance running it stores its end and decision together, just
   * after handing the call back to Twilio); undefined when none was or will be made (or the call is
   * unknown).
   */
  afterStreamDecision(callSid: string): Promise<AfterStreamDecision | "pending" | undefined>;
}

/** What a subscription listens to. */
export interface SubscribeOptions {
  /** Only this call's events. */
  callSid?: string;
  /**
   * With `callSid`: first deliver the call's events after this position (its record's `eventSeq`),
   * then the live ones, with no gap and no repeat.
   */
  after?: number;
}

/**
 * Where call events go: the store, metrics, live feeds and watches listen. Each event gets its
 * call's next position (`seq`, 1, 2, 3… per CallSid), passed to listeners beside the event and kept
 * by the record as `eventSeq`; a late subscriber reads the record, then subscribes after its
 * `eventSeq` and misses nothing. A subscription to every call hears this instance's events (what
 * its store and watches act on); one to a single call hears that call's events.
 */
export interface EventBus {
  /** Delivers `event` to the listeners now; never throws and never waits. */
  publish(event: CallEvent): void;
  /** Listens (to one call with `callSid`, else to every call). Returns the unsubscribe function. */
  subscribe(listener: CallEventListener, options?: string | SubscribeOptions): () => void;
}

/** What the shared database says about the whole cluster. */
export interface ClusterView {
  /** This instance's name, the calls started and not ended anywhere, and the instances beating now. */
  figures(): Promise<{ instance: string; liveCalls: number; instances: number }>;
  /**
   * Hands `listener` the CallSids of the calls this instance closes for a crashed peer
   * (`server_crashed`), those closed before it was set included: they ended without a `call.ended`
   * event, so their webhooks and analyses are still owed.
   */
  onPeerCallsClosed(listener: (callSids: readonly string[]) => void): void;
  /**
   * Hands `listener` the calls a crashed peer placed that were still ringing (or awaiting their
   * stream), placed within Twilio's longest ring, which this instance took over instead of closing
   * (their records now name it), those taken before it was set included: this instance follows them
   * as {@linkcode CallRecords.takeUpRingingRecords}' at startup.
   */
  onPeerRingingTakenUp(listener: (records: readonly RingingRecord[]) => void): void;
  /**
   * This instance is draining: from now on it sweeps no crashed peer, leaving it to a live instance,
   * which takes over its ringing calls (the callee's answer would otherwise meet an instance that is
   * stopping) and closes the rest.
   */
  stopSweeping(): void;
}

/** One adapter's storage, opened at startup and closed at shutdown. */
export interface Store {
  /** The instance this process is (`INSTANCE_ID`): its calls' records carry it. */
  readonly instance: string;
  readonly calls: CallRecords;
  readonly leads: Leads;
  readonly sessions: SignInSessions;
  readonly usedStreamTokens: UsedStreamTokens;
  readonly afterStream: AfterStreamDecisions;
  /** The durable webhook outbox (`webhook_outbox.ts`), shared by the instances on one store. */
  readonly outbox: WebhookOutbox;
  /** Campaigns: claimed in the store, so the dialers of every instance on one database share them. */
  readonly campaigns: Campaigns;
  /** Post-call analyses (issue 20 §2), where the adapter keeps them. */
  readonly analyses?: AnalysisJobs;
  /** The do-not-call list, beside the campaigns. */
  readonly doNotCall: DoNotCallList;
  /**
   * The bus that carries call events between instances (Postgres: a call's feed on any instance hears
   * it from the database); undefined when one process's in-memory hub is the whole story (SQLite).
   */
  readonly bus?: EventBus;
  /**
   * Commands to the instance running a call (hang-up, answering-machine result, an unused pre-warm);
   * undefined when this process runs every call it hears about (SQLite).
   */
  readonly control?: CallControl;
  /** The cluster's figures for `/metrics` (Postgres); undefined when this process is the whole story. */
  readonly cluster?: ClusterView;
  /** Closes everything it opened (queued writes still go out: see `closed`). */
  close(): void;
  /** Settles once `close()` has written what was queued and let go of every connection. */
  readonly closed?: Promise<void>;
}
