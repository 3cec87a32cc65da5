/**
 * What `start` decides: persona (with the default as fallback), model and engine, voice, rendered
 * instructions, or a plain-words problem.
 */

import assert from "node:assert/strict";
import { createEngineChooser } from "../../src/engines/registry.ts";
import type { LoadedPersona, Persona } from "../../src/personas/types.ts";
import { planCall } from "../../src/relay/call_setup.ts";
import type { StreamStart } from "../../src/twilio/media_stream.ts";

function registry(personas: Record<string, Persona>) {
  const loaded = new Map<string, LoadedPersona>(
    Object.entries(personas).map(([id, persona]) => [id, { id, file: `/p/${id}.ts`, persona }]),
  );
  return { get: (id: string) => loaded.get(id), ids: () => [...loaded.keys()].sort() };
}

const START: StreamStart = { streamSid: "MZ1", callSid: "CA1", accountSid: "AC1", customParameters: {} };
const options = (personas: Record<string, Persona>) => ({
  personas: registry(personas),
  defaultPersona: "alex",
  defaultModel: "gpt-realtime-2.1",
  engineFor: createEngineChooser({
    realtime: "wss://api.openai.com/v1/realtime",
    live: "wss://api.openai.com/v1/live/sessions",
  }),
});

Deno.test("call setup takes the named persona, its model and voice, and renders its instructions", () => {
  const setup = planCall(
    { ...START, customParameters: { persona: "sam", name: "Ada" } },
    options({
      alex: { voice: "marin", instructions: "Alex." },
      sam: {
        voice: "cedar",
        model: "gpt-realtime-2.1-mini",
        greeting: "Say hi.",
        instructions: (c) => `Call ${c.parameters.name} on ${c.callSid}.`,
      },
    }),
  );
  assert.ok(setup.ok);
  assert.equal(setup.persona.id, "sam");
  assert.equal(setup.engine.id, "realtime");
  assert.deepEqual(
    { ...setup.plan, persona: undefined },
    {
      persona: undefined,
      model: "gpt-realtime-2.1-mini",
      instructions: "Call Ada on CA1.",
      voice: "cedar",
      greeting: "Say hi.",
      history: [],
      tools: [],
    },
  );
});

Deno.test("call setup falls back to the default persona and model, and says which was asked for", () => {
  const setup = planCall(
    { ...START, customParameters: { persona: "nobody" } },
    options({ alex: { voice: "marin", instructions: "Alex." } }),
  );
  assert.ok(setup.ok);
  assert.equal(setup.persona.id, "alex");
  assert.equal(setup.requested, "nobody");
  assert.equal(setup.plan.model, "gpt-realtime-2.1");
});

Deno.test("call setup names the problem when the default persona is missing or instructions throw", () => {
  assert.deepEqual(planCall(START, options({})), {
    ok: false,
    problem: 'default persona "alex" is not loaded',
  });
  const throwing = planCall(START, {
    ...options({
      alex: {
        voice: "marin",
        instructions: () => {
          throw new Error("no name");
        },
      },
    }),
  });
  assert.deepEqual(throwing, { ok: false, problem: "/p/alex.ts: instructions: the function threw: no name" });
});

Deno.test("call setup speaks with the call's voice parameter when the engine has it, else the persona's", () => {
  const personas = { alex: { voice: "marin", instructions: "Alex." } } as const;
  const voiceOf = (voice: string) => {
    const setup = planCall({ ...START, customParameters: { voice } }, options(personas));
    assert.ok(setup.ok);
    return setup.plan.voice;
  };
  assert.equal(voiceOf("cedar"), "cedar");
  assert.equal(voiceOf("nova"), "marin", "a text-to-speech voice falls back");
  assert.equal(voiceOf("beacon"), "marin", "a GPT-Live voice is not a Realtime voice");
});
