/**
 * A call's agent actions: the model's tool calls (the persona's own and the built-ins `end_call`,
 * `do_not_call`, `transfer_call`, `press_keys`: `tool_calls.ts`), caller key presses, and voicemail.
 *
 * Engine-agnostic: the engine turns outputs and notes into its own messages. Two rules hold on
 * every engine:
 * - the model is asked to go on (`response.create`) only when no answer is in progress: the Realtime
 *   API refuses a second one (`conversation_already_has_active_response`);
 * - a hang-up (end_call, do_not_call, transfer, voicemail) waits until the caller has heard the agent's last
 *   words, as Twilio's marks tell, capped at {@linkcode HANG_UP_CAP_MS}; the caller speaking first
 *   cancels it. With `interruptions.minSpeechMs`, only speech that lasts that long does (as it only
 *   then cuts the agent off): a shorter sound leaves it, and it waits while a sound is being weighed.
 *
 * The tool calls themselves are handled in `tool_calls.ts`, the hang-up and what Twilio does after the
 * stream in `call_ending.ts`; this class ties them to the answers under way, prompts, keys and voicemail.
 *
 * @module
 */

import type { EndReason } from "../calls/call_events.ts";
import type { Engine } from "../engines/engine.ts";
import type { Logger } from "../log.ts";
import type { CallContext, LoadedPersona } from "../personas/types.ts";
import { type AfterStream, CallEnding } from "./call_ending.ts";
import { KeypadBatcher } from "./keypad_batcher.ts";
import { KeypadTones } from "./keypad_tones.ts";
import { voicemailText } from "./persona_callbacks.ts";
import { type ToolCall, type ToolCallReport, ToolCalls } from "./tool_calls.ts";
import { Continuation } from "./continuation.ts";

export type { AfterStream } from "./call_ending.ts";
export type { ToolCall, ToolCallReport } from "./tool_calls.ts";

/** AMD results that mean a machine has finished its greeting (the beep, or silence). */
const MACHINE_END = new Set(["machine_end_beep", "machine_end_silence", "machine_end_other"]);

/** Collaborators of {@linkcode CallActions}. */
export interface CallActionsOptions {
  persona: LoadedPersona;
  context: CallContext;
  engine: Engine;
  /** Sends one message upstream. */
  send(message: string): void;
  /** True when Twilio has echoed every mark: the caller heard all agent audio sent. */
  heardAll(): boolean;
  /** True while the caller is speaking (from the engine's speech start to its stop). @default never */
  callerSpeaking?(): boolean;
  /** Stops the agent at once (clear, truncate and cancel where the engine allows). */
  stopAgent(): void;
  /** Plays μ-law audio (base64) as agent audio of `itemId`, then marks its end. */
  playAgentAudio(itemId: string, payload: string): void;
  /** Ends the call: closes the stream and the session. */
  end(reason: EndReason, detail: string): void;
  /**
   * The model was asked to answer: an answer is owed. With the `prompt`'s messages when a prompt asked
   * (a session lost before the answer begins has the new one prompted again); without, it was asked
   * to go on (tool outputs, a note).
   */
  answerAsked?(prompt?: readonly string[]): void;
  /** One tool call finished: log line, record and live feed. */
  toolCalled(report: ToolCallReport): void;
  log: Logger;
  /** @default HANG_UP_CAP_MS (`pending_hang_up.ts`) */
  hangUpCapMs?: number;
}

/**
 * One call's actions.
 *
 * @example
 * ```ts
 * const actions = new CallActions({ persona, context, engine, send, heardAll, stopAgent, … });
 * actions.toolCall({ callId: "call_1", name: "end_call", arguments: "{}" });
 * ```
 */
export class CallActions {
  readonly #o: CallActionsOptions;
  readonly #keypad: KeypadBatcher | undefined;
  #activeResponse: string | undefined;
  readonly #continuation: Continuation;
  readonly #tones: KeypadTones;
  readonly #ending: CallEnding;
  readonly #tools: ToolCalls;
  #closed = false;
  /** An answer asked of the agent ({@linkcode prompt}) that waits for the one under way, or the caller. */
  #prompt: string[] | undefined;

  constructor(options: CallActionsOptions) {
    this.#o = options;
    const { persona, context, engine, send, toolCalled, log, callerSpeaking, answerAsked, hangUpCapMs } =
      options;
    this.#tones = new KeypadTones(options.playAgentAudio);
    this.#continuation = new Continuation({
      engine,
      send,
      blocked: () => this.#activeResponse !== undefined || this.#closed,
      ...(callerSpeaking === undefined ? {} : { callerSpeaking }),
      ...(answerAsked === undefined ? {} : { answerAsked }),
    });
    this.#ending = new CallEnding({
      callSid: context.callSid,
      lastWordsHeard: () => this.#activeResponse === undefined && !this.#tones.pending && options.heardAll(),
      end: options.end,
      log,
      ...(callerSpeaking === undefined ? {} : { callerSpeaking }),
      ...(hangUpCapMs === undefined ? {} : { capMs: hangUpCapMs }),
    });
    this.#tools = new ToolCalls({
      persona,
      context,
      engine,
      send,
      toolCalled,
      log,
      ending: this.#ending,
      continuation: this.#continuation,
      tones: this.#tones,
      flushTones: () => this.#flushTones(),
    });
    if (persona.persona.dtmf === true) {
      this.#keypad = new KeypadBatcher({ onBatch: (text) => this.#tell(text) });
    }
  }

  /** An answer started upstream. */
  responseStarted(responseId: string): void {
    this.#activeResponse = responseId;
    this.#ending.answerStarted();
  }

  /** An answer ended upstream: deferred tones, continuations and hang-ups may go ahead. */
  responseDone(responseId: string): void {
    if (this.#activeResponse === responseId) this.#activeResponse = undefined;
    this.#flushTones();
    this.#sendPrompt();
    this.#continuation.check();
    this.#ending.check();
  }

  /**
   * The call's session was lost: the answer under way is gone with it, so held tones play, and a due
   * "go on", a waiting prompt and a pending hang-up go ahead (what is sent waits for the new session).
   */
  sessionLost(): void {
    this.#tools.sessionLost();
    this.#activeResponse = undefined;
    this.#flushTones();
    this.#sendPrompt();
    this.#continuation.check();
    this.#ending.check();
  }

  /** True while a hang-up (end_call, do_not_call, a transfer, a voicemail) waits for the last words. */
  get hangingUp(): boolean {
    return this.#ending.hangingUp;
  }

  /** Twilio echoed a mark: the caller may now have heard everything. */
  heard(): void {
    this.#ending.check();
  }

  /**
   * The caller started speaking; `weighed` when the barge-in gate (`interruptions.minSpeechMs`) is yet
   * to tell whether it counts: until {@linkcode callerSpoke} (it does) or {@linkcode callerStopped}
   * (a short sound, which does not), a pending hang-up waits.
   */
  callerStarted(weighed: boolean): void {
    this.#ending.callerStarted(weighed);
  }

  /**
   * The caller's speech counts (at once, or once it lasted the barge-in gate): a pending hang-up is
   * cancelled (barge-in wins). A sound the gate ignores never gets here.
   */
  callerSpoke(): void {
    this.#ending.callerSpoke();
  }

  /**
   * The caller stopped speaking: a due "go on" may go now, or be left to the server (`continuation.ts`),
   * and a hang-up that waited for a short sound to be weighed may go ahead.
   */
  callerStopped(): void {
    // An engine whose server answers each caller turn answers this one first; the prompt follows it.
    if (!this.#o.engine.capabilities.serverVad) this.#sendPrompt();
    this.#continuation.callerStopped();
    this.#ending.callerStopped();
  }

  /** A key the caller pressed (Twilio `dtmf`): to the model when the persona has `dtmf: true`. */
  dtmf(digit: string): void {
    this.#keypad?.press(digit);
  }

  /** Twilio's answering-machine result (`AnsweredBy`) for this call. */
  machineAnswered(answeredBy: string): void {
    if (!MACHINE_END.has(answeredBy) || this.#closed || this.#ending.pendingReason === "voicemail_left") {
      return;
    }
    const { persona, context } = this.#o;
    const text = voicemailText(persona, context, this.#o.log); // a failed function: logged, undefined
    this.#o.log.info(
      `Answering machine on CallSid=${context.callSid} (${answeredBy}): ${
        text === undefined ? "hanging up" : "leaving the voicemail"
      }`,
    );
    this.#o.stopAgent();
    this.#ending.cancel();
    if (text === undefined) {
      this.#ending.setAfterStream({ action: "hangup" });
      const why = persona.persona.voicemail === undefined
        ? "the persona has no voicemail message"
        : "the persona's voicemail failed";
      return this.#o.end("agent_hung_up", `answering machine (${answeredBy}); ${why}`);
    }
    this.#tell(
      `An answering machine picked up and the beep has sounded. Leave this voicemail now, then stop: ${text}`,
    );
    this.#ending.setAfterStream({ action: "hangup" });
    this.#ending.hangUpAfterLastWords("voicemail_left", `voicemail left (${answeredBy})`, true);
  }

  /** The model called a tool (`tool_calls.ts`). */
  toolCall(call: ToolCall): void {
    this.#tools.call(call);
  }

  /** What Twilio should do after the stream, given why the call ended. */
  afterStream(reason: EndReason): AfterStream {
    return this.#ending.afterStream(reason);
  }

  /** The call ended: timers stop, running tools see their signal abort. */
  close(): void {
    this.#closed = true;
    this.#ending.cancel();
    this.#keypad?.close();
    this.#tools.close();
  }

  /** Tones wait for the agent's current answer: they play after its audio. */
  #flushTones(): void {
    if (this.#activeResponse !== undefined) return;
    this.#tones.flush();
  }

  /**
   * Has the agent answer `messages` (the engine's `prompt`: the wrap-up before `maxCallMinutes`) as soon
   * as it may: no answer under way (Realtime refuses a second one, `conversation_already_has_active_response`)
   * and the caller not speaking (it would start over them). A later prompt replaces one still waiting.
   */
  prompt(messages: string[]): void {
    this.#prompt = messages;
    this.#sendPrompt();
  }

  #sendPrompt(): void {
    if (this.#prompt === undefined || this.#closed || this.#activeResponse !== undefined) return;
    if (this.#o.callerSpeaking?.() === true) return;
    const messages = this.#prompt;
    this.#prompt = undefined;
    for (const message of messages) this.#o.send(message);
    this.#o.answerAsked?.(messages);
  }

  /** Tells the model `text`, asking it to go on where the engine needs that. */
  #tell(text: string): void {
    if (this.#closed) return;
    const note = this.#o.engine.note(text);
    for (const message of note.messages) this.#o.send(message);
    if (note.thenContinue) this.#continuation.due();
  }
}
