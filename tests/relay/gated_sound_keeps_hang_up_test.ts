/**
 * With barge-in gating (`interruptions.minSpeechMs`), a sound the gate ignores (a cough, a short "ok")
 * leaves a pending hang-up or transfer alone, even one that overlaps the end of the last line; only
 * speech that lasts the gate cancels it, as it cuts the agent off.
 *
 * @module
 */

import assert from "node:assert/strict";
import { toneBytes } from "../../testing/fake_realtime.ts";
import { startTestParley, type TestParley } from "../../testing/parley_harness.ts";
import { within } from "../../testing/within.ts";
import { withPersonaDir } from "../personas/_persona_dir.ts";
import { actionPersonaSource, TRANSFER_TARGET } from "./_action_persona.ts";

const AFTER_STREAM = "/api/twilio/after-stream?persona=tess";
/** The persona's gate, ms. */
const GATE_MS = 400;

/** Runs `fn` against a test server whose persona `tess` (every action) ignores sounds under the gate. */
async function withGatedParley(fn: (t: TestParley) => Promise<void>): Promise<void> {
  const source = actionPersonaSource("realtime").replace(
    "endCall: true,",
    `endCall: true,\n  interruptions: { minSpeechMs: ${GATE_MS} },`,
  );
  assert.match(source, /minSpeechMs/);
  await withPersonaDir({ "tess.ts": source }, async (dir) => {
    const t = await startTestParley({
      personasDir: dir,
      env: { DEFAULT_PERSONA: "tess", INBOUND_PERSONA: "tess" },
    });
    try {
      await fn(t);
    } finally {
      await t.close();
    }
  });
}

Deno.test("Realtime, gated persona: a short sound over the goodbye or the handoff line leaves the hang-up and the transfer; the action answers <Hangup/> or <Dial>", async () => {
  for (const tool of ["end_call", "transfer_call"] as const) {
    await withGatedParley(async (t) => {
      const call = await t.startCall({ persona: "tess" });
      const session = await within(t.upstream.session(0), "the upstream session");
      await session.waitFor("session.update");
      // The line streams faster than real time: its answer is done, the hang-up pending, while it plays.
      await session.streamResponse({
        responseId: "resp_last",
        itemId: "item_last",
        audio: toneBytes(1200, 0x36),
        functionCalls: [{ callId: "call_last", name: tool, arguments: "{}" }],
      });

      // A cough mid-line: 100 ms of sound, well under the gate.
      await within(call.waitForEcho("item_last:200"), `${tool}: 200 ms of the line heard`);
      session.speechStarted("item_cough");
      await within(call.waitForEcho("item_last:300"), `${tool}: 300 ms of the line heard`);
      session.speechStopped("item_cough");
      await within(t.waitForLog(/shorter than interruptions\.minSpeechMs/), `${tool}: the cough ignored`);

      // A short "ok" over the end of the line: the hang-up waits to hear it is short, then goes ahead.
      await within(call.waitForEcho("item_last:1100"), `${tool}: 1100 ms of the line heard`);
      session.speechStarted("item_ok");
      await within(call.waitForEcho("item_last:1200"), `${tool}: the whole line heard`);
      session.speechStopped("item_ok");

      await within(call.closed, `${tool}: the stream closed`);
      assert.equal(call.messagesOf("clear").length, 0, "no sound cut the agent off");
      assert.ok(call.heardMsOf(0x36) >= 1199, "the whole line was heard");
      assert.equal(t.logs.some((l) => /cancelled on CallSid/.test(l.line)), false, "nothing was cancelled");
      const ended = await t.waitForEvent("call.ended");
      const after = await t.waitForEvent("call.after_stream");
      const answer = await (await t.postTwilio(AFTER_STREAM, { CallSid: call.callSid })).text();
      if (tool === "end_call") {
        assert.equal(ended.reason, "agent_hung_up");
        assert.equal(after.action, "hangup");
        assert.match(answer, /<Response><Hangup\/><\/Response>/);
      } else {
        assert.equal(ended.reason, "transferred");
        assert.deepEqual([after.action, after.target], ["dial", TRANSFER_TARGET]);
        assert.match(answer, new RegExp(`<Dial [^>]*timeout="30">\\${TRANSFER_TARGET}</Dial>`));
      }
    });
  }
});

Deno.test("Realtime, gated persona: speech that lasts the gate cancels the hang-up, and the transfer even as the handoff line ends", async () => {
  await withGatedParley(async (t) => {
    const call = await t.startCall({ persona: "tess" });
    const session = await within(t.upstream.session(0), "the upstream session");
    await session.waitFor("session.update");
    await session.streamResponse({
      responseId: "resp_bye",
      itemId: "item_bye",
      audio: toneBytes(1500, 0x33),
      functionCalls: [{ callId: "call_end", name: "end_call", arguments: "{}" }],
    });
    // Speech mid-goodbye that outlasts the gate: it cuts the agent off and cancels the hang-up.
    await within(call.waitForEcho("item_bye:200"), "200 ms of the goodbye heard");
    const startedAt = performance.now();
    session.speechStarted("item_wait");
    const clear = await within(call.waitFor("clear"), "the goodbye cleared");
    assert.ok(
      clear.at - startedAt >= GATE_MS,
      `cut after ${clear.at - startedAt} ms of speech, not before the gate`,
    );
    await within(t.waitForLog(/agent_hung_up cancelled/), "the hang-up cancelled");
    session.speechStopped("item_wait");
    assert.ok(call.heardMsOf(0x33) < 1500, "the goodbye was cut off");

    // The agent answers, the caller hears it: the line stayed open.
    await session.streamResponse({
      responseId: "resp_more",
      itemId: "item_more",
      audio: toneBytes(300, 0x44),
    });
    await within(call.waitForEcho("item_more:300"), "the answer heard");
    assert.equal(t.events.some((e) => e.type === "call.ended"), false);

    // Speech that starts 100 ms before the handoff line ends and outlasts the gate: the transfer waits
    // for the gate's word rather than dialling as the line ends, and is cancelled.
    await session.streamResponse({
      responseId: "resp_handoff",
      itemId: "item_handoff",
      audio: toneBytes(1200, 0x35),
      functionCalls: [{ callId: "call_transfer", name: "transfer_call", arguments: "{}" }],
    });
    await within(call.waitForEcho("item_handoff:1100"), "1100 ms of the handoff line heard");
    session.speechStarted("item_hold_on");
    await within(t.waitForLog(/transferred cancelled/), "the transfer cancelled");
    session.speechStopped("item_hold_on");
    assert.equal(t.events.some((e) => e.type === "call.ended"), false);

    call.stop();
    assert.equal((await t.waitForEvent("call.ended")).reason, "caller_hung_up");
    assert.equal((await t.waitForEvent("call.after_stream")).action, "hangup", "no dial after the cancel");
  });
});
