/**
 * Barge-in against a Twilio fake that plays audio in real time: truncates match what the caller
 * heard, no stale audio after `clear`, nothing truncated that was not interrupted. Cuts at random
 * points over many answers: barge_in_random_test.ts.
 */

import assert from "node:assert/strict";
import { fromBase64, toneBytes } from "../../testing/fake_realtime.ts";
import { startTestParley } from "../../testing/parley_harness.ts";
import { assertCutAtHeard } from "../../testing/cut_checks.ts";
import { watchLoopLag } from "../../testing/loop_lag.ts";
import { within } from "../../testing/within.ts";
import { framesWith, TESTDATA_PERSONAS, testEnv } from "./_barge_in.ts";

Deno.test("interrupting a long greeting truncates at what the caller heard and plays nothing stale", async () => {
  const t = await startTestParley({ personasDir: TESTDATA_PERSONAS, env: testEnv });
  const lag = watchLoopLag();
  try {
    const call = await t.startCall({ persona: "tester" });
    const session = await t.upstream.session(0);
    await session.waitFor("response.create");
    // 6 s greeting streamed at ~1.7x real time: still streaming when the caller cuts in.
    const greeting = session.streamResponse({
      responseId: "resp_greet",
      itemId: "item_greet",
      audio: toneBytes(6000, 0x11),
      intervalMs: 60,
      inFlightAfterCancel: 3,
    });
    await call.waitForEcho("item_greet:1500");
    const cutAt = performance.now();
    session.speechStarted();

    const clear = await call.waitFor("clear");
    const stalledMs = lag.take();
    const heardMs = call.heardMsOf(0x11, clear.at);
    const truncate = await session.waitFor("conversation.item.truncate");
    assert.equal(truncate.item_id, "item_greet");
    assert.equal(truncate.content_index, 0);
    assertCutAtHeard(truncate.audio_end_ms, heardMs, {
      clearAt: clear.at,
      notBefore: cutAt,
      stalledMs,
    });
    assert.ok(heardMs >= 1500 && heardMs < 1700, `caller heard ${heardMs} ms`);
    assert.ok(clear.at - cutAt < 100, `clear ${clear.at - cutAt} ms after speech_started`);
    await session.waitFor("response.cancel");

    const { cancelled, deltas } = await greeting;
    assert.ok(cancelled && deltas > 0);
    // The next answer is the sentinel: once its audio arrives, every late delta was handled.
    const clearIndex = call.received.indexOf(clear);
    await session.streamResponse({ responseId: "resp_2", itemId: "item_2", audio: toneBytes(200, 0x22) });
    await call.waitFor("media", (m) => fromBase64(m.media.payload)[0] === 0x22);
    assert.equal(framesWith(call, 0x11, clearIndex), 0, "no frame of the interrupted answer after clear");
    assert.ok(t.counters.staleDeltasDropped >= 3, "the in-flight deltas were dropped");
    assert.ok(call.echoedMarks.some((m) => m.flushed), "clear flushed pending marks");
    assert.equal(
      session.eventsOf("conversation.item.truncate").length,
      1,
      "flushed marks caused no truncate",
    );
    call.close();
  } finally {
    lag.stop();
    await t.close();
  }
});

Deno.test("speech after playback finished truncates nothing", async () => {
  const t = await startTestParley({ personasDir: TESTDATA_PERSONAS, env: testEnv });
  try {
    const call = await t.startCall({ persona: "tester" });
    const session = await t.upstream.session(0);
    await session.waitFor("response.create");
    await session.streamResponse({ responseId: "resp_1", itemId: "item_1", audio: toneBytes(300, 0x31) });
    await call.waitForEcho("item_1:300");
    session.speechStarted();
    session.speechStopped();
    await session.streamResponse({ responseId: "resp_2", itemId: "item_2", audio: toneBytes(100, 0x32) });
    await call.waitFor("media", (m) => fromBase64(m.media.payload)[0] === 0x32);
    assert.equal(call.messagesOf("clear").length, 0);
    assert.equal(session.eventsOf("conversation.item.truncate").length, 0);
    assert.equal(session.eventsOf("response.cancel").length, 0);
    call.close();
  } finally {
    await t.close();
  }
});

Deno.test("a cut just after Twilio ran dry waiting for the answer still clears it: nothing stale plays", async () => {
  const t = await startTestParley({ personasDir: TESTDATA_PERSONAS, env: testEnv });
  try {
    const call = await t.startCall({ persona: "tester" });
    const session = await t.upstream.session(0);
    await session.waitFor("response.create");
    session.beginResponse("resp_slow", "item_slow");
    session.sendAudio("resp_slow", "item_slow", toneBytes(40, 0x61));
    await call.waitForEcho("item_slow:0");
    // The answer's next audio is 300 ms late (the scenario is the pause): Twilio plays the 40 ms, runs
    // dry, then gets 200 ms more, which Parley's clock, counting on from the start, reckons played.
    await new Promise((resolve) => setTimeout(resolve, 300));
    session.sendAudio("resp_slow", "item_slow", toneBytes(200, 0x62));
    await call.waitFor("media", (m) => fromBase64(m.media.payload)[0] === 0x62);
    session.speechStarted();

    const clear = await within(call.waitFor("clear"), "Twilio cleared after speech_started");
    const heardByClear = call.heardMsOf(0x62, clear.at);
    // What the caller will ever hear of it, with no more audio coming: what played before the clear.
    assert.equal(call.heardMsOf(0x62, performance.now() + 60_000), heardByClear);
    assert.ok(heardByClear < 100, `the caller heard ${heardByClear} ms of the late audio before the clear`);
  } finally {
    await t.close();
  }
});

Deno.test("interrupting the second answer truncates the second item on its own clock", async () => {
  const t = await startTestParley({ personasDir: TESTDATA_PERSONAS, env: testEnv });
  const lag = watchLoopLag();
  try {
    const call = await t.startCall({ persona: "tester" });
    const session = await t.upstream.session(0);
    await session.waitFor("response.create");
    await session.streamResponse({ responseId: "resp_1", itemId: "item_1", audio: toneBytes(700, 0x41) });
    await call.waitForEcho("item_1:700");
    session.speechStarted();
    session.speechStopped();
    lag.take();
    const second = session.streamResponse({
      responseId: "resp_2",
      itemId: "item_2",
      audio: toneBytes(3000, 0x42),
      intervalMs: 40,
    });
    await call.waitForEcho("item_2:800");
    const spokeAt = performance.now();
    session.speechStarted();
    const clear = await call.waitFor("clear");
    const stalledMs = lag.take();
    const heardMs = call.heardMsOf(0x42, clear.at);
    const truncate = await session.waitFor("conversation.item.truncate");
    assert.equal(truncate.item_id, "item_2");
    assertCutAtHeard(truncate.audio_end_ms, heardMs, {
      clearAt: clear.at,
      notBefore: spokeAt,
      stalledMs,
    });
    assert.ok(truncate.audio_end_ms < 1200, "not measured from the first answer's start");
    await second;
    call.close();
  } finally {
    lag.stop();
    await t.close();
  }
});

Deno.test("barge-in gating ignores a short sound and honours speech that lasts", async () => {
  const t = await startTestParley({ personasDir: TESTDATA_PERSONAS, env: testEnv });
  const lag = watchLoopLag();
  try {
    const call = await t.startCall({ persona: "quiet" }); // interruptions.minSpeechMs = 400
    const session = await t.upstream.session(0); // pre-warmed on the webhook for its persona
    await session.waitFor("session.update");
    const answer = session.streamResponse({
      responseId: "resp_1",
      itemId: "item_1",
      audio: toneBytes(5000, 0x51),
      intervalMs: 50,
    });
    await call.waitForEcho("item_1:500");
    session.speechStarted(); // a cough: 100 ms of sound
    await call.waitForEcho("item_1:600");
    session.speechStopped();
    await t.waitForLog(/shorter than interruptions\.minSpeechMs/);
    assert.equal(call.messagesOf("clear").length, 0, "a cough does not cut the agent off");
    assert.equal(session.eventsOf("response.cancel").length, 0);

    lag.take();
    await call.waitForEcho("item_1:1000");
    const startedAt = performance.now();
    session.speechStarted(); // real speech: never stops within the gate
    const clear = await call.waitFor("clear");
    const waited = clear.at - startedAt;
    assert.ok(waited >= 400 && waited < 400 + 100, `clear after ${waited} ms of speech`);
    const stalledMs = lag.take();
    const heardMs = call.heardMsOf(0x51, clear.at);
    const truncate = await session.waitFor("conversation.item.truncate");
    // The gate (minSpeechMs) held the cut for 400 ms after speech_started.
    assertCutAtHeard(truncate.audio_end_ms, heardMs, {
      clearAt: clear.at,
      notBefore: startedAt + 400,
      stalledMs,
    });
    await session.waitFor("response.cancel");
    await answer;
    call.close();
  } finally {
    lag.stop();
    await t.close();
  }
});
