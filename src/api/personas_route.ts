/**
 * `GET /api/personas`, `GET /api/personas/:id/preview?<param>=<value>…` and
 * `GET /api/voices?engine=realtime|live`: what the calling page offers and what a call would send.
 * Authorization is checked by the caller.
 *
 * @module
 */

import { type EngineId, ENGINES, VOICE_LABELS, voicesFor } from "../engines/voices.ts";
import { jsonError, jsonResponse } from "../http/responses.ts";
import { previewPersona, summarizePersona } from "../relay/preview.ts";
import type { PersonaRegistry } from "../personas/types.ts";
import type { PersonaList, PersonaPreview, PersonaSummary, VoiceList } from "./types.ts";

/** Options for {@linkcode createPersonasHandler}. */
export interface PersonasRouteOptions {
  personas: PersonaRegistry;
  /** OPENAI_REALTIME_MODEL: a persona's model unless it names one. */
  defaultModel: string;
}

/**
 * Builds the handler for `/api/personas…` and `/api/voices`.
 *
 * @example
 * ```ts
 * const personasRoute = createPersonasHandler({ personas, defaultModel: config.realtimeModel });
 * ```
 */
export function createPersonasHandler(options: PersonasRouteOptions): (request: Request) => Response {
  const { personas, defaultModel } = options;
  return (request) => {
    const url = new URL(request.url);
    if (url.pathname === "/api/voices") return listVoices(url);
    if (url.pathname === "/api/personas") {
      const list = personas.ids().map((id) => summarizePersona(personas.get(id)!, defaultModel));
      return jsonResponse(200, { personas: list } satisfies PersonaList);
    }
    const match = /^\/api\/personas\/([A-Za-z0-9_-]+)(\/preview)?$/.exec(url.pathname);
    const loaded = match === null ? undefined : personas.get(match[1]!);
    if (loaded === undefined) {
      return jsonError(
        404,
        `No persona at "${url.pathname}": known personas are ${personas.ids().join(", ")}`,
      );
    }
    if (match![2] === undefined) {
      return jsonResponse(200, summarizePersona(loaded, defaultModel) satisfies PersonaSummary);
    }
    const parameters = Object.fromEntries(url.searchParams);
    return jsonResponse(200, previewPersona(loaded, { defaultModel, parameters }) satisfies PersonaPreview);
  };
}

function listVoices(url: URL): Response {
  const engine = url.searchParams.get("engine") ?? "realtime";
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
