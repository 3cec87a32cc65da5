/**
 * How a rehearsal run ends when nobody ends it: a caller session that OpenAI refuses while the phone
 * is still dialling hangs the call up at once (not after `maxMinutes`), and a call the `maxMinutes`
 * limit hangs up fails with a `time limit` check, whatever end reason the scenario accepts.
 */

import assert from "node:assert/strict";
import { describeRefusal, type UpstreamConnector } from "../../src/engines/upstream_socket.ts";
import { runOnce } from "../../src/rehearsal/runner.ts";
import type { LoadedScenario } from "../../src/rehearsal/types.ts";
import { REHEARSAL_API_TOKEN, withRehearsal } from "../../testing/rehearsal_rig.ts";
import { sessionOf } from "../../testing/rehearsal_script.ts";
import { within } from "../../testing/within.ts";

const scenario = (maxMinutes: number): LoadedScenario => ({
  id: "limits",
  file: "scenarios/limits.ts",
  scenario: {
    persona: "tester",
    caller: { instructions: "You are Sam." },
    expect: [{ name: "ends cleanly", endReason: ["agent_hung_up", "caller_hung_up"] }],
    maxMinutes,
  },
});

/** A caller connection that OpenAI refuses (429) on the next tick, before the phone is dialled. */
const refused: UpstreamConnector = (_request, handlers) => {
  const timer = setTimeout(() => handlers.onFailure({ status: 429, message: describeRefusal(429, "x") }));
  return { send() {}, close: () => clearTimeout(timer) };
};

Deno.test("a caller session refused while the phone dials hangs the call up at once, not at maxMinutes", async () => {
  await withRehearsal({ prefix: "parley_run_end_" }, async ({ parley, setup }) => {
    const startedAt = performance.now();
    // 0.2 min = 12 s: the old code kept the mute call open until then.
    const result = await runOnce(scenario(0.2), 1, { ...setup, connect: refused });
    const tookMs = performance.now() - startedAt;

    assert.ok(tookMs < 5_000, `the run took ${Math.round(tookMs)} ms of a 12 s limit`);
    assert.equal(result.passed, false);
    assert.deepEqual(result.checks.map((c) => [c.name, c.status]), [
      ["caller session", "failed"],
      ["ends cleanly", "passed"],
    ]);
    assert.match(result.checks[0]!.reason, /^the caller session ended: .*429/);
    // The agent's session (billed while it is open) closed with the call.
    const agent = await sessionOf(parley.upstream, false);
    await within(agent.closed, "the agent's session to close", 2_000);
    const record = await (await fetch(`${parley.origin}/api/calls/${result.callSid}`, {
      headers: { authorization: `Bearer ${REHEARSAL_API_TOKEN}` },
    })).json();
    assert.equal(record.endReason, "caller_hung_up");
  });
});

Deno.test("a call the maxMinutes limit hangs up fails with a time limit check, though caller_hung_up is accepted", async () => {
  await withRehearsal({ prefix: "parley_run_end_" }, async ({ setup }) => {
    // The agent's and the caller's sessions open and say nothing: nobody ever hangs up.
    const startedAt = performance.now();
    const result = await runOnce(scenario(0.05), 1, setup);
    const tookMs = performance.now() - startedAt;

    assert.ok(tookMs >= 3_000, `hung up after ${Math.round(tookMs)} ms, the limit is 3 s`);
    assert.equal(result.passed, false);
    assert.deepEqual(result.checks, [
      {
        name: "time limit",
        status: "failed",
        reason: "still going after 0.05 min: hung up by the rehearsal",
      },
      { name: "ends cleanly", status: "passed", reason: "the call ended: caller_hung_up" },
    ]);
  });
});
