/**
 * One call's upstream kept alive from the stream's `start` to the end: the conversation kept for a
 * new session, the stall watch fed, a check every second for a stall or a session due for rollover,
 * and a lost session replaced ({@linkcode Reconnect}), logged and counted. A session pre-warmed on the
 * webhook (`prewarm.ts`) is kept the same way once the stream has claimed it. Which answer the new
 * session is asked for (the one owed, or the one cut off) is `answer_tracker.ts`'s to decide.
 *
 * @module
 */

import type { ReconnectCause } from "../calls/call_events.ts";
import type { RelayCounters } from "../calls/relay_counters.ts";
import type { HistoryTurn } from "../engines/engine.ts";
import type { Logger } from "../log.ts";
import { AnswerTracker, type OwedAnswer } from "./answer_tracker.ts";
import { Reconnect, STALL_MS, StallWatch } from "./reconnect.ts";
import type { UpstreamSession, UpstreamSessionHandlers } from "./upstream_session.ts";

export { MIN_CLEARED_TO_ASK_AGAIN_MS, type OwedAnswer } from "./answer_tracker.ts";

/** A session this old is replaced at the next quiet moment, ms (`SESSION_ROLLOVER_MINUTES`' default). */
export const ROLLOVER_MS = 55 * 60_000;

/** A new session lost within this long of opening was lost at once, ms. */
export const QUICK_LOSS_MS = 10_000;

/**
 * New sessions lost at once, in a row, after which the call ends rather than opening another (each try
 * opens when the server accepts it, so the tries' budget alone would go on forever): a server that
 * accepts a session and closes it again, billing each, while the caller hears nothing.
 */
export const MAX_QUICK_LOSSES = 3;

/**
 * The call a {@linkcode SessionKeeper} keeps on a live session: what the keeper asks of the relay.
 * The relay implements it; a test can hand in a plain object.
 */
export interface KeptCall {
  /** The call's session now. */
  readonly session: UpstreamSession;
  /** How the call is named in log lines. */
  readonly label: string;
  /** Opens a session for the call in progress (same plan, `history`, no greeting), reporting to `handlers`. */
  openTakeover(handlers: UpstreamSessionHandlers, history: HistoryTurn[]): UpstreamSession;
  /** The old session is gone: its audio at Twilio is cleared; returns how much was cleared, ms. */
  sessionLost(): number;
  /**
   * True while a hang-up or transfer waits for the caller to hear the agent's last words: the answer
   * a lost session was giving is then not asked again. @default never
   */
  hangingUp?(): boolean;
  /**
   * A new session serves the call (the relay attaches its handlers and reports `reconnected`), given
   * what was sent for the call while it had none, then asked for `owed` when the lost session owed it
   * (or was giving it, not all heard: `answer again`, the `greeting`, or a prompted `answer`): an owed
   * `answer` that a prompt asked for is asked with that `prompt` again.
   */
  replaced(
    session: UpstreamSession,
    event: { cause: ReconnectCause; gapMs: number; tries: number },
    owed: OwedAnswer | undefined,
    prompt?: readonly string[],
  ): void;
  /** No agent audio unplayed, no answer under way, the caller not speaking: a rollover may happen. */
  quiet(): boolean;
  /** Every try failed: the call ends. */
  failed(detail: string): void;
}

/** How a {@linkcode SessionKeeper} measures and reports. */
export interface SessionKeeperOptions {
  now: () => number;
  log: Logger;
  counters: RelayCounters;
  /** @default STALL_MS */
  stallMs?: number;
  /** @default ROLLOVER_MS */
  rolloverMs?: number;
}

/**
 * Turns of the conversation kept for a new session, at most (the oldest go): what a reconnect or a
 * rollover replays, and a bound on what a call of hours holds. GPT-Live takes at most 128 messages too.
 */
export const MAX_HISTORY_TURNS = 128;

/**
 * Keeps one call on a live upstream session from `start` to the end: feeds the stall watch, keeps
 * the conversation for a new session, checks every second for a stall or a session due for rollover,
 * and replaces a lost session ({@linkcode Reconnect}).
 *
 * @example
 * ```ts
 * const keeper = new SessionKeeper(relay, { now, log, counters }); // relay: a KeptCall
 * keeper.start(); // at the stream's start
 * keeper.replace("OpenAI closed the connection (1011)"); // the session dropped
 * keeper.dispose(); // the call ended
 * ```
 */
export class SessionKeeper {
  readonly #o: SessionKeeperOptions;
  readonly #call: KeptCall;
  readonly #reconnect: Reconnect;
  readonly #history: HistoryTurn[] = [];
  #stall: StallWatch;
  #tick: ReturnType<typeof setInterval> | undefined;
  #openedAt = 0;
  #cause: ReconnectCause = "dropped";
  #lostDetail = "";
  #disposed = false;
  /** The session said something since the last tick (the tick reads the clock, not every event). */
  #heardSinceTick = false;
  /** When the last new session replaced a lost one. */
  #replacedAt: number | undefined;
  /** New sessions lost within {@linkcode QUICK_LOSS_MS} of opening, in a row. */
  #quickLosses = 0;
  /** The answer owed and the one under way: what a new session is asked for. */
  readonly #answers: AnswerTracker;
  /** When an answer was last asked for (monotonic ms). */
  #askedAt: number | undefined;

  /** Idle until {@linkcode start}. */
  constructor(call: KeptCall, options: SessionKeeperOptions) {
    this.#call = call;
    this.#o = options;
    this.#answers = new AnswerTracker(() => call.hangingUp?.() === true);
    this.#stall = new StallWatch(options.now(), options.stallMs);
    this.#reconnect = new Reconnect({
      now: options.now,
      open: (handlers) => call.openTakeover(handlers, [...this.#history]),
      onReconnected: (session, result) => this.#onReconnected(session, result),
      onFailed: ({ tries, problem }) => {
        options.counters.reconnectsFailed++;
        call.failed(`${this.#lostDetail}; no new session after ${tries} tries: ${problem}`);
      },
    });
  }

  /** True while a new session is being opened (the call has no upstream). */
  get replacing(): boolean {
    return this.#reconnect.active;
  }

  /** Conversation turns so far, for a new session. */
  get historyLength(): number {
    return this.#history.length;
  }

  /** The stream started: checks for stalls and rollover every second. */
  start(): void {
    this.#tick = setInterval(() => this.#onTick(), 1000);
  }

  /** The call's session opened (its age counts from now). */
  opened(): void {
    this.#openedAt = this.#o.now();
  }

  /**
   * The session said something. Hot path (every upstream event): only a flag; the next tick records
   * it at the tick's time. Stalls are only judged on the once-a-second tick, so for a stall time in
   * whole seconds (the default 15 s) a stall is noticed at the same tick as with each event's own
   * time; otherwise at most one tick later.
   */
  heard(): void {
    this.#heardSinceTick = true;
  }

  /**
   * The caller started speaking: a session is never replaced for a stall mid-speech, and one lost
   * while the caller speaks over the answer under way does not have it asked again (their turn brings
   * the next answer).
   */
  callerStarted(): void {
    this.#stall.callerSpeaking(true);
    this.#answers.callerStarted();
  }

  /**
   * The caller stopped speaking; `owesAnswer` when the engine answers every finished turn (server VAD
   * with `create_response`).
   */
  callerStopped(owesAnswer: boolean): void {
    this.#stall.callerSpeaking(false);
    this.#answers.callerStopped();
    if (owesAnswer) this.#ask("answer");
  }

  /**
   * The model was asked to answer (a "go on", or the messages of a `prompt`): an answer is owed. A
   * session lost before it begins has the new one asked with the same prompt (a "go on" otherwise:
   * an engine may take that only after tool outputs, as GPT-Live does). Asked while the call has no
   * session, the ask itself waits for the new one: it is not asked a second time.
   */
  answerAsked(prompt?: readonly string[]): void {
    this.#answers.answerAsked(prompt);
    this.#askedAt = this.#o.now();
    this.#stall.owed(this.#askedAt);
  }

  /** The greeting was asked for (at `start`): owed like an answer, so a session that never greets stalls. */
  greetingAsked(): void {
    this.#ask("greeting");
  }

  /**
   * The agent spoke (its transcript, its line begun at `spokeFrom`, on this clock): no answer is owed
   * unbegun. Not a line begun before the latest ask: GPT-Live's transcript of an answer comes when its
   * turn closes, after the wrap-up or a "go on" may have been asked, which that line did not answer.
   */
  answerStarted(spokeFrom?: number): void {
    if (spokeFrom !== undefined && this.#askedAt !== undefined && spokeFrom < this.#askedAt) return;
    this.#answers.answerStarted();
  }

  /**
   * An answer began (the server's word), or audio of a new item of it came: the answer owed is under
   * way. A session lost before the caller heard all of it has it asked again of the new one.
   */
  answerBegan(): void {
    this.#answers.answerBegan();
  }

  /** The answer under way called a tool. */
  toolCalled(): void {
    this.#answers.toolCalled();
  }

  /** All audio of the answer under way came (the caller may still be hearing it). */
  answerAudioDone(): void {
    this.#answers.answerAudioDone();
  }

  /**
   * An answer finished (or was cancelled): nothing is owed. Its audio may still be playing at Twilio: a
   * session lost now, whose loss clears some of it, has it asked again all the same.
   */
  answered(): void {
    this.#answers.answered();
    this.#stall.answered();
  }

  /**
   * An answer failed (`response.done` with status `failed`): none came, so one is still owed. A
   * session that then says nothing for the stall time is replaced, and the new one asked for it.
   */
  answerFailed(): void {
    this.#answers.answerFailed();
    this.#stall.owed(this.#o.now());
  }

  #ask(what: OwedAnswer): void {
    this.#answers.ask(what);
    this.#askedAt = this.#o.now();
    this.#stall.owed(this.#askedAt);
  }

  /** A finished turn of the conversation, for a new session (the newest {@linkcode MAX_HISTORY_TURNS}). */
  remember(turn: HistoryTurn): void {
    if (turn.text.trim() === "") return;
    this.#history.push(turn);
    if (this.#history.length > MAX_HISTORY_TURNS) this.#history.shift();
  }

  /** Closes the session and opens a new one (ignored while already replacing or after the end). */
  replace(detail: string, cause: ReconnectCause = "dropped"): void {
    if (this.#disposed || this.#reconnect.active) return;
    const lostAtOnce = cause !== "rollover" && this.#replacedAt !== undefined &&
      this.#o.now() - this.#replacedAt < QUICK_LOSS_MS;
    this.#quickLosses = lostAtOnce ? this.#quickLosses + 1 : 0;
    if (this.#quickLosses >= MAX_QUICK_LOSSES) {
      this.#o.counters.reconnectsFailed++;
      return this.#call.failed(
        `${detail}; ${MAX_QUICK_LOSSES} new sessions in a row were lost within ${
          QUICK_LOSS_MS / 1000
        } s of opening`,
      );
    }
    this.#call.session.close();
    // What the lost session owed goes to the new one (the call's asks meanwhile wait for it too).
    const giving = this.#answers.sessionLost(cause === "rollover");
    const cleared = this.#call.sessionLost();
    // The call ended with its session (a hang-up that waited for that answer went ahead): no new one.
    if (this.#disposed) return;
    // The answer the lost session was giving, unheard, is asked again, unless one is asked already.
    this.#answers.askAgain(giving, cleared);
    this.#cause = cause;
    this.#lostDetail = detail;
    this.#o.log.warn(
      `Upstream lost for ${this.#call.label}: ${detail}; reconnecting (caller audio is dropped until then` +
        `${cleared > 0 ? `; cleared ${Math.round(cleared)} ms of the old session's audio at Twilio` : ""})`,
    );
    this.#reconnect.start();
  }

  /** The call ended: no more checks or tries. */
  dispose(): void {
    this.#disposed = true;
    clearInterval(this.#tick);
    this.#reconnect.cancel();
  }

  #onReconnected(session: UpstreamSession, { tries, gapMs }: { tries: number; gapMs: number }): void {
    const now = this.#o.now();
    this.#openedAt = now;
    this.#replacedAt = now;
    this.#stall = new StallWatch(now, this.#o.stallMs);
    // The new session owes what the lost one did (it is asked for it) and what was asked meanwhile.
    if (this.#answers.owes) this.#stall.owed(now);
    this.#heardSinceTick = false;
    const { ask, prompt, wasGiving } = this.#answers.newSession();
    const cause = this.#cause;
    this.#o.counters.reconnects[cause]++;
    const what = ask === "greeting" ? "greeting" : "answer";
    this.#o.log.info(
      `Reconnected to OpenAI for ${this.#call.label} (${cause}) after a ${Math.round(gapMs)} ms gap, ` +
        `try ${tries}; ${this.#history.length} turns of history` +
        (ask === undefined
          ? ""
          : `; asking it for the ${what} the lost session ${wasGiving ? "was giving" : "owed"}`),
    );
    this.#call.replaced(session, { cause, gapMs: Math.round(gapMs), tries }, ask, prompt);
  }

  /** Every second: a stalled session is replaced; an old one is rolled over at a quiet moment. */
  #onTick(): void {
    if (this.#disposed || this.#reconnect.active || !this.#call.session.open) return;
    const now = this.#o.now();
    if (this.#heardSinceTick) {
      this.#heardSinceTick = false;
      this.#stall.heard(now);
    }
    if (this.#stall.stalled(now)) {
      const stallMs = this.#o.stallMs ?? STALL_MS;
      const seconds = (stallMs / 1000).toFixed(stallMs % 1000 === 0 ? 0 : 1);
      return this.replace(`OpenAI owed an answer and sent nothing for ${seconds} s`, "stalled");
    }
    if (now - this.#openedAt >= (this.#o.rolloverMs ?? ROLLOVER_MS) && this.#call.quiet()) {
      const minutes = Math.round((now - this.#openedAt) / 60_000);
      this.replace(`the session is ${minutes} min old (rollover)`, "rollover");
    }
  }
}
