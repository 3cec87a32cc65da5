/**
 * A rehearsal's call record is a phone call's: the same script played once through Twilio's side
 * (the fake Twilio media client, as the relay's other tests use it) and once through the virtual
 * phone gives records that differ only in `source` (and in ids and times).
 */

import assert from "node:assert/strict";
import { REHEARSAL_API_TOKEN, withRehearsal } from "../../testing/rehearsal_rig.ts";
import { VOICE_WEBHOOK_PATH } from "../../src/paths.ts";
import { runOnce } from "../../src/rehearsal/runner.ts";
import { readConnectTwiml } from "../../src/rehearsal/twiml_reader.ts";
import { bothSessions, callerSaid, sessionOf, waitForHeard } from "../../testing/rehearsal_script.ts";
import { type FakeRealtimeSession, toneBytes } from "../../testing/fake_realtime.ts";
import { newCallSid } from "../../testing/parley_harness.ts";

const API_TOKEN = REHEARSAL_API_TOKEN;
/** What differs between any two calls: ids and times. */
const VOLATILE = new Set([
  "callSid",
  "streamSid",
  "createdAt",
  "startedAt",
  "spokenAt",
  "upstreamConnectMs",
  "sessionConfiguredAt",
  "endedAt",
  "durationMs",
  "at",
  "firstAudioSentMs",
  "firstAudioHeardMs",
  "p50Ms",
  "p95Ms",
]);

function shape(record: unknown): Record<string, unknown> {
  return JSON.parse(
    JSON.stringify(record, (key, value) => VOLATILE.has(key) && value !== null ? "•" : value),
  );
}

/** The agent greets; once the caller has heard it, the caller speaks 200 ms and is transcribed. */
async function agentTurn(agent: FakeRealtimeSession, heard: () => Promise<unknown>): Promise<void> {
  await agent.waitFor("response.create");
  await agent.streamResponse({
    responseId: "resp_1",
    itemId: "item_1",
    audio: toneBytes(300, 0x11),
    transcript: "Hello, how can I help?",
  });
  await heard();
}

Deno.test("a rehearsal's record equals a phone call's but for its source", async () => {
  await withRehearsal({ prefix: "parley_parity_" }, async ({ parley, setup }) => {
    const record = async (callSid: string) =>
      shape(
        await (await fetch(`${parley.origin}/api/calls/${callSid}`, {
          headers: { authorization: `Bearer ${API_TOKEN}` },
        })).json(),
      );
    // A phone call: Twilio's webhook form, the media socket, the caller hangs up, the action URL.
    const callSid = newCallSid();
    const form = {
      CallSid: callSid,
      AccountSid: "AC00000000000000000000000000000000",
      From: "+15005550006",
      To: "+15005550006",
      Direction: "inbound",
      CallStatus: "ringing",
    };
    const twiml = readConnectTwiml(
      await (await parley.postTwilio(`${VOICE_WEBHOOK_PATH}?persona=tester`, form)).text(),
    );
    const phone = await parley.connectStream(twiml.streamUrl!, callSid);
    phone.start(twiml.parameters);
    const agent = await sessionOf(parley.upstream, false);
    // Marks are named <item>:<ms>: the echo of the 300 ms mark is the end of the greeting heard.
    await agentTurn(agent, () => phone.waitForEcho("item_1:300"));
    for (let i = 0; i < 10; i++) phone.sendMedia(toneBytes(20, 0x22));
    await waitForHeard(agent, 0x22, 100);
    callerSaid(agent, "Bye.");
    // The transcript and the hang-up come on two sockets: the caller hangs up once Parley has the line.
    const bye = (sid: string) =>
      parley.waitForEvent(
        "transcript",
        (e) => e.callSid === sid && e.speaker === "caller" && e.text === "Bye.",
      );
    await bye(callSid);
    phone.stop();
    phone.close();
    await phone.closed;
    const action = new URL(twiml.actionUrl!);
    await (await parley.postTwilio(`${action.pathname}${action.search}`, {
      CallSid: callSid,
      AccountSid: form.AccountSid,
      CallStatus: "in-progress",
    })).text();
    await parley.waitForEvent("call.ended", (e) => e.callSid === callSid);

    // The same through the virtual phone.
    const from = parley.upstream.sessions.length;
    const running = runOnce(
      {
        id: "parity",
        file: "parity.ts",
        scenario: {
          persona: "tester",
          caller: { instructions: "Say bye." },
          expect: [{ name: "ends", endReason: "caller_hung_up" }],
        },
      },
      1,
      setup,
    );
    const sessions = await bothSessions(parley.upstream, from);
    await agentTurn(sessions.agent, () => waitForHeard(sessions.caller, 0x11, 300));
    await sessions.caller.streamResponse({
      responseId: "resp_c",
      itemId: "item_c",
      audio: toneBytes(200, 0x22),
    });
    await waitForHeard(sessions.agent, 0x22, 100);
    callerSaid(sessions.agent, "Bye.");
    await parley.waitForEvent(
      "transcript",
      (e) => e.callSid !== callSid && e.speaker === "caller" && e.text === "Bye.",
    );
    // Then the simulated caller hangs up (its own answer's function call).
    await sessions.caller.streamResponse({
      responseId: "resp_c2",
      itemId: "item_c2",
      audio: new Uint8Array(0),
      functionCalls: [{ callId: "call_hang", name: "hang_up", arguments: "{}" }],
    });
    const result = await running;
    assert.equal(result.passed, true, JSON.stringify(result.checks));

    const phoneRecord = await record(callSid);
    const rehearsalRecord = await record(result.callSid!);
    assert.equal(phoneRecord.source, "phone");
    assert.equal(rehearsalRecord.source, "rehearsal");
    assert.deepEqual(rehearsalRecord, { ...phoneRecord, source: "rehearsal" });
  });
});
