/**
 * The simulated caller presses keys: its `press_keys` tool becomes Twilio `dtmf` messages on the media
 * socket, one per frame, and a persona with `dtmf: true` tells its model what was pressed, as on a
 * phone call. The caller session gets its tool's result and is asked to go on.
 */

import assert from "node:assert/strict";
import { runOnce } from "../../src/rehearsal/runner.ts";
import { withRehearsal } from "../../testing/rehearsal_rig.ts";
import { bothSessions } from "../../testing/rehearsal_script.ts";
import { toneBytes } from "../../testing/fake_realtime.ts";

Deno.test("the simulated caller's key presses reach the persona's model as a phone's would", async () => {
  await withRehearsal({
    prefix: "parley_keys_",
    personas: {
      "keys.ts":
        `export default { voice: "marin", instructions: "Answer.", greeting: "Say hello.", dtmf: true };`,
    },
    env: { DEFAULT_PERSONA: "keys", INBOUND_PERSONA: "keys" },
  }, async ({ parley, setup }) => {
    const running = runOnce(
      {
        id: "keys",
        file: "keys.ts",
        scenario: {
          persona: "keys",
          caller: { instructions: "Press 4 2." },
          expect: [{ name: "ends", endReason: "caller_hung_up" }],
        },
      },
      1,
      setup,
    );
    const { caller, agent } = await bothSessions(parley.upstream);
    await agent.waitFor("response.create");
    await agent.streamResponse({
      responseId: "r1",
      itemId: "i1",
      audio: toneBytes(200, 0x11),
      transcript: "Hello!",
    });
    await caller.streamResponse({
      responseId: "c1",
      itemId: "ci1",
      audio: new Uint8Array(0),
      functionCalls: [{ callId: "keys_1", name: "press_keys", arguments: '{"digits":"4 2"}' }],
    });
    // The caller's tool answered, and the caller asked to go on.
    const output = await caller.waitFor(
      "conversation.item.create",
      (e) => e.item?.type === "function_call_output",
    );
    assert.deepEqual(JSON.parse(output.item.output), { ok: true, pressed: "42" });
    await caller.waitFor("response.create", (e) => e.at >= output.at);
    // The persona's model is told, as on a phone call.
    const told = await agent.waitFor(
      "conversation.item.create",
      (e) => JSON.stringify(e.item ?? {}).includes("pressed 4, 2"),
    );
    assert.ok(told);
    await caller.streamResponse({
      responseId: "c2",
      itemId: "ci2",
      audio: toneBytes(60, 0x22),
      functionCalls: [{ callId: "bye", name: "hang_up", arguments: "{}" }],
    });
    const result = await running;
    assert.equal(result.passed, true, JSON.stringify(result.checks));
  });
});
