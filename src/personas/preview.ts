/**
 * What a call with a persona would send, without placing one: the rendered instructions for sample
 * parameters, the opening session messages, the tools, and any problems. Shared by
 * `GET /api/personas/:id/preview`, the persona page and `deno task persona`.
 *
 * @module
 */

import { engineForModel, type EngineId, voiceProblem } from "../engines/voices.ts";
import { responseCreateEvent } from "../realtime/events.ts";
import { sessionUpdateEvent } from "../realtime/session.ts";
import { renderInstructions } from "./loader.ts";
import type { LoadedPersona } from "./types.ts";

/** A persona as the personas API lists it. */
export interface PersonaSummary {
  id: string;
  description: string;
  engine: EngineId;
  model: string;
  voice: string;
  greeting: string | null;
  /** Problems found now (a loaded persona passed validation; the engine may still refuse its voice). */
  problems: string[];
  valid: boolean;
}

/** The preview of one call. */
export interface PersonaPreview extends PersonaSummary {
  parameters: Record<string, string>;
  /** The rendered script, or null when rendering failed (see `problems`). */
  instructions: string | null;
  /** The messages sent upstream when the stream starts, in order. */
  openingMessages: unknown[];
  /** Tools offered to the model. */
  tools: unknown[];
}

/** Lists `loaded` for the personas API. */
export function summarizePersona(loaded: LoadedPersona, defaultModel: string): PersonaSummary {
  const { persona } = loaded;
  const model = persona.model ?? defaultModel;
  const engine = engineForModel(model);
  const problems: string[] = [];
  const voice = voiceProblem(persona.voice, engine);
  if (voice !== undefined) problems.push(`voice: ${voice}`);
  return {
    id: loaded.id,
    description: persona.description ?? "",
    engine,
    model,
    voice: persona.voice,
    greeting: persona.greeting ?? null,
    problems,
    valid: problems.length === 0,
  };
}

/**
 * Renders what a call would send for `parameters`.
 *
 * @example
 * ```ts
 * const preview = previewPersona(personas.get("alex")!, { defaultModel, parameters: { lead: "Dana" } });
 * preview.instructions; // "You are Alex, … to Dana …"
 * ```
 */
export function previewPersona(
  loaded: LoadedPersona,
  options: { defaultModel: string; parameters: Record<string, string> },
): PersonaPreview {
  const summary = summarizePersona(loaded, options.defaultModel);
  const parameters: Record<string, string> = { persona: loaded.id, ...options.parameters };
  const problems = [...summary.problems];
  let instructions: string | null = null;
  try {
    instructions = renderInstructions(loaded, { parameters, callSid: "CA_preview", streamSid: "MZ_preview" });
  } catch (error) {
    problems.push((error as Error).message);
  }
  const openingMessages: unknown[] = [];
  if (instructions !== null) {
    const persona = parameters.voice === undefined
      ? loaded.persona
      : { ...loaded.persona, voice: parameters.voice };
    openingMessages.push(
      JSON.parse(
        sessionUpdateEvent(persona as typeof loaded.persona, { model: summary.model, instructions }),
      ),
    );
    if (loaded.persona.greeting !== undefined) {
      openingMessages.push(JSON.parse(responseCreateEvent(`${instructions}\n\n${loaded.persona.greeting}`)));
    }
  }
  return {
    ...summary,
    parameters,
    instructions,
    openingMessages,
    tools: [],
    problems,
    valid: problems.length === 0,
  };
}
