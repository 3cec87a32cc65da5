/**
 * A hang-up that waits until the caller has heard the agent's last words (end_call, transfer,
 * voicemail): Twilio's marks say when, with a cap of {@linkcode HANG_UP_CAP_MS}. It may also wait
 * for an answer to start first (the voicemail is yet to be spoken).
 *
 * @module
 */

import type { EndReason } from "../calls/call_events.ts";

/** The longest a hang-up waits for the caller to hear the agent's last words, ms. */
export const HANG_UP_CAP_MS = 10_000;

/** Options of {@linkcode PendingHangUp}. */
export interface PendingHangUpOptions {
  reason: EndReason;
  detail: string;
  /** An answer must start before the hang-up. */
  awaitingAnswer: boolean;
  /** True when the hang-up may go ahead now (no answer in progress, everything heard). */
  ready(): boolean;
  /** Ends the call. */
  end(reason: EndReason, detail: string): void;
  /** @default HANG_UP_CAP_MS */
  capMs?: number;
}

/**
 * One hang-up in waiting; {@linkcode check} it whenever something it waits on may have changed.
 *
 * @example
 * ```ts
 * const hangUp = new PendingHangUp({ reason: "agent_hung_up", detail: "end_call", awaitingAnswer: false,
 *   ready: () => bargeIn.heardAll(), end });
 * // on each mark echo: hangUp.check();
 * ```
 */
export class PendingHangUp {
  readonly reason: EndReason;
  readonly #o: PendingHangUpOptions;
  readonly #cap: ReturnType<typeof setTimeout>;
  #awaitingAnswer: boolean;
  #done = false;

  constructor(options: PendingHangUpOptions) {
    this.#o = options;
    this.reason = options.reason;
    this.#awaitingAnswer = options.awaitingAnswer;
    const capMs = options.capMs ?? HANG_UP_CAP_MS;
    this.#cap = setTimeout(
      () => this.#finish(`${options.detail}; the last words were not confirmed heard within ${capMs} ms`),
      capMs,
    );
    this.check();
  }

  /** An answer started: the words to wait for are on their way. */
  answerStarted(): void {
    this.#awaitingAnswer = false;
  }

  /** Hangs up if the caller has heard everything. */
  check(): void {
    if (!this.#done && !this.#awaitingAnswer && this.#o.ready()) this.#finish(this.#o.detail);
  }

  /** Stops waiting without hanging up. */
  cancel(): void {
    this.#done = true;
    clearTimeout(this.#cap);
  }

  #finish(detail: string): void {
    if (this.#done) return;
    this.cancel();
    this.#o.end(this.#o.reason, detail);
  }
}
