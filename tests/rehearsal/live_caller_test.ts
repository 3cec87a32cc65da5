/**
 * The simulated caller on GPT-Live (`caller.model: "gpt-live-…"`): its session opens with a
 * `session.start` the fake GPT-Live server (checked against npm openai's types) accepts, hears the
 * agent through the virtual phone, and its audio reaches the agent; the agent ends the call.
 */

import assert from "node:assert/strict";
import { DEFAULT_PRICES } from "../../src/engines/prices.ts";
import { runOnce } from "../../src/rehearsal/runner.ts";
import { rehearsalSetup } from "../../src/rehearsal/setup.ts";
import { openCallStore } from "../../src/store/sqlite/call_store.ts";
import { FakeResponsesServer } from "../../testing/fake_responses.ts";
import { sessionOf, waitForHeard } from "../../testing/rehearsal_script.ts";
import { fromBase64, toBase64, toneBytes } from "../../testing/fake_realtime.ts";
import {
  startTestParley,
  TEST_AUTH_TOKEN,
  TEST_OPENAI_KEY,
  TEST_PUBLIC_BASE_URL,
} from "../../testing/parley_harness.ts";

const API_TOKEN = "test-api-token-0123456789";

Deno.test("a GPT-Live caller hears the agent through the virtual phone and is heard by it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley_live_caller_" });
  await Deno.mkdir(`${dir}/personas`);
  await Deno.writeTextFile(
    `${dir}/personas/ender.ts`,
    `export default { voice: "marin", instructions: "Answer.", greeting: "Say hello.", endCall: true };`,
  );
  const store = openCallStore(`${dir}/parley.db`);
  const parley = await startTestParley({
    store,
    personasDir: `${dir}/personas`,
    env: { API_TOKEN, DEFAULT_PERSONA: "ender", INBOUND_PERSONA: "ender" },
  });
  const responses = FakeResponsesServer.start(TEST_OPENAI_KEY, () => ({ verdicts: [] }));
  try {
    const setup = rehearsalSetup(
      { ...parley.config, openaiBaseUrl: responses.baseUrl, judgeModel: "gpt-5-mini" },
      {
        target: {
          origin: parley.origin,
          publicBaseUrl: TEST_PUBLIC_BASE_URL,
          authToken: TEST_AUTH_TOKEN,
          apiToken: API_TOKEN,
        },
        linkBaseUrl: TEST_PUBLIC_BASE_URL,
        prices: DEFAULT_PRICES,
      },
    );
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
  } finally {
    await responses.close();
    await parley.close();
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
