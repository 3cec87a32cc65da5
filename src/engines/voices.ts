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

/** A voice's sex as it sounds, for the page's quick male/female choice. */
export type VoiceGender = "female" | "male";

/** How a voice sounds, and where that description comes from. */
export interface VoiceLabel {
  /** A few words, e.g. "warm, female". */
  label: string;
  gender: VoiceGender;
  /** `seed`: the seed's notes on the voice; `guess`: our own listening notes, not OpenAI's words. */
  source: "seed" | "guess";
}

/**
 * How each voice sounds. OpenAI's API reference lists the voices without describing them; the seed
 * describes alloy, echo and shimmer; the others are our own notes (`source: "guess"`). Voices not
 * listed here (most GPT-Live voices) have no description yet.
 */
export const VOICE_LABELS: Readonly<Record<string, VoiceLabel>> = {
  alloy: { label: "neutral, male", gender: "male", source: "seed" },
  ash: { label: "clear, male", gender: "male", source: "guess" },
  ballad: { label: "soft, expressive, male", gender: "male", source: "guess" },
  coral: { label: "warm, friendly, female", gender: "female", source: "guess" },
  echo: { label: "confident, male", gender: "male", source: "seed" },
  sage: { label: "calm, female", gender: "female", source: "guess" },
  shimmer: { label: "warm, female", gender: "female", source: "seed" },
  verse: { label: "lively, male", gender: "male", source: "guess" },
  marin: { label: "natural, female", gender: "female", source: "guess" },
  cedar: { label: "natural, male", gender: "male", source: "guess" },
};

/** The quick choice's default voice per gender, as in the seed (`male` → alloy, `female` → shimmer). */
export const SEED_VOICE_BY_GENDER = { male: "alloy", female: "shimmer" } as const;

/**
 * Why `voice` cannot be used with `engine`, or undefined when it can. The message names the allowed
 * values, for API errors.
 *
 * @example
 * ```ts
 * voiceProblem("nova", "realtime"); // '"nova" is a text-to-speech voice …; use one of alloy, ash, …'
 * ```
 */
export function voiceProblem(voice: string, engine: EngineId): string | undefined {
  const allowed = voicesFor(engine);
  if (allowed.includes(voice)) return undefined;
  const name = `"${voice.length > 40 ? `${voice.slice(0, 40)}…` : voice}"`;
  const what = (TTS_ONLY_VOICES as readonly string[]).includes(voice)
    ? `${name} is a text-to-speech voice the ${engine} engine does not have`
    : `${name} is not a voice of the ${engine} engine`;
  return `${what}; use one of ${allowed.join(", ")}`;
}
