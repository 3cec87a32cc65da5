/**
 * One call's upstream kept alive from the stream's `start` to the end: the conversation kept for a
 * new session, the stall watch fed, a check every second for a stall or a session due for rollover,
 * and a lost session replaced ({@linkcode Reconnect}), logged and counted. A session pre-warmed on the
 * webhook (`prewarm.ts`) is kept the same way once the stream has claimed it.
 *
 * @module
 */

import type { ReconnectCause } from "../calls/call_events.ts";
import type { RelayCounters } from "../calls/relay_counters.ts";
import type { HistoryTurn } from "../engines/engine.ts";
import type { Logger } from "../log.ts";
import { Reconnect, STALL_MS, StallWatch } from "./reconnect.ts";
import type { UpstreamSession, UpstreamSessionHandlers } from "./upstream_session.ts";

/** A session this old is replaced at the next quiet moment, ms (`SESSION_ROLLOVER_MINUTES`' default). */
export const ROLLOVER_MS = 55 * 60_000;

/** A new session lost within this long of opening was lost at once, ms. */
export const QUICK_LOSS_MS = 10_000;

/**
 * Of an answer whose audio all came, at least this much cleared at Twilio by the loss, ms, for the new
 * session to be asked for it again: with less, the caller heard nearly all of it, and saying it again
 * would repeat it.
 */
export const MIN_CLEARED_TO_ASK_AGAIN_MS = 1_000;

/**
 * New sessions lost at once, in a row, after which the call ends rather than opening another (each try
 * opens when the server accepts it, so the tries' budget alone would go on forever): a server that
 * accepts a session and closes it again, billing each, while the caller hears nothing.
 */
export const MAX_QUICK_LOSSES = 3;

/**
 * An answer asked of the model that has not begun: the `greeting` asked for at `start`, an `answer`
 * (the caller's finished turn on an engine that answers each one, a "go on" after tool outputs or a
 * note, a prompt), or an `answer again`: the answer a lost session was giving, which the caller did
 * not hear all of, asked of the new session. A session lost while one is owed leaves it to the new
 * session.
 */
export type OwedAnswer = "greeting" | "answer" | "answer again";

/**
 * The call's latest answer: begun, and not finished or finished with its audio maybe still playing at
 * Twilio (Realtime writes faster than the caller hears).
 */
interface AnswerUnderWay {
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
  /** An answer asked of the model that has not begun (nor finished). */
  #owed: OwedAnswer | undefined;
  /** The prompt's messages that asked for {@linkcode #owed}, when a prompt did. */
  #owedPrompt: readonly string[] | undefined;
  /** The answer under way (begun, not finished), if any. */
  #underWay: AnswerUnderWay | undefined;
  /** What the new session is to be asked for: what the lost one owed, unless asked again since. */
  #askNew: OwedAnswer | undefined;
  /** The prompt that asked for {@linkcode #askNew}, when a prompt did: the new session gets it again. */
  #askNewPrompt: readonly string[] | undefined;
  /** {@linkcode #askNew} is the answer the lost session was giving (not one it owed). */
  #askNewWasGiving = false;
  /** From the loss of a session until a new one serves the call. */
  #gap = false;

  /** Idle until {@linkcode start}. */
  constructor(call: KeptCall, options: SessionKeeperOptions) {
    this.#call = call;
    this.#o = options;
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
    if (this.#underWay !== undefined) this.#underWay.callerCutIn = true;
  }

  /**
   * The caller stopped speaking; `owesAnswer` when the engine answers every finished turn (server VAD
   * with `create_response`).
   */
  callerStopped(owesAnswer: boolean): void {
    this.#stall.callerSpeaking(false);
    if (this.#underWay !== undefined) this.#underWay.callerCutIn = false;
    if (owesAnswer) this.#ask("answer");
  }

  /**
   * The model was asked to answer (a "go on", or the messages of a `prompt`): an answer is owed. A
   * session lost before it begins has the new one asked with the same prompt (a "go on" otherwise:
   * an engine may take that only after tool outputs, as GPT-Live does). Asked while the call has no
   * session, the ask itself waits for the new one: it is not asked a second time.
   */
  answerAsked(prompt?: readonly string[]): void {
    this.#ask("answer", prompt);
    if (!this.#gap) return;
    this.#askNew = undefined;
    this.#askNewPrompt = undefined;
    this.#askNewWasGiving = false;
  }

  /** The greeting was asked for (at `start`): owed like an answer, so a session that never greets stalls. */
  greetingAsked(): void {
    this.#ask("greeting");
  }

  /** The agent spoke (its transcript): no answer is owed unbegun. */
  answerStarted(): void {
    this.#owed = undefined;
    this.#owedPrompt = undefined;
  }

  /**
   * An answer began (the server's word), or audio of a new item of it came: the answer owed is under
   * way. A session lost before the caller heard all of it has it asked again of the new one.
   */
  answerBegan(): void {
    const same = this.#underWay?.finished === false ? this.#underWay : undefined;
    const greeting = this.#owed === "greeting" || same?.greeting === true;
    const prompt = same === undefined ? this.#owedPrompt : same.prompt;
    this.#owed = undefined;
    this.#owedPrompt = undefined;
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

  /**
   * An answer finished (or was cancelled): nothing is owed. Its audio may still be playing at Twilio: a
   * session lost now, whose loss clears some of it, has it asked again all the same.
   */
  answered(): void {
    this.#owed = undefined;
    this.#owedPrompt = undefined;
    if (this.#underWay !== undefined) {
      this.#underWay.finished = true;
      this.#underWay.audioDone = true;
    }
    this.#stall.answered();
  }

  /**
   * An answer failed (`response.done` with status `failed`): none came, so one is still owed. A
   * session that then says nothing for the stall time is replaced, and the new one asked for it.
   */
  answerFailed(): void {
    this.#underWay = undefined;
    this.#ask("answer");
  }

  #ask(what: OwedAnswer, prompt?: readonly string[]): void {
    this.#owed = what;
    this.#owedPrompt = prompt;
    this.#stall.owed(this.#o.now());
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
    const underWay = cause === "rollover" ? undefined : this.#underWay;
    this.#underWay = undefined;
    // What the lost session owed goes to the new one (the call's asks meanwhile wait for it too).
    this.#askNew = this.#owed;
    this.#askNewPrompt = this.#owedPrompt;
    this.#askNewWasGiving = false;
    this.#gap = true;
    const cleared = this.#call.sessionLost();
    // The call ended with its session (a hang-up that waited for that answer went ahead): no new one.
    if (this.#disposed) return;
    // The answer the lost session was giving, unheard, is asked again, unless one is asked already.
    const again = this.#owed === undefined && underWay !== undefined
      ? this.#askAgain(underWay, cleared)
      : undefined;
    if (again !== undefined) {
      // A prompted answer (the wrap-up) is asked with its prompt again; the greeting, as the greeting.
      const prompt = again === "answer" ? underWay!.prompt : undefined;
      this.#owed = again;
      this.#owedPrompt = prompt;
      this.#askNew = again;
      this.#askNewPrompt = prompt;
      this.#askNewWasGiving = true;
    }
    this.#cause = cause;
    this.#lostDetail = detail;
    this.#o.log.warn(
      `Upstream lost for ${this.#call.label}: ${detail}; reconnecting (caller audio is dropped until then` +
        `${cleared > 0 ? `; cleared ${Math.round(cleared)} ms of the old session's audio at Twilio` : ""})`,
    );
    this.#reconnect.start();
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
  #askAgain(lost: AnswerUnderWay, cleared: number): OwedAnswer | undefined {
    if (lost.callerCutIn || lost.calledTool) return undefined;
    if (lost.audioDone && cleared < MIN_CLEARED_TO_ASK_AGAIN_MS) return undefined;
    if (this.#call.hangingUp?.() === true) return undefined;
    if (lost.greeting) return "greeting";
    return lost.prompt === undefined ? "answer again" : "answer";
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
    if (this.#owed !== undefined) this.#stall.owed(now);
    this.#heardSinceTick = false;
    this.#gap = false;
    const ask = this.#askNew;
    const prompt = this.#askNewPrompt;
    const wasGiving = this.#askNewWasGiving;
    this.#askNew = undefined;
    this.#askNewPrompt = undefined;
    this.#askNewWasGiving = false;
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
