/**
 * Runs go in parallel up to the limit: with two runs and a limit of two, both calls are up at once;
 * each run's result is reported as it ends.
 */

import assert from "node:assert/strict";
import { withRehearsal } from "../../testing/rehearsal_rig.ts";
import { runRehearsals, type RunResult } from "../../src/rehearsal/runner.ts";
import { toneBytes } from "../../testing/fake_realtime.ts";
import { within } from "../../testing/within.ts";

Deno.test("runs go in parallel up to the limit, each reported as it ends", async () => {
  await withRehearsal({ prefix: "parley_parallel_" }, async ({ parley, setup }) => {
    const reported: RunResult[] = [];
    const running = runRehearsals([{
      id: "twice",
      file: "twice.ts",
      scenario: {
        persona: "tester",
        caller: { instructions: "Hang up." },
        expect: [{ name: "ends", endReason: "caller_hung_up" }],
        runs: 2,
      },
    }], { ...setup, concurrency: 2, onRun: (result) => reported.push(result) });
    // Both calls are up (two callers, two agents) before either ends.
    await within(parley.upstream.session(3), "four sessions (two calls) at once", 5_000);
    const updates = await Promise.all(parley.upstream.sessions.map((s) => s.waitFor("session.update")));
    const isCaller = updates.map((u) =>
      String(u.session?.instructions).startsWith("You are a person on a phone call")
    );
    const callers = parley.upstream.sessions.filter((_, i) => isCaller[i]);
    assert.equal(callers.length, 2);
    assert.equal(isCaller.filter((c) => !c).length, 2);
    assert.equal(reported.length, 0);
    for (const [i, caller] of callers.entries()) {
      await caller.streamResponse({
        responseId: `c${i}`,
        itemId: `ci${i}`,
        audio: toneBytes(60, 0x22),
        functionCalls: [{ callId: `h${i}`, name: "hang_up", arguments: "{}" }],
      });
    }
    const results = await running;
    assert.deepEqual(results.map((r) => [r.run, r.passed]), [[1, true], [2, true]]);
    assert.equal(reported.length, 2);
    assert.notEqual(results[0]!.callSid, results[1]!.callSid);
  });
});
