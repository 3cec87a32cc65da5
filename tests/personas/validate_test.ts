/**
 * Tests of persona validation: every problem named by file and field, all reported at once.
 *
 * @module
 */

import assert from "node:assert/strict";
import { LIVE_VOICES } from "../../src/engines/voices.ts";
import { validatePersona } from "../../src/personas/validate.ts";

const FILE = "personas/test.ts";
const VOICES = "alloy, ash, ballad, coral, echo, sage, shimmer, verse, marin, cedar";

/** The problems for `persona` with the valid defaults filled in. */
function problemsOf(fields: Record<string, unknown>): string[] {
  const result = validatePersona({ voice: "marin", instructions: "Be helpful.", ...fields }, FILE);
  return result.problems;
}

Deno.test("validatePersona accepts a valid persona and drops fields set to undefined", () => {
  const source = {
    voice: "shimmer",
    instructions: "Be brief.",
    greeting: "Say hello.",
    vad: { type: "server_vad", threshold: 0.6, prefixPaddingMs: 300, silenceDurationMs: 500 },
    interruptions: { minSpeechMs: 250 },
    fallbackMessage: "Sorry.",
    model: "gpt-realtime",
    reasoning: { effort: "low" },
    maxOutputTokens: 4096,
    transcriptionModel: "gpt-4o-transcribe",
    noiseReduction: "far_field",
    description: "A test persona",
  };
  const result = validatePersona({ ...source, greeting: undefined }, FILE);
  assert.deepEqual(result.problems, []);
  assert.ok(result.persona !== undefined);
  assert.equal(Object.hasOwn(result.persona, "greeting"), false);
  assert.equal(result.persona.voice, "shimmer");
  assert.deepEqual(result.persona.vad, source.vad);
  assert.notEqual(
    result.persona.vad,
    source.vad,
    "a copy, so later edits of the module's object do not leak in",
  );
});

Deno.test("validatePersona accepts semantic VAD, maxOutputTokens inf and a function for instructions", () => {
  const instructions = () => "Hi";
  const result = validatePersona(
    {
      voice: "cedar",
      instructions,
      vad: { type: "semantic_vad", eagerness: "high" },
      maxOutputTokens: "inf",
    },
    FILE,
  );
  assert.deepEqual(result.problems, []);
  assert.equal(result.persona?.instructions, instructions);
});

Deno.test("validatePersona rejects voices", async (t) => {
  await t.step("a text-to-speech voice, saying the Realtime API does not have it", () => {
    assert.deepEqual(problemsOf({ voice: "nova" }), [
      `${FILE}: voice: "nova" is a text-to-speech voice the Realtime API does not have; use one of ${VOICES}`,
    ]);
    assert.match(problemsOf({ voice: "fable" })[0] ?? "", /"fable" is a text-to-speech voice/);
    assert.match(problemsOf({ voice: "onyx" })[0] ?? "", /"onyx" is a text-to-speech voice/);
  });
  await t.step("an unknown voice, suggesting a close one", () => {
    assert.deepEqual(problemsOf({ voice: "shimer" }), [
      `${FILE}: voice: "shimer" is not a Realtime voice (did you mean "shimmer"?); use one of ${VOICES}`,
    ]);
    assert.deepEqual(problemsOf({ voice: "robot" }), [
      `${FILE}: voice: "robot" is not a Realtime voice; use one of ${VOICES}`,
    ]);
  });
  await t.step("a voice with control characters, escaped and cut at 40 characters", () => {
    assert.deepEqual(problemsOf({ voice: "\u001b[31mred\n" + "x".repeat(500) }), [
      `${FILE}: voice: "\\u001b[31mred\\n${"x".repeat(31)}…" is not a Realtime voice; use one of ${VOICES}`,
    ]);
  });
  await t.step("a missing voice", () => {
    assert.deepEqual(validatePersona({ instructions: "Hi" }, FILE).problems, [
      `${FILE}: voice: missing; use one of ${VOICES}`,
    ]);
  });
});

Deno.test("validatePersona rejects instructions", async (t) => {
  await t.step("empty or blank", () => {
    assert.deepEqual(problemsOf({ instructions: "" }), [
      `${FILE}: instructions: empty; write the agent's script`,
    ]);
    assert.deepEqual(problemsOf({ instructions: "  \n" }), [
      `${FILE}: instructions: empty; write the agent's script`,
    ]);
  });
  await t.step("missing", () => {
    assert.match(
      validatePersona({ voice: "marin" }, FILE).problems[0] ?? "",
      /^personas\/test\.ts: instructions: missing/,
    );
  });
  await t.step("neither a string nor a function", () => {
    assert.deepEqual(problemsOf({ instructions: 42 }), [
      `${FILE}: instructions: 42 is not a string or a function returning one`,
    ]);
  });
  await t.step("an async function", () => {
    assert.deepEqual(problemsOf({ instructions: async () => await Promise.resolve("Hi") }), [
      `${FILE}: instructions: an async function is not supported; return the string directly`,
    ]);
  });
});

Deno.test("validatePersona rejects VAD values out of range", async (t) => {
  const server = (fields: Record<string, unknown>) => problemsOf({ vad: { type: "server_vad", ...fields } });
  await t.step("threshold outside 0 to 1", () => {
    const fix = "use a number from 0 to 1";
    assert.deepEqual(server({ threshold: 1.5 }), [`${FILE}: vad.threshold: 1.5 is out of range; ${fix}`]);
    assert.deepEqual(server({ threshold: -0.1 }), [`${FILE}: vad.threshold: -0.1 is out of range; ${fix}`]);
    assert.deepEqual(server({ threshold: "0.6" }), [`${FILE}: vad.threshold: "0.6" is not a number; ${fix}`]);
    assert.deepEqual(server({ threshold: NaN }), [`${FILE}: vad.threshold: NaN is out of range; ${fix}`]);
  });
  await t.step("prefixPaddingMs outside 0 to 2000 or not whole", () => {
    const fix = "use a whole number of milliseconds from 0 to 2000";
    assert.deepEqual(server({ prefixPaddingMs: 2500 }), [
      `${FILE}: vad.prefixPaddingMs: 2500 is out of range; ${fix}`,
    ]);
    assert.deepEqual(server({ prefixPaddingMs: -1 }), [
      `${FILE}: vad.prefixPaddingMs: -1 is out of range; ${fix}`,
    ]);
    assert.deepEqual(server({ prefixPaddingMs: 10.5 }), [
      `${FILE}: vad.prefixPaddingMs: 10.5 is not a whole number; ${fix}`,
    ]);
  });
  await t.step("silenceDurationMs outside 100 to 5000", () => {
    const fix = "use a whole number of milliseconds from 100 to 5000";
    assert.deepEqual(server({ silenceDurationMs: 50 }), [
      `${FILE}: vad.silenceDurationMs: 50 is out of range; ${fix}`,
    ]);
    assert.deepEqual(server({ silenceDurationMs: 6000 }), [
      `${FILE}: vad.silenceDurationMs: 6000 is out of range; ${fix}`,
    ]);
  });
  await t.step("an eagerness that does not exist", () => {
    assert.deepEqual(problemsOf({ vad: { type: "semantic_vad", eagerness: "fast" } }), [
      `${FILE}: vad.eagerness: "fast" is not one of low, medium, high, auto`,
    ]);
  });
  await t.step("a field of the other VAD type", () => {
    assert.deepEqual(problemsOf({ vad: { type: "semantic_vad", threshold: 0.5 } }), [
      `${FILE}: vad.threshold: only server_vad has threshold; remove it or set type: "server_vad"`,
    ]);
    assert.deepEqual(server({ eagerness: "low" }), [
      `${FILE}: vad.eagerness: only semantic_vad has eagerness; remove it or set type: "semantic_vad"`,
    ]);
  });
  await t.step("an unknown or missing type", () => {
    assert.deepEqual(problemsOf({ vad: { type: "push_to_talk" } }), [
      `${FILE}: vad.type: "push_to_talk" is not "server_vad" or "semantic_vad"`,
    ]);
    assert.deepEqual(problemsOf({ vad: { threshold: 0.5 } }), [
      `${FILE}: vad.type: missing; use "server_vad" or "semantic_vad"`,
    ]);
  });
  await t.step("a snake_case field, pointing to the camelCase name", () => {
    assert.deepEqual(server({ prefix_padding_ms: 300 }), [
      `${FILE}: vad.prefix_padding_ms: unknown field; did you mean "prefixPaddingMs"? (persona fields are camelCase)`,
    ]);
  });
});

Deno.test("validatePersona rejects unknown fields, suggesting the closest known name", async (t) => {
  await t.step("a typo", () => {
    const result = validatePersona({ voice: "marin", instuctions: "Hi" }, FILE);
    assert.ok(result.problems.includes(`${FILE}: instuctions: unknown field; did you mean "instructions"?`));
    assert.ok(result.problems.some((p) => p.startsWith(`${FILE}: instructions: missing`)));
  });
  await t.step("a name from the wire format", () => {
    assert.deepEqual(problemsOf({ turn_detection: { type: "server_vad" } }), [
      `${FILE}: turn_detection: unknown field; did you mean "vad"?`,
    ]);
    assert.deepEqual(problemsOf({ max_output_tokens: 100 }), [
      `${FILE}: max_output_tokens: unknown field; did you mean "maxOutputTokens"? (persona fields are camelCase)`,
    ]);
  });
  await t.step("a name like no known field, listing the known ones", () => {
    assert.deepEqual(problemsOf({ colour: "blue" }), [
      // The common fields, then each engine's own (from its definition).
      `${FILE}: colour: unknown field; known fields are voice, instructions, greeting, fallbackMessage, model, ` +
      "maxCallMinutes, description, prewarm, tools, endCall, doNotCall, transfer, transferFailedMessage, dtmf, keypad, voicemail, record, recordingDisclosure, analysis, " +
      "vad, interruptions, reasoning, maxOutputTokens, transcriptionModel, noiseReduction",
    ]);
  });
  await t.step("temperature, which the GA Realtime API does not have", () => {
    assert.deepEqual(problemsOf({ temperature: 0.8 }), [
      `${FILE}: temperature: the GA Realtime API has no temperature; remove it`,
    ]);
  });
});

Deno.test("validatePersona rejects other fields' bad values", async (t) => {
  await t.step("prewarm that is not true or false", () => {
    assert.deepEqual(problemsOf({ prewarm: "no" }), [
      `${FILE}: prewarm: "no" is not true or false; write prewarm: false to turn pre-warm off`,
    ]);
  });
  await t.step("interruptions.minSpeechMs outside 0 to 2000", () => {
    assert.deepEqual(problemsOf({ interruptions: { minSpeechMs: 3000 } }), [
      `${FILE}: interruptions.minSpeechMs: 3000 is out of range; use a whole number of milliseconds from 0 to 2000`,
    ]);
  });
  await t.step("a reasoning effort that does not exist", () => {
    assert.deepEqual(problemsOf({ reasoning: { effort: "extreme" } }), [
      `${FILE}: reasoning.effort: "extreme" is not one of minimal, low, medium, high`,
    ]);
  });
  await t.step("maxOutputTokens outside 1 to 4096", () => {
    const fix = 'use an integer from 1 to 4096 or "inf"';
    assert.deepEqual(problemsOf({ maxOutputTokens: 5000 }), [
      `${FILE}: maxOutputTokens: 5000 is out of range; ${fix}`,
    ]);
    assert.deepEqual(problemsOf({ maxOutputTokens: 0 }), [
      `${FILE}: maxOutputTokens: 0 is out of range; ${fix}`,
    ]);
    assert.deepEqual(problemsOf({ maxOutputTokens: "infinite" }), [
      `${FILE}: maxOutputTokens: "infinite" is not a number; ${fix}`,
    ]);
  });
  await t.step("a noise reduction that does not exist", () => {
    assert.deepEqual(problemsOf({ noiseReduction: "near" }), [
      `${FILE}: noiseReduction: "near" is not one of near_field, far_field, off`,
    ]);
  });
  await t.step("empty strings", () => {
    assert.deepEqual(problemsOf({ greeting: "", model: " " }), [
      `${FILE}: greeting: empty; write the instruction for the first response, or remove the field`,
      `${FILE}: model: empty; name a Realtime model, e.g. "gpt-realtime", or a GPT-Live model, e.g. "gpt-live-1.1", or remove the field`,
    ]);
  });
});

Deno.test("validatePersona reports every problem of a persona at once", () => {
  const result = validatePersona(
    { voice: "nova", instructions: "", temperature: 1, vad: { type: "server_vad", threshold: 2 } },
    FILE,
  );
  assert.equal(result.persona, undefined);
  assert.deepEqual(result.problems.map((p) => p.split(": ")[1]), [
    "temperature",
    "voice",
    "instructions",
    "vad.threshold",
  ]);
});

Deno.test("validatePersona rejects a missing or non-object default export", () => {
  assert.match(
    validatePersona(undefined, FILE).problems[0] ?? "",
    /^personas\/test\.ts: default export: missing; /,
  );
  assert.deepEqual(validatePersona("marin", FILE).problems, [
    `${FILE}: default export: "marin" is not a persona object; export an object with voice and instructions`,
  ]);
  assert.match(
    validatePersona([], FILE).problems[0] ?? "",
    /default export: an array is not a persona object/,
  );
});

Deno.test("validatePersona is engine-aware: a gpt-live model takes GPT-Live's voices and fields", async (t) => {
  const LIVE_LIST = LIVE_VOICES.join(", ");
  const live = (fields: Record<string, unknown>) => problemsOf({ model: "gpt-live-1.1", ...fields });

  await t.step("GPT-Live voices are accepted on GPT-Live, refused on Realtime with the reason", () => {
    assert.deepEqual(live({ voice: "beacon" }), []);
    assert.deepEqual(problemsOf({ voice: "beacon" }), [
      `${FILE}: voice: "beacon" is not a Realtime voice (it is a GPT-Live voice; the persona's model decides the engine); use one of ${VOICES}`,
    ]);
    assert.deepEqual(live({ voice: "nova" }), [
      `${FILE}: voice: "nova" is a text-to-speech voice GPT-Live does not have; use one of ${LIVE_LIST}`,
    ]);
    assert.deepEqual(live({ voice: "merin" }), [
      `${FILE}: voice: "merin" is not a GPT-Live voice (did you mean "marin"?); use one of ${LIVE_LIST}`,
    ]);
  });

  await t.step("fields that mean nothing to GPT-Live are refused, each naming why", () => {
    assert.deepEqual(
      live({
        vad: { type: "semantic_vad" },
        interruptions: { minSpeechMs: 200 },
        reasoning: { effort: "low" },
        maxOutputTokens: 100,
        transcriptionModel: "gpt-4o-transcribe",
        noiseReduction: "far_field",
      }),
      [
        `${FILE}: vad: means nothing on GPT-Live (gpt-live-1.1): the model owns turn-taking; remove it, or use a gpt-realtime model`,
        `${FILE}: interruptions: means nothing on GPT-Live (gpt-live-1.1): the model owns turn-taking and barge-in; remove it, or use a gpt-realtime model`,
        `${FILE}: reasoning: means nothing on GPT-Live (gpt-live-1.1): GPT-Live has no reasoning setting; remove it, or use a gpt-realtime model`,
        `${FILE}: maxOutputTokens: means nothing on GPT-Live (gpt-live-1.1): GPT-Live has no output token limit setting; remove it, or use a gpt-realtime model`,
        `${FILE}: transcriptionModel: means nothing on GPT-Live (gpt-live-1.1): GPT-Live transcribes with its own model; remove it, or use a gpt-realtime model`,
        `${FILE}: noiseReduction: means nothing on GPT-Live (gpt-live-1.1): GPT-Live has no noise reduction setting; remove it, or use a gpt-realtime model`,
      ],
    );
  });

  await t.step("instructions over GPT-Live's 16,384-token limit are refused with a rough count", () => {
    const long = "word ".repeat(14_000); // 70,000 characters ≈ 17,504 tokens
    assert.deepEqual(live({ instructions: long }), [
      `${FILE}: instructions: about 17504 tokens, over GPT-Live's limit of 16384 (fixed when the session starts); shorten the script`,
    ]);
    assert.deepEqual(problemsOf({ instructions: long }), [], "the Realtime API takes them");
  });
});

Deno.test("validatePersona checks maxCallMinutes: minutes above 0, at most a day", () => {
  const fix = "use a number of minutes above 0 and at most 1440, or remove the field";
  assert.deepEqual(problemsOf({ maxCallMinutes: 12.5 }), []);
  assert.deepEqual(problemsOf({ maxCallMinutes: 0 }), [`${FILE}: maxCallMinutes: 0 is out of range; ${fix}`]);
  assert.deepEqual(problemsOf({ maxCallMinutes: 2000 }), [
    `${FILE}: maxCallMinutes: 2000 is out of range; ${fix}`,
  ]);
  assert.deepEqual(problemsOf({ maxCallMinutes: "10" }), [
    `${FILE}: maxCallMinutes: "10" is not a number; ${fix}`,
  ]);
});

Deno.test("validatePersona checks the action fields, naming the file, the tool and the field", async (t) => {
  await t.step("a valid set of actions passes", () => {
    assert.deepEqual(
      problemsOf({
        endCall: true,
        transfer: { to: "+14155550100" },
        transferFailedMessage: "Sorry.",
        dtmf: true,
        keypad: false,
        voicemail: () => "Leave a message.",
        tools: [{ name: "lookup", description: "Find it.", run: () => ({}) }],
      }),
      [],
    );
  });
  await t.step("a transfer target that is not E.164, or none at all", () => {
    assert.deepEqual(problemsOf({ transfer: { to: "555-0100" } }), [
      'personas/test.ts: transfer.to: "555-0100" is not an E.164 number; write it as +14155550100',
    ]);
    assert.match(problemsOf({ transfer: {} })[0]!, /transfer\.to: missing; write an E\.164 number/);
  });
  await t.step("tools: a built-in name, no description, a non-object schema, no run", () => {
    assert.deepEqual(
      problemsOf({ tools: [{ name: "end_call", parameters: { type: "string" } }] }),
      [
        'personas/test.ts: tools[0] (end_call).name: "end_call" is built in; choose another name (built-ins: end_call, do_not_call, transfer_call, press_keys)',
        "personas/test.ts: tools[0] (end_call).description: missing; say what the tool does and when the agent should use it",
        'personas/test.ts: tools[0] (end_call).parameters: must be a JSON schema of type "object", e.g. { type: "object", properties: { … } }',
        "personas/test.ts: tools[0] (end_call).run: missing or not a function; write run(args, call) { … } returning the result",
      ],
    );
  });
  await t.step("flags and messages of the wrong type", () => {
    assert.deepEqual(problemsOf({ endCall: "yes", doNotCall: 1, voicemail: "" }), [
      'personas/test.ts: endCall: "yes" is not true or false',
      "personas/test.ts: doNotCall: 1 is not true or false",
      "personas/test.ts: voicemail: not a non-empty string or a function; write the message the agent leaves",
    ]);
  });
});

Deno.test("validatePersona refuses a model no engine serves, naming the file, the field and the prefixes", () => {
  assert.deepEqual(problemsOf({ model: "gpt-4o-mini" }), [
    `${FILE}: model: "gpt-4o-mini" is not a model of any engine; use a name starting with ` +
    'gpt-realtime (Realtime, e.g. "gpt-realtime") or gpt-live (GPT-Live, e.g. "gpt-live-1.1")',
  ]);
  // Each engine's own models still pass, dated snapshots included.
  for (const model of ["gpt-realtime", "gpt-realtime-2025-08-28", "gpt-realtime-2.1-mini", "gpt-live-1.1"]) {
    assert.deepEqual(problemsOf({ model }), [], model);
  }
});
