/**
 * What a failed run costs: a call the webhook refused cost nothing, so the report's cost stays a
 * number; a run whose call record could not be read still counts its caller session. "Unknown" is
 * left for a model without a price.
 */

import assert from "node:assert/strict";
import { DEFAULT_PRICES } from "../../src/engines/prices.ts";
import { estimateCost } from "../../src/engines/realtime/prices.ts";
import { formatReport, summarize } from "../../src/rehearsal/report.ts";
import { runOnce, type RunResult } from "../../src/rehearsal/runner.ts";
import type { LoadedScenario } from "../../src/rehearsal/types.ts";
import { toneBytes } from "../../testing/fake_realtime.ts";
import { withRehearsal } from "../../testing/rehearsal_rig.ts";
import { bothSessions } from "../../testing/rehearsal_script.ts";

const loaded: LoadedScenario = {
  id: "priced",
  file: "scenarios/priced.ts",
  scenario: {
    persona: "tester",
    caller: { instructions: "You are Sam." },
    expect: [{ name: "ends cleanly", endReason: ["agent_hung_up", "caller_hung_up"] }],
  },
};

/** A run that passed and cost `costUsd`. */
const priced = (run: number, costUsd: number): RunResult => ({
  scenario: "priced",
  run,
  callSid: `CA${run}`,
  callUrl: `https://parley.example/calls/CA${run}`,
  passed: true,
  checks: [{ name: "ends cleanly", status: "passed", reason: "the call ended: caller_hung_up" }],
  latenciesMs: [500],
  costUsd,
});

Deno.test("a call the webhook refused costs 0: the report's cost stays a number", async () => {
  await withRehearsal({ prefix: "parley_failed_cost_" }, async ({ setup }) => {
    // Signed with the wrong Twilio token: the voice webhook refuses the call.
    const refused = await runOnce(loaded, 3, {
      ...setup,
      target: { ...setup.target, authToken: "not-the-auth-token" },
    });
    assert.equal(refused.passed, false);
    assert.equal(refused.checks[0]!.name, "call");
    assert.equal(refused.callSid, undefined);

    const report = summarize([loaded], [priced(1, 0.125), priced(2, 0.375), refused]);
    const text = formatReport(report);
    assert.doesNotMatch(text, /unknown/);
    assert.match(text, /cost \$0\.5000$/m);
    assert.match(text, /rehearsal cost \$0\.5000$/);
    assert.equal(report.scenarios[0]!.costUsd, 0.5);
    assert.equal(report.costUsd, 0.5);
    assert.equal(refused.costUsd, 0);
  });
});

Deno.test("a run whose call record cannot be read still costs its caller session", async () => {
  await withRehearsal({ prefix: "parley_failed_cost_" }, async ({ parley, setup }) => {
    // The wrong API token: the call goes through, its record answers 401.
    const running = runOnce(loaded, 1, { ...setup, target: { ...setup.target, apiToken: "wrong-token" } });
    const { caller, agent } = await bothSessions(parley.upstream);
    await agent.waitFor("response.create");
    await agent.streamResponse({ responseId: "r1", itemId: "i1", audio: toneBytes(200, 0x11) });
    const tokens = { audioIn: 600, textIn: 40, audioOut: 900, textOut: 30 };
    await caller.streamResponse({
      responseId: "c1",
      itemId: "ci1",
      audio: toneBytes(200, 0x22),
      functionCalls: [{ callId: "h1", name: "hang_up", arguments: "{}" }],
      usage: {
        total_tokens: 1570,
        input_tokens: tokens.audioIn + tokens.textIn,
        output_tokens: tokens.audioOut + tokens.textOut,
        input_token_details: { text_tokens: tokens.textIn, audio_tokens: tokens.audioIn, cached_tokens: 0 },
        output_token_details: { text_tokens: tokens.textOut, audio_tokens: tokens.audioOut },
      },
    });
    const result = await running;

    assert.equal(result.passed, false);
    assert.deepEqual(result.checks.map((c) => [c.name, c.status]), [["call record", "failed"]]);
    assert.match(result.checks[0]!.reason, /answered 401/);
    const callerCost = estimateCost(setup.defaultCallerModel, {
      inputTextTokens: tokens.textIn,
      inputAudioTokens: tokens.audioIn,
      inputCachedTokens: 0,
      outputTextTokens: tokens.textOut,
      outputAudioTokens: tokens.audioOut,
    }, DEFAULT_PRICES);
    assert.ok(callerCost !== null && callerCost > 0);
    assert.ok(result.costUsd !== null, "the caller session's cost is known");
    assert.ok(
      Math.abs(result.costUsd - callerCost) < 1e-12,
      `${result.costUsd} is the caller's ${callerCost}`,
    );
  });
});
