/**
 * GPT-Live (`gpt-live*`), as the registry lists it.
 *
 * @module
 */

import type { EngineDefinition } from "../engine.ts";
import { createLiveEngine } from "./engine.ts";
import { LIVE_PERSONA_RULES } from "./persona_rules.ts";
import { LIVE_PRICES } from "./prices.ts";
import { DEFAULT_LIVE_URL } from "./session.ts";
import { LIVE_USAGE, type LiveUsage } from "./usage.ts";
import { LIVE_VOICES } from "./voices.ts";

/** GPT-Live: full-duplex, billed per session minute. */
export const LIVE_ENGINE: EngineDefinition<"live", Record<never, never>, LiveUsage> = {
  id: "live",
  name: "GPT-Live",
  apiName: "GPT-Live",
  modelPrefixes: ["gpt-live"],
  exampleModel: "gpt-live-1.1",
  voices: LIVE_VOICES,
  callerVoice: LIVE_VOICES[0],
  prices: LIVE_PRICES,
  usage: LIVE_USAGE,
  settingFields: {},
  personaRules: LIVE_PERSONA_RULES,
  refusal: {
    access: "GPT-Live",
    notFound: "check the persona's model and OPENAI_LIVE_URL",
    urlVariable: "OPENAI_LIVE_URL",
  },
  endpoint: {
    variable: "OPENAI_LIVE_URL",
    defaultUrl: DEFAULT_LIVE_URL,
    problem: (url) =>
      url.search === ""
        ? undefined
        : "has a query string: GPT-Live refuses query parameters (the model goes in session.start)",
  },
  create: createLiveEngine,
};
