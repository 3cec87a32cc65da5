/**
 * The `maxDeadAirSeconds` check through the real call path: the virtual phone measures the longest
 * stretch with neither the agent's audio playing nor the caller speaking, and the check compares it.
 * The silence here is the test's own stimulus (the caller waits 1.5 s before answering), so it is timed.
 * When the process's event loop stalls (a busy machine, a long collection), the virtual phone falls
 * behind and skips the frames it missed: that time counts as silence unless audio waited to fill it.
 */

import assert from "node:assert/strict";
import { runOnce } from "../../src/rehearsal/runner.ts";
import type { LoadedScenario } from "../../src/rehearsal/types.ts";
import { bothSessions, waitForHeard } from "../../testing/rehearsal_script.ts";
import { withRehearsal } from "../../testing/rehearsal_rig.ts";
import { type FakeRealtimeSession, toneBytes } from "../../testing/fake_realtime.ts";

const SILENCE_MS = 1500;

const loaded: LoadedScenario = {
  id: "pause",
  file: "scenarios/pause.ts",
  scenario: {
    persona: "tester",
    caller: { instructions: "You are Sam; you think a while before you answer." },
    expect: [
      { name: "no long silence", maxDeadAirSeconds: 1 },
      { name: "silence under 3 s", maxDeadAirSeconds: 3 },
    ],
  },
};

Deno.test("the virtual phone measures dead air: a 1.5 s pause fails maxDeadAirSeconds 1 and passes 3", async () => {
  await withRehearsal({}, async ({ parley, setup }) => {
    const running = runOnce(loaded, 1, setup);
    const { caller, agent } = await bothSessions(parley.upstream);
    await agent.waitFor("response.create");
    await agent.streamResponse({
      responseId: "resp_1",
      itemId: "item_1",
      audio: toneBytes(1000, 0x11),
      transcript: "Hello?",
    });
    await waitForHeard(caller, 0x11, 1000);
    // Nobody speaks for a while, then the caller answers and hangs up.
    await new Promise((resolve) => setTimeout(resolve, SILENCE_MS));
    await caller.streamResponse({
      responseId: "resp_c1",
      itemId: "item_c1",
      audio: toneBytes(200, 0x22),
      functionCalls: [{ callId: "call_hang", name: "hang_up", arguments: "{}" }],
    });
    const result = await running;
    assert.deepEqual(result.checks.map((c) => [c.name, c.status]), [
      ["no long silence", "failed"],
      ["silence under 3 s", "passed"],
    ]);
    const seconds = Number(result.checks[0]!.reason.match(/the longest silence was ([\d.]+) s/)?.[1]);
    // At least the pause; at most 3 s by the check above. On a loaded machine the phone falls behind
    // and the caller's answer comes late: the line is silent that long too, and it counts.
    assert.ok(seconds >= 1.4, result.checks[0]!.reason);
    assert.equal(result.passed, false);
  });
});

/**
 * Blocks this process's event loop (the phone, Parley and the fakes alike) for `ms`, as a stall does:
 * `Atomics.wait` sleeps the thread, so no timer or socket runs, and no CPU is burnt meanwhile.
 */
function stallEventLoop(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** The caller answers with 200 ms of speech and hangs up. */
async function callerAnswersAndHangsUp(caller: FakeRealtimeSession): Promise<void> {
  await caller.streamResponse({
    responseId: "resp_c1",
    itemId: "item_c1",
    audio: toneBytes(200, 0x22),
    functionCalls: [{ callId: "call_hang", name: "hang_up", arguments: "{}" }],
  });
}

Deno.test("a 1.5 s stall of the event loop in a silence counts as dead air, not as the frames the phone skipped", async () => {
  await withRehearsal({}, async ({ parley, setup }) => {
    const running = runOnce(loaded, 1, setup);
    const { caller, agent } = await bothSessions(parley.upstream);
    await agent.waitFor("response.create");
    await agent.streamResponse({ responseId: "resp_1", itemId: "item_1", audio: toneBytes(400, 0x11) });
    await waitForHeard(caller, 0x11, 400);
    // The agent's audio has played: the line is silent when the phone falls 1.5 s behind.
    stallEventLoop(SILENCE_MS);
    await callerAnswersAndHangsUp(caller);
    const result = await running;
    assert.deepEqual(result.checks.map((c) => [c.name, c.status]), [
      ["no long silence", "failed"],
      ["silence under 3 s", "passed"],
    ]);
    const seconds = Number(result.checks[0]!.reason.match(/the longest silence was ([\d.]+) s/)?.[1]);
    assert.ok(seconds >= 1.4, result.checks[0]!.reason);
  });
});

Deno.test("a stall while the agent's audio waits to play is no dead air: the audio fills the line right after", async () => {
  await withRehearsal({}, async ({ parley, setup }) => {
    const running = runOnce(loaded, 1, setup);
    const { caller, agent } = await bothSessions(parley.upstream);
    await agent.waitFor("response.create");
    await agent.streamResponse({ responseId: "resp_1", itemId: "item_1", audio: toneBytes(3000, 0x11) });
    await waitForHeard(caller, 0x11, 200);
    stallEventLoop(SILENCE_MS);
    await waitForHeard(caller, 0x11, 3000);
    await callerAnswersAndHangsUp(caller);
    const result = await running;
    assert.deepEqual(result.checks.map((c) => [c.name, c.status]), [
      ["no long silence", "passed"],
      ["silence under 3 s", "passed"],
    ]);
  });
});
