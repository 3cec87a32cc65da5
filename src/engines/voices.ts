/**
 * The voices of every engine, as persona validation, the calls API, the voices API and the calling
 * page read them: each engine folder lists its own (`realtime/voices.ts`, `live/voices.ts`); this
 * module adds how they sound. Also re-exports the registry's `engineForModel`, `EngineId`, `ENGINES`.
 *
 * @module
 */

import { engineDefinition, type EngineId } from "./registry.ts";

export { LIVE_VOICES, type LiveVoice } from "./live/voices.ts";
export { REALTIME_VOICES, type RealtimeVoice } from "./realtime/voices.ts";
export { DEFAULT_ENGINE, engineForModel, type EngineId, ENGINES } from "./registry.ts";

/** Voices of OpenAI's text-to-speech API that neither speech-to-speech engine has. */
export const TTS_ONLY_VOICES = ["nova", "fable", "onyx"] as const;

/** The voices an engine offers (each engine folder lists its own). */
export function voicesFor(engine: EngineId): readonly string[] {
  return engineDefinition(engine).voices;
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
