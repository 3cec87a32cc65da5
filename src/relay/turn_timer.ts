/**
 * Turn latency: from the end of the caller's speech to the first agent audio sent to Twilio, and
 * to the moment Twilio reports that audio playing (its start mark echoed). A turn without a
 * confirmed playback (the caller cut in, spoke again, or hung up) reports the sent figure only.
 *
 * The caller's stop may be learnt late (GPT-Live: from a transcript that ends after the agent began
 * answering): an answer that started at or after that moment and is not yet claimed answers it.
 *
 * @module
 */

/** One turn's latency, ms. */
export interface TurnLatency {
  /** Caller stopped speaking → first agent frame sent to Twilio. */
  firstAudioSentMs: number;
  /** Caller stopped speaking → Twilio played that frame (undefined if never confirmed). */
  firstAudioHeardMs: number | undefined;
}

interface Answer {
  responseId: string;
  itemId: string;
  sentAt: number;
  heardAt: number | undefined;
  claimed: boolean;
}

interface Turn {
  stoppedAt: number;
  /** The answer to this turn; undefined until known (any answer counts on engines without ids). */
  responseId: string | undefined;
  itemId: string | undefined;
  sentAt: number | undefined;
}

/**
 * Times each turn; all times are the caller's monotonic clock, ms.
 *
 * @example
 * ```ts
 * const timer = new TurnTimer((t) => console.log(t.firstAudioHeardMs));
 * timer.callerStopped(1000);
 * timer.responseStarted("resp_1");
 * timer.audioSent("resp_1", "item_1", 1300);
 * timer.heard("item_1", 1350); // reports { firstAudioSentMs: 300, firstAudioHeardMs: 350 }
 * ```
 */
export class TurnTimer {
  readonly #report: (latency: TurnLatency) => void;
  #turn: Turn | undefined;
  /** The latest answer with audio sent, for a caller's stop learnt late. */
  #lastAnswer: Answer | undefined;

  /** `report` is called once per answered turn. */
  constructor(report: (latency: TurnLatency) => void) {
    this.#report = report;
  }

  /** The caller stopped speaking at `at`: a new turn starts (an earlier answered one is reported). */
  callerStopped(at: number): void {
    this.abandon();
    const answer = this.#lastAnswer;
    if (answer !== undefined && !answer.claimed && answer.sentAt >= at) {
      answer.claimed = true;
      const turn = {
        stoppedAt: at,
        responseId: answer.responseId,
        itemId: answer.itemId,
        sentAt: answer.sentAt,
      };
      if (answer.heardAt === undefined) this.#turn = turn;
      else this.#finish(turn, answer.heardAt - at);
      return;
    }
    this.#turn = { stoppedAt: at, responseId: undefined, itemId: undefined, sentAt: undefined };
  }

  /** An answer started; the first one after the caller stopped answers the turn. */
  responseStarted(responseId: string): void {
    if (this.#turn !== undefined && this.#turn.responseId === undefined) this.#turn.responseId = responseId;
  }

  /**
   * True when audio of `responseId` sent now would be noted: the answer's first audio, or the first
   * since a turn claimed it. Later audio of the same answer changes nothing (the caller need not read
   * the clock for it). Hot path.
   */
  awaitsAudio(responseId: string): boolean {
    if (this.#lastAnswer?.responseId !== responseId) return true;
    const turn = this.#turn;
    return turn !== undefined && turn.sentAt === undefined && turn.responseId === responseId;
  }

  /** Agent audio of `itemId` went to Twilio at `at`. */
  audioSent(responseId: string, itemId: string, at: number): void {
    if (this.#lastAnswer?.responseId !== responseId) {
      this.#lastAnswer = { responseId, itemId, sentAt: at, heardAt: undefined, claimed: false };
    }
    const turn = this.#turn;
    if (turn !== undefined && turn.sentAt === undefined && turn.responseId === responseId) {
      turn.sentAt = at;
      turn.itemId = itemId;
      this.#lastAnswer!.claimed = true;
    }
  }

  /** Twilio began playing `itemId` at `at` (its first mark was echoed). */
  heard(itemId: string, at: number): void {
    const answer = this.#lastAnswer;
    if (answer !== undefined && answer.itemId === itemId && answer.heardAt === undefined) answer.heardAt = at;
    const turn = this.#turn;
    if (turn?.sentAt !== undefined && itemId === turn.itemId) this.#finish(turn, at - turn.stoppedAt);
  }

  /** Playback of the answer will not be confirmed: report what was sent, if anything. */
  abandon(): void {
    const turn = this.#turn;
    if (turn?.sentAt !== undefined) this.#finish(turn, undefined);
  }

  #finish(turn: Turn, heardMs: number | undefined): void {
    this.#turn = undefined;
    if (turn.sentAt === undefined) return;
    this.#report({
      firstAudioSentMs: Math.round(turn.sentAt - turn.stoppedAt),
      firstAudioHeardMs: heardMs === undefined ? undefined : Math.round(heardMs),
    });
  }
}
