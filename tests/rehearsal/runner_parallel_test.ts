/**
 * Runs go in parallel up to the limit: with two runs and a limit of two, both calls are up at once;
 * each run's result is reported as it ends.
 */

import assert from "node:assert/strict";
import { DEFAULT_PRICES } from "../../src/engines/prices.ts";
import { runRehearsals, type RunResult } from "../../src/rehearsal/runner.ts";
import { rehearsalSetup } from "../../src/rehearsal/setup.ts";
import { openCallStore } from "../../src/store/sqlite/call_store.ts";
import { FakeResponsesServer } from "../../testing/fake_responses.ts";
import { toneBytes } from "../../testing/fake_realtime.ts";
import { within } from "../../testing/within.ts";
import {
  startTestParley,
  TEST_AUTH_TOKEN,
  TEST_OPENAI_KEY,
  TEST_PUBLIC_BASE_URL,
} from "../../testing/parley_harness.ts";

const API_TOKEN = "test-api-token-0123456789";

Deno.test("runs go in parallel up to the limit, each reported as it ends", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley_parallel_" });
  const store = openCallStore(`${dir}/parley.db`);
  const parley = await startTestParley({ store, env: { API_TOKEN } });
  const responses = FakeResponsesServer.start(TEST_OPENAI_KEY, () => ({ verdicts: [] }));
  try {
    const reported: RunResult[] = [];
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
  } finally {
    await responses.close();
    await parley.close();
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
