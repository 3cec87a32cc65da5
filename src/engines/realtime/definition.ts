/**
 * The Realtime API (`gpt-realtime*`), as the registry lists it.
 *
 * @module
 */

import type { EngineDefinition } from "../engine.ts";
import { createRealtimeEngine } from "./engine.ts";
import { REALTIME_PERSONA_RULES } from "./persona_rules.ts";
import { REALTIME_PRICES } from "./prices.ts";
import { REALTIME_VOICES } from "./voices.ts";

/** The Realtime API: turn-based, billed per token. */
export const REALTIME_ENGINE: EngineDefinition<"realtime"> = {
  id: "realtime",
  name: "Realtime",
  apiName: "the Realtime API",
  modelPrefixes: ["gpt-realtime"],
  exampleModel: "gpt-realtime",
  voices: REALTIME_VOICES,
  prices: REALTIME_PRICES,
  personaRules: REALTIME_PERSONA_RULES,
  refusal: {
    access: "Realtime API",
    notFound: "check the model name (OPENAI_REALTIME_MODEL or the persona's model) and OPENAI_REALTIME_URL",
    urlVariable: "OPENAI_REALTIME_URL",
  },
  create: (endpoints) => createRealtimeEngine(endpoints.realtimeUrl),
};
