/**
 * A scenario's `caller.answeredBy` makes the virtual phone post Twilio's signed answering-machine
 * detection callback, so a rehearsal reaches Parley's voicemail path through the real call path:
 * the shipped `alex_answering_machine` scenario, against the shipped `alex`, leaves its voicemail.
 */

import assert from "node:assert/strict";
import { REHEARSAL_API_TOKEN, withRehearsal } from "../../testing/rehearsal_rig.ts";
import { createPersonaRegistry, loadPersonas } from "../../src/personas/loader.ts";
import { loadScenarios, ScenarioLoadError } from "../../src/rehearsal/loader.ts";
import { runOnce } from "../../src/rehearsal/runner.ts";
import { scenarioContext } from "../../src/rehearsal/setup.ts";
import { toneBytes } from "../../testing/fake_realtime.ts";
import { bothSessions, waitForHeard } from "../../testing/rehearsal_script.ts";
import { within } from "../../testing/within.ts";

const REPO = new URL("../../", import.meta.url).pathname;
const API_TOKEN = REHEARSAL_API_TOKEN;

/** Passes every criterion, once the transcript holds the voicemail. */
function scriptedJudge(request: Record<string, unknown>) {
  const content = String((request.input as { content: string }[])[0]!.content);
  const criteria = content.split("Criteria:\n")[1]!.split("\n");
  const left = content.includes("AGENT: Hi Sam, this is Alex");
  return {
    verdicts: criteria.map((_, i) => ({
      criterion: i + 1,
      pass: left,
      reason: left ? "the agent left a short message" : "no message in the transcript",
    })),
  };
}

Deno.test("a machine caller (answeredBy machine_end_beep) gets the persona's voicemail through the real call path", async () => {
  const personasDir = `${REPO}personas`;
  const [loaded] = await loadScenarios(
    [`${REPO}scenarios/alex_answering_machine.ts`],
    scenarioContext(createPersonaRegistry(await loadPersonas(personasDir)), "gpt-realtime-2.1"),
  );
  assert.equal(loaded!.scenario.caller.answeredBy, "machine_end_beep");
  await withRehearsal({
    prefix: "parley_amd_",
    personasDir,
    judge: scriptedJudge,
    linkBaseUrl: "https://parley.example",
  }, async ({ parley, setup }) => {
    const running = runOnce(loaded!, 1, setup);
    const { caller, agent } = await bothSessions(parley.upstream);
    await agent.waitFor("response.create"); // Alex's greeting
    await agent.streamResponse({
      responseId: "resp_1",
      itemId: "item_1",
      audio: toneBytes(300, 0x11),
      transcript: "Hi Sam, it's Alex from Acme.",
    });
    await waitForHeard(caller, 0x11, 300);
    // The machine's greeting: no AMD result while it plays (DetectMessageEnd waits for the beep).
    await caller.streamResponse({ responseId: "resp_c1", itemId: "item_c1", audio: toneBytes(800, 0x22) });
    await waitForHeard(agent, 0x22, 800);
    assert.equal(
      parley.events.some((e) => e.type === "call.status"),
      false,
      "nothing posted during the greeting",
    );

    // Once the greeting has ended, the signed callback arrives as Twilio's async AMD posts it…
    const status = await within(parley.waitForEvent("call.status"), "the AMD callback", 3_000);
    assert.equal(status.status, "machine-detected");
    assert.match(status.detail, /^AnsweredBy=machine_end_beep$/);
    // …and Parley has the agent leave alex's voicemail, then hangs up once it was heard.
    const note = await within(
      agent.waitFor("conversation.item.create", (e) => e.item?.role === "user"),
      "the voicemail instruction",
    );
    assert.match(note.item.content[0].text, /Leave this voicemail now.*Alex from Acme/s);
    await within(agent.waitFor("response.create", (e) => e.at > note.at), "the voicemail asked for");
    await agent.streamResponse({
      responseId: "resp_vm",
      itemId: "item_vm",
      audio: toneBytes(500, 0x55),
      transcript: "Hi Sam, this is Alex from Acme about Acme Scheduler. I'll try again another day. Goodbye.",
    });
    const result = await within(running, "the run", 10_000);

    assert.equal(result.passed, true, JSON.stringify(result.checks));
    assert.deepEqual(result.checks.map((c) => [c.name, c.status]), [
      ["leaves a voicemail", "passed"],
      ["leaves a message", "passed"],
      ["no conversation", "passed"],
    ]);
    const record = await (await fetch(`${parley.origin}/api/calls/${result.callSid}`, {
      headers: { authorization: `Bearer ${API_TOKEN}` },
    })).json();
    assert.equal(record.endReason, "voicemail_left");
    assert.equal(record.source, "rehearsal");
  });
});

Deno.test("a scenario whose caller.answeredBy is not one of Twilio's values is named with the file and field", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley_scenarios_" });
  try {
    const file = `${dir}/machine.ts`;
    await Deno.writeTextFile(
      file,
      `export default {
        persona: "alex",
        caller: { instructions: "You are an answering machine.", answeredBy: "machine" },
        expect: [{ name: "voicemail", endReason: "voicemail_left" }],
      };`,
    );
    const context = { personaIds: ["alex"], defaultModel: "gpt-realtime-2.1" };
    const error = await loadScenarios([file], context).then(() => undefined, (e) => e);
    assert.ok(error instanceof ScenarioLoadError);
    assert.deepEqual(error.problems, [
      `${file}: caller.answeredBy: "machine" is not what Twilio's answering-machine detection says; use one ` +
      "of human, machine_start, machine_end_beep, machine_end_silence, machine_end_other, fax, unknown",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
