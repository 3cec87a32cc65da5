/**
 * The seam between the per-call relay and an OpenAI speech-to-speech API. The relay never touches an
 * OpenAI event name: it asks an {@linkcode Engine} for the messages to send and hears back a few
 * {@linkcode EngineEvent}s. Each engine's folder (`realtime/`, `live/`) is the only place that knows
 * its wire format; {@linkcode EngineCapabilities} say where the engines behave differently.
 *
 * Adding an engine: a folder under `src/engines/` exporting an {@linkcode EngineDefinition} (its
 * models, voices, prices, persona rules and engine), and a line in `src/engines/registry.ts`.
 *
 * @module
 */

import type { PriceTable } from "./price_table.ts";
import type { EnginePersonaSettings } from "./registry.ts";
import type { Report } from "./settings_checks.ts";
import type { EngineUsage, UsageRules } from "./usage.ts";

/** One turn of the conversation so far, for a session that takes over a call (reconnect, rollover). */
export interface HistoryTurn {
  speaker: "caller" | "agent";
  text: string;
}

/** What engines read of a persona: its voice and the engines' own settings (each declared by its engine). */
export interface EnginePersona extends EnginePersonaSettings {
  voice: string;
}

/** Everything an engine needs to open a session for one call. */
export interface SessionPlan {
  /** The persona serving the call (its voice and turn-taking settings). */
  persona: EnginePersona;
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
    /** The answer's usage report, in the engine's own shape (its `UsageRules` read it), if any. */
    usage: EngineUsage | undefined;
  }
  /** The caller started speaking (`itemId`: the item the engine will transcribe it as, if it says). */
  | { type: "caller.started"; itemId?: string }
  /** The caller's audio so far became item `itemId`, whose transcript is to come. */
  | { type: "caller.committed"; itemId: string }
  /**
   * The caller stopped speaking; `at` (monotonic ms) when the engine knows when it happened, which
   * may be earlier than now (GPT-Live: the end of the caller's last transcript fragment).
   */
  | { type: "caller.stopped"; at: number | undefined }
  /**
   * A finished turn's text; `startedAt` (monotonic ms) when the engine knows when the turn began (GPT-Live:
   * its timeline's `start_ms`).
   */
  | {
    type: "transcript";
    speaker: "caller" | "agent";
    text: string;
    itemId: string | undefined;
    startedAt?: number;
  }
  /** A turn's words could not be transcribed (`reason` in the server's words): no transcript will come. */
  | { type: "transcript.failed"; speaker: "caller" | "agent"; itemId: string | undefined; reason: string }
  /** A usage report apart from an answer (e.g. session time so far), in the engine's own shape. */
  | { type: "usage"; usage: EngineUsage }
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
export interface Engine<Id extends string = string> {
  /** Which engine this is. */
  readonly id: Id;
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
  /** Messages that make the agent say `instruction` now (e.g. wrap up before the call's time limit). */
  prompt(plan: SessionPlan, instruction: string): string[];
  /** The message that ends a session politely, if the engine has one. */
  closeMessage(): string | undefined;
  /**
   * The message that has the caller's words so far transcribed now, without waiting for them to stop
   * speaking (the call ended mid-sentence), if the engine has one. It must not start an answer.
   */
  commitMessage(): string | undefined;
  /** The result of the tool call `callId` (JSON text) as a message; follow with {@linkcode continueMessage}. */
  toolOutput(callId: string, output: string): string;
  /** Asks the model to go on (after tool outputs or a note); some engines refuse it during an answer. */
  continueMessage(): string;
  /** Tells the model something it should react to: a key press, "leave the voicemail now". */
  note(text: string): EngineNote;
  /** Why instructions rendered for a call cannot go to this engine (too long…), or undefined. */
  instructionsProblem(instructions: string): string | undefined;
}

/** The WebSocket endpoint of each engine, by engine id, from the config (see {@linkcode EngineEndpoint}). */
export type EngineEndpoints = Readonly<Record<string, string>>;

/** Where an engine connects: the variable that sets its URL, its default, and its own URL check. */
export interface EngineEndpoint {
  /** The environment variable naming its WebSocket URL, e.g. `OPENAI_REALTIME_URL`. */
  readonly variable: string;
  /** The URL used when the variable is unset. */
  readonly defaultUrl: string;
  /** Why a ws:// or wss:// URL cannot serve this engine (e.g. a query string), or undefined. */
  problem?(url: URL): string | undefined;
}

/** How an engine checks the persona fields that concern it; problems go to `report(field, detail)`. */
export interface PersonaRules {
  /** Checks the settings this engine owns, whichever engine serves the persona. */
  checkSettings(persona: Record<string, unknown>, report: Report): void;
  /** Checks a persona this engine serves (`model` is its model): e.g. settings that mean nothing here. */
  checkServed(persona: Record<string, unknown>, model: string, report: Report): void;
  /** Why `instructions` cannot go to this engine, or undefined (see {@linkcode Engine.instructionsProblem}). */
  instructionsProblem(instructions: string): string | undefined;
}

/** The words for a handshake this engine's API refused. */
export interface RefusalWords {
  /** What a 403 lacks access to, e.g. "Realtime API". */
  access: string;
  /** The fix for a 404. */
  notFound: string;
  /** The variable naming its endpoint, for a connection that fails. */
  urlVariable: string;
}

/**
 * Everything Parley knows of one engine: listed once in `src/engines/registry.ts`. `Settings` is the
 * shape of the persona fields it owns (they join the `Persona` type through the registry); `Usage`
 * the shape of its usage reports.
 */
export interface EngineDefinition<
  Id extends string = string,
  // deno-lint-ignore ban-types
  Settings extends object = {},
  Usage = EngineUsage,
> {
  /** Its id, in records, metrics and the API (`realtime`, `live`). */
  readonly id: Id;
  /** Its name in messages ("Realtime", "GPT-Live"). */
  readonly name: string;
  /** Its name as the subject of a sentence ("the Realtime API", "GPT-Live"). */
  readonly apiName: string;
  /** The models it serves start with one of these (`gpt-realtime`). */
  readonly modelPrefixes: readonly string[];
  /** A model to quote in messages. */
  readonly exampleModel: string;
  /** The voices it speaks with. */
  readonly voices: readonly string[];
  /** The voice a rehearsal's simulated caller speaks with when its scenario names none (one of `voices`). */
  readonly callerVoice: string;
  /** Built-in prices of its models. */
  readonly prices: PriceTable;
  /** How it prices and describes its own usage reports (the `usage` call event's payload). */
  readonly usage: UsageRules<Usage>;
  /** The names of the persona fields it owns (the keys of `Settings`), checked complete by the type. */
  readonly settingFields: { readonly [K in keyof Settings]-?: true };
  /** Its persona settings and their checks. */
  readonly personaRules: PersonaRules;
  /** Words for a refused or failed handshake. */
  readonly refusal: RefusalWords;
  /** Where it connects, and the variable that says so. */
  readonly endpoint: EngineEndpoint;
  /** Builds the engine for its configured WebSocket URL. */
  create(url: string): Engine<Id>;
}
