/**
 * Turns a persona into the GA `session.update` event: μ-law both ways, the persona's voice and
 * turn detection (camelCase in the file, snake_case on the wire), caller transcription on.
 *
 * @module
 */

import type { EnginePersona, ToolSpec } from "../engine.ts";
import type { VadSettings } from "./settings.ts";

/** Options for {@linkcode sessionUpdateEvent}. */
export interface SessionUpdateOptions {
  /** The model the session runs. */
  model: string;
  /** Instructions already rendered for this call. */
  instructions: string;
  /** The call's voice. @default the persona's */
  voice?: string;
  /** Functions the model may call. @default none */
  tools?: readonly ToolSpec[];
}

/** Default caller transcription model. */
export const DEFAULT_TRANSCRIPTION_MODEL = "gpt-4o-transcribe";

/**
 * The `session.update` event for `persona`, as a JSON string.
 *
 * @example
 * ```ts
 * upstream.send(sessionUpdateEvent(persona, { model: "gpt-realtime-2.1", instructions: "…" }));
 * ```
 */
export function sessionUpdateEvent(persona: EnginePersona, options: SessionUpdateOptions): string {
  const gated = (persona.interruptions?.minSpeechMs ?? 0) > 0;
  const session: Record<string, unknown> = {
    type: "realtime",
    model: options.model,
    output_modalities: ["audio"],
    instructions: options.instructions,
    audio: {
      input: {
        format: { type: "audio/pcmu" },
        transcription: { model: persona.transcriptionModel ?? DEFAULT_TRANSCRIPTION_MODEL },
        noise_reduction: persona.noiseReduction === "off"
          ? null
          : { type: persona.noiseReduction ?? "near_field" },
        // With gating on, Parley decides when speech is long enough to cut the agent off, so
        // the server must not cancel the response on its own at the first sound.
        turn_detection: turnDetection(persona.vad, !gated),
      },
      output: { format: { type: "audio/pcmu" }, voice: options.voice ?? persona.voice },
    },
  };
  if (persona.reasoning !== undefined) session.reasoning = { effort: persona.reasoning.effort };
  if (persona.maxOutputTokens !== undefined) session.max_output_tokens = persona.maxOutputTokens;
  if (options.tools !== undefined && options.tools.length > 0) {
    session.tools = options.tools.map((tool) => ({ type: "function", ...tool }));
    session.tool_choice = "auto";
  }
  return JSON.stringify({ type: "session.update", session });
}

function turnDetection(vad: VadSettings | undefined, interruptResponse: boolean): Record<string, unknown> {
  const common = { create_response: true, interrupt_response: interruptResponse };
  if (vad?.type === "semantic_vad") {
    return { type: "semantic_vad", eagerness: vad.eagerness ?? "auto", ...common };
  }
  const wire: Record<string, unknown> = { type: "server_vad" };
  if (vad?.threshold !== undefined) wire.threshold = vad.threshold;
  if (vad?.prefixPaddingMs !== undefined) wire.prefix_padding_ms = vad.prefixPaddingMs;
  if (vad?.silenceDurationMs !== undefined) wire.silence_duration_ms = vad.silenceDurationMs;
  return { ...wire, ...common };
}
