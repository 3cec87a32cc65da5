/** Scenario files: the shipped ones load; a broken one is refused with every problem, each naming the file and field. */

import assert from "node:assert/strict";
import { createPersonaRegistry, loadPersonas } from "../../src/personas/loader.ts";
import { loadScenarios, scenarioFiles, ScenarioLoadError } from "../../src/rehearsal/loader.ts";
import { scenarioContext } from "../../src/rehearsal/setup.ts";

const REPO = new URL("../../", import.meta.url).pathname;

Deno.test("the shipped scenarios load against the shipped personas", async () => {
  const personas = createPersonaRegistry(await loadPersonas(`${REPO}personas`));
  const files = await scenarioFiles(`${REPO}scenarios`);
  const loaded = await loadScenarios(files, scenarioContext(personas, "gpt-realtime-2.1"));
  assert.deepEqual(loaded.map((s) => s.id), [
    "alex_answering_machine",
    "alex_do_not_call",
    "alex_hostile_lead",
    "alex_interested_lead",
    "receptionist_keys",
    "receptionist_message",
    "receptionist_urgent",
  ]);
  for (const { scenario } of loaded) assert.ok(scenario.expect.some((c) => "judge" in c));
});

Deno.test("a broken scenario file is refused, every problem naming the file and the field", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley_scenarios_" });
  try {
    const file = `${dir}/broken.ts`;
    await Deno.writeTextFile(
      file,
      `export default {
        persona: "alx",
        caller: { instructions: "", voice: "nova", modle: "x" },
        expect: [
          { name: "books", toolCaled: "book_demo" },
          { name: "two", endReason: "agent_hung_up", maxTurns: 3 },
          { name: "ends", endReason: "hung_up" },
          { name: "ends", judge: 42 },
          { name: "fast", p95LatencyMs: -1 },
        ],
        runs: 0,
        minPassRate: 2,
      };`,
    );
    const context = { personaIds: ["alex", "receptionist"], defaultModel: "gpt-realtime-2.1" };
    const error = await loadScenarios([file], context).then(() => undefined, (e) => e);
    assert.ok(error instanceof ScenarioLoadError);
    const problems = error.problems.map((p: string) => p.replace(`${file}: `, "FILE: "));
    assert.ok(error.problems.every((p: string) => p.startsWith(`${file}: `)), error.message);
    const expected = [
      /^FILE: persona: no persona "alx"; known personas are alex, receptionist$/,
      /^FILE: caller\.modle: unknown field; did you mean "model"\?/,
      /^FILE: caller\.instructions: empty;/,
      /^FILE: caller\.voice: .*nova/,
      /^FILE: expect\[0\]\.toolCaled: unknown field; did you mean "toolCalled"\?/,
      /^FILE: expect\[0\]: says nothing to check/,
      /^FILE: expect\[1\]: has endReason and maxTurns; give one kind of check each$/,
      /^FILE: expect\[2\]\.endReason: "hung_up" is not an end reason; use one of caller_hung_up, /,
      /^FILE: expect\[3\]\.name: "ends" names another check too$/,
      /^FILE: expect\[3\]\.judge: 42 is not a string/,
      /^FILE: expect\[4\]\.p95LatencyMs: -1 is out of range/,
      /^FILE: runs: 0 is out of range; use a whole number from 1 to 20$/,
      /^FILE: minPassRate: 2 is out of range; use a number from 0 to 1$/,
    ];
    for (const pattern of expected) {
      assert.ok(problems.some((p: string) => pattern.test(p)), `${pattern}\n${problems.join("\n")}`);
    }
    assert.equal(problems.length, expected.length, problems.join("\n"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a scenario named on the command line that does not exist is named", async () => {
  const error = await scenarioFiles(`${REPO}scenarios`, ["alex_nope"]).then(() => undefined, (e) => e);
  assert.ok(error instanceof ScenarioLoadError);
  assert.match(error.problems[0]!, /scenarios\/alex_nope\.ts: file: not found/);
});

Deno.test("an outcome check naming a field the persona's analysis schema lacks is refused, naming both", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley_scenarios_" });
  try {
    const file = `${dir}/outcome.ts`;
    await Deno.writeTextFile(
      file,
      `export default {
        persona: "lead",
        caller: { instructions: "You are Dana." },
        expect: [{ name: "books", outcome: { interested: true, meetingDay: "Tuesday" } }],
      };`,
    );
    const context = {
      personaIds: ["lead", "plain"],
      defaultModel: "gpt-realtime-2.1",
      personaOutcomeFields: (id: string) => id === "lead" ? ["interested", "meeting"] : undefined,
    };
    const error = await loadScenarios([file], context).then(() => undefined, (e) => e);
    assert.ok(error instanceof ScenarioLoadError);
    assert.deepEqual(error.problems, [
      `${file}: expect[0].outcome.meetingDay: not a field of the persona's analysis schema; its fields are interested, meeting`,
    ]);
    // With the persona's fields unknown (a running Parley's), the check loads as it is.
    const loaded = await loadScenarios([file], { ...context, personaOutcomeFields: () => undefined });
    assert.equal(loaded.length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a persona's analysis fields reach scenario checks through scenarioContext", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley_personas_" });
  try {
    const schema = {
      type: "object",
      properties: { interested: { type: "boolean" }, nextStep: { type: "string" } },
      required: ["interested", "nextStep"],
      additionalProperties: false,
    };
    const persona = (extra: object) =>
      `export default ${JSON.stringify({ voice: "marin", instructions: "Hi.", ...extra })};`;
    await Deno.writeTextFile(`${dir}/lead.ts`, persona({ analysis: { schema } }));
    await Deno.writeTextFile(`${dir}/plain.ts`, persona({}));
    const personas = createPersonaRegistry(await loadPersonas(dir));
    const fields = scenarioContext(personas, "gpt-realtime-2.1").personaOutcomeFields!;
    assert.deepEqual(fields("lead"), ["interested", "nextStep"]);
    assert.equal(fields("plain"), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
