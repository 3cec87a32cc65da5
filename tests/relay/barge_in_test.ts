/**
 * Barge-in against a Twilio fake that plays audio in real time: truncates match what the caller
 * heard, no stale audio after `clear`, nothing truncated that was not interrupted.
 */

import assert from "node:assert/strict";
import { fromBase64, toneBytes } from "../../testing/fake_realtime.ts";
import type { FakeTwilioCall } from "../../testing/fake_twilio.ts";
import { startTestParley } from "../../testing/parley_harness.ts";
import { assertCutAtHeard } from "../../testing/cut_checks.ts";
import { watchLoopLag } from "../../testing/loop_lag.ts";
import { within } from "../../testing/within.ts";

const TESTDATA_PERSONAS = new URL("../testdata/personas/", import.meta.url).pathname;
const testEnv = { DEFAULT_PERSONA: "tester" };

/** Media frames after index `from` whose audio contains `value`. */
function framesWith(call: FakeTwilioCall, value: number, from: number): number {
  return call.received.slice(from).filter((m) =>
    m.event === "media" && fromBase64(m.media.payload).includes(value)
  )
    .length;
}

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

/** A small seeded PRNG (mulberry32), so a failing run can be replayed from its seed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("interruptions at random points: every truncate matches what was heard, nothing else truncated", async () => {
  const seed = Date.now() % 100_000;
  const rand = random(seed);
  const t = await startTestParley({ personasDir: TESTDATA_PERSONAS, env: testEnv });
  const lag = watchLoopLag();
  try {
    const call = await t.startCall({ persona: "tester" });
    const session = await t.upstream.session(0);
    await session.waitFor("response.create");
    let expectedTruncates = 0;
    /** Speech after a finished answer that a stall may have let Parley read before that answer's end. */
    let clearsAllowed = 0;
    for (let answer = 1; answer <= 6; answer++) {
      const value = 0x70 + answer;
      const itemId = `item_${answer}`;
      const lengthMs = 600 + Math.floor(rand() * 14) * 100; // 600 … 1900 ms
      const interrupt = rand() < 0.7;
      const streaming = session.streamResponse({
        responseId: `resp_${answer}`,
        itemId,
        audio: toneBytes(lengthMs, value),
        intervalMs: 20 + Math.floor(rand() * 40), // 1.7x … 5x real time
      });
      const clearsBefore = call.messagesOf("clear").length;
      lag.take();
      if (interrupt) {
        const at = 100 * (1 + Math.floor(rand() * (lengthMs / 100 - 2)));
        await call.waitForEcho(`${itemId}:${at}`);
        await new Promise((resolve) => setTimeout(resolve, Math.floor(rand() * 90))); // the caller's timing
        const spokeAt = performance.now();
        session.speechStarted();
        const clear = await call.waitFor(
          "clear",
          (m) => call.messagesOf("clear").indexOf(m) === clearsBefore,
        );
        const stalledMs = lag.take();
        const heardMs = call.heardMsOf(value, clear.at);
        expectedTruncates++;
        const truncate = await session.waitFor(
          "conversation.item.truncate",
          (e) => session.eventsOf("conversation.item.truncate").indexOf(e) === expectedTruncates - 1,
        );
        assert.equal(truncate.item_id, itemId, `seed ${seed}`);
        assertCutAtHeard(
          truncate.audio_end_ms,
          heardMs,
          { clearAt: clear.at, notBefore: spokeAt, stalledMs },
          `seed ${seed}, answer ${answer}: `,
        );
        await streaming;
      } else {
        await streaming;
        await call.waitForEcho(`${itemId}:${lengthMs}`);
        // The caller answers a moment after hearing the end. Parley reads that echo and OpenAI's
        // speech_started on two sockets: had the process stalled past the pause, the echo may still be
        // unread, and Parley clears what Twilio may still hold (see Barge-in): no needless clear then.
        lag.take();
        const pauseMs = 20 + Math.floor(rand() * 90);
        await new Promise((resolve) => setTimeout(resolve, pauseMs));
        if (lag.take() >= pauseMs - 10) clearsAllowed++;
        session.speechStarted();
      }
      session.speechStopped();
    }
    // Sentinel answer: once it plays, every event before it has been handled.
    await session.streamResponse({ responseId: "resp_end", itemId: "item_end", audio: toneBytes(100, 0x7f) });
    await call.waitFor("media", (m) => fromBase64(m.media.payload)[0] === 0x7f);
    assert.equal(session.eventsOf("conversation.item.truncate").length, expectedTruncates, `seed ${seed}`);
    const clears = call.messagesOf("clear").length;
    assert.ok(
      clears >= expectedTruncates && clears <= expectedTruncates + clearsAllowed,
      `seed ${seed}: no needless clear (${clears} clears, ${expectedTruncates} cuts, ${clearsAllowed} after a stall)`,
    );
    // No stale audio: after each clear, no frame of an earlier answer.
    const order = call.received;
    for (const clear of call.messagesOf("clear")) {
      const index = order.indexOf(clear);
      const before = order.slice(0, index).filter((m) => m.event === "media").map((m) =>
        fromBase64(m.media.payload)[0]
      );
      const cutValue = before.at(-1)!;
      assert.equal(
        framesWith(call, cutValue, index),
        0,
        `seed ${seed}: stale frame of 0x${cutValue.toString(16)}`,
      );
    }
    call.close();
  } finally {
    lag.stop();
    await t.close();
  }
});
