/**
 * Upstream drops mid-call on Realtime: the Twilio socket stays open, a new session gets the same
 * persona and the conversation so far, caller audio flows again within 2 s, and the reconnect shows
 * in the log, the call events and the metrics. Also the 60-minute cap (`session_expired` + 1001), the
 * rollover before the cap, every try failing (the stream ends so the fallback is heard), and new
 * sessions lost as soon as they open (not replaced forever). The same on GPT-Live:
 * reconnect_live_test.ts; a stall: reconnect_stall_realtime_test.ts and reconnect_stall_live_test.ts.
 */

import assert from "node:assert/strict";
import { toBase64 } from "../../testing/fake_realtime.ts";
import { startTestParley } from "../../testing/parley_harness.ts";
import { sendFrames } from "../../testing/send_frames.ts";
import { within } from "../../testing/within.ts";
import { SPEECH } from "./_reconnect.ts";

Deno.test("Realtime: a drop mid-call reconnects with the history; audio flows again within 2 s", async () => {
  const t = await startTestParley({ env: { METRICS_PUBLIC: "on" } });
  try {
    const call = await t.startCall({ persona: "tester" });
    const first = await within(t.upstream.session(0), "first session");
    await first.waitFor("session.update");
    first.send({
      type: "conversation.item.input_audio_transcription.completed",
      item_id: "item_c1",
      content_index: 0,
      transcript: "I want a quote.",
    });
    first.send({
      type: "response.output_audio_transcript.done",
      response_id: "r1",
      item_id: "item_a1",
      output_index: 0,
      content_index: 0,
      transcript: "Sure, for what?",
    });
    await within(t.waitForLog(/AI said: "Sure, for what\?"/), "the agent's turn");

    const droppedAt = performance.now();
    first.drop();
    const second = await within(t.upstream.session(1), "the new session", 2000);
    const talking = sendFrames(call, { frame: SPEECH, until: second.waitFor("input_audio_buffer.append") });
    const audio = await within(second.waitFor("input_audio_buffer.append"), "caller audio again", 2000);
    await talking;
    assert.ok(audio.at - droppedAt < 2000, `audio again after ${Math.round(audio.at - droppedAt)} ms`);
    assert.equal(audio.audio, toBase64(SPEECH));

    const update = second.received[0]!;
    assert.equal(update.type, "session.update");
    assert.equal(update.session.instructions, first.received[0]!.session.instructions);
    assert.equal(update.session.audio.output.voice, first.received[0]!.session.audio.output.voice);
    const items = second.eventsOf("conversation.item.create").map((
      e,
    ) => [e.item.role, e.item.content[0].text]);
    assert.deepEqual(items, [["user", "I want a quote."], ["assistant", "Sure, for what?"]]);
    assert.equal(second.eventsOf("response.create").length, 0, "no second greeting");

    const event = await t.waitForEvent("reconnected");
    assert.equal(event.cause, "dropped");
    assert.equal(event.tries, 1);
    assert.ok(event.gapMs < 2000);
    await t.waitForLog(/Reconnected to OpenAI for CallSid=CA\w+ \(dropped\) after a \d+ ms gap, try 1/);
    assert.equal(t.events.filter((e) => e.type === "call.ended").length, 0, "the call goes on");
    const metrics = await (await fetch(`${t.origin}/metrics`)).text();
    assert.match(metrics, /^parley_reconnects_total\{cause="dropped"\} 1$/m);
    call.close();
    await call.closed;
  } finally {
    await t.close();
  }
});

Deno.test("Realtime: session_expired and its 1001 close roll the call over to a new session", async () => {
  const t = await startTestParley();
  try {
    const call = await t.startCall({ persona: "tester" });
    const first = await within(t.upstream.session(0), "first session");
    await first.waitFor("session.update");
    // Pre-warmed on the webhook: drop it once the stream has started (before, a fresh one opens).
    await within(t.waitForLog(/Session configured/), "the stream started");
    first.expire();
    const second = await within(t.upstream.session(1), "the new session", 2000);
    await second.waitFor("session.update");
    await within(t.waitForEvent("reconnected"), "the reconnect");
    assert.equal(t.events.filter((e) => e.type === "call.ended").length, 0);
    call.close();
    await call.closed;
  } finally {
    await t.close();
  }
});

Deno.test("every reconnect try refused fast: tries go on for the whole 2 s budget, then the fallback", async () => {
  const t = await startTestParley();
  try {
    const call = await t.startCall({ persona: "tester" });
    const first = await within(t.upstream.session(0), "first session");
    await first.waitFor("session.update");
    // Pre-warmed on the webhook: drop it once the stream has started (before, a fresh one opens).
    await within(t.waitForLog(/Session configured/), "the stream started");
    t.upstream.refuseWith = 401;
    const handshakesBefore = t.upstream.handshakes.length;
    const droppedAt = performance.now();
    first.drop();
    const ended = await within(t.waitForEvent("call.ended"), "the end", 3000);
    const gaveUpAfter = performance.now() - droppedAt;
    assert.equal(ended.reason, "upstream_dropped");
    const tries = t.upstream.handshakes.length - handshakesBefore;
    assert.match(
      ended.detail,
      new RegExp(`^OpenAI closed the connection \\(\\d+\\); no new session after ${tries} tries: `),
    );
    // 50 ms, 150 ms, then every 300 ms: far more than 3 tries when each is refused at once.
    assert.ok(tries >= 6, `${tries} tries`);
    assert.ok(
      gaveUpAfter >= 1800 && gaveUpAfter < 2500,
      `gave up ${Math.round(gaveUpAfter)} ms after the drop`,
    );
    await within(call.closed, "Twilio socket closed");
  } finally {
    await t.close();
  }
});

Deno.test("new sessions that are accepted and then lost at once are not replaced forever: the call ends, the fallback follows", async () => {
  const t = await startTestParley();
  try {
    const call = await t.startCall({ persona: "tester" });
    const first = await within(t.upstream.session(0), "first session");
    await first.waitFor("session.update");
    await within(t.waitForLog(/Session configured/), "the stream started");
    // From now on the server accepts each new session, takes its configuration and drops it.
    let dropping = true;
    const dropEach = (async () => {
      for (let i = 1; dropping; i++) {
        const session = await t.upstream.session(i);
        if (!dropping) return;
        await session.waitFor("session.update");
        session.drop();
      }
    })();
    first.drop();
    const ended = await within(t.waitForEvent("call.ended"), "the end", 10_000);
    dropping = false;
    assert.equal(ended.reason, "upstream_dropped");
    assert.match(
      ended.detail,
      /^OpenAI closed the connection \(\d+\); 3 new sessions in a row were lost within 10 s of opening$/,
    );
    assert.equal(t.upstream.sessions.length, 4, "the first session and three new ones");
    assert.equal(t.events.filter((e) => e.type === "reconnected").length, 3);
    assert.equal((await t.waitForEvent("call.after_stream")).action, "fallback");
    await within(call.closed, "Twilio socket closed");
    void dropEach; // waits for a fifth session that never comes
  } finally {
    await t.close();
  }
});

Deno.test("a session past SESSION_ROLLOVER_MINUTES is replaced at a quiet moment", async () => {
  const t = await startTestParley({ env: { SESSION_ROLLOVER_MINUTES: "0.02" } });
  try {
    const call = await t.startCall({ persona: "tester" });
    const first = await within(t.upstream.session(0), "first session");
    await first.waitFor("session.update");
    const event = await within(t.waitForEvent("reconnected"), "the rollover", 4000);
    assert.equal(event.cause, "rollover");
    await within(first.closed, "the old session closed");
    call.close();
    await call.closed;
  } finally {
    await t.close();
  }
});
