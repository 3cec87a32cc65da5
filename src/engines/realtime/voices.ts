/**
 * The voices the Realtime API speaks with.
 *
 * @module
 */

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
