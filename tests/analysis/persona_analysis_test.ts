/**
 * Tests of a persona's `analysis`: a schema strict structured output refuses is named at persona
 * load, with the field and the fix; a good one loads.
 *
 * @module
 */

import assert from "node:assert/strict";
import { loadPersonas, PersonaLoadError } from "../../src/personas/loader.ts";
import { validatePersona } from "../../src/personas/validate.ts";
import { personaSource, withPersonaDir } from "../personas/_persona_dir.ts";
import { shippedPersonas } from "../personas/_shipped.ts";

const FILE = "personas/test.ts";
const GOOD_SCHEMA = {
  type: "object",
  properties: {
    interested: { type: "boolean" },
    meeting: {
      type: ["object", "null"],
      properties: { day: { type: "string" }, time: { type: "string" } },
      required: ["day", "time"],
      additionalProperties: false,
    },
    objections: { type: "array", items: { type: "string" } },
    urgency: { type: "string", enum: ["low", "normal", "high"] },
  },
  required: ["interested", "meeting", "objections", "urgency"],
  additionalProperties: false,
};

/** A schema copy whose parts a test deletes or adds. */
type Editable = Record<string, unknown> & { properties: Record<string, Record<string, unknown>> };

function problemsOf(analysis: unknown): string[] {
  return validatePersona({ voice: "marin", instructions: "Hi", analysis }, FILE).problems;
}

Deno.test("a strict-mode schema loads, with instructions and model", () => {
  const result = validatePersona(
    {
      voice: "marin",
      instructions: "Hi",
      analysis: { schema: GOOD_SCHEMA, instructions: "Judge the lead.", model: "gpt-5-mini" },
    },
    FILE,
  );
  assert.deepEqual(result.problems, []);
  assert.deepEqual(result.persona?.analysis?.schema, GOOD_SCHEMA);
});

Deno.test("each part strict mode refuses is named with its path", async (t) => {
  await t.step("a nested property left out of required", () => {
    const schema = structuredClone(GOOD_SCHEMA);
    schema.properties.meeting.required = ["day"];
    assert.deepEqual(problemsOf({ schema }), [
      `${FILE}: analysis.schema.properties.meeting.required: "time" is missing; strict mode needs every property listed (make it optional with type: [..., "null"])`,
    ]);
  });
  await t.step("an object without additionalProperties: false", () => {
    const schema: Record<string, unknown> = structuredClone(GOOD_SCHEMA);
    delete schema.additionalProperties;
    assert.deepEqual(problemsOf({ schema }), [
      `${FILE}: analysis.schema.additionalProperties: must be false in strict mode; add additionalProperties: false`,
    ]);
  });
  await t.step("a keyword strict mode does not take", () => {
    const schema = structuredClone(GOOD_SCHEMA) as Editable;
    schema.properties.urgency!.default = "normal";
    assert.deepEqual(problemsOf({ schema }), [
      `${FILE}: analysis.schema.properties.urgency.default: strict mode does not take this keyword here; remove it`,
    ]);
  });
  await t.step("a root that is not an object, an array without items, an unknown field", () => {
    assert.deepEqual(problemsOf({ schema: { type: "string" } }), [
      `${FILE}: analysis.schema.type: "string" is not "object"; the root of an analysis schema is an object`,
    ]);
    const schema = structuredClone(GOOD_SCHEMA) as Editable;
    delete schema.properties.objections!.items;
    assert.deepEqual(problemsOf({ schema, modle: "x" }), [
      `${FILE}: analysis.modle: unknown field; known fields are schema, instructions, model`,
      `${FILE}: analysis.schema.properties.objections.items: missing; say what the array holds, e.g. items: { type: "string" }`,
    ]);
  });
  await t.step("a missing schema, an empty model", () => {
    assert.deepEqual(problemsOf({ model: "" }), [
      `${FILE}: analysis.schema: missing; write the JSON schema of the outcome, { type: "object", … }`,
      `${FILE}: analysis.model: empty; name a Responses model, e.g. "gpt-5-mini", or remove the field (OPENAI_ANALYSIS_MODEL)`,
    ]);
  });
});

Deno.test("loadPersonas refuses the file whose analysis schema strict mode refuses, naming the field", async () => {
  const schema = structuredClone(GOOD_SCHEMA);
  schema.required = ["interested", "meeting", "objections"];
  await withPersonaDir(
    { "lead.ts": personaSource({ voice: "marin", instructions: "Hi", analysis: { schema } }) },
    async (dir) => {
      const error = await loadPersonas(dir).then(() => undefined, (e: unknown) => e);
      assert.ok(error instanceof PersonaLoadError, String(error));
      assert.match(error.message, /lead\.ts: analysis\.schema\.required: "urgency" is missing/);
    },
  );
});

Deno.test("the shipped personas' analysis schemas load and ask for what the issue names", async () => {
  const { sources, edited } = await shippedPersonas();
  await withPersonaDir(sources, async (dir) => {
    const personas = await loadPersonas(dir);
    const fields = (id: string) => Object.keys(personas.get(id)?.persona.analysis?.schema.properties ?? {});
    if (!edited.includes("alex.ts")) {
      assert.deepEqual(fields("alex"), ["interested", "meeting", "objections", "nextStep", "doNotCall"]);
    }
    if (!edited.includes("receptionist.ts")) {
      assert.deepEqual(fields("receptionist"), ["callerName", "reason", "callbackNumber", "urgency"]);
    }
  });
});
