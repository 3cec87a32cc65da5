/**
 * The Realtime API (`gpt-realtime*`), as the registry lists it.
 *
 * @module
 */

import type { EngineDefinition } from "../engine.ts";
import { createRealtimeEngine } from "./engine.ts";
import { REALTIME_PERSONA_RULES } from "./persona_rules.ts";
import { REALTIME_PRICES } from "./prices.ts";
import { REALTIME_SETTING_FIELDS, type RealtimePersonaSettings } from "./settings.ts";
import { REALTIME_USAGE, type RealtimeUsage } from "./usage.ts";
import { REALTIME_VOICES } from "./voices.ts";

/** Default Realtime endpoint; the model goes in its `model` query parameter. */
export const DEFAULT_REALTIME_URL = "wss://api.openai.com/v1/realtime";

/** The Realtime API: turn-based, billed per token. */
export const REALTIME_ENGINE: EngineDefinition<"realtime", RealtimePersonaSettings, RealtimeUsage> = {
  id: "realtime",
  name: "Realtime",
  apiName: "the Realtime API",
  modelPrefixes: ["gpt-realtime"],
  exampleModel: "gpt-realtime",
  voices: REALTIME_VOICES,
  // A natural male voice: the shipped personas mostly speak with female ones, so the two sides differ.
  callerVoice: "cedar",
  prices: REALTIME_PRICES,
  usage: REALTIME_USAGE,
  settingFields: REALTIME_SETTING_FIELDS,
  personaRules: REALTIME_PERSONA_RULES,
  refusal: {
    access: "Realtime API",
    notFound: "check the model name (OPENAI_REALTIME_MODEL or the persona's model) and OPENAI_REALTIME_URL",
    urlVariable: "OPENAI_REALTIME_URL",
  },
  endpoint: { variable: "OPENAI_REALTIME_URL", defaultUrl: DEFAULT_REALTIME_URL },
  create: createRealtimeEngine,
};
