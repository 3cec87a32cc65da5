/**
 * What a persona file exports: the agent's script, voice and turn-taking settings.
 *
 * Fields are camelCase here; `src/engines/realtime/session.ts` turns them into the snake_case wire shape.
 *
 * @module
 */

import type { LiveVoice } from "../engines/live/voices.ts";
import type { EnginePersonaSettings } from "../engines/registry.ts";
import type { RealtimeVoice } from "../engines/realtime/voices.ts";
import type { PersonaTool } from "./tools.ts";

export type { PersonaTool, ToolCallContext, ToolParameters } from "./tools.ts";

export { REALTIME_VOICES, type RealtimeVoice } from "../engines/realtime/voices.ts";
export { TTS_ONLY_VOICES } from "../engines/voices.ts";
export type {
  InterruptionSettings,
  ReasoningSettings,
  SemanticVad,
  ServerVad,
  VadSettings,
} from "../engines/realtime/settings.ts";

/** What a persona's `instructions` function is given for each call. */
export interface CallContext {
  /** The stream's custom parameters: the webhook's query parameters plus `persona`. */
  parameters: Readonly<Record<string, string>>;
  /** Twilio's CallSid (`CA…`). */
  callSid: string;
  /** Twilio's Media Stream SID (`MZ…`). */
  streamSid: string;
}

/**
 * A persona: the default export of a file in `personas/`. The settings one engine alone reads are
 * that engine's (`src/engines/<engine>/settings.ts`): each engine's definition declares them, and
 * the registry joins them into {@linkcode EnginePersonaSettings}.
 */
export interface Persona extends EnginePersonaSettings {
  /** The voice the agent speaks with, one of its engine's voices. Cannot change once the call has audio. */
  voice: RealtimeVoice | LiveVoice;
  /** The agent's script: a string, or a function of the call returning one. */
  instructions: string | ((context: CallContext) => string);
  /** If set, the agent speaks first, following this instruction for its first response. */
  greeting?: string;
  /**
   * Record the call (two channels: the caller, and the agent as the caller heard it) in
   * RECORDINGS_DIR. Recording law differs by place (some require every party's consent): off unless
   * set. See the README's "Recordings". @default false
   */
  record?: boolean;
  /**
   * With `record: true`, a line the agent says word for word at the start of its greeting (e.g. "This
   * call is recorded."). Needs a `greeting`.
   */
  recordingDisclosure?: string;
  /** What Twilio says when the agent cannot be reached. @default a short apology */
  fallbackMessage?: string;
  /** The model, and so the engine (`gpt-realtime…` or `gpt-live…`). @default OPENAI_REALTIME_MODEL */
  model?: string;
  /**
   * Longest call, minutes (more than 0, at most 1440; fractions allowed). Shortly before it (30 s, or
   * a quarter of a shorter limit) the agent is asked to wrap up and say goodbye; at it the call ends
   * with reason `max_call_minutes`. @default no limit
   */
  maxCallMinutes?: number;
  /** One line for people reading logs and `/healthz`. */
  description?: string;
  /** Functions the agent may call (look up an order, book a slot). See the README's "Actions". */
  tools?: PersonaTool[];
  /** Offer the built-in `end_call`: the agent hangs up after its goodbye has been heard. */
  endCall?: boolean;
  /**
   * Offer the built-in `do_not_call`: when the person asks not to be called again, the agent confirms,
   * calls it, says goodbye and hangs up; the number joins the do-not-call list (campaigns skip it).
   * @default false
   */
  doNotCall?: boolean;
  /** Offer the built-in `transfer_call`: hand the caller to a person at an E.164 number. */
  transfer?: TransferSettings;
  /** Said when a transfer's dial fails (busy, no answer). @default a short apology */
  transferFailedMessage?: string;
  /** Caller key presses reach the model as text ("The caller pressed 1, 2"). @default false */
  dtmf?: boolean;
  /** Offer the built-in `press_keys`: the agent plays keypad tones (phone menus). @default false */
  keypad?: boolean;
  /**
   * Left on an answering machine (outbound calls placed with machine detection): an instruction for
   * the agent, or a function of the call returning one. Without it, Parley hangs up on a machine.
   */
  voicemail?: string | ((context: CallContext) => string);
  /**
   * Open the call's OpenAI session on the voice webhook, before Twilio's socket connects, so the
   * greeting is ready when the stream starts (README, "First word"). `false` opens it on the socket.
   * @default true
   */
  prewarm?: boolean;
}

/** Where `transfer_call` sends the caller. */
export interface TransferSettings {
  /**
   * An E.164 number (`+14155550100`), or a function of the call returning one (e.g. from a call
   * parameter). A `transferTo` call parameter in E.164 overrides it.
   */
  to: string | ((context: CallContext) => string | undefined);
}

/** A persona that loaded and passed validation. */
export interface LoadedPersona {
  /** The file name without `.ts`, e.g. `alex`. */
  id: string;
  /** Absolute path of the file. */
  file: string;
  /** The validated default export. */
  persona: Persona;
}

/** The personas the server knows now; replaced as a whole when files change. */
export interface PersonaRegistry {
  /** The persona with this id, if any. */
  get(id: string): LoadedPersona | undefined;
  /** All ids, sorted. */
  ids(): string[];
}
