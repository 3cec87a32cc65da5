/**
 * Builds a {@linkcode RehearsalSetup} from Parley's configuration: the caller sessions use the same
 * key, endpoints and prices as the calls, the judge OPENAI_BASE_URL and OPENAI_JUDGE_MODEL.
 *
 * @module
 */

import type { ParleyConfig } from "../config.ts";
import type { PriceTable } from "../engines/prices.ts";
import { createEngineChooser } from "../engines/registry.ts";
import { connectOpenAI, type UpstreamConnector } from "../engines/upstream_socket.ts";
import type { PersonaRegistry } from "../personas/types.ts";
import { offeredTools } from "../relay/built_in_tools.ts";
import type { RehearsalSetup } from "./runner.ts";
import type { ScenarioContext } from "./validate.ts";
import type { ParleyTarget } from "./virtual_phone.ts";

/** What {@linkcode rehearsalSetup} takes besides the configuration. */
export interface SetupOptions {
  target: ParleyTarget;
  linkBaseUrl: string;
  prices: PriceTable;
  /** @default connectOpenAI */
  connect?: UpstreamConnector;
  /** The judge's fetch. @default globalThis.fetch */
  fetch?: typeof fetch;
}

/** The setup rehearsals run with under `config`. */
export function rehearsalSetup(
  config: Pick<
    ParleyConfig,
    "openaiApiKey" | "engineEndpoints" | "realtimeModel" | "openaiBaseUrl" | "judgeModel"
  >,
  options: SetupOptions,
): RehearsalSetup {
  return {
    target: options.target,
    linkBaseUrl: options.linkBaseUrl,
    apiKey: config.openaiApiKey,
    // Each engine's endpoint by engine id, as the calls' (`createParley`): the caller sessions go
    // where the agent's go.
    engineFor: createEngineChooser(config.engineEndpoints),
    connect: options.connect ?? connectOpenAI,
    prices: options.prices,
    defaultCallerModel: config.realtimeModel,
    judge: {
      apiKey: config.openaiApiKey,
      baseUrl: config.openaiBaseUrl,
      model: config.judgeModel,
      prices: options.prices,
      ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    },
  };
}

/** What scenario validation needs from loaded personas. */
export function scenarioContext(personas: PersonaRegistry, defaultModel: string): ScenarioContext {
  return {
    personaIds: personas.ids(),
    defaultModel,
    personaModel: (id) => personas.get(id)?.persona.model,
    personaOutcomeFields: (id) => {
      const schema = personas.get(id)?.persona.analysis?.schema as { properties?: object } | undefined;
      return schema === undefined ? undefined : Object.keys(schema.properties ?? {});
    },
    // The very list a call's session is given (`call_setup.ts`): own tools, then the built-ins turned on.
    personaTools: (id) => {
      const loaded = personas.get(id);
      return loaded === undefined ? undefined : offeredTools(loaded.persona).map((tool) => tool.name);
    },
  };
}
