/**
 * A rehearsal's `outcome` checks learn that the post-call analysis settled from the call's live feed,
 * not by reading the record over and over: the feed of an ended call whose analysis is under way
 * sends `call.analyzed` once the analysis is stored, then ends. The analysis here is held back by the
 * Responses API's 429 with `retry-after-ms` (2.5 s), as a busy API does.
 */

import assert from "node:assert/strict";
import { readOutcome } from "../../src/rehearsal/outcome_reading.ts";
import { runOnce } from "../../src/rehearsal/runner.ts";
import type { LoadedScenario } from "../../src/rehearsal/types.ts";
import { REHEARSAL_API_TOKEN, type RehearsalRig, withRehearsal } from "../../testing/rehearsal_rig.ts";
import { greetThenHangUp } from "../../testing/rehearsal_script.ts";
import { readFrames } from "../../testing/sse_frames.ts";
import { within } from "../../testing/within.ts";

const SCHEMA = {
  type: "object",
  properties: { interested: { type: "boolean" } },
  required: ["interested"],
  additionalProperties: false,
};
const PERSONA = `export default ${
  JSON.stringify({
    voice: "marin",
    instructions: "You are Alex. Book a demo.",
    greeting: "Say hello.",
    analysis: { schema: SCHEMA },
  })
};\n`;
const RETRY_AFTER_MS = 2500;

/** A call of persona `lead` with no outcome check: the run ends with the analysis still pending. */
const CALL_ONLY: LoadedScenario = {
  id: "call",
  file: "scenarios/call.ts",
  scenario: {
    persona: "lead",
    caller: { instructions: "You are Dana." },
    expect: [{ name: "ends", endReason: "caller_hung_up" }],
  },
};

/** Runs `fn` after one call of `lead` whose analysis waits for the fake's 429 to pass. */
function afterCallWithSlowAnalysis(fn: (rig: RehearsalRig, callSid: string) => Promise<void>): Promise<void> {
  return withRehearsal({
    prefix: "parley_outcome_feed_",
    personas: { "lead.ts": PERSONA },
    env: { DEFAULT_PERSONA: "lead", INBOUND_PERSONA: "lead" },
    analyses: true,
    judge: () => ({ interested: true }),
  }, async (rig) => {
    rig.responses.failures.push({ status: 429, retryAfterMs: RETRY_AFTER_MS });
    const running = runOnce(CALL_ONLY, 1, rig.setup);
    await greetThenHangUp(rig.parley.upstream);
    const result = await running;
    assert.equal(result.passed, true, JSON.stringify(result.checks));
    await fn(rig, result.callSid!);
  });
}

Deno.test("the live feed of an ended call whose analysis is pending sends call.analyzed once it is stored, then ends", async () => {
  await afterCallWithSlowAnalysis(async ({ parley }, callSid) => {
    const response = await fetch(`${parley.origin}/api/calls/${callSid}/events`, {
      headers: { authorization: `Bearer ${REHEARSAL_API_TOKEN}` },
    });
    assert.equal(response.status, 200);
    const frames = await within(Array.fromAsync(readFrames(response.body!)), "the end of the feed", 10_000);
    const events = frames.map((f) => ({ event: f.event, data: JSON.parse(f.data) }));
    assert.deepEqual(events.map((e) => e.event), ["snapshot", "call.analyzed"]);
    assert.ok(["pending", "running"].includes(events[0]!.data.outcome.state), frames[0]!.data);
    assert.equal(events[0]!.data.endReason, "caller_hung_up");
    assert.equal(events[1]!.data.state, "done");
    assert.deepEqual(events[1]!.data.outcome, { interested: true });
  });
});

Deno.test("the rehearsal reads the outcome as soon as the analysis is stored, from the feed, not by polling the record", async () => {
  await afterCallWithSlowAnalysis(async ({ parley, setup }, callSid) => {
    // A wait shorter than the analysis gives up on the feed at its deadline, saying where it stands.
    const early = await readOutcome(setup.target, callSid, "lead", 300);
    assert.equal(early.reading.kind, "unsettled");
    assert.match(
      early.reading.kind === "unsettled" ? early.reading.reason : "",
      /^the analysis is (pending|running) after \d+ attempt\(s\)/,
    );
    // The rehearsal reads Parley through this proxy, which counts the record's reads.
    let recordReads = 0;
    const proxy = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
      const url = new URL(request.url);
      if (url.pathname === `/api/calls/${callSid}`) recordReads++;
      return fetch(`${parley.origin}${url.pathname}${url.search}`, { headers: request.headers });
    });
    try {
      const analyzed = parley.waitForEvent("call.analyzed", (e) => e.callSid === callSid)
        .then(() => performance.now());
      const target = { ...setup.target, origin: `http://127.0.0.1:${proxy.addr.port}` };
      const { reading, record } = await readOutcome(target, callSid, "lead", 30_000);
      const readAt = performance.now();
      assert.equal(reading.kind, "settled");
      assert.deepEqual(reading.kind === "settled" ? reading.outcome.result : undefined, { interested: true });
      // The record read last is the one after the analysis: its cost has the analysis's.
      assert.equal(record?.outcome?.state, "done");
      assert.ok((record?.outcome?.costUsd ?? 0) > 0 && record!.costUsd! >= record!.outcome!.costUsd!);
      const lag = readAt - await analyzed;
      assert.ok(lag < 500, `read ${lag.toFixed(0)} ms after the analysis was stored`);
      // Once before the analysis settled, once after (a poll every 250 ms reads it ~10 times in 2.5 s).
      assert.ok(recordReads <= 3, `the record was read ${recordReads} times`);
    } finally {
      await proxy.shutdown();
    }
  });
});
