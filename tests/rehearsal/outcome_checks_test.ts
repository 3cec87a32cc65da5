/**
 * A scenario's `outcome` checks read the call's post-call analysis: the run waits for it to settle
 * (through `GET /api/personas/:id` and `GET /api/calls/:sid`, as any client would), compares each
 * wanted value, and counts the analysis's cost in the run's. A persona without `analysis` has them
 * skipped, and an analysis that fails fails them with its reason.
 */

import assert from "node:assert/strict";
import { runOnce } from "../../src/rehearsal/runner.ts";
import type { LoadedScenario } from "../../src/rehearsal/types.ts";
import { withRehearsal } from "../../testing/rehearsal_rig.ts";
import { greetThenHangUp } from "../../testing/rehearsal_script.ts";

const SCHEMA = {
  type: "object",
  properties: { interested: { type: "boolean" }, meetingDay: { type: ["string", "null"] } },
  required: ["interested", "meetingDay"],
  additionalProperties: false,
};
const persona = (analysis: boolean) =>
  `export default ${
    JSON.stringify({
      voice: "marin",
      instructions: "You are Alex. Book a demo.",
      greeting: "Say hello.",
      ...(analysis ? { analysis: { schema: SCHEMA } } : {}),
    })
  };\n`;
const PERSONAS = { "lead.ts": persona(true), "plain.ts": persona(false) };
const ENV = { DEFAULT_PERSONA: "lead", INBOUND_PERSONA: "lead" };

/** The fake Responses API: the analysis (format `call_outcome`) says `outcome`; the judge has no criteria here. */
const answers = (outcome: Record<string, unknown>) => (request: Record<string, unknown>) =>
  (request.text as { format: { name: string } }).format.name === "call_outcome" ? outcome : { verdicts: [] };

const scenario = (personaId: string): LoadedScenario => ({
  id: "books",
  file: "scenarios/books.ts",
  scenario: {
    persona: personaId,
    caller: { instructions: "You are Dana; agree to a demo on Tuesday." },
    expect: [
      { name: "ends", endReason: "caller_hung_up" },
      { name: "interested", outcome: { interested: true } },
      { name: "monday", outcome: { meetingDay: "Monday", interested: true } },
    ],
  },
});

Deno.test("outcome checks wait for the analysis, compare each value, and count its cost", async () => {
  await withRehearsal({
    prefix: "parley_outcome_",
    personas: PERSONAS,
    env: ENV,
    analyses: true,
    judge: answers({ interested: true, meetingDay: "Tuesday" }),
  }, async ({ parley, setup, responses }) => {
    const running = runOnce(scenario("lead"), 1, setup);
    await greetThenHangUp(parley.upstream);
    const result = await running;
    assert.deepEqual(result.checks.map((c) => [c.name, c.status, c.reason]), [
      ["ends", "passed", "the call ended: caller_hung_up"],
      ["interested", "passed", "the outcome says interested true"],
      ["monday", "failed", 'the outcome says meetingDay "Tuesday" (expected "Monday"), interested true'],
    ]);
    assert.equal(result.passed, false);
    // The analysis asked the fake once, strictly; its tokens are in the run's cost.
    const asked = responses.requests.filter((r) =>
      (r.body?.text as { format?: { name?: string } } | undefined)?.format?.name === "call_outcome"
    );
    assert.equal(asked.length, 1);
    assert.equal(asked[0]!.status, 200);
    const record = await (await fetch(`${parley.origin}/api/calls/${result.callSid}`, {
      headers: { authorization: `Bearer ${setup.target.apiToken}` },
    })).json();
    assert.equal(record.outcome.state, "done");
    assert.ok(record.outcome.costUsd > 0);
    assert.ok(
      result.costUsd !== null && result.costUsd >= record.costUsd,
      "the run's cost has the analysis's",
    );
  });
});

Deno.test("outcome checks are skipped for a persona without analysis, and fail with the reason when it fails", async () => {
  await withRehearsal({
    prefix: "parley_outcome_",
    personas: PERSONAS,
    env: ENV,
    analyses: true,
    // Not the persona's schema: Parley refuses the result, and after its tries the analysis fails.
    judge: answers({ interested: "very" }),
  }, async ({ parley, setup }) => {
    const persona = await (await fetch(`${parley.origin}/api/personas/plain`, {
      headers: { authorization: `Bearer ${setup.target.apiToken}` },
    })).json();
    assert.equal(persona.analysis, false);
    const plain = runOnce(scenario("plain"), 1, setup);
    await greetThenHangUp(parley.upstream);
    assert.deepEqual((await plain).checks.map((c) => [c.name, c.status, c.reason]), [
      ["ends", "passed", "the call ended: caller_hung_up"],
      ["interested", "skipped", "skipped: the persona has no analysis"],
      ["monday", "skipped", "skipped: the persona has no analysis"],
    ]);

    const lead = runOnce(scenario("lead"), 1, setup);
    await greetThenHangUp(parley.upstream, 2);
    const checks = (await lead).checks;
    assert.deepEqual(checks.map((c) => [c.name, c.status]), [
      ["ends", "passed"],
      ["interested", "failed"],
      ["monday", "failed"],
    ]);
    assert.match(checks[1]!.reason, /^the analysis failed: .*interested/);
  });
});
