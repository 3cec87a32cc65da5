/**
 * Which engine serves a model, and the voices each engine speaks with: one list per fact, read by
 * persona validation, the calls API, the voices API and the calling page.
 *
 * @module
 */

/** The upstream engines Parley speaks. */
export const ENGINES = ["realtime", "live"] as const;

/** One engine id: `realtime` (turn-based, per token) or `live` (GPT-Live, full-duplex, per minute). */
export type EngineId = typeof ENGINES[number];

/**
 * The engine a model runs on: `gpt-live-*` is GPT-Live, anything else the Realtime API.
 *
 * @example
 * ```ts
 * engineForModel("gpt-live-1.1"); // "live"
 * engineForModel("gpt-realtime-2.1"); // "realtime"
 * ```
 */
export function engineForModel(model: string): EngineId {
  return model.startsWith("gpt-live") ? "live" : "realtime";
}

/** Voices the Realtime API speaks with. (nova, fable and onyx are text-to-speech only.) */
export const REALTIME_VOICES = [
  "alloy",
  "ash",
  "ballad",
  "coral",
  "echo",
  "sage",
  "shimmer",
  "verse",
  "marin",
  "cedar",
] as const;

/** One Realtime voice. */
export type RealtimeVoice = typeof REALTIME_VOICES[number];

/** GPT-Live's built-in voices, as listed in npm `openai@7.57.0` `resources/live` (default marin). */
export const LIVE_VOICES = [
  "alloy",
  "ash",
  "ballad",
  "beacon",
  "bossa",
  "cedar",
  "cinder",
  "coral",
  "delta",
  "echo",
  "gleam",
  "marin",
  "meridian",
  "quartz",
  "ripple",
  "sage",
  "shida",
  "shimmer",
  "stone",
  "tempo",
  "verse",
  "vesper",
  "willow",
] as const;

/** One GPT-Live voice. */
export type LiveVoice = typeof LIVE_VOICES[number];

/** Voices of OpenAI's text-to-speech API that neither speech-to-speech engine has. */
export const TTS_ONLY_VOICES = ["nova", "fable", "onyx"] as const;

/** The voices an engine offers. */
export function voicesFor(engine: EngineId): readonly string[] {
  return engine === "live" ? LIVE_VOICES : REALTIME_VOICES;
}
