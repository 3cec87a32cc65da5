/**
 * One heartbeat row per instance (`instances`), and the sweep that closes a crashed instance's calls.
 * Every {@linkcode InstanceHeartbeat.beatMs} each instance stamps its row with the database's clock
 * (`clock_timestamp()`: one clock for every machine) and looks for peers whose row is older than the timeout; it claims
 * such a peer with one `UPDATE … WHERE stopped_at IS NULL AND beat_at < …` and, in the same
 * transaction, closes the peer's open records as `server_crashed` and releases its campaign claims (leads
 * it claimed but never dialled go back to pending; leads with a call in progress pass to the sweeper). Postgres re-checks the `WHERE`
 * of a row another transaction just updated, so exactly one live peer claims each dead instance;
 * a failed clean-up rolls the claim back and the next sweep tries again. The calls it closed ended with
 * no `call.ended` event: their CallSids go to {@linkcode InstanceHeartbeat.onPeerCallsClosed}'s listener
 * (`main.ts` sends their `call.ended` webhooks and queues their analyses). An instance that shuts down
 * cleanly marks its row stopped; one that restarts under the same `INSTANCE_ID` beats again.
 *
 * @module
 */

import type { Sql } from "postgres";
import type { ClusterView, RingingRecord } from "../ports.ts";
import { MAX_RING_MS } from "../../calls/never_connected.ts";
import type { PostgresCallRecords } from "./call_records.ts";
import { takeOverRingingRecords } from "./abandoned_records.ts";
import { releaseClaimsIn } from "./campaigns.ts";
import { errorText } from "../../log.ts";

/** How long an instance may go without a heartbeat before a peer closes its calls, ms. */
export const INSTANCE_TIMEOUT_MS = 30_000;

/** Options of {@linkcode InstanceHeartbeat}. */
export interface InstanceHeartbeatOptions {
  instance: string;
  /** A peer silent this long is taken for dead, ms. @default INSTANCE_TIMEOUT_MS */
  timeoutMs?: number;
  /** Where failures and clean-ups are reported. */
  report: (message: string) => void;
}

/** This instance's heartbeat row and the sweep for dead peers. */
export class InstanceHeartbeat implements ClusterView {
  /** How often the row is stamped and peers are checked, ms (a sixth of the timeout, at most 5 s). */
  readonly beatMs: number;
  readonly #sql: Sql;
  readonly #calls: PostgresCallRecords;
  readonly #o: InstanceHeartbeatOptions;
  readonly #timeoutMs: number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<void> = Promise.resolve();
  #failing = false;
  /** Calls closed for a peer, held until someone listens (a sweep right after start). */
  readonly #closedForPeers: HandOff<string>;
  /** Ringing calls taken up from a peer, held until someone listens. */
  readonly #ringingFromPeers: HandOff<RingingRecord>;
  /** Draining: dead peers are left to a live instance (it follows their ringing calls). */
  #takingOver = true;

  constructor(sql: Sql, calls: PostgresCallRecords, options: InstanceHeartbeatOptions) {
    this.#sql = sql;
    this.#calls = calls;
    this.#o = options;
    this.#closedForPeers = new HandOff(options.report, "Could not announce the calls closed for a peer");
    this.#ringingFromPeers = new HandOff(
      options.report,
      "Could not follow the ringing calls taken up from a peer",
    );
    this.#timeoutMs = options.timeoutMs ?? INSTANCE_TIMEOUT_MS;
    this.beatMs = Math.max(50, Math.min(5_000, Math.round(this.#timeoutMs / 6)));
  }

  /** Writes the first beat (the instance is alive from now), then beats on a timer. */
  async start(): Promise<void> {
    await this.#beat();
    this.#timer = setInterval(() => {
      this.#running = this.#running.then(() => this.tick());
    }, this.beatMs);
  }

  /** One beat and one sweep; failures are reported once until a beat works again. */
  async tick(): Promise<void> {
    try {
      await this.#beat();
      await this.sweep();
      if (this.#failing) this.#o.report(`[Cluster] Heartbeat of ${this.#o.instance} written again`);
      this.#failing = false;
    } catch (error) {
      if (!this.#failing) {
        this.#o.report(
          `[Cluster] Heartbeat of ${this.#o.instance} could not be written: ${
            errorText(error)
          }: retrying every ${this.beatMs} ms`,
        );
      }
      this.#failing = true;
    }
  }

  /** Claims every peer silent past the timeout and closes its open records; returns what it closed. */
  async sweep(): Promise<{ instance: string; callSids: string[] }[]> {
    const closed: { instance: string; callSids: string[] }[] = [];
    // Draining: a dead peer is left to a live instance, which can follow its ringing calls.
    if (!this.#takingOver) return closed;
    const dead = await this.#sql<{ instance: string }[]>`
      SELECT instance FROM instances WHERE instance <> ${this.#o.instance} AND stopped_at IS NULL
        AND beat_at < (extract(epoch from clock_timestamp()) * 1000)::bigint - ${this.#timeoutMs}`;
    for (const { instance } of dead) {
      let released = 0;
      let ringing: RingingRecord[] = [];
      const callSids = await this.#sql.begin(async (tx) => {
        const claimed = await tx`
          UPDATE instances SET stopped_at = (extract(epoch from clock_timestamp()) * 1000)::bigint
          WHERE instance = ${instance} AND stopped_at IS NULL
            AND beat_at < (extract(epoch from clock_timestamp()) * 1000)::bigint - ${this.#timeoutMs}
          RETURNING instance`;
        if (claimed.length === 0) return undefined; // another peer claimed it, or it beat again
        const seconds = Math.round(this.#timeoutMs / 100) / 10;
        // Its campaign leads claimed but not dialled go back; those with a call in progress are ours now.
        released = await releaseClaimsIn(tx, instance, this.#o.instance);
        // Its placed calls still ringing may yet be answered: this instance follows them instead.
        ringing = await takeOverRingingRecords(tx, {
          from: instance,
          to: this.#o.instance,
          placedSince: Date.now() - MAX_RING_MS,
        });
        return await this.#calls.closeOpenRecordsOf(
          tx,
          instance,
          "server_crashed",
          `instance ${instance} stopped (no heartbeat for ${seconds} s): closed by ${this.#o.instance}`,
        );
      }) as string[] | undefined;
      if (callSids === undefined) continue;
      closed.push({ instance, callSids });
      this.#closedForPeers.hand(callSids);
      this.#ringingFromPeers.hand(ringing);
      this.#o.report(
        `[Cluster] Instance ${instance} stopped beating: closed its ${callSids.length} open call(s) as server_crashed${
          callSids.length === 0
            ? ""
            : ` (${callSids.slice(0, 5).join(", ")}${callSids.length > 5 ? ", …" : ""})`
        }${released > 0 ? `; put back ${released} campaign lead(s) it had claimed` : ""}${
          ringing.length === 0
            ? ""
            : `; took up ${ringing.length} ringing call(s) it placed (${
              ringing.slice(0, 5).map((r) => r.callSid).join(", ")
            }${ringing.length > 5 ? ", …" : ""})`
        }`,
      );
    }
    return closed;
  }

  /** See {@linkcode ClusterView.onPeerCallsClosed}. */
  onPeerCallsClosed(listener: (callSids: readonly string[]) => void): void {
    this.#closedForPeers.listen(listener);
  }

  /** See {@linkcode ClusterView.stopSweeping}. */
  stopSweeping(): void {
    this.#takingOver = false;
  }

  /** See {@linkcode ClusterView.onPeerRingingTakenUp}. */
  onPeerRingingTakenUp(listener: (records: readonly RingingRecord[]) => void): void {
    this.#ringingFromPeers.listen(listener);
  }

  /** The cluster's figures: calls started and not ended anywhere, and the instances beating now. */
  async figures(): Promise<{ instance: string; liveCalls: number; instances: number }> {
    const rows = await this.#sql<{ live: number; alive: number }[]>`
      SELECT
        (SELECT count(*) FROM calls WHERE ended_at IS NULL AND record->>'startedAt' IS NOT NULL)::int AS live,
        (SELECT count(*) FROM instances WHERE stopped_at IS NULL
          AND beat_at >= (extract(epoch from clock_timestamp()) * 1000)::bigint - ${this.#timeoutMs})::int AS alive`;
    return { instance: this.#o.instance, liveCalls: rows[0]!.live, instances: rows[0]!.alive };
  }

  /** Stops beating; with `stopped`, marks the row stopped (a clean shutdown: no peer sweeps it). */
  async close(stopped: boolean): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
    if (stopped) {
      await this.#sql`UPDATE instances SET stopped_at = (extract(epoch from clock_timestamp()) * 1000)::bigint
        WHERE instance = ${this.#o.instance}`.catch(() => {});
    }
  }

  async #beat(): Promise<void> {
    await this.#sql`
      INSERT INTO instances (instance, started_at, beat_at)
      VALUES (${this.#o.instance}, (extract(epoch from clock_timestamp()) * 1000)::bigint, (extract(epoch from clock_timestamp()) * 1000)::bigint)
      ON CONFLICT (instance) DO UPDATE SET beat_at = EXCLUDED.beat_at, stopped_at = NULL`;
  }
}

/**
 * What a sweep hands to a listener of this process (calls closed for a peer, ringing calls taken over),
 * held until one is set: the first sweep may come before `main` listens. A listener that throws is
 * reported, never thrown into the sweep.
 */
class HandOff<T> {
  readonly #report: (message: string) => void;
  readonly #failure: string;
  #listener: ((items: readonly T[]) => void) | undefined;
  #held: T[] = [];

  constructor(report: (message: string) => void, failure: string) {
    this.#report = report;
    this.#failure = failure;
  }

  /** Sets the listener, and hands it what was held. */
  listen(listener: (items: readonly T[]) => void): void {
    this.#listener = listener;
    const held = this.#held.splice(0);
    if (held.length > 0) listener(held);
  }

  /** Hands `items` to the listener, or holds them until one is set. */
  hand(items: T[]): void {
    if (items.length === 0) return;
    if (this.#listener === undefined) return void this.#held.push(...items);
    try {
      this.#listener(items);
    } catch (error) {
      this.#report(`[Cluster] ${this.#failure}: ${errorText(error)}`);
    }
  }
}
