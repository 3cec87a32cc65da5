/**
 * The event bus over Postgres: events published here reach this instance's listeners at once (the
 * store's writer, metrics, watches: a subscription to every call hears this instance's events), and
 * the subscribers to one call, on any instance, from the database. The record is the source of
 * truth: the store writes each event at its per-call position (`call_events`) and `NOTIFY`s
 * `<seq> <CallSid>`; a per-call subscription keeps a cursor and, on each notification for its call
 * and whenever the `LISTEN` connection is (re)established, reads the call's events after its cursor
 * in order. So a feed never misses an event (a lost notification is caught up on the next one or on
 * reconnect) and never repeats one (the cursor only moves forward).
 *
 * @module
 */

import type { ListenMeta, Sql } from "postgres";
import type { CallEvent, CallEventListener } from "../../calls/call_events.ts";
import type { EventBus, SubscribeOptions } from "../ports.ts";
import { EVENT_CHANNEL } from "./call_records.ts";
import { errorText } from "../../log.ts";

interface CallSubscription {
  callSid: string;
  listener: CallEventListener;
  /** The position of the last event delivered (undefined until the starting position is read). */
  cursor: number | undefined;
  active: boolean;
  /** A catch-up is running; `again` asks it for one more pass. */
  running: boolean;
  again: boolean;
}

/** The Postgres {@linkcode EventBus}; {@linkcode PostgresEventBus.start} must resolve before use. */
export class PostgresEventBus implements EventBus {
  #sql: Sql;
  #all = new Set<CallEventListener>();
  #byCall = new Map<string, Set<CallSubscription>>();
  #unlisten: (() => Promise<void>) | undefined;
  #onError: (message: string) => void;
  #running = new Set<Promise<void>>();
  /** Waiting for the next (re)established LISTEN. */
  #listenWaiters: (() => void)[] = [];
  /** Barriers sent by {@linkcode sync}, by token. */
  #barriers = new Map<string, () => void>();

  constructor(sql: Sql, onError: (message: string) => void = (message) => console.error(message)) {
    this.#sql = sql;
    this.#onError = onError;
  }

  /** Starts listening; resolves once the `LISTEN` is in place. */
  async start(): Promise<void> {
    const meta: ListenMeta = await this.#sql.listen(
      EVENT_CHANNEL,
      (payload) => this.#notified(payload),
      // Called on the first LISTEN and again after every reconnect: notifications sent while the
      // connection was down are lost, so every feed reads what it missed.
      () => {
        for (const subscriptions of this.#byCall.values()) {
          for (const subscription of subscriptions) this.#catchUp(subscription);
        }
        for (const resolve of this.#listenWaiters.splice(0)) resolve();
      },
    );
    this.#unlisten = meta.unlisten;
  }

  publish(event: CallEvent): void {
    for (const listener of [...this.#all]) deliver(listener, event, undefined, this.#onError);
  }

  subscribe(listener: CallEventListener, options?: string | SubscribeOptions): () => void {
    const { callSid, after } = typeof options === "string"
      ? { callSid: options, after: undefined }
      : options ?? {};
    if (callSid === undefined) {
      this.#all.add(listener);
      return () => this.#all.delete(listener);
    }
    const subscription: CallSubscription = {
      callSid,
      listener,
      cursor: after,
      active: true,
      running: false,
      again: false,
    };
    let set = this.#byCall.get(callSid);
    if (set === undefined) this.#byCall.set(callSid, set = new Set());
    set.add(subscription);
    this.#catchUp(subscription);
    return () => {
      subscription.active = false;
      set.delete(subscription);
      if (set.size === 0 && this.#byCall.get(callSid) === set) this.#byCall.delete(callSid);
    };
  }

  /** Resolves when no catch-up read is under way (tests and shutdown). */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.all([...this.#running]);
  }

  /** Resolves the next time the `LISTEN` connection is (re)established (after its catch-up reads start). */
  nextListen(): Promise<void> {
    return new Promise((resolve) => this.#listenWaiters.push(resolve));
  }

  /**
   * Resolves once every event committed before the call has been delivered to this bus's feeds: it
   * sends a marker notification (Postgres delivers notifications in commit order), waits for it to
   * come back, then for the reads it set off.
   */
  async sync(): Promise<void> {
    const token = crypto.randomUUID();
    const back = new Promise<void>((resolve) => this.#barriers.set(token, resolve));
    await this.#sql`SELECT pg_notify(${EVENT_CHANNEL}, ${`sync ${token}`})`;
    await back;
    await this.idle();
  }

  /** Stops listening and waits for reads under way. */
  async close(): Promise<void> {
    for (const set of this.#byCall.values()) for (const subscription of set) subscription.active = false;
    this.#byCall.clear();
    this.#all.clear();
    await this.idle();
    await this.#unlisten?.().catch(() => {});
  }

  #notified(payload: string): void {
    const space = payload.indexOf(" ");
    const callSid = payload.slice(space + 1);
    if (payload.startsWith("sync ")) {
      this.#barriers.get(callSid)?.();
      this.#barriers.delete(callSid);
      return;
    }
    const subscriptions = this.#byCall.get(callSid);
    if (subscriptions === undefined) return;
    for (const subscription of subscriptions) this.#catchUp(subscription);
  }

  /** Reads and delivers the call's events after the cursor; one read at a time per subscription. */
  #catchUp(subscription: CallSubscription): void {
    if (!subscription.active) return;
    if (subscription.running) {
      subscription.again = true;
      return;
    }
    subscription.running = true;
    const run = (async () => {
      try {
        do {
          subscription.again = false;
          if (subscription.cursor === undefined) {
            // Live events only: start after the call's last stored position.
            const rows = await this.#sql<{ seq: string | null }[]>`
              SELECT MAX(seq) AS seq FROM call_events WHERE call_sid = ${subscription.callSid}`;
            subscription.cursor = Number(rows[0]?.seq ?? 0);
            continue;
          }
          const rows = await this.#sql<{ seq: string; event: CallEvent }[]>`
            SELECT seq, event FROM call_events WHERE call_sid = ${subscription.callSid}
              AND seq > ${subscription.cursor} ORDER BY seq`;
          for (const row of rows) {
            if (!subscription.active) return;
            const seq = Number(row.seq);
            if (seq <= subscription.cursor) continue;
            subscription.cursor = seq;
            deliver(subscription.listener, row.event, seq, this.#onError);
          }
        } while (subscription.again && subscription.active);
      } catch (error) {
        if (subscription.active) {
          this.#onError(
            `[Realtime] Event bus could not read events of CallSid=${subscription.callSid} from Postgres: ${
              errorText(error)
            }: the feed catches up on the next event or reconnect`,
          );
        }
      } finally {
        subscription.running = false;
      }
    })();
    this.#running.add(run);
    void run.finally(() => this.#running.delete(run));
  }
}

function deliver(
  listener: CallEventListener,
  event: CallEvent,
  seq: number | undefined,
  onError: (message: string) => void,
): void {
  try {
    listener(event, seq);
  } catch (error) {
    onError(
      `[Realtime] An event listener failed on ${event.type}: ${errorText(error)}`,
    );
  }
}
