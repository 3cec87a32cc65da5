/**
 * The shutdown's last wait: Twilio requests the `<Connect action>` of a call whose stream was closed a
 * moment after it sees the close, so the HTTP server keeps answering (the persona's fallback message)
 * until each such request of the calls this instance closed since the drain began has come, or
 * {@linkcode AFTER_STREAM_GRACE_MS} has passed.
 *
 * @module
 */

import type { CallHub } from "../calls/call_hub.ts";
import type { EndReason } from "../calls/call_events.ts";
import type { Logger } from "../log.ts";
import { isCallSid } from "../twilio/stream_token.ts";

/**
 * Once the drain is over, how long the HTTP server still waits for Twilio's `<Connect action>` request
 * (`/api/twilio/after-stream`) of each phone call whose stream this instance closed since the drain
 * began (the calls the shutdown cut, the last ones the agent ended), ms. Twilio asks about 100 ms after
 * it sees the stream close; a closed port would make the caller hear Twilio's application error
 * instead of the persona's fallback message. With several instances the request may go to another
 * one: this bounds the wait.
 */
export const AFTER_STREAM_GRACE_MS = 2_500;

/** Ends after which Twilio asks no `<Connect action>`: the call itself is over. */
const NO_AFTER_STREAM_REQUEST: ReadonlySet<EndReason> = new Set(["caller_hung_up", "hung_up_by_user"]);

/**
 * The phone calls whose `<Connect action>` request Twilio still owes this instance, from the drain on:
 * a call whose stream ended here (its after-stream decision made) until the request came, unless the
 * call itself ended (the caller hung up).
 */
export class OwedAfterStreams {
  readonly #hub: CallHub;
  readonly #log: Logger;
  readonly #owed = new Set<string>();
  #off: (() => void) | undefined;
  #changed: (() => void) | undefined;

  constructor(hub: CallHub, log: Logger) {
    this.#hub = hub;
    this.#log = log;
  }

  /** Starts listening for streams that end (again: a no-op). */
  watch(): void {
    this.#off ??= this.#hub.subscribe((event) => {
      // The softphone's calls (BR…) have no <Connect action>.
      if (event.type === "call.after_stream" && isCallSid(event.callSid)) this.#owed.add(event.callSid);
      else if (event.type === "call.ended" && NO_AFTER_STREAM_REQUEST.has(event.reason)) {
        this.requested(event.callSid);
      }
    });
  }

  /** Twilio's request for `callSid` was answered (or none will come). */
  requested(callSid: string | undefined): void {
    if (callSid !== undefined && this.#owed.delete(callSid)) this.#changed?.();
  }

  /** Resolves once none is owed or `graceMs` passed, with how many are still owed; stops listening. */
  async wait(graceMs: number): Promise<number> {
    const waited = this.#owed.size;
    if (waited > 0) {
      this.#log.info(
        `Waiting up to ${(graceMs / 1000).toFixed(1)} s for Twilio's after-stream request of ${waited} ` +
          `call(s) whose stream was closed (the caller hears the fallback message, not an application error)`,
      );
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<void>((resolve) => timer = setTimeout(resolve, graceMs));
      const none = new Promise<void>((resolve) => {
        this.#changed = () => {
          if (this.#owed.size === 0) resolve();
        };
      });
      await Promise.race([timeout, none]);
      clearTimeout(timer);
      this.#changed = undefined;
    }
    this.#off?.();
    const left = this.#owed.size;
    if (left > 0) {
      this.#log.info(
        `No after-stream request came within ${(graceMs / 1000).toFixed(1)} s for ${left} of ${waited} ` +
          `call(s) (another instance may have answered it): stopping`,
      );
    }
    return left;
  }
}
