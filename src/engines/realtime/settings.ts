/**
 * The persona settings only the Realtime API reads: turn detection, barge-in gating, reasoning,
 * output tokens, transcription and noise reduction. `session.ts` turns them into the snake_case wire
 * shape; `persona_rules.ts` checks them.
 *
 * @module
 */

/** Server voice activity detection: silence-based turn ends. */
export interface ServerVad {
  type: "server_vad";
  /** Speech probability needed to start a turn, 0 to 1; higher ignores more line noise. @default 0.5 */
  threshold?: number;
  /** Audio kept from before speech was detected, 0 to 2000 ms. @default 300 */
  prefixPaddingMs?: number;
  /** Silence that ends the caller's turn, 100 to 5000 ms. @default 500 */
  silenceDurationMs?: number;
}

/** Semantic voice activity detection: the model judges when the caller has finished. */
export interface SemanticVad {
  type: "semantic_vad";
  /** How soon to answer. @default "auto" */
  eagerness?: "low" | "medium" | "high" | "auto";
}

/** Turn detection settings. */
export type VadSettings = ServerVad | SemanticVad;

/** Barge-in gating: how long the caller must speak before the agent stops talking. */
export interface InterruptionSettings {
  /**
   * Speech shorter than this (a cough, an "mm-hm") does not cut the agent off; 0 interrupts at once.
   * 0 to 2000 ms. @default 0
   */
  minSpeechMs?: number;
}

/** Reasoning settings, for models that reason (gpt-realtime-2 and later). */
export interface ReasoningSettings {
  effort: "minimal" | "low" | "medium" | "high";
}

/** The persona fields the Realtime API reads (all optional); they mean nothing on GPT-Live. */
export interface RealtimePersonaSettings {
  /** Turn detection. @default { type: "server_vad" } with the API's defaults */
  vad?: VadSettings;
  /** Barge-in gating. @default { minSpeechMs: 0 } */
  interruptions?: InterruptionSettings;
  /** Reasoning effort (reasoning models only). */
  reasoning?: ReasoningSettings;
  /** Most tokens per response, 1 to 4096, or "inf". @default "inf" */
  maxOutputTokens?: number | "inf";
  /** Model transcribing the caller. @default "gpt-4o-transcribe" */
  transcriptionModel?: string;
  /** Input noise reduction: "near_field" (handset), "far_field" (speakerphone) or "off". @default "near_field" */
  noiseReduction?: "near_field" | "far_field" | "off";
}

/** The names of {@linkcode RealtimePersonaSettings}, checked complete by the type. */
export const REALTIME_SETTING_FIELDS: { [K in keyof RealtimePersonaSettings]-?: true } = {
  vad: true,
  interruptions: true,
  reasoning: true,
  maxOutputTokens: true,
  transcriptionModel: true,
  noiseReduction: true,
};
