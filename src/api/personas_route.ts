/**
 * `GET /api/personas`, `GET /api/personas/:id/preview?<param>=<value>…` and
 * `GET /api/voices?engine=realtime|live`: what the calling page offers and what a call would send.
 * Behind the route table's `bearerOrSession` guard.
 *
 * @module
 */

import { DEFAULT_ENGINE, type EngineId, ENGINES, VOICE_LABELS, voicesFor } from "../engines/voices.ts";
import { jsonError, jsonResponse } from "../http/responses.ts";
import { previewPersona, summarizePersona } from "../relay/preview.ts";
import type { PersonaRegistry } from "../personas/types.ts";
import type { PersonaList, PersonaPreview, PersonaSummary, VoiceList } from "./types.ts";

/** Options for {@linkcode createPersonasHandlers}. */
export interface PersonasRouteOptions {
  personas: PersonaRegistry;
  /** OPENAI_REALTIME_MODEL: a persona's model unless it names one. */
  defaultModel: string;
}

/** A persona route's input: `:id` from the route table's path. */
type PersonaContext = { params: Record<string, string> };

/** The handlers of the persona and voice routes, one per row of the route table. */
export interface PersonasHandlers {
  listPersonas(request: Request): Response;
  getPersona(request: Request, context: PersonaContext): Response;
  previewPersona(request: Request, context: PersonaContext): Response;
  listVoices(request: Request): Response;
}

/**
 * Builds the handlers of `/api/personas…` and `/api/voices`.
 *
 * @example
 * ```ts
 * const personasRoutes = createPersonasHandlers({ personas, defaultModel: config.realtimeModel });
 * ```
 */
export function createPersonasHandlers(options: PersonasRouteOptions): PersonasHandlers {
  const { personas, defaultModel } = options;
  /** The persona of `:id`, or the 404 naming the known ones. */
  const personaAt = (request: Request, id: string) => {
    const loaded = /^[A-Za-z0-9_-]+$/.test(id) ? personas.get(id) : undefined;
    if (loaded !== undefined) return loaded;
    return jsonError(
      404,
      `No persona at "${new URL(request.url).pathname}": known personas are ${personas.ids().join(", ")}`,
    );
  };
  return {
    listPersonas() {
      const list = personas.ids().map((id) => summarizePersona(personas.get(id)!, defaultModel));
      return jsonResponse(200, { personas: list } satisfies PersonaList);
    },
    getPersona(request, { params }) {
      const loaded = personaAt(request, params.id!);
      if (loaded instanceof Response) return loaded;
      return jsonResponse(200, summarizePersona(loaded, defaultModel) satisfies PersonaSummary);
    },
    previewPersona(request, { params }) {
      const loaded = personaAt(request, params.id!);
      if (loaded instanceof Response) return loaded;
      const parameters = Object.fromEntries(new URL(request.url).searchParams);
      return jsonResponse(200, previewPersona(loaded, { defaultModel, parameters }) satisfies PersonaPreview);
    },
    listVoices: (request) => listVoices(new URL(request.url)),
  };
}

function listVoices(url: URL): Response {
  const engine = url.searchParams.get("engine") ?? DEFAULT_ENGINE;
  if (!(ENGINES as readonly string[]).includes(engine)) {
    return jsonError(
      400,
      `Query "engine": "${engine.slice(0, 40)}" is not an engine: use one of ${ENGINES.join(", ")}`,
    );
  }
  const voices = voicesFor(engine as EngineId).map((id) => {
    const label = VOICE_LABELS[id];
    return {
      id,
      label: label?.label ?? null,
      gender: label?.gender ?? null,
      labelSource: label?.source ?? null,
    };
  });
  return jsonResponse(200, { engine, voices } satisfies VoiceList);
}
