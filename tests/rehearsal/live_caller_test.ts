/**
 * The simulated caller on GPT-Live (`caller.model: "gpt-live-…"`): its session opens with a
 * `session.start` the fake GPT-Live server (checked against npm openai's types) accepts, hears the
 * agent through the virtual phone, and its audio reaches the agent; the agent ends the call.
 */

import assert from "node:assert/strict";
import { runOnce } from "../../src/rehearsal/runner.ts";
import { withRehearsal } from "../../testing/rehearsal_rig.ts";
import { sessionOf, waitForHeard } from "../../testing/rehearsal_script.ts";
import { fromBase64, toBase64, toneBytes } from "../../testing/fake_realtime.ts";

Deno.test("a GPT-Live caller hears the agent through the virtual phone and is heard by it", async () => {
  await withRehearsal({
    prefix: "parley_live_caller_",
    personas: {
      "ender.ts":
        `export default { voice: "marin", instructions: "Answer.", greeting: "Say hello.", endCall: true };`,
    },
    env: { DEFAULT_PERSONA: "ender", INBOUND_PERSONA: "ender" },
  }, async ({ parley, setup }) => {
    const running = runOnce(
      {
        id: "live",
        file: "live.ts",
        scenario: {
          persona: "ender",
          caller: { instructions: "Say hi.", model: "gpt-live-1.1" },
          expect: [{ name: "agent ends", endReason: "agent_hung_up" }],
        },
      },
      1,
      setup,
    );
    const caller = await parley.live.session(0);
    const agent = await sessionOf(parley.upstream, false);
    const start = await caller.waitFor("session.start");
    assert.equal(start.session?.model, "gpt-live-1.1");
    assert.match(JSON.stringify(start.session), /You are a person on a phone call/);

    await agent.waitFor("response.create");
    await agent.streamResponse({
      responseId: "r1",
      itemId: "i1",
      audio: toneBytes(300, 0x11),
      transcript: "Hello!",
    });
    // The caller session hears the greeting as the phone plays it.
    for (;;) {
      const heard = caller.eventsOf("session.input_audio.append")
        .reduce((n, e) => n + fromBase64(e.audio).filter((b) => b === 0x11).length, 0) / 8;
      if (heard >= 300) break;
      await caller.waitFor("session.input_audio.append", (e) => e.at > performance.now() - 1);
    }
    assert.ok(caller.started, "the fake accepted the caller's session.start");
    // The caller speaks; the agent hears it, answers and ends the call.
    for (let i = 0; i < 5; i++) caller.sendAudioDelta(toBase64(toneBytes(20, 0x22)));
    await waitForHeard(agent, 0x22, 100);
    await agent.streamResponse({
      responseId: "r2",
      itemId: "i2",
      audio: toneBytes(100, 0x33),
      transcript: "Goodbye!",
      functionCalls: [{ callId: "end", name: "end_call", arguments: "{}" }],
    });
    const result = await running;
    assert.equal(result.passed, true, JSON.stringify(result.checks));
    assert.ok(caller.eventsOf("session.close").length >= 1, "the caller session was closed politely");
  });
});
