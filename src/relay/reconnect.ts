/**
 * Replacing a call's upstream session mid-call: after a drop (a close that is not a refusal, a
 * network error, a fatal `error`), a stall, or at the session cap. The Twilio socket stays open; new
 * sessions are tried with backoff — the first within ~100 ms, then after {@linkcode RECONNECT_DELAYS_MS}
 * (the last delay repeating) for as long as {@linkcode RECONNECT_BUDGET_MS} lasts, so a fast refusal
 * does not give up early — each configured by the relay from the same persona and voice with the
 * conversation so far. A try succeeds when its socket opens.
 *
 * Also here: {@linkcode StallWatch}, which calls a session dead when it owes an answer and has said
 * nothing for {@linkcode STALL_MS} (`session_keeper.ts` ties both to one call).
 *
 * @module
 */

import type { UpstreamSession, UpstreamSessionHandlers } from "./upstream_session.ts";

/** Wait before each try, ms; the last one repeats until the budget is spent. */
export const RECONNECT_DELAYS_MS: readonly number[] = [50, 150, 300];

/** Every try ends within this long of the drop, ms. */
export const RECONNECT_BUDGET_MS = 2000;

/** One try's handshake may take this long before the next try, ms. */
export const TRY_TIMEOUT_MS = 550;

/** No try starts with less than this left of the budget (too short for a handshake), ms. */
export const MIN_TRY_MS = 100;

/** No upstream event for this long while an answer is owed: the session is stalled, ms. */
export const STALL_MS = 15_000;

/** What {@linkcode Reconnect} needs from the relay. */
export interface ReconnectOptions {
  /** Opens a new session for the call, reporting to `handlers`, configured with the conversation so far. */
  open(handlers: UpstreamSessionHandlers): UpstreamSession;
  /** A try's socket opened: it is the call's session now (the relay attaches its own handlers). */
  onReconnected(session: UpstreamSession, result: { tries: number; gapMs: number }): void;
  /** Every try failed. */
  onFailed(result: { tries: number; gapMs: number; problem: string }): void;
  /** Monotonic clock, ms. */
  now: () => number;
}

/**
 * One call's reconnects: {@linkcode start} after each drop, {@linkcode cancel} when the call ends.
 *
 * @example
 * ```ts
 * const reconnect = new Reconnect({ open, onReconnected, onFailed, now });
 * reconnect.start();
 * ```
 */
export class Reconnect {
  readonly #o: ReconnectOptions;
  #startedAt = 0;
  #tries = 0;
  #active = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #candidate: UpstreamSession | undefined;

  /** Idle until {@linkcode start}. */
  constructor(options: ReconnectOptions) {
    this.#o = options;
  }

  /** True while tries are under way (the call has no upstream). */
  get active(): boolean {
    return this.#active;
  }

  /** Begins the tries (ignored while already trying). */
  start(): void {
    if (this.#active) return;
    this.#active = true;
    this.#startedAt = this.#o.now();
    this.#tries = 0;
    this.#schedule("no try yet");
  }

  /** Stops trying and closes a session still opening (the call ended). */
  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#candidate?.close();
    this.#candidate = undefined;
    this.#active = false;
  }

  #schedule(problem: string): void {
    const delay = RECONNECT_DELAYS_MS[Math.min(this.#tries, RECONNECT_DELAYS_MS.length - 1)]!;
    const left = RECONNECT_BUDGET_MS - (this.#o.now() - this.#startedAt);
    // The last try may come sooner than its delay: the whole budget is used, none of it wasted waiting.
    const wait = Math.min(delay, left - MIN_TRY_MS);
    if (wait < 0) return this.#fail(problem);
    this.#timer = setTimeout(() => this.#try(), wait);
  }

  #try(): void {
    this.#tries++;
    const left = RECONNECT_BUDGET_MS - (this.#o.now() - this.#startedAt);
    let settled = false;
    const failTry = (problem: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(this.#timer);
      this.#candidate?.close();
      this.#candidate = undefined;
      this.#schedule(problem);
    };
    this.#candidate = this.#o.open({
      onOpen: () => {
        if (settled) return;
        settled = true;
        clearTimeout(this.#timer);
        const session = this.#candidate!;
        this.#candidate = undefined;
        this.#active = false;
        this.#o.onReconnected(session, { tries: this.#tries, gapMs: this.#o.now() - this.#startedAt });
      },
      onEvent: () => {},
      onEnd: (_reason, detail) => failTry(detail),
    });
    this.#timer = setTimeout(
      () => failTry(`no answer within ${Math.round(Math.min(TRY_TIMEOUT_MS, left))} ms`),
      Math.min(TRY_TIMEOUT_MS, left),
    );
  }

  #fail(problem: string): void {
    this.#active = false;
    this.#o.onFailed({ tries: this.#tries, gapMs: this.#o.now() - this.#startedAt, problem });
  }
}

/**
 * Notices a session that went silent while it owes an answer: the caller's turn was committed or the
 * model was asked to go on, no answer has finished since, the caller is not speaking, and no event has
 * come for {@linkcode STALL_MS}. Silence otherwise is normal (server VAD says nothing while the caller
 * talks or stays quiet; the keepalive finds dead sockets). The relay feeds it and asks
 * {@linkcode stalled} on a tick.
 */
export class StallWatch {
  #lastEventAt: number;
  #owedSince: number | undefined;
  #callerSpeaking = false;
  readonly #stallMs: number;

  /** Starts counting from `now`, owing nothing. */
  constructor(now: number, stallMs = STALL_MS) {
    this.#lastEventAt = now;
    this.#stallMs = stallMs;
  }

  /** The session said something (or a new one opened). */
  heard(now: number): void {
    this.#lastEventAt = now;
  }

  /** An answer is owed from `now` (the caller's turn ended, or the model was asked to go on). */
  owed(now: number): void {
    this.#owedSince = now;
  }

  /** An answer finished: nothing is owed. */
  answered(): void {
    this.#owedSince = undefined;
  }

  /** The caller started (true) or stopped (false) speaking. */
  callerSpeaking(speaking: boolean): void {
    this.#callerSpeaking = speaking;
  }

  /** True when the session owes an answer, the caller is not speaking, and it has been silent too long. */
  stalled(now: number): boolean {
    if (this.#owedSince === undefined || this.#callerSpeaking) return false;
    return now - Math.max(this.#lastEventAt, this.#owedSince) >= this.#stallMs;
  }
}
