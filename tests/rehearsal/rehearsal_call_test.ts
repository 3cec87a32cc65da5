/**
 * A rehearsal run goes through Parley's real call path: a real server (the harness), the virtual
 * phone, the caller bridge, and both sessions played by the fake Realtime server, the judge by a
 * fake Responses API. Proves the phone is faithful (real-time playback, barge-in, the record) and
 * that a failing criterion fails the run.
 */

import assert from "node:assert/strict";
import { runOnce } from "../../src/rehearsal/runner.ts";
import { formatReport, summarize } from "../../src/rehearsal/report.ts";
import type { LoadedScenario, Scenario } from "../../src/rehearsal/types.ts";
import { bothSessions, callerSaid, heardBytes, waitForHeard } from "../../testing/rehearsal_script.ts";
import { REHEARSAL_API_TOKEN as API_TOKEN, withRehearsal } from "../../testing/rehearsal_rig.ts";
import { toneBytes } from "../../testing/fake_realtime.ts";
import { within } from "../../testing/within.ts";

/** Judges by the transcript it is sent: "greeted" holds when the agent said hello; the rest fail. */
function scriptedJudge(request: Record<string, unknown>) {
  const content = String((request.input as { content: string }[])[0]!.content);
  const criteria = content.split("Criteria:\n")[1]!.split("\n");
  return {
    verdicts: criteria.map((line, i) => {
      const greets = line.includes("greeted");
      const pass = greets && content.includes("AGENT: Hello");
      return {
        criterion: i + 1,
        pass,
        reason: pass ? "the agent said hello" : "the agent never asked for a name",
      };
    }),
  };
}

/** The rig of these tests: the scripted judge, links to a made-up public URL. */
const RIG = { judge: scriptedJudge, linkBaseUrl: "https://parley.example" };

const scenario = (expect: Scenario["expect"]): LoadedScenario => ({
  id: "greeting",
  file: "scenarios/greeting.ts",
  scenario: {
    persona: "tester",
    caller: { instructions: "You are Sam; you want to leave a message." },
    expect,
  },
});

Deno.test("a rehearsal run is a real call: agent audio reaches the caller in real time, the record says rehearsal, a failed criterion fails the run", async () => {
  await withRehearsal(RIG, async ({ parley, responses, setup }) => {
    const loaded = scenario([
      { name: "caller hangs up", endReason: "caller_hung_up" },
      { name: "no transfer", toolNotCalled: "transfer_call" },
      { name: "interested", outcome: { interested: true } },
      { name: "greets", judge: "the agent greeted the caller" },
      { name: "asks the name", judge: "the agent asked for the caller's name" },
    ]);
    const running = runOnce(loaded, 1, setup);
    const { caller, agent } = await bothSessions(parley.upstream);
    await agent.waitFor("response.create"); // the greeting
    // The line carries silence while nobody speaks, as a phone's does: the caller's VAD needs it to
    // hear that the agent stopped talking.
    await within(waitForHeard(caller, 0xff, 200), "silence on the line", 2_000);
    // Parley gets the greeting (600 ms) ten times faster than real time…
    await agent.streamResponse({
      responseId: "resp_1",
      itemId: "item_1",
      audio: toneBytes(600, 0x11),
      transcript: "Hello, how can I help?",
    });
    const streamedAt = performance.now();
    // …the caller hears it at the pace of a phone line.
    const heardAllAt = await waitForHeard(caller, 0x11, 600);
    const frames = heardBytes(caller, 0x11);
    assert.ok(frames.every((f) => f.bytes <= 160), "at most one 20 ms frame at a time");
    const spreadMs = frames.at(-1)!.at - frames[0]!.at;
    assert.ok(spreadMs >= 500, `600 ms of audio reached the caller over ${Math.round(spreadMs)} ms`);
    assert.ok(heardAllAt - streamedAt >= 400, "the caller still heard it well after Parley had it all");

    // The caller answers and hangs up after its words went out.
    await caller.streamResponse({
      responseId: "resp_c1",
      itemId: "item_c1",
      audio: toneBytes(300, 0x22),
      functionCalls: [{ callId: "call_hang", name: "hang_up", arguments: "{}" }],
    });
    await waitForHeard(agent, 0x22, 100);
    callerSaid(agent, "Hi, I'd like to leave a message.");
    const result = await running;

    assert.equal(result.passed, false);
    assert.deepEqual(result.checks.map((c) => [c.name, c.status]), [
      ["caller hangs up", "passed"],
      ["no transfer", "passed"],
      ["interested", "skipped"],
      ["greets", "passed"],
      ["asks the name", "failed"],
    ]);
    assert.equal(result.checks[2]!.reason, "skipped: the persona has no analysis");
    assert.equal(result.checks[4]!.reason, "the agent never asked for a name");
    assert.equal(result.callUrl, `https://parley.example/calls/${result.callSid}`);
    assert.ok(result.costUsd !== null && result.costUsd > 0, "the judge's tokens are priced");

    const record = await (await fetch(`${parley.origin}/api/calls/${result.callSid}`, {
      headers: { authorization: `Bearer ${API_TOKEN}` },
    })).json();
    assert.equal(record.source, "rehearsal");
    assert.equal(record.parameters.parley_source, undefined, "the marker is no call parameter");
    assert.deepEqual(record.transcript.map((l: { speaker: string; text: string }) => [l.speaker, l.text]), [
      ["agent", "Hello, how can I help?"],
      ["caller", "Hi, I'd like to leave a message."],
    ]);
    // The judge was asked once, strictly, with that transcript.
    assert.equal(responses.requests.length, 1);
    assert.equal(responses.requests[0]!.status, 200);

    const report = formatReport(summarize([loaded], [result]));
    assert.match(report, /✘ greeting \(tester\): 0\/1 passed \(needs 1\/1\)/);
    assert.match(report, new RegExp(`run 1: https://parley.example/calls/${result.callSid}`));
    assert.match(report, /✘ asks the name: the agent never asked for a name/);
    assert.match(report, /– interested: skipped: the persona has no analysis/);
  });
});

Deno.test("a barge-in by the simulated caller clears the phone and truncates the agent where the caller stopped hearing it", async () => {
  await withRehearsal(RIG, async ({ parley, setup }) => {
    const running = runOnce(scenario([{ name: "caller hangs up", endReason: "caller_hung_up" }]), 1, setup);
    const { caller, agent } = await bothSessions(parley.upstream);
    await agent.waitFor("response.create");
    const answer = agent.streamResponse({
      responseId: "resp_1",
      itemId: "item_1",
      audio: toneBytes(3000, 0x33),
      transcript: "A long answer",
    });
    await waitForHeard(caller, 0x33, 600);
    // The caller talks over the agent; the agent's VAD hears it (as the real one would).
    const talking = caller.streamResponse({
      responseId: "resp_c1",
      itemId: "item_c1",
      audio: toneBytes(400, 0x44),
    });
    await waitForHeard(agent, 0x44, 100);
    const heardBeforeCut = heardBytes(caller, 0x33).reduce((n, f) => n + f.bytes, 0) / 8;
    agent.speechStarted();
    const truncate = await agent.waitFor("conversation.item.truncate");
    await answer;
    await talking;
    const interruption = await parley.waitForEvent("interruption");
    await caller.streamResponse({
      responseId: "resp_c2",
      itemId: "item_c2",
      audio: toneBytes(100, 0x44),
      functionCalls: [{ callId: "call_hang", name: "hang_up", arguments: "{}" }],
    });
    const result = await running;
    assert.equal(result.passed, true, JSON.stringify(result.checks));

    assert.equal(truncate.item_id, "item_1");
    assert.equal(interruption.audioEndMs, truncate.audio_end_ms);
    // Truncated where the caller stopped hearing it (playback is confirmed by marks every 100 ms).
    assert.ok(
      Math.abs(truncate.audio_end_ms - heardBeforeCut) <= 150,
      `truncated at ${truncate.audio_end_ms} ms, the caller had heard ${heardBeforeCut} ms`,
    );
    // `clear` dropped the rest: the caller never heard the remaining seconds.
    const heardTotal = heardBytes(caller, 0x33).reduce((n, f) => n + f.bytes, 0) / 8;
    assert.ok(heardTotal <= truncate.audio_end_ms + 150, `heard ${heardTotal} ms of a 3000 ms answer`);
    const record = await (await fetch(`${parley.origin}/api/calls/${result.callSid}`, {
      headers: { authorization: `Bearer ${API_TOKEN}` },
    })).json();
    assert.equal(record.interruptions.length, 1);
  });
});
