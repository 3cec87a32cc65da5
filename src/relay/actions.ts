/**
 * A call's agent actions: the model's tool calls (the persona's own, run by {@linkcode ToolRunner},
 * and the built-ins `end_call`, `do_not_call`, `transfer_call`, `press_keys`), caller key presses, and voicemail.
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
 * @module
 */

import type { AfterStreamAction, EndReason, ToolCallStatus, ToolCallSummary } from "../calls/call_events.ts";
import type { Engine } from "../engines/engine.ts";
import type { Logger } from "../log.ts";
import { excerpt } from "../log.ts";
import type { CallContext, LoadedPersona } from "../personas/types.ts";
import { KeypadBatcher } from "./keypad_batcher.ts";
import { KeypadTones } from "./keypad_tones.ts";
import { PendingHangUp } from "./pending_hang_up.ts";
import { transferTargetFor, voicemailText } from "./persona_callbacks.ts";
import { ToolRunner } from "./tool_runner.ts";
import { Continuation } from "./continuation.ts";

/** Ends after which Twilio's `<Connect action>` hangs up rather than playing the fallback. */
const HANG_UP_AFTER: ReadonlySet<EndReason> = new Set([
  "caller_hung_up",
  "hung_up_by_user",
  "max_call_minutes",
]);
/** AMD results that mean a machine has finished its greeting (the beep, or silence). */
const MACHINE_END = new Set(["machine_end_beep", "machine_end_silence", "machine_end_other"]);

/** A tool call as the engine reported it. */
export interface ToolCall {
  callId: string;
  name: string;
  arguments: string;
}

/** What a finished tool call reports (the call event's body). */
export type ToolCallReport = ToolCallSummary;

/** What Twilio does after the stream. */
export interface AfterStream {
  action: AfterStreamAction;
  target?: string;
}

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
  readonly #runner: ToolRunner;
  readonly #keypad: KeypadBatcher | undefined;
  readonly #seen = new Set<string>();
  #activeResponse: string | undefined;
  readonly #continuation: Continuation;
  readonly #tones: KeypadTones;
  #hangUp: PendingHangUp | undefined;
  #after: AfterStream | undefined;
  #closed = false;
  /** The caller's sound is being weighed by the barge-in gate: whether it counts is not known yet. */
  #weighing = false;
  /** An answer asked of the agent ({@linkcode prompt}) that waits for the one under way, or the caller. */
  #prompt: string[] | undefined;
  /** Counts the sessions lost: a tool called on an earlier session is unknown to the one serving now. */
  #session = 0;

  constructor(options: CallActionsOptions) {
    this.#o = options;
    const { callSid, parameters } = options.context;
    const personaId = options.persona.id;
    this.#runner = new ToolRunner(options.persona.persona.tools ?? [], {
      context: {
        callSid,
        parameters,
        personaId,
        log: (message) =>
          options.log.info(`Tool log (${personaId}) CallSid=${callSid}: ${excerpt(message, 200)}`),
      },
    });
    this.#tones = new KeypadTones(options.playAgentAudio);
    this.#continuation = new Continuation({
      engine: options.engine,
      send: options.send,
      blocked: () => this.#activeResponse !== undefined || this.#closed,
      ...(options.callerSpeaking === undefined ? {} : { callerSpeaking: options.callerSpeaking }),
      ...(options.answerAsked === undefined ? {} : { answerAsked: options.answerAsked }),
    });
    if (options.persona.persona.dtmf === true) {
      this.#keypad = new KeypadBatcher({ onBatch: (text) => this.#tell(text) });
    }
  }

  /** An answer started upstream. */
  responseStarted(responseId: string): void {
    this.#activeResponse = responseId;
    this.#hangUp?.answerStarted();
  }

  /** An answer ended upstream: deferred tones, continuations and hang-ups may go ahead. */
  responseDone(responseId: string): void {
    if (this.#activeResponse === responseId) this.#activeResponse = undefined;
    this.#flushTones();
    this.#sendPrompt();
    this.#continuation.check();
    this.#hangUp?.check();
  }

  /**
   * The call's session was lost: the answer under way is gone with it, so held tones play, and a due
   * "go on", a waiting prompt and a pending hang-up go ahead (what is sent waits for the new session).
   */
  sessionLost(): void {
    this.#session++;
    this.#activeResponse = undefined;
    this.#flushTones();
    this.#sendPrompt();
    this.#continuation.check();
    this.#hangUp?.check();
  }

  /** True while a hang-up (end_call, do_not_call, a transfer, a voicemail) waits for the last words. */
  get hangingUp(): boolean {
    return this.#hangUp !== undefined;
  }

  /** Twilio echoed a mark: the caller may now have heard everything. */
  heard(): void {
    this.#hangUp?.check();
  }

  /**
   * The caller started speaking; `weighed` when the barge-in gate (`interruptions.minSpeechMs`) is yet
   * to tell whether it counts: until {@linkcode callerSpoke} (it does) or {@linkcode callerStopped}
   * (a short sound, which does not), a pending hang-up waits.
   */
  callerStarted(weighed: boolean): void {
    this.#weighing = weighed;
  }

  /**
   * The caller's speech counts (at once, or once it lasted the barge-in gate): a pending hang-up is
   * cancelled (barge-in wins). A sound the gate ignores never gets here.
   */
  callerSpoke(): void {
    this.#weighing = false;
    const pending = this.#hangUp;
    if (pending === undefined || pending.reason === "voicemail_left") return;
    this.#cancelHangUp();
    this.#after = undefined;
    this.#o.log.info(
      `Caller spoke before the agent's last words were heard: ${pending.reason} cancelled on CallSid=${this.#o.context.callSid}`,
    );
  }

  /**
   * The caller stopped speaking: a due "go on" may go now, or be left to the server (`continuation.ts`),
   * and a hang-up that waited for a short sound to be weighed may go ahead.
   */
  callerStopped(): void {
    // An engine whose server answers each caller turn answers this one first; the prompt follows it.
    if (!this.#o.engine.capabilities.serverVad) this.#sendPrompt();
    this.#continuation.callerStopped();
    if (!this.#weighing) return;
    this.#weighing = false;
    this.#hangUp?.check();
  }

  /** A key the caller pressed (Twilio `dtmf`): to the model when the persona has `dtmf: true`. */
  dtmf(digit: string): void {
    this.#keypad?.press(digit);
  }

  /** Twilio's answering-machine result (`AnsweredBy`) for this call. */
  machineAnswered(answeredBy: string): void {
    if (!MACHINE_END.has(answeredBy) || this.#closed || this.#hangUp?.reason === "voicemail_left") return;
    const { persona, context } = this.#o;
    const text = voicemailText(persona, context, this.#o.log); // a failed function: logged, undefined
    this.#o.log.info(
      `Answering machine on CallSid=${context.callSid} (${answeredBy}): ${
        text === undefined ? "hanging up" : "leaving the voicemail"
      }`,
    );
    this.#o.stopAgent();
    this.#cancelHangUp();
    if (text === undefined) {
      this.#after = { action: "hangup" };
      const why = persona.persona.voicemail === undefined
        ? "the persona has no voicemail message"
        : "the persona's voicemail failed";
      return this.#o.end("agent_hung_up", `answering machine (${answeredBy}); ${why}`);
    }
    this.#tell(
      `An answering machine picked up and the beep has sounded. Leave this voicemail now, then stop: ${text}`,
    );
    this.#after = { action: "hangup" };
    this.#startHangUp("voicemail_left", `voicemail left (${answeredBy})`, true);
  }

  /** The model called a tool. */
  toolCall(call: ToolCall): void {
    if (this.#closed || this.#seen.has(call.callId)) return;
    this.#seen.add(call.callId);
    switch (call.name) {
      case "end_call":
        if (this.#o.persona.persona.endCall === true) return this.#endCall(call);
        break;
      case "do_not_call":
        if (this.#o.persona.persona.doNotCall === true) return this.#doNotCall(call);
        break;
      case "transfer_call":
        if (this.#o.persona.persona.transfer !== undefined) return this.#transfer(call);
        break;
      case "press_keys":
        if (this.#o.persona.persona.keypad === true) return this.#pressKeys(call);
        break;
    }
    void this.#runTool(call);
  }

  /** What Twilio should do after the stream, given why the call ended. */
  afterStream(reason: EndReason): AfterStream {
    if (this.#after !== undefined) return this.#after;
    // A call someone hung up (the caller, or a user from the page or the API) just ends, as does one
    // that reached the persona's maxCallMinutes (the agent was asked to say goodbye first); any other
    // end means the agent could not go on, and the caller hears the fallback message.
    return { action: HANG_UP_AFTER.has(reason) ? "hangup" : "fallback" };
  }

  /** The call ended: timers stop, running tools see their signal abort. */
  close(): void {
    this.#closed = true;
    this.#cancelHangUp();
    this.#keypad?.close();
    this.#runner.close();
  }

  // ── Built-ins ─────────────────────────────────────────────────────────────────────────────

  #endCall(call: ToolCall): void {
    this.#answer(
      call,
      "ok",
      '{"ok":true,"note":"The call ends once the caller has heard your last words."}',
      0,
      false,
    );
    this.#after = { action: "hangup" };
    // After a voicemail, end_call is the model saying it is done: the disposition stays voicemail_left.
    if (this.#hangUp?.reason === "voicemail_left") return this.#hangUp.check();
    this.#startHangUp("agent_hung_up", "the agent ended the call (end_call)", false);
  }

  /**
   * The number joins the do-not-call list where the `tool.called` event is heard (the dialer), so this
   * only answers and hangs up after the goodbye.
   */
  #doNotCall(call: ToolCall): void {
    this.#answer(
      call,
      "ok",
      '{"ok":true,"note":"The number will not be called again. Say goodbye now; the call ends once they have heard you."}',
      0,
      false,
    );
    this.#after = { action: "hangup" };
    this.#startHangUp("agent_hung_up", "the person asked not to be called again (do_not_call)", false);
  }

  #transfer(call: ToolCall): void {
    const target = transferTargetFor(this.#o.persona, this.#o.context, this.#o.log);
    if (target === undefined) {
      const output = JSON.stringify({ error: "no valid transfer number is set for this call; carry on" });
      return this.#answer(call, "refused", output, 0, true);
    }
    this.#answer(
      call,
      "ok",
      JSON.stringify({ ok: true, note: "The caller is transferred once they have heard you." }),
      0,
      false,
    );
    this.#after = { action: "dial", target };
    this.#startHangUp("transferred", `transferred to ${target}`, false);
  }

  #pressKeys(call: ToolCall): void {
    let keys: unknown;
    try {
      keys = (JSON.parse(call.arguments) as Record<string, unknown>)?.keys;
    } catch { /* reported below */ }
    const problem = this.#tones.press(keys);
    if (problem !== undefined) {
      return this.#answer(call, "bad_arguments", JSON.stringify({ error: problem }), 0, true);
    }
    this.#flushTones();
    this.#answer(call, "ok", JSON.stringify({ ok: true, pressed: keys }), 0, true);
  }

  /** Tones wait for the agent's current answer: they play after its audio. */
  #flushTones(): void {
    if (this.#activeResponse !== undefined) return;
    this.#tones.flush();
  }

  // ── Persona tools ─────────────────────────────────────────────────────────────────────────

  async #runTool(call: ToolCall): Promise<void> {
    const session = this.#session;
    this.#continuation.toolStarted();
    const outcome = await this.#runner.run(call);
    this.#continuation.toolFinished();
    if (outcome === undefined || this.#closed) return;
    this.#answer(call, outcome.status, outcome.output, outcome.durationMs, true, session);
  }

  /**
   * Sends a tool's output and reports the call. A tool called on a session since lost is unknown to
   * the one serving now, which refuses an output for it (Realtime: `invalid_tool_call_id`): the new
   * session is told the result as a note instead.
   */
  #answer(
    call: ToolCall,
    status: ToolCallStatus,
    output: string,
    durationMs: number,
    goOn: boolean,
    session = this.#session,
  ): void {
    if (session === this.#session) this.#o.send(this.#o.engine.toolOutput(call.callId, output));
    else {
      const note = this.#o.engine.note(
        `(The line dropped while your tool ${call.name} ran; its result: ${output})`,
      );
      for (const message of note.messages) this.#o.send(message);
    }
    this.#o.toolCalled({
      callId: call.callId,
      name: call.name,
      arguments: excerpt(call.arguments, 200),
      status,
      resultBytes: new TextEncoder().encode(output).length,
      durationMs,
    });
    if (goOn) this.#continuation.due();
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

  // ── Hang-ups ──────────────────────────────────────────────────────────────────────────────

  #startHangUp(reason: EndReason, detail: string, awaitingAnswer: boolean): void {
    this.#cancelHangUp();
    // The caller cannot cancel a voicemail's hang-up: a sound being weighed does not hold it.
    const weighs = reason !== "voicemail_left";
    this.#hangUp = new PendingHangUp({
      reason,
      detail,
      awaitingAnswer,
      ready: () =>
        this.#activeResponse === undefined && !this.#tones.pending && this.#o.heardAll() &&
        !(weighs && this.#weighingSound()),
      end: (reason, detail) => {
        this.#hangUp = undefined;
        this.#o.end(reason, detail);
      },
      ...(this.#o.hangUpCapMs === undefined ? {} : { capMs: this.#o.hangUpCapMs }),
    });
  }

  /**
   * True while the barge-in gate weighs the caller's sound. A session lost mid-sound leaves no stop to
   * come: the caller no longer speaking (as barge-in knows it) ends the wait too.
   */
  #weighingSound(): boolean {
    return this.#weighing && this.#o.callerSpeaking?.() !== false;
  }

  #cancelHangUp(): void {
    this.#hangUp?.cancel();
    this.#hangUp = undefined;
  }
}
