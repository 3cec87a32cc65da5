/**
 * The per-call heartbeat of the call database: while a call's stream runs in this process, its record
 * is stamped "still alive at" every {@linkcode HEARTBEAT_MS}, so a record a crash leaves open is closed
 * near the moment the call really died, not at its last event (a quiet 1.8 s call would show 0 ms).
 *
 * @module
 */

import type { CallEvent } from "../calls/call_events.ts";

/** How often a running call's record is stamped alive, ms. */
export const HEARTBEAT_MS = 5_000;

/** What {@linkcode CallHeartbeat} needs. */
export interface CallHeartbeatOptions {
  /** Stamps these records alive at `at` (epoch ms). */
  beat(callSids: readonly string[], at: number): void;
  /** @default HEARTBEAT_MS */
  intervalMs?: number;
  /** Wall clock, epoch ms. @default Date.now */
  wallClock?: () => number;
}

/**
 * Follows the call events a store sees: a call is running from `call.started` to `call.ended`. A
 * timer runs only while some call is running, so an idle store holds no timer.
 *
 * @example
 * ```ts
 * const heartbeat = new CallHeartbeat({ beat: (callSids, at) => queue.push({ type: "heartbeat", callSids, at }) });
 * heartbeat.saw(event); // for every event the store records
 * heartbeat.close(); // with the store
 * ```
 */
export class CallHeartbeat {
  readonly #o: CallHeartbeatOptions;
  readonly #running = new Set<string>();
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(options: CallHeartbeatOptions) {
    this.#o = options;
  }

  /** Notes an event the store records. */
  saw(event: CallEvent): void {
    if (event.type === "call.started") this.#running.add(event.callSid);
    else if (event.type === "call.ended") this.#running.delete(event.callSid);
    else return;
    if (this.#running.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    } else {
      this.#timer ??= setInterval(() => this.#beat(), this.#o.intervalMs ?? HEARTBEAT_MS);
    }
  }

  /** Stops the timer (the store is closing). */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#running.clear();
  }

  #beat(): void {
    this.#o.beat([...this.#running], (this.#o.wallClock ?? Date.now)());
  }
}
