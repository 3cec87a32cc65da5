/**
 * Barge-in at random points, against a Twilio fake that plays audio in real time: six answers of
 * random lengths, most cut at a random moment, from a seed printed with any failure. Every truncate
 * matches what the caller heard, nothing else is truncated or cleared, and no stale audio follows a
 * `clear`.
 */

import assert from "node:assert/strict";
import { fromBase64, toneBytes } from "../../testing/fake_realtime.ts";
import { startTestParley } from "../../testing/parley_harness.ts";
import { assertCutAtHeard } from "../../testing/cut_checks.ts";
import { watchLoopLag } from "../../testing/loop_lag.ts";
import { framesWith, TESTDATA_PERSONAS, testEnv } from "./_barge_in.ts";

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
