/**
 * `definePersona()`: editor help for persona files. Import it as `parley/persona` (an import-map
 * alias in `deno.json`). A plain object export works just as well, so a persona file can live
 * outside the repo and import nothing.
 *
 * @module
 */

import type { Persona } from "./types.ts";

export type {
  CallContext,
  InterruptionSettings,
  Persona,
  RealtimeVoice,
  ReasoningSettings,
  SemanticVad,
  ServerVad,
  VadSettings,
} from "./types.ts";

/**
 * Returns `persona` unchanged; its only job is to type-check the object.
 *
 * @example
 * ```ts
 * import { definePersona } from "parley/persona";
 * export default definePersona({ voice: "marin", instructions: "You are a friendly receptionist." });
 * ```
 */
export function definePersona(persona: Persona): Persona {
  return persona;
}
