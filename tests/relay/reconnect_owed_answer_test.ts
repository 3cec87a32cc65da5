/**
 * A session lost while it owes an answer (the caller's turn committed, the greeting asked for, an
 * answer that failed) leaves that answer to the new session: it is asked for it once it has the
 * conversation, and its stall watch knows the answer is owed. Realtime, over real sockets; the stall
 * cases in real time (each spans runs of the once-a-second stall check).
 */

import assert from "node:assert/strict";
import { fromBase64, toneBytes } from "../../testing/fake_realtime.ts";
import { startTestParley } from "../../testing/parley_harness.ts";
import { sendFrames } from "../../testing/send_frames.ts";
import { within } from "../../testing/within.ts";
import { SILENCE } from "./_reconnect.ts";

type Parley = Awaited<ReturnType<typeof startTestParley>>;

/** A call on `tester` (which greets) and its first session, once the stream started. */
async function startedCall(t: Parley) {
  const call = await t.startCall({ persona: "tester" });
  const first = await within(t.upstream.session(0), "first session");
  await within(t.waitForEvent("call.started"), "the stream started");
  return { call, first };
}

/** The types of what a fake session received, in order. */
function typesOf(session: { received: { type: string }[] }): string[] {
  return session.received.map((e) => e.type).filter((type) => type !== "input_audio_buffer.append");
}

Deno.test("Realtime: a drop between the caller's turn and its answer: the new session is asked to answer, and its answer reaches the caller", async () => {
  const t = await startTestParley();
  try {
    const { call, first } = await startedCall(t);
    await first.streamResponse({ responseId: "r0", itemId: "item_greeting", audio: toneBytes(100, 0x21) });
    // The caller's turn is committed (the server answers each one): an answer is owed. Then the drop.
    first.speechStarted();
    first.speechStopped();
    first.drop();
    const second = await within(t.upstream.session(1), "the new session", 2000);
    await within(second.waitFor("response.create"), "the new session asked to answer", 2000);
    const types = typesOf(second);
    assert.equal(types[0], "session.update");
    assert.equal(types.at(-1), "response.create", "asked once it has the conversation");
    assert.equal(second.eventsOf("response.create").length, 1);
    assert.equal(second.eventsOf("response.create")[0]!.response, undefined, "a plain answer, no greeting");
    await within(
      t.waitForLog(/Reconnected to OpenAI .*; asking it for the answer the lost session owed/),
      "the ask in the log",
    );
    const answer = call.waitFor("media", (m) => fromBase64(m.media.payload)[0] === 0x33);
    void second.streamResponse({ responseId: "r2", itemId: "item_a2", audio: toneBytes(200, 0x33) });
    await within(answer, "the new session's answer at Twilio");
    call.close();
    await call.closed;
  } finally {
    await t.close();
  }
});

Deno.test("Realtime: a stall while an answer is owed: the new session is asked to answer, and its stall watch knows it owes one", async () => {
  const t = await startTestParley({ stallMs: 300 });
  try {
    const { call, first } = await startedCall(t);
    await first.streamResponse({ responseId: "r0", itemId: "item_greeting", audio: toneBytes(100, 0x21) });
    first.speechStarted();
    first.speechStopped();
    const second = within(t.upstream.session(1), "the stall noticed", 4000);
    await sendFrames(call, { frame: SILENCE, until: second });
    const replacement = await second;
    await within(replacement.waitFor("response.create"), "the new session asked to answer", 2000);
    assert.equal(t.events.find((e) => e.type === "reconnected")?.cause, "stalled");
    // The new session says nothing either: it owes the answer, so it stalls in turn.
    const third = within(t.upstream.session(2), "the new session's stall noticed", 4000);
    await sendFrames(call, { frame: SILENCE, until: third });
    await within((await third).waitFor("response.create"), "the third session asked to answer", 2000);
    call.close();
    await call.closed;
  } finally {
    await t.close();
  }
});

Deno.test("Realtime: a session that takes its configuration and never greets is stalled, and the new one is asked for the greeting", async () => {
  const t = await startTestParley({ stallMs: 300 });
  try {
    const { call, first } = await startedCall(t);
    await within(first.waitFor("response.create"), "the greeting asked for");
    const second = within(t.upstream.session(1), "the stall noticed", 4000);
    await sendFrames(call, { frame: SILENCE, until: second });
    const greeting = await within(
      (await second).waitFor("response.create"),
      "the greeting asked again",
      2000,
    );
    assert.match(greeting.response.instructions, /\n\nSay hello first\.$/);
    assert.equal(t.events.find((e) => e.type === "reconnected")?.cause, "stalled");
    call.close();
    await call.closed;
  } finally {
    await t.close();
  }
});

Deno.test("Realtime: an answer that fails leaves it owed: a silent session is replaced and the new one asked to answer", async () => {
  const t = await startTestParley({ stallMs: 300 });
  try {
    const { call, first } = await startedCall(t);
    await first.streamResponse({ responseId: "r0", itemId: "item_greeting", audio: toneBytes(100, 0x21) });
    first.speechStarted();
    first.speechStopped();
    first.send({ type: "response.created", response: { id: "r1", status: "in_progress" } });
    first.send({
      type: "response.done",
      response: {
        id: "r1",
        status: "failed",
        status_details: {
          type: "failed",
          error: { type: "server_error", message: "The server had an error." },
        },
        usage: null,
      },
    });
    const second = within(t.upstream.session(1), "the stall noticed", 4000);
    await sendFrames(call, { frame: SILENCE, until: second });
    await within((await second).waitFor("response.create"), "the new session asked to answer", 2000);
    assert.equal(t.events.find((e) => e.type === "reconnected")?.cause, "stalled");
    call.close();
    await call.closed;
  } finally {
    await t.close();
  }
});
