/**
 * When the model is asked to go on after tool outputs or a note (`response.create`): once no persona
 * tool is still running, no answer is under way and the caller is not talking, so that one answer
 * follows every output and none starts over the caller.
 *
 * @module
 */

import type { Engine } from "../engines/engine.ts";

/** What {@linkcode Continuation} needs of the call. */
export interface ContinuationOptions {
  engine: Engine;
  /** Sends one message upstream. */
  send(message: string): void;
  /** An answer is under way, or the call is over: not now. */
  blocked(): boolean;
  /** True while the caller is speaking. @default never */
  callerSpeaking?(): boolean;
  /** The model was asked to go on: an answer is owed. */
  answerAsked?(): void;
}

/**
 * One call's pending "go on".
 *
 * @example
 * ```ts
 * const next = new Continuation({ engine, send, blocked: () => activeResponse !== undefined });
 * next.toolStarted();
 * // … the tool's output sent
 * next.toolFinished();
 * next.due(); // asks now, or once the answer under way is done (check())
 * ```
 */
export class Continuation {
  readonly #o: ContinuationOptions;
  #due = false;
  #running = 0;

  constructor(options: ContinuationOptions) {
    this.#o = options;
  }

  /** A persona tool started: no answer is asked for until it is done. */
  toolStarted(): void {
    this.#running++;
  }

  /** A persona tool is done (its output sent, if any). */
  toolFinished(): void {
    this.#running--;
  }

  /** Outputs or a note went up: the model is asked to go on as soon as it may. */
  due(): void {
    this.#due = true;
    this.check();
  }

  /**
   * The caller stopped speaking. On an engine whose server answers each caller turn itself (Realtime's
   * VAD, `create_response`), that answer carries on where a due one would have: the tool outputs are in
   * the conversation before the caller's words. So it is not asked for a second one.
   */
  callerStopped(): void {
    if (this.#due && this.#o.engine.capabilities.serverVad) this.#due = false;
    this.check();
  }

  /** Asks the model to go on if it is due and may: nothing running, no answer under way, the caller quiet. */
  check(): void {
    if (!this.#due || this.#running > 0 || this.#o.blocked()) return;
    // An answer asked for now would start over the caller.
    if (this.#o.callerSpeaking?.() === true) return;
    this.#due = false;
    this.#o.send(this.#o.engine.continueMessage());
    this.#o.answerAsked?.();
  }
}
