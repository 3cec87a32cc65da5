/**
 * A session lost while the call's latest answer is under way (or written and still playing) and the
 * caller had not heard all of it: the new session is asked to answer again once it has the
 * conversation (no dead line until the caller speaks), and its stall watch owes that answer. Not when
 * the caller heard (nearly) all of it, when it called a tool (the tool would run twice), when a
 * hang-up waits on it (the call still ends), or when the caller is speaking over it (their turn brings
 * the next answer). A greeting is asked for again as the greeting. Realtime and GPT-Live, over real
 * sockets.
 */

import assert from "node:assert/strict";
import { fromBase64, SHORT_ANSWER_USAGE, toneBytes } from "../../testing/fake_realtime.ts";
import { startTestParley } from "../../testing/parley_harness.ts";
import { sendFrames } from "../../testing/send_frames.ts";
import { within } from "../../testing/within.ts";
import { withPersonaDir } from "../personas/_persona_dir.ts";
import { withActionParley } from "./_action_persona.ts";
import { LIVE_PERSONA, SILENCE, SPEECH } from "./_reconnect.ts";

type Parley = Awaited<ReturnType<typeof startTestParley>>;

/** The start of the instruction that asks a new session for the lost answer again (`upstream_link.ts`). */
const ANSWER_AGAIN =
  "The phone line dropped while you were answering, and the caller did not hear all of your answer.";
type FakeCall = Awaited<ReturnType<Parley["startCall"]>>;
type RealtimeSession = Awaited<ReturnType<Parley["upstream"]["session"]>>;

/** A call on `persona` and its first session, once the stream started. */
async function startedCall(t: Parley, persona = "tester") {
  const call = await t.startCall({ persona });
  const first = await within(t.upstream.session(0), "first session");
  await within(t.waitForEvent("call.started"), "the stream started");
  return { call, first };
}

/** Resolves when agent audio filled with `value` reaches Twilio. */
function audioOf(call: FakeCall, value: number): Promise<unknown> {
  return call.waitFor("media", (m) => fromBase64(m.media.payload)[0] === value);
}

/** The types of what a fake session received, in order (caller audio left out). */
function typesOf(session: { received: { type: string }[] }): string[] {
  return session.received.map((e) => e.type).filter((type) => type !== "input_audio_buffer.append");
}

/**
 * The greeting done, then the caller's turn ("I want a quote.") and the start of its answer: `audioMs`
 * of it sent, and at Twilio. The answer is under way (no `response.output_audio.done`, no `response.done`).
 */
async function answerUnderWay(t: Parley, call: FakeCall, first: RealtimeSession, audioMs = 400) {
  await first.streamResponse({
    responseId: "r0",
    itemId: "item_greeting",
    audio: toneBytes(100, 0x21),
    transcript: "Hello, how can I help?",
  });
  first.speechStarted("item_c1");
  first.speechStopped("item_c1");
  first.send({
    type: "conversation.item.input_audio_transcription.completed",
    item_id: "item_c1",
    content_index: 0,
    transcript: "I want a quote.",
  });
  await within(t.waitForLog(/User said: "I want a quote\."/), "the caller's turn");
  first.beginResponse("r1", "item_a1");
  first.sendAudio("r1", "item_a1", toneBytes(audioMs, 0x22));
  await within(audioOf(call, 0x22), "part of the answer at Twilio");
}

/**
 * Resolves once `session` has caller audio (sent after anything Parley asked of it on reconnect, on
 * the same socket): what it received before is all it was asked.
 */
async function settled(call: FakeCall, session: RealtimeSession): Promise<void> {
  const audio = session.waitFor("input_audio_buffer.append");
  await sendFrames(call, { frame: SILENCE, until: within(audio, "caller audio on the new session", 3000) });
}

Deno.test("Realtime: a drop mid-answer: the new session is asked to answer again after its history, the answer reaches the caller, and a silent new session owes it", async () => {
  const t = await startTestParley({ stallMs: 300 });
  try {
    const { call, first } = await startedCall(t);
    await answerUnderWay(t, call, first);
    first.drop();
    const second = await within(t.upstream.session(1), "the new session", 2000);
    const ask = await within(second.waitFor("response.create"), "the new session asked to answer", 2000);
    const types = typesOf(second);
    assert.equal(types[0], "session.update");
    assert.equal(types.at(-1), "response.create", "asked once it has the conversation");
    const history = second.eventsOf("conversation.item.create").map((
      e,
    ) => [e.item.role, e.item.content[0].text]);
    assert.deepEqual(history, [["assistant", "Hello, how can I help?"], ["user", "I want a quote."]]);
    assert.ok(
      second.eventsOf("conversation.item.create").every((e) => e.at <= ask.at),
      "the history comes first",
    );
    assert.equal(second.eventsOf("response.create").length, 1, "asked once");
    assert.ok(ask.response.instructions.includes(`\n\n${ANSWER_AGAIN}`), "asked for the answer again");
    await within(
      t.waitForLog(/Reconnected to OpenAI .*; asking it for the answer the lost session was giving$/),
      "the ask in the reconnect line",
    );
    assert.ok(call.received.some((m) => m.event === "clear"), "the lost answer's audio was cleared");

    // The new session says nothing: it owes the answer, so it stalls in turn, and the next is asked.
    const third = within(t.upstream.session(2), "the new session's stall noticed", 4000);
    await sendFrames(call, { frame: SILENCE, until: third });
    const thirdSession = await third;
    await within(thirdSession.waitFor("response.create"), "the third session asked to answer", 2000);
    assert.equal(t.events.filter((e) => e.type === "reconnected").at(-1)?.cause, "stalled");
    assert.equal(thirdSession.eventsOf("response.create").length, 1);
    const answer = audioOf(call, 0x33);
    void thirdSession.streamResponse({ responseId: "r3", itemId: "item_a3", audio: toneBytes(200, 0x33) });
    await within(answer, "the new answer at Twilio");
    call.close();
    await call.closed;
  } finally {
    await t.close();
  }
});

Deno.test("Realtime: a drop once the answer's audio all came and was heard: the new session is not asked again", async () => {
  const t = await startTestParley();
  try {
    const { call, first } = await startedCall(t);
    await answerUnderWay(t, call, first, 200);
    first.endAudio("r1", "item_a1");
    // Twilio played it all (the end mark echoed); the answer has not finished (a tool call may follow).
    await within(call.waitForEcho("item_a1:200"), "the answer heard to its end");
    first.drop();
    const second = await within(t.upstream.session(1), "the new session", 2000);
    await settled(call, second);
    assert.equal(second.eventsOf("response.create").length, 0, "not asked again");
    const line = await t.waitForLog(/Reconnected to OpenAI/);
    assert.doesNotMatch(line, /asking it/);
    call.close();
    await call.closed;
  } finally {
    await t.close();
  }
});

Deno.test("Realtime: a drop once the answer's audio all came, but not all of it heard (cleared at Twilio): the new session is asked again", async () => {
  const t = await startTestParley();
  try {
    const { call, first } = await startedCall(t);
    await answerUnderWay(t, call, first, 2000);
    first.endAudio("r1", "item_a1");
    first.drop();
    const second = await within(t.upstream.session(1), "the new session", 2000);
    const ask = await within(second.waitFor("response.create"), "the new session asked to answer", 2000);
    assert.ok(ask.response.instructions.includes(`\n\n${ANSWER_AGAIN}`), "asked for the answer again");
    assert.ok(call.heardMsOf(0x22) < 2000, "the rest of the answer was cleared");
    call.close();
    await call.closed;
  } finally {
    await t.close();
  }
});

Deno.test("Realtime: a drop after the answer finished while its audio still played (cleared at Twilio): the new session is asked again", async () => {
  const t = await startTestParley();
  try {
    const { call, first } = await startedCall(t);
    await answerUnderWay(t, call, first, 100);
    // The rest of the answer comes at once and it finishes: OpenAI writes faster than Twilio plays.
    first.sendAudio("r1", "item_a1", toneBytes(1900, 0x22));
    first.endAudio("r1", "item_a1");
    first.send({
      type: "response.done",
      response: { id: "r1", status: "completed", status_details: null, usage: SHORT_ANSWER_USAGE },
    });
    await within(t.waitForEvent("usage"), "the answer finished");
    first.drop();
    const second = await within(t.upstream.session(1), "the new session", 2000);
    const ask = await within(second.waitFor("response.create"), "the new session asked to answer", 2000);
    assert.ok(ask.response.instructions.includes(`\n\n${ANSWER_AGAIN}`), "asked for the answer again");
    assert.ok(call.heardMsOf(0x22) < 2000, "the rest of the answer was cleared");
    call.close();
    await call.closed;
  } finally {
    await t.close();
  }
});

Deno.test("Realtime: a drop while the caller speaks over the answer: the new session is not asked again", async () => {
  const t = await startTestParley();
  try {
    const { call, first } = await startedCall(t);
    await answerUnderWay(t, call, first);
    first.speechStarted("item_c2");
    await within(first.waitFor("response.cancel"), "the barge-in");
    first.drop();
    const second = await within(t.upstream.session(1), "the new session", 2000);
    const audio = second.waitFor("input_audio_buffer.append");
    await sendFrames(call, { frame: SPEECH, until: within(audio, "caller audio on the new session", 3000) });
    assert.equal(second.eventsOf("response.create").length, 0, "the caller's own turn brings the answer");
    assert.doesNotMatch(await t.waitForLog(/Reconnected to OpenAI/), /asking it/);
    call.close();
    await call.closed;
  } finally {
    await t.close();
  }
});

/** A persona whose one tool runs until the call ends: a drop always comes while it runs. */
const BOOKING_PERSONA = `export default {
  voice: "coral",
  instructions: "You book appointments.",
  tools: [{
    name: "book",
    description: "Books an appointment.",
    timeoutMs: 30000,
    run: (_args, call) => {
      call.log("booking");
      return new Promise((resolve) => call.signal.addEventListener("abort", () => resolve("late")));
    },
  }],
};
`;

Deno.test("Realtime: a drop while an answer that called a tool still plays: not asked again, so the tool runs once", async () => {
  await withPersonaDir({ "bo.ts": BOOKING_PERSONA }, async (dir) => {
    const t = await startTestParley({
      personasDir: dir,
      env: { DEFAULT_PERSONA: "bo", INBOUND_PERSONA: "bo" },
    });
    try {
      const { call, first } = await startedCall(t, "bo");
      // "Let me book that" (2 s, written at once) and the booking, still running when the session drops.
      first.beginResponse("r1", "item_a1");
      first.sendAudio("r1", "item_a1", toneBytes(2000, 0x22));
      first.endAudio("r1", "item_a1");
      first.send({
        type: "response.output_item.done",
        response_id: "r1",
        output_index: 1,
        item: { id: "fc_book", type: "function_call", call_id: "call_book", name: "book", arguments: "{}" },
      });
      first.send({
        type: "response.done",
        response: { id: "r1", status: "completed", status_details: null, usage: SHORT_ANSWER_USAGE },
      });
      await within(t.waitForLog(/booking/), "the tool running");
      await within(audioOf(call, 0x22), "the answer at Twilio");
      first.drop();
      const second = await within(t.upstream.session(1), "the new session", 2000);
      await settled(call, second);
      assert.equal(
        second.eventsOf("response.create").length,
        0,
        "not asked again: it would book a second time",
      );
      assert.doesNotMatch(await t.waitForLog(/Reconnected to OpenAI/), /asking it/);
      assert.ok(call.received.some((m) => m.event === "clear"), "the rest of its audio was cleared");
      call.close();
      await call.closed;
    } finally {
      await t.close();
    }
  });
});

Deno.test("Realtime: a drop mid-answer while a hang-up waits on it: not asked again, and the call still hangs up", async () => {
  await withActionParley("realtime", async (t) => {
    const { call, first } = await startedCall(t, "tess");
    // The answer presses keys (its tones wait for it), then ends the call; the session is lost before
    // the answer is done. The tones play at the loss, and the hang-up waits until they are heard.
    first.beginResponse("r1", "item_a1");
    first.sendAudio("r1", "item_a1", toneBytes(300, 0x22));
    const calls = [["call_keys", "press_keys", '{"keys":"123"}'], ["call_end", "end_call", "{}"]];
    for (const [callId, name, args] of calls) {
      first.send({
        type: "response.output_item.done",
        response_id: "r1",
        output_index: 1,
        item: { id: `fc_${callId}`, type: "function_call", call_id: callId, name, arguments: args },
      });
    }
    await within(
      first.waitFor("conversation.item.create", (e) => e.item?.call_id === "call_end"),
      "end_call answered",
    );
    first.drop();
    const ended = await within(t.waitForEvent("call.ended"), "the hang-up", 4000);
    assert.equal(ended.reason, "agent_hung_up");
    await within(call.closed, "Twilio socket closed");
    for (const session of t.upstream.sessions.slice(1)) {
      await session.closed; // everything it was sent came before its close
      // At most the "go on" held for press_keys' output (asked before this change too), never a prompt.
      const asks = session.eventsOf("response.create");
      assert.ok(asks.length <= 1, `${asks.length} asks`);
      assert.equal(asks[0]?.response, undefined, "no ask for the lost answer");
    }
    assert.equal(t.logs.filter((l) => /was giving/.test(l.line)).length, 0);
  });
});

Deno.test("Realtime: an answer whose session ends the call at the loss (a hang-up waiting on it) opens no new session", async () => {
  await withActionParley("realtime", async (t) => {
    const { call, first } = await startedCall(t, "tess");
    first.beginResponse("r1", "item_a1");
    first.sendAudio("r1", "item_a1", toneBytes(200, 0x22));
    first.send({
      type: "response.output_item.done",
      response_id: "r1",
      output_index: 1,
      item: { id: "fc_end", type: "function_call", call_id: "call_end", name: "end_call", arguments: "{}" },
    });
    await within(
      first.waitFor("conversation.item.create", (e) => e.item?.type === "function_call_output"),
      "end_call answered",
    );
    first.drop();
    const ended = await within(t.waitForEvent("call.ended"), "the hang-up", 4000);
    assert.equal(ended.reason, "agent_hung_up");
    // The reconnect would have been started (and logged) in the same turn as the end.
    assert.equal(t.logs.filter((l) => /Upstream lost .*reconnecting/.test(l.line)).length, 0);
    await within(call.closed, "Twilio socket closed");
  });
});

Deno.test("Realtime: a greeting under way, none of it heard, is asked for again as the greeting", async () => {
  const t = await startTestParley();
  try {
    const { call, first } = await startedCall(t);
    await within(first.waitFor("response.create"), "the greeting asked for");
    first.beginResponse("resp_greeting", "item_greeting"); // begun, no audio yet
    first.drop();
    const second = await within(t.upstream.session(1), "the new session", 2000);
    const ask = await within(second.waitFor("response.create"), "the greeting asked again", 2000);
    assert.match(ask.response.instructions, /\n\nSay hello first\.$/);
    await within(
      t.waitForLog(/Reconnected to OpenAI .*; asking it for the greeting the lost session was giving$/),
      "the ask in the reconnect line",
    );
    call.close();
    await call.closed;
  } finally {
    await t.close();
  }
});

Deno.test("Realtime: a greeting under way, part of it heard, is asked for again as the greeting: the callee hears who is calling", async () => {
  const t = await startTestParley();
  try {
    const { call, first } = await startedCall(t);
    await within(first.waitFor("response.create"), "the greeting asked for");
    first.beginResponse("resp_greeting", "item_greeting");
    first.sendAudio("resp_greeting", "item_greeting", toneBytes(600, 0x21));
    await within(audioOf(call, 0x21), "the greeting at Twilio");
    first.drop();
    const second = await within(t.upstream.session(1), "the new session", 2000);
    const ask = await within(second.waitFor("response.create"), "the new session asked", 2000);
    assert.match(ask.response.instructions, /\n\nSay hello first\.$/, "the greeting again");
    assert.ok(!ask.response.instructions.includes(ANSWER_AGAIN));
    call.close();
    await call.closed;
  } finally {
    await t.close();
  }
});

Deno.test("GPT-Live: a drop mid-answer: the new session is prompted to answer again once started, and its answer reaches the caller", async () => {
  await withPersonaDir({ "sam.ts": LIVE_PERSONA }, async (dir) => {
    const t = await startTestParley({
      personasDir: dir,
      env: { DEFAULT_PERSONA: "sam" },
      live: {
        callerTurns: [{
          transcript: "I need a quote.",
          answer: {
            audio: toneBytes(3000, 0x22),
            transcript: "Sure, a quote for which of our plans exactly?",
          },
        }],
        // Said when a session is prompted (the persona has no greeting: only the ask prompts).
        greeting: { audio: toneBytes(300, 0x44), transcript: "Sorry, which plan?" },
        silenceMs: 200,
      },
    });
    try {
      const call = await t.startCall({ persona: "sam" });
      const first = await within(t.live.session(0), "first session");
      await within(first.waitFor("session.start"), "the first session started");
      await sendFrames(call, {
        frame: (ms) => ms < 300 ? SPEECH : SILENCE,
        until: within(audioOf(call, 0x22), "the answer at Twilio", 8000),
      });
      first.drop();
      const second = await within(t.live.session(1), "the new session", 2000);
      const ask = await within(second.waitFor("session.commentary.append"), "the new session prompted", 2000);
      assert.ok(ask.content.startsWith(ANSWER_AGAIN), "asked for the answer again");
      assert.equal(second.received[0]!.type, "session.start", "prompted once it has the conversation");
      const history = second.received[0]!.session.input.map((m: { role: string }) => m.role);
      assert.equal(history[0], "user", "the caller's turn is in its history");
      assert.equal(second.eventsOf("session.commentary.append").length, 1, "prompted once");
      assert.equal(second.eventsOf("response.create").length, 0);
      await within(
        t.waitForLog(/Reconnected to OpenAI .*; asking it for the answer the lost session was giving$/),
        "the ask in the reconnect line",
      );
      await sendFrames(call, {
        frame: SILENCE,
        until: within(audioOf(call, 0x44), "the new answer at Twilio"),
      });
      call.close();
      await call.closed;
    } finally {
      await t.close();
    }
  });
});
