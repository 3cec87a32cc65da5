/**
 * The seam between the per-call relay and an OpenAI speech-to-speech API. The relay never touches an
 * OpenAI event name: it asks an {@linkcode Engine} for the messages to send and hears back a few
 * {@linkcode EngineEvent}s. Each engine's folder (`realtime/`, `live/`) is the only place that knows
 * its wire format; {@linkcode EngineCapabilities} say where the engines behave differently.
 *
 * Adding an engine: a folder under `src/engines/`, and a line in `src/engines/registry.ts`.
 *
 * @module
 */

import type { Usage } from "../calls/call_events.ts";
import type { Persona } from "../personas/types.ts";
import type { EngineId } from "./voices.ts";

/** One turn of the conversation so far, for a session that takes over a call (reconnect, rollover). */
export interface HistoryTurn {
  speaker: "caller" | "agent";
  text: string;
}

/** Everything an engine needs to open a session for one call. */
export interface SessionPlan {
  /** The persona serving the call (its turn-taking settings). */
  persona: Persona;
  /** The model the session runs. */
  model: string;
  /** Instructions already rendered for this call. */
  instructions: string;
  /** The voice: the call's `voice` parameter when valid for the engine, else the persona's. */
  voice: string;
  /** Spoken first when set: the agent greets the caller following this instruction. */
  greeting: string | undefined;
  /** The conversation so far, oldest first (empty for a new call). */
  history: readonly HistoryTurn[];
  /** Functions offered to the model: the persona's tools and the built-ins it turned on. */
  tools: readonly ToolSpec[];
}

/** A function the model may call, as offered on the wire. */
export interface ToolSpec {
  name: string;
  description: string;
  /** JSON schema of the arguments (an object schema). */
  parameters: Record<string, unknown>;
}

/** Messages that tell the model something happened, and whether the model must then be asked to go on. */
export interface EngineNote {
  messages: string[];
  /** Send {@linkcode Engine.continueMessage} once no answer is in progress (Realtime). */
  thenContinue: boolean;
}

/** The messages that open a session, in order. */
export interface SessionOpening {
  /** Sent the moment the socket is open, ahead of anything else. */
  first: string[];
  /**
   * Sent once the session is ready (at once on engines that do not wait), ahead of caller audio:
   * e.g. the greeting on an engine that refuses commands before its session has started.
   */
  afterReady: string[];
}

/** A part of an agent answer that the caller was cut off from. */
export interface CutItem {
  itemId: string;
  responseId: string;
  /** Audio of the item the caller heard, ms. */
  heardMs: number;
}

/** What an engine tells the relay; everything else on the wire is `ignored`. */
export type EngineEvent =
  /** The session took its configuration; `sessionId` when the server names it. */
  | { type: "session.ready"; sessionId: string | undefined }
  /** Agent audio, base64 μ-law 8 kHz, to be played as is. */
  | { type: "agent.audio"; responseId: string; itemId: string; delta: string }
  /** All audio of an item was sent (`itemId` undefined: the latest item). */
  | { type: "agent.audio.done"; responseId: string; itemId: string | undefined }
  /** The agent began an answer. */
  | { type: "response.started"; responseId: string }
  /** The agent's answer ended; `failure` when it failed or stopped short. */
  | {
    type: "response.done";
    responseId: string;
    failure: { status: string; reason: string } | undefined;
    usage: Usage | undefined;
  }
  /** The caller started speaking. */
  | { type: "caller.started" }
  /**
   * The caller stopped speaking; `at` (monotonic ms) when the engine knows when it happened, which
   * may be earlier than now (GPT-Live: the end of the caller's last transcript fragment).
   */
  | { type: "caller.stopped"; at: number | undefined }
  /** A finished turn's words. */
  | { type: "transcript"; speaker: "caller" | "agent"; text: string; itemId: string | undefined }
  /** Cumulative billed session time (engines billed by the minute). */
  | { type: "usage.seconds"; seconds: number }
  /** A notice from the server, worth a log line. */
  | { type: "notice"; code: string; message: string }
  /** The model called a tool (`arguments` as sent, JSON text). */
  | { type: "tool.call"; callId: string; name: string; arguments: string }
  /** The server ended the session; `expected` when Parley asked for it, else `detail` in plain words. */
  | { type: "session.closed"; expected: boolean; detail: string }
  /**
   * An error the server reported. `endsCall` (plain words) when the session cannot go on; errors that
   * are expected races are mapped to `ignored` by the engine.
   */
  | { type: "error"; code: string; message: string; endsCall: string | undefined }
  /** A message that could not be read. */
  | { type: "invalid"; problem: string }
  /** Anything the relay does not act on. */
  | { type: "ignored" };

/** Reads one session's server messages into events. */
export interface EngineReader {
  /** Reads one text message, emitting zero or more events. Never throws. Hot path. */
  read(text: string, emit: (event: EngineEvent) => void): void;
  /** The opening went out at `at` (monotonic ms): engines with a session timeline start it near here. */
  openingSent(at: number): void;
  /** Emits what is due by now without a message (a turn that ended in silence); called every ~100 ms. */
  idle(emit: (event: EngineEvent) => void): void;
  /** The session is over: emits whatever is still pending (e.g. an unfinished transcript turn). */
  flush(emit: (event: EngineEvent) => void): void;
}

/** Where engines differ in what the relay may do. */
export interface EngineCapabilities {
  /** The client truncates and cancels the agent's answer on barge-in (Realtime); or the model does (GPT-Live). */
  truncates: boolean;
  /** The persona's `vad` and `interruptions.minSpeechMs` settings apply. */
  serverVad: boolean;
  /** Audio and commands wait for `session.ready` (GPT-Live refuses them before its session started). */
  waitsForSession: boolean;
  /** The relay calls the reader's `idle` on a timer (engines whose events depend on elapsed time). */
  needsIdle: boolean;
  /** Billed by session minute (GPT-Live) rather than per token (Realtime). */
  billedPerMinute: boolean;
  /** The voices the engine speaks with. */
  voices: readonly string[];
}

/** One upstream API, as the relay sees it. */
export interface Engine {
  /** Which engine this is. */
  readonly id: EngineId;
  /** What the relay may do on this engine. */
  readonly capabilities: EngineCapabilities;
  /** The WebSocket URL of a session running `model`. */
  sessionUrl(model: string): string;
  /** The messages that configure a session and, with a greeting, make the agent speak first. */
  opening(plan: SessionPlan): SessionOpening;
  /** One caller frame (base64 μ-law, untouched) as an upstream message. Hot path. */
  audioMessage(payload: string): string;
  /** A reader of one session's server messages (it may keep per-session state). */
  reader(now: () => number): EngineReader;
  /** Messages that stop the agent where the caller stopped hearing it (none without truncation). */
  interruption(cut: readonly CutItem[], activeResponse: string | undefined): string[];
  /** The message that ends a session politely, if the engine has one. */
  closeMessage(): string | undefined;
  /** The result of the tool call `callId` (JSON text) as a message; follow with {@linkcode continueMessage}. */
  toolOutput(callId: string, output: string): string;
  /** Asks the model to go on (after tool outputs or a note); some engines refuse it during an answer. */
  continueMessage(): string;
  /** Tells the model something it should react to: a key press, "leave the voicemail now". */
  note(text: string): EngineNote;
}
