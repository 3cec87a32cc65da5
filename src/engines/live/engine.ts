/**
 * GPT-Live (`gpt-live-*`) as an {@linkcode Engine}: full-duplex, billed per session minute. The
 * model listens while it speaks and owns turn-taking and barge-in, so Parley never truncates or
 * cancels; it only keeps the caller from hearing stale audio (see `src/relay/barge_in.ts`).
 *
 * Wire facts relied on (npm `openai@7.57.0` `resources/live`, OpenAI's `voice-websockets` guide):
 * - `wss://api.openai.com/v1/live/sessions`, no query parameters; the model goes in `session.start`,
 *   the first message. Audio and commands wait for `session.started` (it carries the session id,
 *   which OpenAI support asks for).
 * - `audio/pcmu` at 8 kHz both ways: Twilio's payloads pass through untouched.
 * - Speaking first: `session.commentary.append {content, delegation_id: null}` after
 *   `session.started`, worded as an instruction (what Twilio's agent library does).
 * - Output audio deltas carry no answer or item id, and no event says an answer started or ended:
 *   an answer is a run of deltas, and it has ended when none came for {@linkcode ANSWER_GAP_MS}.
 *   This assumes real-time pacing (see `events.ts`): a model that stops mid-answer simply stops
 *   sending. Confirm on a real deployment; a server that bursts ahead with pauses longer than the
 *   gap would split one answer into several, which costs nothing but an extra tail mark.
 * - Transcripts come as fragments on the session timeline; turns are assembled by `transcripts.ts`
 *   and the timeline is mapped to Parley's clock from the `session.start` → `session.started`
 *   round trip, so the end of the caller's speech is known on Parley's clock (turn latency).
 * - `session.usage.updated` is cumulative seconds (a `usage` event, `live/usage.ts`); `session.close` → `session.closed {reason}`.
 *
 * @module
 */

import type { Engine, EngineEvent, EngineReader, SessionOpening, SessionPlan } from "../engine.ts";
import {
  commentaryAppendEvent,
  functionCallOutputEvent,
  inputAudioAppendEvent,
  parseLiveEvent,
  responseCreateEvent,
  sessionCloseEvent,
} from "./events.ts";
import { liveInstructionsProblem } from "./persona_rules.ts";
import { sessionStartEvent } from "./session.ts";
import { SessionClock, type TranscriptTurn, TurnAssembler } from "./transcripts.ts";
import { LIVE_VOICES, type LiveVoice } from "./voices.ts";
import type { LiveUsage } from "./usage.ts";

/**
 * The Responses model that runs a persona's tools behind GPT-Live (delegation). The SDK types name
 * no default; this is the one OpenAI's delegation guide uses.
 */
export const DELEGATION_MODEL = "gpt-5.5";

/** No output audio for this long means the model has stopped speaking (the answer ended or yielded). */
export const ANSWER_GAP_MS = 250;

/**
 * The GPT-Live engine for the endpoint `url` (OPENAI_LIVE_URL).
 *
 * @example
 * ```ts
 * const engine = createLiveEngine("wss://api.openai.com/v1/live/sessions");
 * engine.sessionUrl("gpt-live-1.1"); // the URL as is: the model goes in session.start
 * ```
 */
export function createLiveEngine(url: string): Engine<"live"> {
  // GPT-Live has no answer ids: the readers name runs of audio. One count for all of this engine's
  // sessions, so a new session's answers are never taken for answers of the one it replaced (whose
  // names the relay keeps as cut, dropping their late audio).
  let answers = 0;
  const nextAnswerId = () => `live_answer_${++answers}`;
  return {
    id: "live",
    capabilities: {
      truncates: false,
      serverVad: false,
      waitsForSession: true,
      needsIdle: true,
      billedPerMinute: true,
      voices: LIVE_VOICES,
    },
    sessionUrl: () => url,
    opening: liveOpening,
    audioMessage: inputAudioAppendEvent,
    reader: (now) => new LiveReader(now, nextAnswerId),
    interruption: () => [],
    // Commentary, as the greeting: the model says it in its own words.
    prompt: (_plan, instruction) => [commentaryAppendEvent(instruction)],
    closeMessage: () => sessionCloseEvent(),
    // GPT-Live transcribes as the caller speaks: nothing waits on a commit.
    commitMessage: () => undefined,
    toolOutput: (callId, output) => functionCallOutputEvent(callId, output),
    continueMessage: () => responseCreateEvent(),
    // No user-text event reaches the Live model itself: speakable context is the way to tell it.
    note: (text) => ({ messages: [commentaryAppendEvent(text)], thenContinue: false }),
    instructionsProblem: liveInstructionsProblem,
  };
}

function liveOpening(plan: SessionPlan): SessionOpening {
  const history = plan.history.map((turn) => ({
    role: turn.speaker === "caller" ? "user" as const : "assistant" as const,
    text: turn.text,
  }));
  return {
    first: [sessionStartEvent({ voice: plan.voice as LiveVoice }, {
      model: plan.model,
      instructions: plan.instructions,
      history,
      ...(plan.tools.length === 0 ? {} : { delegation: { model: DELEGATION_MODEL, tools: plan.tools } }),
    })],
    afterReady: plan.greeting === undefined ? [] : [commentaryAppendEvent(plan.greeting)],
  };
}

/** One GPT-Live session's reader: answers from runs of audio, turns from transcript fragments. */
class LiveReader implements EngineReader {
  readonly #now: () => number;
  readonly #nextAnswerId: () => string;
  readonly #turns = new TurnAssembler();
  #clock: SessionClock | undefined;
  #openingSentAt: number | undefined;
  #answer: string | undefined;
  #lastDeltaAt = 0;
  #callerTurnStart: number | undefined;

  /** `nextAnswerId` names each run of audio: unique across the engine's sessions. */
  constructor(now: () => number, nextAnswerId: () => string) {
    this.#now = now;
    this.#nextAnswerId = nextAnswerId;
  }

  openingSent(at: number): void {
    this.#openingSentAt = at;
  }

  read(text: string, emit: (event: EngineEvent) => void): void {
    const event = parseLiveEvent(text);
    switch (event.type) {
      case "session.output_audio.delta":
        return this.#audio(event.delta, emit);
      case "session.input_transcript.delta":
      case "session.output_transcript.delta":
        return this.#fragment(
          event.type === "session.input_transcript.delta" ? "caller" : "agent",
          event,
          emit,
        );
      case "session.started": {
        const now = this.#now();
        this.#clock = SessionClock.fromHandshake(this.#openingSentAt ?? now, now);
        return emit({ type: "session.ready", sessionId: event.sessionId });
      }
      case "session.usage.updated":
        return emit({ type: "usage", usage: { seconds: event.seconds } satisfies LiveUsage });
      case "session.closed":
        if (event.seconds !== undefined) {
          emit({ type: "usage", usage: { seconds: event.seconds } satisfies LiveUsage });
        }
        return emit({
          type: "session.closed",
          expected: event.reason === "close_requested",
          detail: describeClose(event.reason),
        });
      case "error":
        return emit({ type: "error", code: event.code, message: event.message, endsCall: undefined });
      case "info":
        return emit({ type: "notice", code: event.code, message: event.message });
      case "response.function_call":
        return emit({
          type: "tool.call",
          callId: event.callId,
          name: event.name,
          arguments: event.arguments,
        });
      case "invalid":
        return emit(event);
      default:
        return emit({ type: "ignored" });
    }
  }

  idle(emit: (event: EngineEvent) => void): void {
    const now = this.#now();
    if (this.#answer !== undefined && now - this.#lastDeltaAt >= ANSWER_GAP_MS) this.#endAnswer(emit);
    if (this.#clock !== undefined) this.#emitTurns(this.#turns.idle(this.#clock.toSession(now)), emit);
  }

  flush(emit: (event: EngineEvent) => void): void {
    if (this.#answer !== undefined) this.#endAnswer(emit);
    this.#emitTurns(this.#turns.flush(), emit);
  }

  #audio(delta: string, emit: (event: EngineEvent) => void): void {
    const now = this.#now();
    let answer = this.#answer;
    if (answer === undefined || now - this.#lastDeltaAt >= ANSWER_GAP_MS) {
      if (answer !== undefined) this.#endAnswer(emit);
      answer = this.#answer = this.#nextAnswerId();
      emit({ type: "response.started", responseId: answer });
    }
    this.#lastDeltaAt = now;
    emit({ type: "agent.audio", responseId: answer, itemId: answer, delta });
  }

  #endAnswer(emit: (event: EngineEvent) => void): void {
    const answer = this.#answer!;
    this.#answer = undefined;
    emit({ type: "response.done", responseId: answer, failure: undefined, usage: undefined });
  }

  #fragment(
    speaker: "caller" | "agent",
    fragment: { delta: string; startMs: number; endMs: number },
    emit: (event: EngineEvent) => void,
  ): void {
    this.#emitTurns(this.#turns.add(speaker, fragment.delta, fragment.startMs, fragment.endMs), emit);
    const open = this.#turns.current("caller");
    if (open !== undefined && open.startMs !== this.#callerTurnStart) {
      this.#callerTurnStart = open.startMs;
      emit({ type: "caller.started" });
    }
  }

  #emitTurns(turns: readonly TranscriptTurn[], emit: (event: EngineEvent) => void): void {
    for (const turn of turns) {
      if (turn.speaker === "caller") {
        // A caller turn that began and ended with one fragment (it came after the turn's own gap, as a
        // transcript lagging the audio can) still starts before it stops: barge-in, the keeper and a
        // pending hang-up hear of the caller either way.
        if (this.#callerTurnStart !== turn.startMs) emit({ type: "caller.started" });
        this.#callerTurnStart = undefined;
        emit({ type: "caller.stopped", at: this.#clock?.toLocal(turn.endMs) });
      }
      const startedAt = this.#clock?.toLocal(turn.startMs);
      emit({
        type: "transcript",
        speaker: turn.speaker,
        text: turn.text,
        itemId: undefined,
        ...(startedAt === undefined ? {} : { startedAt }),
      });
    }
  }
}

/** A `session.closed` reason in plain words. */
export function describeClose(reason: string): string {
  switch (reason) {
    case "close_requested":
      return "the session was closed as asked";
    case "expired":
      return "GPT-Live ended the session: it reached its time limit";
    case "content":
      return "GPT-Live ended the session for a content policy reason";
    case "remote_hangup":
      return "GPT-Live ended the session: the other side hung up";
    case "connection_lost":
      return "GPT-Live ended the session: it lost the connection";
    default:
      return `GPT-Live ended the session (reason "${reason}")`;
  }
}
