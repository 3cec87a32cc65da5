/**
 * Agent actions end to end on GPT-Live, through the fake Twilio and the GPT-Live fake over real
 * sockets: tools through Responses delegation (answering, throwing, too slow), end_call after the
 * goodbye was heard, a caller barging in over the goodbye, transfer, keypad in and out, voicemail.
 */

import assert from "node:assert/strict";
import { decodeDtmf } from "../../testing/dtmf_decoder.ts";
import { toneBytes } from "../../testing/fake_realtime.ts";
import { within } from "../../testing/within.ts";
import { outputsByCallId, TRANSFER_TARGET, withActionParley } from "./_action_persona.ts";

const AFTER_STREAM = "/api/twilio/after-stream?persona=tess";

Deno.test("GPT-Live: tools run through delegation; errors and timeouts come back as outputs, then response.create", async () => {
  await withActionParley("live", async (t) => {
    const call = await t.startCall({ persona: "tess" });
    const session = await within(t.live.session(0), "the GPT-Live session");
    const start = await session.waitFor("session.start");
    assert.equal(start.session.delegation.type, "responses");
    assert.deepEqual(
      start.session.delegation.responses.tools.map((tool: { name: string; type: string }) =>
        `${tool.type}:${tool.name}`
      ),
      [
        "function:lookup_order",
        "function:broken",
        "function:slow",
        "function:end_call",
        "function:transfer_call",
        "function:press_keys",
      ],
    );
    await session.waitFor("session.start");
    await within(t.waitForLog(/Session configured/), "the session started");

    const ok = session.voice.callFunction("lookup_order", { order: "42" });
    const throws = session.voice.callFunction("broken");
    const slow = session.voice.callFunction("slow");
    await within(
      session.waitFor("response.item.create", (e) => e.item?.call_id === slow),
      "the slow tool's output",
    );
    const outputs = outputsByCallId(session.eventsOf("response.item.create"));
    assert.deepEqual(outputs[ok], { order: "42", status: "shipped", callSid: call.callSid });
    assert.deepEqual(outputs[throws], { error: "the order system is down" });
    assert.match((outputs[slow] as { error: string }).error, /did not answer within 200 ms/);
    const creates = session.eventsOf("response.create");
    assert.ok(creates.length >= 1);
    assert.ok(creates.at(-1)!.at >= session.eventsOf("response.item.create").at(-1)!.at);
    assert.deepEqual(session.errorsSent, [], "GPT-Live refused nothing");
    assert.equal(session.voice.pendingCalls.size, 0, "every call was answered");
    await within(t.waitForLog(/Tool call: CallSid=CA\w+ broken\(\{\}\) → failed/), "the log line");
    call.stop();
    await call.closed;
  });
});

Deno.test("GPT-Live: end_call hangs up once the goodbye was heard; the action answers <Hangup/>", async () => {
  await withActionParley("live", async (t) => {
    const call = await t.startCall({ persona: "tess" });
    const session = await within(t.live.session(0), "the GPT-Live session");
    await within(t.waitForLog(/Session configured/), "the session started");
    const speaking = session.voice.speak({ audio: toneBytes(600, 0x33), transcript: "Goodbye then." });
    await within(call.waitFor("media"), "the goodbye begins");
    session.voice.callFunction("end_call");
    await within(call.closed, "the stream closed", 5000);
    const closedAt = performance.now();
    await speaking;
    assert.ok(call.heardMsOf(0x33, closedAt) >= 599, "the whole goodbye was heard before the hang-up");
    assert.equal((await t.waitForEvent("call.ended")).reason, "agent_hung_up");
    const answer = await t.postTwilio(AFTER_STREAM, { CallSid: call.callSid });
    assert.match(await answer.text(), /<Response><Hangup\/><\/Response>/);
  });
});

Deno.test("GPT-Live: transfer_call dials the target after the handoff line", async () => {
  await withActionParley("live", async (t) => {
    const call = await t.startCall({ persona: "tess" });
    const session = await within(t.live.session(0), "the GPT-Live session");
    await within(t.waitForLog(/Session configured/), "the session started");
    const speaking = session.voice.speak({
      audio: toneBytes(300, 0x35),
      transcript: "Transferring you now.",
    });
    await within(call.waitFor("media"), "the handoff line begins");
    session.voice.callFunction("transfer_call");
    await within(call.closed, "the stream closed", 5000);
    await speaking;
    const ended = await t.waitForEvent("call.ended");
    assert.equal(ended.reason, "transferred");
    const answer = await (await t.postTwilio(AFTER_STREAM, { CallSid: call.callSid })).text();
    assert.match(answer, new RegExp(`<Dial [^>]*timeout="30">\\${TRANSFER_TARGET}</Dial>`));
    const failed = await t.postTwilio("/api/twilio/dial-action?persona=tess", {
      CallSid: call.callSid,
      DialCallStatus: "no-answer",
    });
    assert.match(await failed.text(), /<Say>Nobody could take the call\.<\/Say><Hangup\/>/);
  });
});

Deno.test("GPT-Live: caller key presses reach the model as one speakable note", async () => {
  await withActionParley("live", async (t) => {
    const call = await t.startCall({ persona: "tess" });
    const session = await within(t.live.session(0), "the GPT-Live session");
    await within(t.waitForLog(/Session configured/), "the session started");
    for (const digit of ["4", "2"]) {
      call.sendJson({
        event: "dtmf",
        streamSid: call.streamSid,
        sequenceNumber: "5",
        dtmf: { track: "inbound_track", digit },
      });
    }
    const note = await within(session.waitFor("session.commentary.append"), "the key presses", 5000);
    assert.equal(note.content, "The caller pressed 4, 2");
    assert.equal(note.delegation_id, null);
    assert.deepEqual(session.errorsSent, []);
    call.stop();
    await call.closed;
  });
});

Deno.test("GPT-Live: press_keys plays DTMF tones, decoded back to the digits", async () => {
  await withActionParley("live", async (t) => {
    const call = await t.startCall({ persona: "tess" });
    const session = await within(t.live.session(0), "the GPT-Live session");
    await within(t.waitForLog(/Session configured/), "the session started");
    const keys = session.voice.callFunction("press_keys", { keys: "5#" });
    const output = await within(
      session.waitFor("response.item.create", (e) => e.item?.call_id === keys),
      "the tool output",
    );
    assert.deepEqual(JSON.parse(output.item.output), { ok: true, pressed: "5#" });
    const tones = await within(call.waitFor("media"), "the tones");
    // A mark sent after the tones' audio is echoed when the caller has heard all of it.
    const tail = await within(call.waitFor("mark", (m) => m.at >= tones.at), "the tones' end mark");
    await within(call.waitForEcho(tail.mark.name), "the tones played", 5000);
    assert.equal(decodeDtmf(call.heardAudio()), "5#");
    call.stop();
    await call.closed;
  });
});

Deno.test("GPT-Live: on machine_end_beep the agent is cut off, leaves the voicemail, then hangs up", async () => {
  await withActionParley("live", async (t) => {
    const call = await t.startCall({ persona: "tess", lead: "Dana" });
    const session = await within(t.live.session(0), "the GPT-Live session");
    await within(t.waitForLog(/Session configured/), "the session started");
    const intro = session.voice.speak({ audio: toneBytes(3000, 0x21), transcript: "Hello there" });
    await within(call.waitFor("media"), "the agent talking");
    await t.postTwilio("/api/twilio/status", { CallSid: call.callSid, AnsweredBy: "machine_end_beep" });
    await within(call.waitFor("clear"), "the agent's audio cleared at Twilio");
    const note = await within(session.waitFor("session.commentary.append"), "the voicemail instruction");
    assert.match(note.content, /Leave this voicemail now.*Tell Dana that Tess called about the order\./);
    // The model stops on its own (GPT-Live takes no cancel); what it still sent was dropped.
    session.voice.stopSpeaking();
    await intro;
    await within(t.waitForEvent("agent.stopped"), "the cut answer over");
    await session.voice.speak({ audio: toneBytes(400, 0x55), transcript: "Hi Dana, Tess here." });
    await within(call.closed, "the hang-up after the voicemail", 5000);
    assert.ok(call.heardMsOf(0x55) >= 399);
    assert.equal(call.heardMsOf(0x21) < 3000, true);
    assert.equal((await t.waitForEvent("call.ended")).reason, "voicemail_left");
    assert.equal((await t.waitForEvent("call.after_stream")).action, "hangup");
  });
});

Deno.test("GPT-Live: a caller speaking over the goodbye cancels the hang-up", async () => {
  await withActionParley("live", async (t) => {
    const call = await t.startCall({ persona: "tess" });
    const session = await within(t.live.session(0), "the GPT-Live session");
    await within(t.waitForLog(/Session configured/), "the session started");
    const goodbye = session.voice.speak({ audio: toneBytes(1500, 0x33), transcript: "Goodbye then." });
    await within(call.waitFor("media"), "the goodbye begins");
    session.voice.callFunction("end_call");
    const now = session.timelineMs();
    session.voice.callerSaid("Wait, one more thing", now, now + 400);
    await within(t.waitForLog(/agent_hung_up cancelled/), "the hang-up cancelled");
    session.voice.stopSpeaking();
    await goodbye;
    await within(t.waitForLog(/User said: "Wait, one more thing"/), "the caller's turn over", 5000);
    // The agent answers the caller, and the caller hears it: the line stayed open.
    await session.voice.speak({ audio: toneBytes(300, 0x44), transcript: "Of course." });
    const allSent = Date.now();
    await within(t.waitForEvent("agent.stopped", (e) => e.at >= allSent), "the answer over");
    const marks = call.messagesOf("mark").map((m) => call.waitForEcho(m.mark.name));
    await within(Promise.all(marks), "the answer heard", 5000);
    // Everything of the answer that reached Twilio was played: the line stayed open.
    assert.ok(call.heardMsOf(0x44) > 200);
    // (The fake's playback timer may fire a fraction of a millisecond early.)
    assert.ok(call.heardMsOf(0x44) >= call.heardMsOf(0x44, performance.now() + 60_000) - 1);
    assert.equal(t.events.some((e) => e.type === "call.ended"), false);
    call.stop();
    assert.equal((await t.waitForEvent("call.ended")).reason, "caller_hung_up");
  });
});
