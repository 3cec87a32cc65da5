/**
 * The scripted voice of a FakeLiveSession: the agent speaking (paced, with output transcript deltas
 * on the session timeline), the caller heard (μ-law loudness: a turn ends after `silenceMs` of
 * quiet, then its scripted transcript and answer follow), context commands acknowledged, and tool
 * calls made through Responses delegation.
 *
 * @module
 */

import { toBase64 } from "./fake_realtime.ts";
import { mulawLoudness, type PaceOptions, Pacer, SPEECH_LOUDNESS } from "./live_audio.ts";
import { fail, type LiveWireError } from "./live_schema.ts";

/** One thing the agent says. */
export interface LiveUtterance extends PaceOptions {
  /** μ-law bytes. */
  audio: Uint8Array;
  /** Sent as `session.output_transcript.delta`s, word by word, spread over the audio. */
  transcript?: string;
}

/** What follows one caller turn heard in the audio. */
export interface CallerTurn {
  /** Sent as `session.input_transcript.delta`s spread over the caller's speech. */
  transcript?: string;
  /** What the agent says next. */
  answer?: LiveUtterance;
}

/** What every session of a FakeLiveServer does on its own. */
export interface LiveScript {
  /** Spoken after the first `session.commentary.append` (the greeting instruction). */
  greeting?: LiveUtterance;
  /** The model's time to the greeting's first audio after that command, ms (the bench). @default 0 */
  greetingDelayMs?: number;
  /** Played in order, one per caller turn heard in the audio. */
  callerTurns?: readonly CallerTurn[];
  /** Quiet caller audio that ends a caller turn, ms. @default 500 */
  silenceMs?: number;
  /** The model gives way after this much caller speech over its own; unset: it keeps talking. */
  yieldToCallerAfterMs?: number;
  /** `session.usage.updated` period, ms; 0 for none. @default 1000 */
  usageIntervalMs?: number;
  /**
   * Keep each `session.input_audio.append` in `received`. False (the bench) only counts them and
   * recognises well-formed appends without JSON.parse. @default true
   */
  recordAudio?: boolean;
  /** Called with each caller frame's base64 payload and arrival time (the bench times frames). */
  onCallerAudio?: (payload: string, at: number) => void;
}

/** What the voice needs of its session. */
export interface VoiceHost {
  send(event: Record<string, unknown>): boolean;
  sendAudioDelta(payload: string): boolean;
  timelineMs(): number;
  // deno-lint-ignore no-explicit-any
  readonly config: Record<string, any> | undefined;
}

/** Most tokens of a context append (`content`), per the types. */
const CONTEXT_TOKEN_LIMIT = 500;

/** The agent's and the caller's voices in one session. */
export class LiveVoice {
  /** Caller turns heard, on the session timeline. */
  readonly callerTurnsHeard: { startMs: number; endMs: number }[] = [];
  /** Tool calls made and not yet answered, by call id. */
  readonly pendingCalls = new Map<string, string>();
  readonly #host: VoiceHost;
  readonly #script: LiveScript;
  readonly #listening: boolean;
  #pacer: Pacer | undefined;
  #greeted = false;
  #greetingTimer: ReturnType<typeof setTimeout> | undefined;
  #muted = false;
  #caller = { speaking: false, startMs: 0, lastLoudEndMs: 0, quietMs: 0, overAgentMs: 0 };
  #turn = 0;
  #calls = 0;

  constructor(host: VoiceHost, script: LiveScript) {
    this.#host = host;
    this.#script = script;
    this.#listening = (script.callerTurns?.length ?? 0) > 0 || script.yieldToCallerAfterMs !== undefined;
  }

  /** True while an utterance is going out. */
  get speaking(): boolean {
    return this.#pacer !== undefined;
  }

  /**
   * The agent says `utterance` (stopping anything it was saying). Resolves with the ms of audio sent
   * and whether it stopped early.
   */
  speak(utterance: LiveUtterance): Promise<{ sentMs: number; stopped: boolean }> {
    this.stopSpeaking();
    const startMs = this.#host.timelineMs();
    const words = (utterance.transcript ?? "").split(/\s+/).filter((w) => w !== "");
    const wordMs = utterance.audio.length / 8 / Math.max(1, words.length);
    let word = 0;
    const chunkMs = utterance.chunkMs ?? 20;
    const pacer = new Pacer(utterance.audio, (chunk, positionMs) => {
      const sent = this.#host.sendAudioDelta(toBase64(chunk));
      for (; sent && word < words.length && word * wordMs < positionMs + chunkMs; word++) {
        this.#host.send({
          type: "session.output_transcript.delta",
          delta: (word === 0 ? "" : " ") + words[word],
          start_ms: Math.round(startMs + word * wordMs),
          end_ms: Math.round(startMs + (word + 1) * wordMs),
        });
      }
      return sent;
    }, utterance);
    this.#pacer = pacer;
    this.#caller.overAgentMs = 0;
    return pacer.done.finally(() => {
      if (this.#pacer === pacer) this.#pacer = undefined;
    });
  }

  /** The model stops speaking now (mid-answer). */
  stopSpeaking(): void {
    clearTimeout(this.#greetingTimer);
    this.#pacer?.stop();
    this.#pacer = undefined;
  }

  /** Sends `text` as input transcript deltas spread over `[startMs, endMs]` of the timeline. */
  callerSaid(text: string, startMs: number, endMs: number): void {
    const words = text.split(/\s+/).filter((w) => w !== "");
    const wordMs = (endMs - startMs) / Math.max(1, words.length);
    words.forEach((word, i) =>
      this.#host.send({
        type: "session.input_transcript.delta",
        delta: (i === 0 ? "" : " ") + word,
        start_ms: Math.round(startMs + i * wordMs),
        end_ms: Math.round(startMs + (i + 1) * wordMs),
      })
    );
  }

  /**
   * The delegated backend calls function `name`: `session.delegation.created`, then `response.event`s
   * with the `function_call` item (`response.output_item.done`) and `response.completed`. Returns the
   * call id the answer must carry.
   */
  callFunction(name: string, args: Record<string, unknown> = {}): string {
    const n = ++this.#calls;
    const callId = `call_fake${n}`;
    const delegationId = `deleg_fake${n}`;
    const responseId = `resp_fake${n}`;
    this.pendingCalls.set(callId, delegationId);
    this.#host.send({
      type: "session.delegation.created",
      delegation: { id: delegationId, target: "responses", type: "delegation", response_id: responseId },
      offset_ms: this.#host.timelineMs(),
    });
    const item = { id: `fc_fake${n}`, type: "function_call", status: "completed", call_id: callId, name };
    this.#backend(delegationId, {
      type: "response.output_item.done",
      output_index: 0,
      sequence_number: 1,
      item: { ...item, arguments: JSON.stringify(args) },
    });
    this.#backend(delegationId, {
      type: "response.completed",
      response: { id: responseId, status: "completed" },
    });
    return callId;
  }

  /** One caller frame (base64 μ-law), while started. */
  hearCaller(base64: string): void {
    if (!this.#listening || this.#muted) return;
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const frameMs = bytes.length / 8;
    const now = this.#host.timelineMs();
    const caller = this.#caller;
    if (mulawLoudness(bytes) >= SPEECH_LOUDNESS) {
      if (!caller.speaking) Object.assign(caller, { speaking: true, startMs: now });
      caller.lastLoudEndMs = now + frameMs;
      caller.quietMs = 0;
      if (this.speaking) caller.overAgentMs += frameMs;
      const yieldAfter = this.#script.yieldToCallerAfterMs;
      if (yieldAfter !== undefined && caller.overAgentMs >= yieldAfter) this.stopSpeaking();
      return;
    }
    if (!caller.speaking) return;
    caller.quietMs += frameMs;
    if (caller.quietMs >= (this.#script.silenceMs ?? 500)) {
      caller.speaking = false;
      caller.overAgentMs = 0;
      this.#callerTurnEnded(caller.startMs, caller.lastLoudEndMs);
    }
  }

  /** Refuses a well-formed command the session state does not allow. */
  checkCommand(event: Record<string, unknown>): LiveWireError | undefined {
    const responses = this.#host.config?.delegation?.type === "responses";
    if (event.type === "response.create" || event.type === "response.item.create") {
      if (!responses) {
        return fail("delegation_required", `'${event.type}' requires Responses delegation.`, "type");
      }
      // deno-lint-ignore no-explicit-any
      const item = event.item as Record<string, any> | undefined;
      if (item?.type === "function_call_output" && !this.pendingCalls.has(item.call_id)) {
        return fail(
          "unknown_call_id",
          `No tool call found for function call output with call_id ${item.call_id}.`,
          "item.call_id",
        );
      }
    }
    if (typeof event.content === "string") {
      if (event.delegation_id !== null && responses) {
        return fail(
          "invalid_value",
          "Non-null delegation_id is not accepted with Responses delegation.",
          "delegation_id",
        );
      }
      if (Math.ceil(event.content.length / 4) > CONTEXT_TOKEN_LIMIT) {
        return fail(
          "string_above_max_length",
          `Invalid 'content': longer than ${CONTEXT_TOKEN_LIMIT} tokens.`,
          "content",
        );
      }
    }
    return undefined;
  }

  /** An accepted command other than start, audio and close. */
  command(event: Record<string, unknown>, echo: Record<string, unknown>): void {
    const now = this.#host.timelineMs();
    switch (event.type) {
      case "session.commentary.append":
      case "session.thinking.append":
      case "session.instructions.append":
        this.#host.send({ type: `${event.type}ed`, start_ms: now, end_ms: now, ...echo });
        if (event.type === "session.commentary.append" && !this.#greeted && this.#script.greeting) {
          this.#greeted = true;
          const greeting = this.#script.greeting;
          const delayMs = this.#script.greetingDelayMs ?? 0;
          if (delayMs <= 0) void this.speak(greeting);
          else this.#greetingTimer = setTimeout(() => void this.speak(greeting), delayMs);
        }
        return;
      case "session.input_audio.mute":
      case "session.input_audio.unmute":
        this.#muted = event.type === "session.input_audio.mute";
        this.#host.send({ type: `${event.type}d`, ...echo });
        return;
      case "response.item.create": {
        // deno-lint-ignore no-explicit-any
        const item = event.item as Record<string, any>;
        if (item.type === "function_call_output") this.pendingCalls.delete(item.call_id);
        return;
      }
      case "response.create": {
        const id = `resp_fake_more${++this.#calls}`;
        this.#backend(null, { type: "response.created", response: { id, status: "in_progress" } });
        this.#backend(null, { type: "response.completed", response: { id, status: "completed" } });
        return;
      }
    }
  }

  #backend(delegationId: string | null, event: Record<string, unknown>): void {
    this.#host.send({ type: "response.event", delegation_id: delegationId, event });
  }

  #callerTurnEnded(startMs: number, endMs: number): void {
    this.callerTurnsHeard.push({ startMs, endMs });
    const turn = this.#script.callerTurns?.[this.#turn++];
    if (turn?.transcript !== undefined) this.callerSaid(turn.transcript, startMs, endMs);
    if (turn?.answer !== undefined) void this.speak(turn.answer);
  }
}
