/**
 * What a call with a persona would send, without placing one: the rendered instructions for sample
 * parameters, the opening session messages, the tools, and any problems. Shared by
 * `GET /api/personas/:id/preview`, the persona page and `deno task persona`.
 *
 * @module
 */

import type { ToolSpec } from "../engines/engine.ts";
import { createEngineChooser, type EngineChooser } from "../engines/registry.ts";
import { engineForModel, type EngineId, voiceProblem } from "../engines/voices.ts";
import { offeredTools } from "./built_in_tools.ts";
import { planCall } from "./call_setup.ts";
import type { LoadedPersona } from "../personas/types.ts";

/** A persona as the personas API lists it. */
export interface PersonaSummary {
  id: string;
  description: string;
  engine: EngineId;
  model: string;
  voice: string;
  greeting: string | null;
  /** True when the persona declares `analysis`: its calls get a post-call outcome. */
  analysis: boolean;
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
  /** Tools offered to the model: the persona's own, then the built-ins it turned on. */
  tools: ToolSpec[];
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
    analysis: persona.analysis !== undefined,
    problems,
    valid: problems.length === 0,
  };
}

/** Options for {@linkcode previewPersona}. */
export interface PreviewOptions {
  /** OPENAI_REALTIME_MODEL: the model of a persona that names none. */
  defaultModel: string;
  /** Sample call parameters (`voice` picks the call's voice, as on a real call). */
  parameters: Record<string, string>;
  /** The engines, as the relay has them. @default the engines at OpenAI's own endpoints */
  engineFor?: EngineChooser;
}

/**
 * Renders what a call would send for `parameters`: the relay's own call setup and engine opening,
 * so the preview cannot drift from a real call.
 *
 * @example
 * ```ts
 * const preview = previewPersona(personas.get("alex")!, { defaultModel, parameters: { lead: "Dana" } });
 * preview.instructions; // "You are Alex, … to Dana …"
 * ```
 */
export function previewPersona(loaded: LoadedPersona, options: PreviewOptions): PersonaPreview {
  const summary = summarizePersona(loaded, options.defaultModel);
  const parameters: Record<string, string> = { persona: loaded.id, ...options.parameters };
  const problems = [...summary.problems];
  if (parameters.voice !== undefined) {
    const problem = voiceProblem(parameters.voice, summary.engine);
    if (problem !== undefined) problems.push(`voice parameter: ${problem}`);
  }
  const engineFor = options.engineFor ??
    createEngineChooser();
  const setup = planCall(
    {
      callSid: "CA_preview",
      streamSid: "MZ_preview",
      accountSid: "AC_preview",
      customParameters: parameters,
    },
    {
      personas: { get: (id) => id === loaded.id ? loaded : undefined, ids: () => [loaded.id] },
      defaultPersona: loaded.id,
      defaultModel: options.defaultModel,
      engineFor,
    },
  );
  let instructions: string | null = null;
  const openingMessages: unknown[] = [];
  if (setup.ok) {
    instructions = setup.plan.instructions;
    const opening = setup.engine.opening(setup.plan);
    for (const message of [...opening.first, ...opening.afterReady]) {
      openingMessages.push(JSON.parse(message));
    }
  } else {
    problems.push(setup.problem);
  }
  return {
    ...summary,
    parameters,
    instructions,
    openingMessages,
    tools: setup.ok ? [...setup.plan.tools] : offeredTools(loaded.persona),
    problems,
    valid: problems.length === 0,
  };
}
