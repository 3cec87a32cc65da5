/**
 * The model's tool calls on one call: the built-ins (`end_call`, `do_not_call`, `transfer_call`,
 * `press_keys`) answered at once, the persona's own run by {@linkcode ToolRunner}; each call answered
 * once (an id seen again is ignored), its output sent upstream and reported.
 *
 * Apart from `actions.ts` because only tool calls know tool ids and outputs: the rest of the call's
 * actions reach them through the hang-up ({@linkcode CallEnding}), the keypad tones and the "go on"
 * ({@linkcode Continuation}) they share.
 *
 * @module
 */

import type { ToolCallStatus, ToolCallSummary } from "../calls/call_events.ts";
import type { Engine } from "../engines/engine.ts";
import type { Logger } from "../log.ts";
import { excerpt } from "../log.ts";
import type { CallContext, LoadedPersona } from "../personas/types.ts";
import type { CallEnding } from "./call_ending.ts";
import type { Continuation } from "./continuation.ts";
import type { KeypadTones } from "./keypad_tones.ts";
import { transferTargetFor } from "./persona_callbacks.ts";
import { ToolRunner } from "./tool_runner.ts";

/** A tool call as the engine reported it. */
export interface ToolCall {
  callId: string;
  name: string;
  arguments: string;
}

/** What a finished tool call reports (the call event's body). */
export type ToolCallReport = ToolCallSummary;

/** What {@linkcode ToolCalls} needs of the call. */
export interface ToolCallsOptions {
  persona: LoadedPersona;
  context: CallContext;
  engine: Engine;
  /** Sends one message upstream. */
  send(message: string): void;
  /** One tool call finished: log line, record and live feed. */
  toolCalled(report: ToolCallReport): void;
  log: Logger;
  /** The hang-up end_call, do_not_call and a transfer ask for. */
  ending: CallEnding;
  /** Asks the model to go on after an output. */
  continuation: Continuation;
  /** Where press_keys queues its tones. */
  tones: KeypadTones;
  /** Plays the queued tones, unless an answer is under way (they then wait for its end). */
  flushTones(): void;
}

/**
 * One call's tool calls.
 *
 * @example
 * ```ts
 * const tools = new ToolCalls({ persona, context, engine, send, toolCalled, log,
 *   ending, continuation, tones, flushTones });
 * tools.call({ callId: "call_1", name: "end_call", arguments: "{}" });
 * ```
 */
export class ToolCalls {
  readonly #o: ToolCallsOptions;
  readonly #runner: ToolRunner;
  readonly #seen = new Set<string>();
  #closed = false;
  /** Counts the sessions lost: a tool called on an earlier session is unknown to the one serving now. */
  #session = 0;

  constructor(options: ToolCallsOptions) {
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
  }

  /** The model called a tool. */
  call(call: ToolCall): void {
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

  /** The call's session was lost: outputs of tools still running go to the next one as notes. */
  sessionLost(): void {
    this.#session++;
  }

  /** The call ended: running tools see their signal abort, and their outputs are dropped. */
  close(): void {
    this.#closed = true;
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
    const { ending } = this.#o;
    ending.setAfterStream({ action: "hangup" });
    // After a voicemail, end_call is the model saying it is done: the disposition stays voicemail_left.
    if (ending.pendingReason === "voicemail_left") return ending.check();
    ending.hangUpAfterLastWords("agent_hung_up", "the agent ended the call (end_call)", false);
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
    this.#o.ending.setAfterStream({ action: "hangup" });
    this.#o.ending.hangUpAfterLastWords(
      "agent_hung_up",
      "the person asked not to be called again (do_not_call)",
      false,
    );
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
    this.#o.ending.setAfterStream({ action: "dial", target });
    this.#o.ending.hangUpAfterLastWords("transferred", `transferred to ${target}`, false);
  }

  #pressKeys(call: ToolCall): void {
    let keys: unknown;
    try {
      keys = (JSON.parse(call.arguments) as Record<string, unknown>)?.keys;
    } catch { /* reported below */ }
    const problem = this.#o.tones.press(keys);
    if (problem !== undefined) {
      return this.#answer(call, "bad_arguments", JSON.stringify({ error: problem }), 0, true);
    }
    this.#o.flushTones();
    this.#answer(call, "ok", JSON.stringify({ ok: true, pressed: keys }), 0, true);
  }

  // ── Persona tools ─────────────────────────────────────────────────────────────────────────

  async #runTool(call: ToolCall): Promise<void> {
    const session = this.#session;
    this.#o.continuation.toolStarted();
    const outcome = await this.#runner.run(call);
    this.#o.continuation.toolFinished();
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
    if (goOn) this.#o.continuation.due();
  }
}
