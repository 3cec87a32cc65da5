/**
 * "Adding a third engine is a new folder plus one line in a registry": a toy engine, defined here the
 * way `src/engines/<engine>/definition.ts` defines the real ones, joins the real two through
 * `createEngineRegistry` (the function the app builds its registry with) and gets persona
 * validation, voices, endpoints and priced usage without any other file knowing about it.
 */

import assert from "node:assert/strict";
import type { EngineDefinition } from "../../src/engines/engine.ts";
import { createRealtimeEngine } from "../../src/engines/realtime/engine.ts";
import {
  createEngineRegistry,
  ENGINE_DEFINITIONS,
  ENGINE_REGISTRY,
  type PersonaSettingsOf,
} from "../../src/engines/registry.ts";
import { checkOneOf } from "../../src/engines/settings_checks.ts";
import type { UsageRules } from "../../src/engines/usage.ts";
import { validatePersona } from "../../src/personas/validate.ts";

/** The toy engine's own persona setting. */
interface ToySettings {
  /** How the toy sounds. */
  mood?: "calm" | "cheerful";
}

/** The toy engine's usage report: words spoken, priced per 1,000 words. */
interface ToyUsage {
  words: number;
}

const TOY_USAGE: UsageRules<ToyUsage> = {
  summarize: (usage) => ({ cost: "increment", minutes: usage.words / 150 }),
  price(model, usage, prices) {
    const price = Object.hasOwn(prices, model) ? prices[model] : undefined;
    return price !== undefined && "perMinute" in price ? usage.words / 1000 * price.perMinute : null;
  },
};

const TOY_ENGINE: EngineDefinition<"toy", ToySettings, ToyUsage> = {
  id: "toy",
  name: "Toy",
  apiName: "the Toy API",
  modelPrefixes: ["toy-"],
  exampleModel: "toy-1",
  voices: ["squeaky", "booming"],
  callerVoice: "booming",
  prices: { "toy-1": { perMinute: 2 } },
  usage: TOY_USAGE,
  settingFields: { mood: true },
  personaRules: {
    checkSettings: (persona, report) => checkOneOf(persona.mood, "mood", ["calm", "cheerful"], report),
    checkServed: () => {},
    instructionsProblem: () => undefined,
  },
  refusal: { access: "Toy API", notFound: "check TOY_URL", urlVariable: "TOY_URL" },
  endpoint: {
    variable: "TOY_URL",
    defaultUrl: "wss://toy.example/v1",
    problem: (url) => url.pathname.startsWith("/v1") ? undefined : "does not end in a /v1 path",
  },
  create: (url) => ({ ...createRealtimeEngine(url), id: "toy" }),
};

/** The real list plus one line. */
const WITH_TOY = [...ENGINE_DEFINITIONS, TOY_ENGINE] as const;
const registry = createEngineRegistry(WITH_TOY);

// The persona type gains the toy's setting from its definition alone (compile-time check).
const _typed: PersonaSettingsOf<typeof WITH_TOY> = { mood: "calm", vad: { type: "semantic_vad" } };

Deno.test("a toy engine added to the registry list: a persona with its model validates, with its own setting", () => {
  const persona = { voice: "squeaky", instructions: "Say hi.", model: "toy-1", mood: "cheerful" };
  assert.deepEqual(validatePersona(persona, "personas/toy.ts", registry), { persona, problems: [] });
  assert.equal(registry.engineForModel("toy-1"), "toy");

  // Its voices, its setting's check, and its place in the model hint come from its definition.
  assert.deepEqual(
    validatePersona({ ...persona, voice: "alloy", mood: "grumpy" }, "personas/toy.ts", registry),
    {
      persona: undefined,
      problems: [
        'personas/toy.ts: voice: "alloy" is not a Toy voice (it is a Realtime voice; the persona\'s model decides the engine); use one of squeaky, booming',
        'personas/toy.ts: mood: "grumpy" is not one of calm, cheerful',
      ],
    },
  );
  assert.match(registry.modelProblem("gpt-4o")!, /or toy- \(Toy, e\.g\. "toy-1"\)$/);

  // The app's registry does not know it: same persona, refused.
  const real = validatePersona(persona, "personas/toy.ts");
  assert.ok(
    real.problems.some((p) => p.startsWith("personas/toy.ts: mood: unknown field")),
    real.problems.join("\n"),
  );
  assert.ok(
    real.problems.some((p) => p.includes('model: "toy-1" is not a model of any engine')),
    real.problems.join("\n"),
  );
});

Deno.test("a toy engine added to the registry list gets its voices, endpoint and priced usage", () => {
  assert.deepEqual(registry.ids, ["realtime", "live", "toy"]);
  assert.deepEqual(registry.voicesFor("toy"), ["squeaky", "booming"]);

  // Its usage report: priced and described by its own rules, through the registry.
  const prices = registry.prices();
  assert.equal(registry.priceUsage("toy", "toy-1", { words: 3000 }, prices), 6);
  assert.equal(registry.priceUsage("toy", "toy-2", { words: 3000 }, prices), null, "unknown is not free");
  assert.deepEqual(registry.describeUsage("toy", { words: 300 }), { cost: "increment", minutes: 2 });
  // The real engines' prices are still there, joined.
  assert.deepEqual(prices["gpt-live-1.1"], { perMinute: 0.05 });

  // Its endpoint: its variable, its default, its own check, named in the problem.
  const env: Record<string, string> = { TOY_URL: "wss://toy.example/v2" };
  const read = registry.readEndpoints((name) => env[name]);
  assert.deepEqual(read.problems, ['TOY_URL: "wss://toy.example/v2" does not end in a /v1 path']);
  assert.deepEqual(registry.readEndpoints(() => undefined), {
    endpoints: {
      realtime: "wss://api.openai.com/v1/realtime",
      live: "wss://api.openai.com/v1/live/sessions",
      toy: "wss://toy.example/v1",
    },
    problems: [],
  });
  const engineFor = registry.createChooser({ toy: "ws://127.0.0.1:9/v1" });
  assert.equal(engineFor("toy-1").id, "toy");
  assert.equal(engineFor("toy-1").sessionUrl("toy-1"), "ws://127.0.0.1:9/v1?model=toy-1");
  assert.equal(engineFor("gpt-live-1.1").id, "live");
});

Deno.test("the app's registry is built from the real list by the same function", () => {
  assert.deepEqual(ENGINE_REGISTRY.ids, ENGINE_DEFINITIONS.map((engine) => engine.id));
  assert.deepEqual(ENGINE_REGISTRY.settingFields(), [
    "vad",
    "interruptions",
    "reasoning",
    "maxOutputTokens",
    "transcriptionModel",
    "noiseReduction",
  ]);
  // Each engine describes and prices its own usage report.
  const tokens = {
    inputTextTokens: 0,
    inputAudioTokens: 1_000_000,
    inputCachedTokens: 0,
    outputTextTokens: 0,
    outputAudioTokens: 0,
  };
  const prices = ENGINE_REGISTRY.prices();
  assert.equal(
    ENGINE_REGISTRY.priceUsage("realtime", "gpt-realtime-2.1", { ...tokens, responseId: "r1" }, prices),
    32,
  );
  assert.deepEqual(ENGINE_REGISTRY.describeUsage("realtime", { ...tokens, responseId: "r1" }), {
    response: { id: "r1", tokens },
    cost: "increment",
  });
  assert.equal(ENGINE_REGISTRY.priceUsage("live", "gpt-live-1.1", { seconds: 150 }, prices), 0.125);
  assert.deepEqual(ENGINE_REGISTRY.describeUsage("live", { seconds: 150 }), { minutes: 2.5, cost: "total" });
});
