/**
 * The in-process event bus of call events ({@linkcode CallHub}): numbers each call's events, keeps the
 * last of them for late subscribers, and fans them out.
 *
 * @module
 */

import { errorText, excerpt } from "../log.ts";
import type { CallEvent, CallEventListener } from "./call_events.ts";

/** What a hub subscription listens to (see `EventBus` in `src/store/ports.ts`). */
export interface CallHubSubscription {
  /** Only this call's events. */
  callSid?: string;
  /** With `callSid`: first the call's kept events after this position, then the live ones. */
  after?: number;
}

/** Events kept per call for late subscribers (a feed that read the record a moment ago), at most. */
export const KEPT_EVENTS_PER_CALL = 256;
/**
 * How long a call's event is kept for late subscribers, ms: a record lags the bus by its store's
 * write, milliseconds unless the store is failing. A long call holds its last minute, not its last 256.
 */
export const KEPT_EVENT_MS = 60_000;
/** Ended calls whose last events are still kept (the newest). */
export const KEPT_ENDED_CALLS = 200;
/** Calls known to the hub at most (live or ended); beyond, the oldest are forgotten. */
export const KEPT_CALLS = 10_000;

/**
 * The in-process event bus: fans events out to listeners (the store and metrics for every call, SSE
 * clients for one call) and numbers each call's events 1, 2, 3…. It keeps each live call's events of the
 * last {@linkcode KEPT_EVENT_MS} (at most {@linkcode KEPT_EVENTS_PER_CALL}), and those of the last
 * {@linkcode KEPT_ENDED_CALLS} ended calls, so a subscriber that read a record at position `n` catches
 * up from `n` with no gap.
 *
 * @example
 * ```ts
 * const hub = new CallHub();
 * const off = hub.subscribe((e) => console.log(e.type), "CA123");
 * const record = await store.getCall("CA123");
 * const feed = hub.subscribe((e, seq) => send(e, seq), { callSid: "CA123", after: record.eventSeq });
 * ```
 */
export class CallHub {
  readonly #onListenerError: (message: string) => void;
  #all = new Set<CallEventListener>();
  #byCall = new Map<string, Set<CallEventListener>>();
  /** Per call: its last position and its kept events (oldest first). */
  #calls = new Map<
    string,
    { seq: number; kept: { event: CallEvent; seq: number; at: number }[]; ended: boolean }
  >();
  #endedCalls = 0;
  readonly #now: () => number;

  /**
   * `onListenerError` hears why a listener threw (the server passes its logger, which masks secrets and
   * escapes control characters). @default `console.error`. `now` is the monotonic clock, ms, that
   * ages kept events. @default `performance.now`
   */
  constructor(
    onListenerError: (message: string) => void = (message) => console.error(`[Realtime] ${message}`),
    now: () => number = () => performance.now(),
  ) {
    this.#onListenerError = onListenerError;
    this.#now = now;
  }

  /** Delivers `event` to every listener; a throwing listener is reported and skipped. */
  emit(event: CallEvent): void {
    const seq = this.#keep(event);
    for (const listener of this.#all) this.#deliver(listener, event, seq);
    const forCall = this.#byCall.get(event.callSid);
    if (forCall !== undefined) { for (const listener of forCall) this.#deliver(listener, event, seq); }
  }

  /** Same as {@linkcode emit}: the `EventBus` name. */
  publish(event: CallEvent): void {
    this.emit(event);
  }

  /**
   * Listens to every call, or to one when a CallSid is given (`{ callSid, after }` also replays the
   * call's kept events after position `after` first). Returns the unsubscribe function.
   */
  subscribe(listener: CallEventListener, options?: string | CallHubSubscription): () => void {
    const { callSid, after } = typeof options === "string"
      ? { callSid: options, after: undefined }
      : options ?? {};
    if (callSid === undefined) {
      this.#all.add(listener);
      return () => this.#all.delete(listener);
    }
    if (after !== undefined) {
      for (const kept of this.#calls.get(callSid)?.kept ?? []) {
        if (kept.seq > after) this.#deliver(listener, kept.event, kept.seq);
      }
    }
    let set = this.#byCall.get(callSid);
    if (set === undefined) this.#byCall.set(callSid, set = new Set());
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.#byCall.delete(callSid);
    };
  }

  /** Numbers `event` in its call and keeps it; returns its position. */
  #keep(event: CallEvent): number {
    let call = this.#calls.get(event.callSid);
    if (call === undefined) {
      this.#calls.set(event.callSid, call = { seq: 0, kept: [], ended: false });
      // A bound for calls that never end here (events of a call already forgotten): the oldest go.
      if (this.#calls.size > KEPT_CALLS) this.#forgetOldest(() => true);
    }
    const seq = ++call.seq;
    const at = this.#now();
    const kept = call.kept;
    while (kept.length > 0 && (kept.length >= KEPT_EVENTS_PER_CALL || at - kept[0]!.at > KEPT_EVENT_MS)) {
      kept.shift();
    }
    kept.push({ event, seq, at });
    if (event.type === "call.ended" && !call.ended) {
      call.ended = true;
      // Ended calls move to the back of the map's order; the oldest ended beyond the bound go.
      this.#calls.delete(event.callSid);
      this.#calls.set(event.callSid, call);
      if (++this.#endedCalls > KEPT_ENDED_CALLS) this.#forgetOldest((other) => other.ended);
    }
    return seq;
  }

  #deliver(listener: CallEventListener, event: CallEvent, seq: number): void {
    try {
      listener(event, seq);
    } catch (error) {
      this.#onListenerError(
        `Call event listener failed on ${event.type} for CallSid=${event.callSid}: ${
          excerpt(errorText(error), 300)
        }`,
      );
    }
  }

  #forgetOldest(which: (call: { ended: boolean }) => boolean): void {
    for (const [callSid, call] of this.#calls) {
      if (!which(call)) continue;
      this.#calls.delete(callSid);
      if (call.ended) this.#endedCalls--;
      return;
    }
  }
}
