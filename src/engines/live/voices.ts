/**
 * The voices GPT-Live speaks with.
 *
 * @module
 */

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
