/**
 * Agent audio whose μ-law byte count is no multiple of 8 ends between milliseconds (8 bytes a ms):
 * the echo of its last mark must still say the caller heard all of it. A rounded-down mark name never
 * did, so the hang-up after such a goodbye waited its 10 s cap of dead air, and the next answer's
 * playback was measured from a stale start. Driven over real sockets (the fake Twilio echoes marks as
 * its real-time playback reaches them), plus the clock's arithmetic for the next answer.
 *
 * @module
 */

import assert from "node:assert/strict";
import { within } from "../../testing/within.ts";
import { PlaybackClock } from "../../src/relay/playback_clock.ts";
import { withActionParley } from "./_action_persona.ts";

const AFTER_STREAM = "/api/twilio/after-stream?persona=tess";

/** 800 ms and 3 bytes (800.375 ms): a goodbye that ends between milliseconds. */
const GOODBYE_BYTES = 800 * 8 + 3;

/** The position a mark name carries, ms. */
function markMs(name: string): number {
  return Number(name.slice(name.lastIndexOf(":") + 1));
}

Deno.test("Realtime: end_call hangs up once a goodbye of a fractional number of ms was heard, not at the cap", async () => {
  await withActionParley("realtime", async (t) => {
    const call = await t.startCall({ persona: "tess" });
    const session = await within(t.upstream.session(0), "the upstream session");
    await session.waitFor("session.update");
    const goodbye = new Uint8Array(GOODBYE_BYTES).fill(0x33);
    assert.notEqual(goodbye.length % 8, 0);
    await session.streamResponse({
      responseId: "resp_bye",
      itemId: "item_bye",
      audio: goodbye,
      // 801 bytes a delta (100.125 ms): every mark of the answer falls between milliseconds.
      chunkBytes: 801,
      transcript: "Goodbye!",
      functionCalls: [{ callId: "call_end", name: "end_call", arguments: "{}" }],
    });
    // The answer streamed faster than real time: the call is still open while the goodbye plays.
    assert.ok(call.heardMsOf(0x33) < 800);
    // The mark Parley sends for the end of the goodbye (whatever its name's precision), and its echo:
    // Twilio has played all of it.
    const tail = await within(
      call.waitFor("mark", (m) => m.mark?.name?.startsWith("item_bye:") && markMs(m.mark.name) >= 800),
      "the mark of the goodbye's end",
    );
    const echo = await within(call.waitForEcho(tail.mark.name), "the goodbye's end echoed", 5000);
    assert.equal(echo.flushed, false, "played, not flushed by a clear");
    // Heard: the hang-up follows the echo at once, far below the 10 s cap.
    await within(call.closed, "the hang-up after the goodbye was heard (not the 10 s cap)", 2000);
    const closedAt = performance.now();
    assert.equal(call.heardMsOf(0x33, closedAt), GOODBYE_BYTES / 8, "the whole goodbye was heard");
    const ended = await t.waitForEvent("call.ended");
    assert.equal(ended.reason, "agent_hung_up");
    assert.doesNotMatch(ended.detail, /not confirmed heard/);
    assert.equal((await t.waitForEvent("call.after_stream")).action, "hangup");
    const answer = await t.postTwilio(AFTER_STREAM, { CallSid: call.callSid, CallStatus: "in-progress" });
    assert.match(await answer.text(), /<Response><Hangup\/><\/Response>/);
  });
});

Deno.test("playback clock: audio ending between milliseconds is all heard at its last mark's echo", () => {
  const clock = new PlaybackClock();
  // 24003 bytes: 3000 ms in deltas of 100 ms (each marked), then 3 bytes, marked as the audio is done.
  for (let i = 0; i < 30; i++) clock.sent("item_a", "r1", 100, i);
  assert.deepEqual(clock.sent("item_a", "r1", 3 / 8, 30), { startMark: undefined, endMark: undefined });
  const tail = clock.finish("item_a");
  assert.ok(tail !== undefined, "the 3 bytes past the last mark are marked when the audio is done");
  clock.echo("item_a:0", 10);
  assert.equal(clock.heardAll(), false);
  clock.echo(tail, 3010.375);
  assert.equal(clock.heardAll(), true, `the echo of ${tail} says all 3000.375 ms were heard`);
  assert.equal(clock.unplayedMs(3010.375), 0);
  assert.equal(clock.mayBePlaying(3010.375), false, "nothing unechoed: a cut needs no clear");
  // The next answer restarts playback when it is sent, so a cut measures it from its own start.
  clock.sent("item_b", "r2", 1000, 5000);
  assert.deepEqual(clock.playing(5100), { itemId: "item_b", heardMs: 100 });
  assert.deepEqual(clock.interrupt(5100), [{
    itemId: "item_b",
    responseId: "r2",
    heardMs: 100,
    sentMs: 1000,
  }]);
});
