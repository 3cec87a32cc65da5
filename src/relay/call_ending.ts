/**
 * How the agent ends one call: the hang-up in waiting (end_call, do_not_call, a transfer, a voicemail)
 * and what Twilio does after the stream (hang up, dial, or the fallback message).
 *
 * A hang-up waits until the caller has heard the agent's last words, as Twilio's marks tell, capped at
 * `HANG_UP_CAP_MS` (`pending_hang_up.ts`); the caller speaking first cancels it. With
 * `interruptions.minSpeechMs`, only speech that lasts that long does (as it only then cuts the agent
 * off): a shorter sound leaves it, and it waits while a sound is being weighed.
 *
 * Apart from `actions.ts` because this bookkeeping is the same whichever action asks for the hang-up,
 * and needs of the call only whether the agent's words were all heard and whether the caller speaks.
 *
 * @module
 */

import type { AfterStreamAction, EndReason } from "../calls/call_events.ts";
import type { Logger } from "../log.ts";
import { PendingHangUp } from "./pending_hang_up.ts";

/** Ends after which Twilio's `<Connect action>` hangs up rather than playing the fallback. */
const HANG_UP_AFTER: ReadonlySet<EndReason> = new Set([
  "caller_hung_up",
  "hung_up_by_user",
  "max_call_minutes",
]);

/** What Twilio does after the stream. */
export interface AfterStream {
  action: AfterStreamAction;
  target?: string;
}

/** What {@linkcode CallEnding} needs of the call. */
export interface CallEndingOptions {
  callSid: string;
  /** True when the caller has heard all the agent said: no answer under way, no tones queued, every mark echoed. */
  lastWordsHeard(): boolean;
  /** True while the caller is speaking (from the engine's speech start to its stop). @default never */
  callerSpeaking?(): boolean;
  /** Ends the call: closes the stream and the session. */
  end(reason: EndReason, detail: string): void;
  log: Logger;
  /** @default HANG_UP_CAP_MS (`pending_hang_up.ts`) */
  capMs?: number;
}

/**
 * One call's ending, as the agent's actions decide it.
 *
 * @example
 * ```ts
 * const ending = new CallEnding({ callSid, lastWordsHeard, callerSpeaking, end, log });
 * ending.setAfterStream({ action: "hangup" });
 * ending.hangUpAfterLastWords("agent_hung_up", "the agent ended the call (end_call)", false);
 * // on each mark echo: ending.check();
 * ```
 */
export class CallEnding {
  readonly #o: CallEndingOptions;
  #hangUp: PendingHangUp | undefined;
  #after: AfterStream | undefined;
  /** The caller's sound is being weighed by the barge-in gate: whether it counts is not known yet. */
  #weighing = false;

  constructor(options: CallEndingOptions) {
    this.#o = options;
  }

  /** True while a hang-up waits for the last words. */
  get hangingUp(): boolean {
    return this.#hangUp !== undefined;
  }

  /** Why the call ends once the waiting hang-up goes ahead, if one waits. */
  get pendingReason(): EndReason | undefined {
    return this.#hangUp?.reason;
  }

  /** An answer started upstream: a hang-up waiting for one now waits for it to be heard. */
  answerStarted(): void {
    this.#hangUp?.answerStarted();
  }

  /** Something the hang-up waits on may have changed: it goes ahead if it may. */
  check(): void {
    this.#hangUp?.check();
  }

  /** The caller started speaking; `weighed` while the barge-in gate is yet to tell whether it counts. */
  callerStarted(weighed: boolean): void {
    this.#weighing = weighed;
  }

  /**
   * The caller's speech counts: a pending hang-up other than a voicemail's is cancelled (barge-in wins),
   * and with it what it would have had Twilio do after the stream.
   */
  callerSpoke(): void {
    this.#weighing = false;
    const pending = this.#hangUp;
    if (pending === undefined || pending.reason === "voicemail_left") return;
    this.cancel();
    this.#after = undefined;
    this.#o.log.info(
      `Caller spoke before the agent's last words were heard: ${pending.reason} cancelled on CallSid=${this.#o.callSid}`,
    );
  }

  /** The caller stopped speaking: a hang-up that waited for a short sound to be weighed may go ahead. */
  callerStopped(): void {
    if (!this.#weighing) return;
    this.#weighing = false;
    this.#hangUp?.check();
  }

  /** Sets what Twilio does after the stream (a barge-in on the hang-up it came with clears it). */
  setAfterStream(after: AfterStream): void {
    this.#after = after;
  }

  /** What Twilio should do after the stream, given why the call ended. */
  afterStream(reason: EndReason): AfterStream {
    if (this.#after !== undefined) return this.#after;
    // A call someone hung up (the caller, or a user from the page or the API) just ends, as does one
    // that reached the persona's maxCallMinutes (the agent was asked to say goodbye first); any other
    // end means the agent could not go on, and the caller hears the fallback message.
    return { action: HANG_UP_AFTER.has(reason) ? "hangup" : "fallback" };
  }

  /**
   * Ends the call with `reason` once the caller has heard the agent's last words (after an answer yet to
   * start, when `awaitingAnswer`), replacing any hang-up already waiting.
   */
  hangUpAfterLastWords(reason: EndReason, detail: string, awaitingAnswer: boolean): void {
    this.cancel();
    // The caller cannot cancel a voicemail's hang-up: a sound being weighed does not hold it.
    const weighs = reason !== "voicemail_left";
    this.#hangUp = new PendingHangUp({
      reason,
      detail,
      awaitingAnswer,
      ready: () => this.#o.lastWordsHeard() && !(weighs && this.#weighingSound()),
      end: (reason, detail) => {
        this.#hangUp = undefined;
        this.#o.end(reason, detail);
      },
      ...(this.#o.capMs === undefined ? {} : { capMs: this.#o.capMs }),
    });
  }

  /** Stops waiting to hang up, without hanging up. */
  cancel(): void {
    this.#hangUp?.cancel();
    this.#hangUp = undefined;
  }

  /**
   * True while the barge-in gate weighs the caller's sound. A session lost mid-sound leaves no stop to
   * come: the caller no longer speaking (as barge-in knows it) ends the wait too.
   */
  #weighingSound(): boolean {
    return this.#weighing && this.#o.callerSpeaking?.() !== false;
  }
}
