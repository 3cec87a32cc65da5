/**
 * The JSON of personas and voices: a persona's summary, its preview, the voices of an engine. Part of the API's types (`../types.ts`, which the pages import); imports
 * nothing outside them.
 *
 * @module
 */

/** A persona as `GET /api/personas` and `GET /api/personas/:id` describe it. */
export interface PersonaSummary {
  id: string;
  description: string;
  engine: string;
  model: string;
  voice: string;
  greeting: string | null;
  /** True when the persona declares `analysis`: its calls get a post-call outcome. */
  analysis: boolean;
  problems: string[];
  valid: boolean;
}

/** `GET /api/personas`. */
export interface PersonaList {
  personas: PersonaSummary[];
}

/** A tool offered to the model. */
export interface ToolSpec {
  name: string;
  description: string;
  /** JSON schema of the arguments (an object schema). */
  parameters: Record<string, unknown>;
}

/** `GET /api/personas/:id/preview`: what a call would send. */
export interface PersonaPreview extends PersonaSummary {
  parameters: Record<string, string>;
  /** The rendered script, or null when rendering failed (see `problems`). */
  instructions: string | null;
  /** The messages sent upstream when the stream starts, in order. */
  openingMessages: unknown[];
  tools: ToolSpec[];
}

/** One voice of an engine. */
export interface Voice {
  id: string;
  /** How it sounds, or null when OpenAI does not say. */
  label: string | null;
  gender: string | null;
  labelSource: string | null;
}

/** `GET /api/voices?engine=`. */
export interface VoiceList {
  engine: string;
  voices: Voice[];
}
