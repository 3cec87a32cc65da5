/**
 * One call's answers as a session loss sees them: the answer owed (asked, not begun), the answer under
 * way (begun, its audio maybe still playing at Twilio), and from them what the new session is asked
 * for. Kept apart from `SessionKeeper` (`session_keeper.ts`), which decides when and how a session is
 * replaced (stall, rollover, quick losses, history): this decides only which answer, if any, the
 * replacement owes the caller.
 *
 * @module
 */

/**
 * Of an answer whose audio all came, at least this much cleared at Twilio by the loss, ms, for the new
 * session to be asked for it again: with less, the caller heard nearly all of it, and saying it again
 * would repeat it.
 */
export const MIN_CLEARED_TO_ASK_AGAIN_MS = 1_000;

/**
 * An answer asked of the model that has not begun: the `greeting` asked for at `start`, an `answer`
 * (the caller's finished turn on an engine that answers each one, a "go on" after tool outputs or a
 * note, a prompt), or an `answer again`: the answer a lost session was giving, which the caller did
 * not hear all of, asked of the new session. A session lost while one is owed leaves it to the new
 * session.
 */
export type OwedAnswer = "greeting" | "answer" | "answer again";

/** What a new session is asked for when it serves the call ({@linkcode AnswerTracker.newSession}). */
export interface NewSessionAsk {
  /** The answer it is asked for, if any. */
  ask: OwedAnswer | undefined;
  /** The prompt's messages that asked for it, when a prompt did: the new session gets them again. */
  prompt: readonly string[] | undefined;
  /** It is the answer the lost session was giving (not one it owed). */
  wasGiving: boolean;
}

/**
 * The call's latest answer: begun, and not finished or finished with its audio maybe still playing at
 * Twilio (Realtime writes faster than the caller hears). Outside this module, only handed back from
 * {@linkcode AnswerTracker.sessionLost} to {@linkcode AnswerTracker.askAgain}.
 */
export interface AnswerUnderWay {
  /** It is the greeting. */
  greeting: boolean;
  /** All of its audio came (Realtime's `response.output_audio.done`, or the answer finished). */
  audioDone: boolean;
  /** It finished (`response.done`): a new answer begins afresh. */
  finished: boolean;
  /** The caller started speaking over it and has not stopped (a barge-in). */
  callerCutIn: boolean;
  /** It called a tool: asked again, it would call it a second time (the tool's result brings the next answer). */
  calledTool: boolean;
  /** The prompt's messages that asked for it (the wrap-up), if a prompt did: asked again with them. */
  prompt: readonly string[] | undefined;
}

/**
 * Tracks the answer owed and the answer under way for one call, and on a session loss decides what the
 * new session is asked for. It keeps no clock and no session: the call's `SessionKeeper` tells it what
 * happened, in order.
 *
 * @example
 * ```ts
 * const answers = new AnswerTracker(() => false); // no hang-up ever waits
 * answers.answerBegan();
 * const giving = answers.sessionLost(false);
 * answers.askAgain(giving, 2_000); // 2 s of its audio cleared at Twilio
 * answers.newSession().ask; // "answer again"
 * ```
 */
export class AnswerTracker {
  readonly #hangingUp: () => boolean;
  /** An answer asked of the model that has not begun (nor finished), with the prompt that asked, if one did. */
  #owed: { what: OwedAnswer; prompt: readonly string[] | undefined } | undefined;
  /** The answer under way (begun, not finished), if any. */
  #underWay: AnswerUnderWay | undefined;
  /** What the new session is to be asked for: what the lost one owed (or was giving), unless asked again since. */
  #askNew: NewSessionAsk | undefined;
  /** From the loss of a session until a new one serves the call. */
  #gap = false;

  /** `hangingUp`: true while a hang-up or transfer waits on the agent's last words (they are not asked again). */
  constructor(hangingUp: () => boolean) {
    this.#hangingUp = hangingUp;
  }

  /** True while an answer is owed (asked, not begun). */
  get owes(): boolean {
    return this.#owed !== undefined;
  }

  /** An answer is owed (`prompt`: the messages that asked for it, when a prompt did). */
  ask(what: OwedAnswer, prompt?: readonly string[]): void {
    this.#owed = { what, prompt };
  }

  /**
   * The call asked for an answer itself: owed, and asked while the call has no session, the ask
   * itself waits for the new one, so the new one is not asked a second time.
   */
  answerAsked(prompt?: readonly string[]): void {
    this.ask("answer", prompt);
    if (this.#gap) this.#askNew = undefined;
  }

  /** The caller started speaking: over the answer under way, if any (a barge-in). */
  callerStarted(): void {
    if (this.#underWay !== undefined) this.#underWay.callerCutIn = true;
  }

  /** The caller stopped speaking. */
  callerStopped(): void {
    if (this.#underWay !== undefined) this.#underWay.callerCutIn = false;
  }

  /** The agent spoke (its transcript): no answer is owed unbegun. */
  answerStarted(): void {
    this.#owed = undefined;
  }

  /** An answer began, or audio of a new item of it came: the answer owed is under way. */
  answerBegan(): void {
    const same = this.#underWay?.finished === false ? this.#underWay : undefined;
    const greeting = this.#owed?.what === "greeting" || same?.greeting === true;
    const prompt = same === undefined ? this.#owed?.prompt : same.prompt;
    this.#owed = undefined;
    this.#underWay = {
      greeting,
      audioDone: false,
      finished: false,
      // Only a caller speaking over this answer: their question before it is not a barge-in.
      callerCutIn: same?.callerCutIn ?? false,
      calledTool: same?.calledTool ?? false,
      prompt,
    };
  }

  /** The answer under way called a tool. */
  toolCalled(): void {
    if (this.#underWay !== undefined) this.#underWay.calledTool = true;
  }

  /** All audio of the answer under way came (the caller may still be hearing it). */
  answerAudioDone(): void {
    if (this.#underWay !== undefined) this.#underWay.audioDone = true;
  }

  /** An answer finished (or was cancelled): nothing is owed; its audio may still be playing. */
  answered(): void {
    this.#owed = undefined;
    if (this.#underWay !== undefined) {
      this.#underWay.finished = true;
      this.#underWay.audioDone = true;
    }
  }

  /** An answer failed: none came, so one is still owed. */
  answerFailed(): void {
    this.#underWay = undefined;
    this.ask("answer");
  }

  /**
   * The session was lost (`rollover`: replaced at a quiet moment, so no answer was cut off): what it
   * owed goes to the new one (the call's asks meanwhile wait for it too). Returns the answer it was
   * giving, for {@linkcode askAgain} once the loss has cleared the audio at Twilio.
   */
  sessionLost(rollover: boolean): AnswerUnderWay | undefined {
    const giving = rollover ? undefined : this.#underWay;
    this.#underWay = undefined;
    this.#askNew = this.#owed === undefined
      ? undefined
      : { ask: this.#owed.what, prompt: this.#owed.prompt, wasGiving: false };
    this.#gap = true;
    return giving;
  }

  /**
   * The loss cleared `cleared` ms of audio at Twilio: `lost`, the answer the lost session was giving
   * ({@linkcode sessionLost}), unheard, is asked of the new one again, unless one is asked already.
   */
  askAgain(lost: AnswerUnderWay | undefined, cleared: number): void {
    if (this.#owed !== undefined || lost === undefined) return;
    const again = this.#againFor(lost, cleared);
    if (again === undefined) return;
    // A prompted answer (the wrap-up) is asked with its prompt again; the greeting, as the greeting.
    const prompt = again === "answer" ? lost.prompt : undefined;
    this.#owed = { what: again, prompt };
    this.#askNew = { ask: again, prompt, wasGiving: true };
  }

  /** A new session serves the call: what it is to be asked for, handed over once. */
  newSession(): NewSessionAsk {
    this.#gap = false;
    const handed = this.#askNew ?? { ask: undefined, prompt: undefined, wasGiving: false };
    this.#askNew = undefined;
    return handed;
  }

  /**
   * What the new session is asked for in place of `lost`, the call's latest answer when its session
   * was lost (`cleared` ms of audio were cleared at Twilio): nothing when the caller was speaking over
   * it (their turn brings the next answer), it called a tool (asked again, it would call it twice; the
   * tool's result brings the next answer), the caller heard nearly all of it (all its audio came and
   * less than {@linkcode MIN_CLEARED_TO_ASK_AGAIN_MS} was cleared), or a hang-up or transfer waits on
   * it; the greeting again for a greeting (the callee hears who is calling); a prompted answer (the
   * wrap-up) with its prompt; else the answer again.
   */
  #againFor(lost: AnswerUnderWay, cleared: number): OwedAnswer | undefined {
    if (lost.callerCutIn || lost.calledTool) return undefined;
    if (lost.audioDone && cleared < MIN_CLEARED_TO_ASK_AGAIN_MS) return undefined;
    if (this.#hangingUp()) return undefined;
    if (lost.greeting) return "greeting";
    return lost.prompt === undefined ? "answer again" : "answer";
  }
}
