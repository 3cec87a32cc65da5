/**
 * Agent actions end to end on the Realtime API, through the fake Twilio and the fake Realtime server
 * over real sockets: persona tools (answering, throwing, too slow, bad arguments), end_call after the
 * goodbye was heard, a caller barging in over the goodbye, transfer with `<Dial>` and a failed dial,
 * keypad in and out, voicemail, and the `<Connect action>` answers (signed, from the record).
 */

import assert from "node:assert/strict";
import { decodeDtmf } from "../../testing/dtmf_decoder.ts";
import { fromBase64, toneBytes } from "../../testing/fake_realtime.ts";
import { sendFrames } from "../../testing/send_frames.ts";
import { startTestParley } from "../../testing/parley_harness.ts";
import { within } from "../../testing/within.ts";
import { type CallStore, openCallStore } from "../../src/store/sqlite/call_store.ts";
import type { AfterStreamDecisions } from "../../src/store/ports.ts";
import { TONES_ITEM_PREFIX } from "../../src/relay/keypad_tones.ts";
import { dtmfTones } from "../../src/twilio/dtmf_tones.ts";
import { withPersonaDir } from "../personas/_persona_dir.ts";
import {
  actionPersonaSource,
  outputsByCallId,
  TRANSFER_TARGET,
  withActionParley,
} from "./_action_persona.ts";

const AFTER_STREAM = "/api/twilio/after-stream?persona=tess";
/** A caller frame of speech, 20 ms. */
const SPEECH = toneBytes(20, 0x10);

Deno.test("Realtime: persona tools answer, throw or time out as outputs; one response.create after response.done", async () => {
  await withActionParley("realtime", async (t) => {
    const call = await t.startCall({ persona: "tess" });
    const session = await within(t.upstream.session(0), "the upstream session");
    const update = await session.waitFor("session.update");
    assert.deepEqual(
      update.session.tools.map((tool: { name: string }) => tool.name),
      ["lookup_order", "broken", "slow", "end_call", "transfer_call", "press_keys"],
    );
    assert.equal(update.session.tools[0].type, "function");
    assert.equal(update.session.tool_choice, "auto");

    await session.streamResponse({
      responseId: "resp_tools",
      itemId: "item_tools",
      audio: toneBytes(200, 0x21),
      functionCalls: [
        { callId: "call_ok", name: "lookup_order", arguments: '{"order":"42"}' },
        { callId: "call_throws", name: "broken", arguments: "{}" },
        { callId: "call_slow", name: "slow", arguments: "{}" },
        { callId: "call_bad", name: "lookup_order", arguments: '{"order":' },
        { callId: "call_missing", name: "lookup_order", arguments: "{}" },
      ],
    });
    const doneSentAt = performance.now();
    const create = await within(session.waitFor("response.create"), "response.create after the tools");
    assert.ok(create.at >= doneSentAt - 1, "response.create waited for response.done");

    const outputs = outputsByCallId(session.eventsOf("conversation.item.create"));
    assert.deepEqual(outputs.call_ok, { order: "42", status: "shipped", callSid: call.callSid });
    assert.deepEqual(outputs.call_throws, { error: "the order system is down" });
    assert.match((outputs.call_slow as { error: string }).error, /did not answer within 200 ms/);
    assert.match((outputs.call_bad as { error: string }).error, /not valid JSON/);
    assert.match((outputs.call_missing as { error: string }).error, /missing required argument: order/);
    // Every output went out before the one response.create.
    const lastOutput = Math.max(
      ...session.eventsOf("conversation.item.create").map((e) => e.at),
    );
    assert.ok(create.at >= lastOutput);
    assert.equal(session.eventsOf("response.create").length, 1);

    const called = t.events.filter((e) => e.type === "tool.called");
    assert.deepEqual(
      called.map((e) => e.type === "tool.called" && `${e.callId}:${e.status}`).sort(),
      [
        "call_bad:bad_arguments",
        "call_missing:bad_arguments",
        "call_ok:ok",
        "call_slow:timed_out",
        "call_throws:failed",
      ],
    );
    await within(
      t.waitForLog(/Tool call: CallSid=CA\w+ lookup_order\(\{"order":"42"\}\) → ok, \d+ B in \d+ ms/),
      "log",
    );
    await within(t.waitForLog(/Tool log \(tess\) CallSid=CA\w+: looking up 42/), "the tool's own log line");
    assert.ok(!t.logs.some((l) => l.line.includes("conversation_already_has_active_response")));
    call.stop();
    await call.closed;
  });
});

Deno.test("Realtime: end_call hangs up once the goodbye was heard; the action answers <Hangup/>, also after a restart", async () => {
  const dataDir = await Deno.makeTempDir();
  await withPersonaDir({ "tess.ts": actionPersonaSource("realtime") }, async (dir) => {
    const store = openCallStore(`${dataDir}/parley.db`);
    const options = { personasDir: dir, env: { DEFAULT_PERSONA: "tess" }, store };
    const t = await startTestParley(options);
    let callSid: string;
    try {
      const call = await t.startCall({ persona: "tess" });
      callSid = call.callSid;
      const session = await within(t.upstream.session(0), "the upstream session");
      await session.waitFor("session.update");
      await session.streamResponse({
        responseId: "resp_bye",
        itemId: "item_bye",
        audio: toneBytes(800, 0x33),
        transcript: "Goodbye!",
        functionCalls: [{ callId: "call_end", name: "end_call", arguments: "{}" }],
      });
      // The answer streamed faster than real time: the call is still open while the goodbye plays.
      assert.ok(call.heardMsOf(0x33) < 800);
      await within(call.closed, "the stream closed", 5000);
      const closedAt = performance.now();
      // Twilio reported the end of the goodbye played (not flushed) before the hang-up; the fake's
      // playback timer may fire a fraction of a millisecond early, hence 799.
      assert.equal(call.echoedMarks.at(-1)?.flushed, false);
      assert.ok(call.heardMsOf(0x33, closedAt) >= 799, "the whole goodbye was heard before the hang-up");
      const ended = await t.waitForEvent("call.ended");
      assert.equal(ended.reason, "agent_hung_up");
      const after = await t.waitForEvent("call.after_stream");
      assert.equal(after.action, "hangup");

      const answer = await t.postTwilio(AFTER_STREAM, { CallSid: callSid, CallStatus: "in-progress" });
      assert.match(await answer.text(), /<Response><Hangup\/><\/Response>/);
      const unsigned = await fetch(`${t.origin}${AFTER_STREAM}`, {
        method: "POST",
        body: new URLSearchParams({ CallSid: callSid }),
      });
      assert.equal(unsigned.status, 403);
      await unsigned.body?.cancel();
      const unknown = await t.postTwilio(AFTER_STREAM, { CallSid: `CA${"0".repeat(32)}` });
      assert.match(await unknown.text(), /<Say>Tess is away\.<\/Say>/);
      const record = (await store.getCall(callSid))!;
      assert.equal(record.afterStream, "hangup");
      assert.equal(record.endReason, "agent_hung_up");
      assert.deepEqual(record.toolCalls.map((c) => [c.name, c.status]), [["end_call", "ok"]]);
    } finally {
      await t.close();
      store.close();
    }

    // A restart: a new process answers from the record.
    const store2 = openCallStore(`${dataDir}/parley.db`);
    const t2 = await startTestParley({ ...options, store: store2 });
    try {
      const answer = await t2.postTwilio(AFTER_STREAM, { CallSid: callSid });
      assert.match(await answer.text(), /<Hangup\/>/);
    } finally {
      await t2.close();
      store2.close();
    }

    // A call store that fails to answer (a database restarting) is asked again within the wait, and
    // past it the caller hears the fallback: never Twilio's application error for a 500.
    const store3 = openCallStore(`${dataDir}/parley.db`);
    let failures = 3;
    const recovering = failingDecisions(store3, () => failures-- > 0);
    const t3 = await startTestParley({ ...options, store: store3, afterStream: recovering });
    try {
      const answer = await t3.postTwilio(AFTER_STREAM, { CallSid: callSid });
      assert.equal(answer.status, 200);
      assert.match(await answer.text(), /<Hangup\/>/, "the decision, once the store answers");
      assert.equal(failures, -1, "asked four times: three failures, then the answer");
    } finally {
      await t3.close();
    }
    const down = failingDecisions(store3, () => true);
    const t4 = await startTestParley({
      ...options,
      store: store3,
      afterStream: down,
      afterStreamWaitMs: 200,
    });
    try {
      const answer = await t4.postTwilio(AFTER_STREAM, { CallSid: callSid });
      assert.equal(answer.status, 200);
      assert.match(await answer.text(), /<Say>Tess is away\.<\/Say>/);
      await t4.waitForLog(
        new RegExp(
          `Cannot read the after-stream decision for CallSid=${callSid} from the call store ` +
            `\\(database unavailable\\): fallback`,
        ),
      );
    } finally {
      await t4.close();
      store3.close();
    }
  });
  await Deno.remove(dataDir, { recursive: true });
});

Deno.test("Realtime: a caller speaking over the goodbye cancels the hang-up", async () => {
  await withActionParley("realtime", async (t) => {
    const call = await t.startCall({ persona: "tess" });
    const session = await within(t.upstream.session(0), "the upstream session");
    await session.waitFor("session.update");
    await session.streamResponse({
      responseId: "resp_bye",
      itemId: "item_bye",
      audio: toneBytes(1500, 0x33),
      functionCalls: [{ callId: "call_end", name: "end_call", arguments: "{}" }],
    });
    session.speechStarted();
    await within(call.waitFor("clear"), "the goodbye cleared");
    await within(t.waitForLog(/agent_hung_up cancelled/), "the hang-up cancelled");
    session.speechStopped();
    // The agent answers the caller, and the caller hears it: the line stayed open.
    await session.streamResponse({
      responseId: "resp_more",
      itemId: "item_more",
      audio: toneBytes(300, 0x44),
    });
    // The answer's last mark (its audio done) echoes once all 300 ms have played: waiting for the last
    // mark sent so far could pick one from the middle when the relay runs behind the fake on a loaded
    // machine.
    await within(call.waitForEcho("item_more:300"), "the answer heard", 5000);
    assert.ok(call.heardMsOf(0x44) >= 299);
    assert.equal(t.events.some((e) => e.type === "call.ended"), false);
    call.stop();
    assert.equal((await t.waitForEvent("call.ended")).reason, "caller_hung_up");
    assert.equal((await t.waitForEvent("call.after_stream")).action, "hangup");
  });
});

Deno.test("Realtime: transfer_call closes after the handoff line and the action dials; a busy dial hears transferFailedMessage", async () => {
  await withActionParley("realtime", async (t) => {
    const call = await t.startCall({ persona: "tess" });
    const session = await within(t.upstream.session(0), "the upstream session");
    await session.waitFor("session.update");
    await session.streamResponse({
      responseId: "resp_handoff",
      itemId: "item_handoff",
      audio: toneBytes(400, 0x35),
      functionCalls: [{ callId: "call_transfer", name: "transfer_call", arguments: "{}" }],
    });
    await within(call.closed, "the stream closed", 5000);
    assert.ok(call.heardMsOf(0x35) >= 399);
    const ended = await t.waitForEvent("call.ended");
    assert.equal(ended.reason, "transferred");
    assert.match(ended.detail, new RegExp(`transferred to \\${TRANSFER_TARGET}`));
    const answer = await (await t.postTwilio(AFTER_STREAM, { CallSid: call.callSid })).text();
    assert.match(
      answer,
      new RegExp(
        `<Dial action="https://parley.test/api/twilio/dial-action\\?persona=tess" method="POST" timeout="30">\\${TRANSFER_TARGET}</Dial>`,
      ),
    );
    const busy = await t.postTwilio("/api/twilio/dial-action?persona=tess", {
      CallSid: call.callSid,
      DialCallStatus: "busy",
    });
    assert.match(await busy.text(), /<Say>Nobody could take the call\.<\/Say><Hangup\/>/);
    const completed = await t.postTwilio("/api/twilio/dial-action?persona=tess", {
      CallSid: call.callSid,
      DialCallStatus: "completed",
    });
    assert.match(await completed.text(), /<Response><Hangup\/><\/Response>/);
  });
});

Deno.test("Realtime: a transferTo call parameter names the target", async () => {
  await withActionParley("realtime", async (t) => {
    const call = await t.startCall({ persona: "tess", transferTo: "+442071838750" });
    const session = await within(t.upstream.session(0), "the upstream session");
    await session.waitFor("session.update");
    await session.streamResponse({
      responseId: "resp_handoff",
      itemId: "item_handoff",
      audio: toneBytes(100, 0x35),
      functionCalls: [{ callId: "call_transfer", name: "transfer_call", arguments: "{}" }],
    });
    await within(call.closed, "the stream closed", 5000);
    const after = await t.waitForEvent("call.after_stream");
    assert.deepEqual([after.action, after.target], ["dial", "+442071838750"]);
  });
});

Deno.test("Realtime: caller key presses reach the model as one batched text item", async () => {
  await withActionParley("realtime", async (t) => {
    const call = await t.startCall({ persona: "tess" });
    const session = await within(t.upstream.session(0), "the upstream session");
    await session.waitFor("session.update");
    for (const digit of ["1", "2", "3", "#"]) {
      call.sendJson({
        event: "dtmf",
        streamSid: call.streamSid,
        sequenceNumber: "5",
        dtmf: { track: "inbound_track", digit },
      });
    }
    const item = await within(
      session.waitFor("conversation.item.create", (e) => e.item?.role === "user"),
      "the key presses",
      5000,
    );
    assert.deepEqual(item.item.content, [{ type: "input_text", text: "The caller pressed 1, 2, 3, #" }]);
    await within(session.waitFor("response.create"), "the model asked to answer");
    assert.equal(session.eventsOf("conversation.item.create").length, 1);
    call.stop();
    await call.closed;
  });
});

Deno.test("Realtime: press_keys plays DTMF tones after the agent's audio, decoded back to the digits", async () => {
  await withActionParley("realtime", async (t) => {
    const call = await t.startCall({ persona: "tess" });
    const session = await within(t.upstream.session(0), "the upstream session");
    await session.waitFor("session.update");
    await session.streamResponse({
      responseId: "resp_menu",
      itemId: "item_menu",
      audio: toneBytes(300, 0xff),
      functionCalls: [{ callId: "call_keys", name: "press_keys", arguments: '{"keys":"2*9#"}' }],
    });
    const create = await within(session.waitFor("response.create"), "the model goes on");
    assert.ok(create);
    const outputs = outputsByCallId(session.eventsOf("conversation.item.create"));
    assert.deepEqual(outputs.call_keys, { ok: true, pressed: "2*9#" });
    // The tones go to Twilio as the model's answer ends, on another socket than response.create: their
    // last mark (at their full length) is awaited by name, not taken as whatever mark came in last.
    const tones = dtmfTones("2*9#");
    assert.ok(tones.ok);
    const tail = `${TONES_ITEM_PREFIX}1:${Math.round(tones.audio.length / 8)}`;
    await within(call.waitFor("mark", (m) => m.event === "mark" && m.mark.name === tail), "the tones sent");
    await within(call.waitForEcho(tail), "the tones played", 5000);
    assert.equal(decodeDtmf(call.heardAudio()), "2*9#");
    // The tones came after the agent's words.
    const media = call.messagesOf("media");
    assert.equal(media.length >= 2, true);
    call.stop();
    await call.closed;
  });
});

Deno.test("Realtime: on machine_end_beep the agent stops, leaves the voicemail, then hangs up", async () => {
  await withActionParley("realtime", async (t) => {
    const call = await t.startCall({ persona: "tess", lead: "Dana" });
    const session = await within(t.upstream.session(0), "the upstream session");
    await session.waitFor("session.update");
    const talking = session.streamResponse({
      responseId: "resp_intro",
      itemId: "item_intro",
      audio: toneBytes(3000, 0x21),
      intervalMs: 100,
    });
    await within(call.waitFor("media"), "the agent talking");
    const human = await t.postTwilio("/api/twilio/status", { CallSid: call.callSid, AnsweredBy: "human" });
    assert.equal(human.status, 204);
    const beep = await t.postTwilio("/api/twilio/status", {
      CallSid: call.callSid,
      AnsweredBy: "machine_end_beep",
    });
    assert.equal(beep.status, 204);
    await within(call.waitFor("clear"), "the agent stopped at Twilio");
    await within(session.waitFor("response.cancel"), "the answer cancelled");
    await session.waitFor("conversation.item.truncate");
    const note = await within(
      session.waitFor("conversation.item.create", (e) => e.item?.role === "user"),
      "the voicemail instruction",
    );
    assert.match(
      note.item.content[0].text,
      /Leave this voicemail now.*Tell Dana that Tess called about the order\./,
    );
    await talking;
    await within(session.waitFor("response.create"), "the voicemail asked for");
    await session.streamResponse({ responseId: "resp_vm", itemId: "item_vm", audio: toneBytes(500, 0x55) });
    await within(call.closed, "the hang-up after the voicemail", 5000);
    assert.ok(call.heardMsOf(0x55) >= 499);
    assert.equal((await t.waitForEvent("call.ended")).reason, "voicemail_left");
    assert.equal((await t.waitForEvent("call.after_stream")).action, "hangup");
  });
});

Deno.test("Realtime: a voicemail whose answer also calls end_call is recorded voicemail_left", async () => {
  await withActionParley("realtime", async (t) => {
    const call = await t.startCall({ persona: "tess", lead: "Dana" });
    const session = await within(t.upstream.session(0), "the upstream session");
    await within(t.waitForEvent("call.started"), "the stream started");
    const beep = await t.postTwilio("/api/twilio/status", {
      CallSid: call.callSid,
      AnsweredBy: "machine_end_beep",
    });
    assert.equal(beep.status, 204);
    await within(session.waitFor("response.create"), "the voicemail asked for");
    await session.streamResponse({
      responseId: "resp_vm",
      itemId: "item_vm",
      audio: toneBytes(500, 0x55),
      functionCalls: [{ callId: "call_end", name: "end_call", arguments: "{}" }],
    });
    await within(call.closed, "the hang-up after the voicemail", 5000);
    const ended = await t.waitForEvent("call.ended");
    assert.equal(ended.reason, "voicemail_left");
    assert.match(ended.detail, /voicemail left \(machine_end_beep\)/);
    assert.equal((await t.waitForEvent("call.after_stream")).action, "hangup");
  });
});

Deno.test("Realtime: a machine with no voicemail in the persona is hung up on at once", async () => {
  await withPersonaDir({
    "plain.ts": 'export default { voice: "coral", instructions: "You are Pat.", endCall: true };\n',
  }, async (dir) => {
    const t = await startTestParley({
      personasDir: dir,
      env: { DEFAULT_PERSONA: "plain", INBOUND_PERSONA: "plain" },
    });
    try {
      const call = await t.startCall({ persona: "plain" });
      const session = await within(t.upstream.session(0), "the upstream session");
      await session.waitFor("session.update");
      // Pre-warmed on the webhook, the session is configured before the stream starts.
      await within(t.waitForEvent("call.started"), "the stream started");
      await t.postTwilio("/api/twilio/status", { CallSid: call.callSid, AnsweredBy: "machine_end_silence" });
      await within(call.closed, "the hang-up", 5000);
      const ended = await t.waitForEvent("call.ended");
      assert.equal(ended.reason, "agent_hung_up");
      assert.match(
        ended.detail,
        /answering machine \(machine_end_silence\); the persona has no voicemail message/,
      );
      assert.equal(session.eventsOf("response.create").length, 0);
      const answer = await t.postTwilio("/api/twilio/after-stream?persona=plain", { CallSid: call.callSid });
      assert.match(await answer.text(), /<Hangup\/>/);
    } finally {
      await t.close();
    }
  });
});

Deno.test("Realtime: keypad tones are agent audio for barge-in: the caller speaking clears them, no truncate names them", async () => {
  await withActionParley("realtime", async (t) => {
    const call = await t.startCall({ persona: "tess" });
    const session = await within(t.upstream.session(0), "the upstream session");
    await session.waitFor("session.update");
    await session.streamResponse({
      responseId: "resp_menu",
      itemId: "item_menu",
      audio: new Uint8Array(0),
      functionCalls: [{ callId: "call_keys", name: "press_keys", arguments: '{"keys":"1234567890"}' }],
    });
    await within(call.waitFor("media"), "the tones start");
    session.speechStarted();
    await within(call.waitFor("clear"), "the tones cleared");
    assert.ok(decodeDtmf(call.heardAudio()).length < 10, "the caller did not hear every key");
    await within(t.waitForEvent("interruption"), "the interruption recorded");
    // The tones are no item the model knows: nothing to truncate, no answer to cancel.
    assert.equal(session.eventsOf("conversation.item.truncate").length, 0);
    assert.equal(session.eventsOf("response.cancel").length, 0);
    call.stop();
    await call.closed;
  });
});

/** `store`'s after-stream decisions, each read failing while `fails()` says so, as a database that is down. */
function failingDecisions(store: CallStore, fails: () => boolean): AfterStreamDecisions {
  return {
    afterStreamDecision: (callSid) =>
      fails() ? Promise.reject(new Error("database unavailable")) : store.afterStreamDecision(callSid),
  };
}

Deno.test("Realtime: a tool that finishes while the caller speaks does not start an answer over them; the server's answer to the caller carries on", async () => {
  await withActionParley("realtime", async (t) => {
    const call = await t.startCall({ persona: "tess" });
    const session = await within(t.upstream.session(0), "the upstream session");
    await session.waitFor("session.update");
    const creates = () => session.eventsOf("response.create").length;
    const before = creates();
    /** A round trip: once the fake holds a caller frame sent now, it holds all Parley sent before it. */
    const roundTrip = async () => {
      const sentAt = performance.now();
      await sendFrames(call, {
        frame: SPEECH,
        until: session.waitFor("input_audio_buffer.append", (e) => e.at > sentAt),
      });
    };
    // The agent calls the slow tool (its output comes at its 200 ms timeout), and the caller starts
    // talking before it comes.
    await session.streamResponse({
      responseId: "resp_tool",
      itemId: "item_tool",
      audio: toneBytes(100, 0x21),
      functionCalls: [{ callId: "call_slow", name: "slow", arguments: "{}" }],
    });
    session.speechStarted("item_caller");
    await within(
      session.waitFor("conversation.item.create", (e) => e.item?.call_id === "call_slow"),
      "the tool's output",
    );
    await roundTrip();
    assert.equal(creates(), before, "no response.create while the caller speaks");
    // The caller stops: the server answers their turn on its own (create_response), with the tool's
    // output already in the conversation. Parley asks for no second answer after it.
    session.speechStopped("item_caller");
    await session.streamResponse({
      responseId: "resp_caller",
      itemId: "item_answer",
      audio: toneBytes(200, 0x44),
    });
    await within(
      call.waitFor("media", (m) => fromBase64(m.media.payload)[0] === 0x44),
      "the answer at Twilio",
    );
    await roundTrip();
    assert.equal(creates(), before, "no response.create after the server's own answer");
    call.stop();
    await call.closed;
  });
});
