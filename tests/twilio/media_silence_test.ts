/**
 * A Twilio media socket that goes silent is dead (Twilio sends a frame every 20 ms while a stream
 * lives, silence included): Parley closes it (1001) once nothing has come for the limit, says so,
 * and the call ends; a socket that keeps sending is left alone. Deno's own idle timeout is off on
 * this socket (it re-arms a timer on every frame); this watch stands in for it. The limit is scaled
 * down from 30 s so the test is quick.
 */

import assert from "node:assert/strict";
import { startTestParley } from "../../testing/parley_harness.ts";
import { sendFrames } from "../../testing/send_frames.ts";
import { within } from "../../testing/within.ts";

const SILENCE_MS = 600;
const FRAME = new Uint8Array(160).fill(0xff);

Deno.test("a media socket that sends nothing for the limit is closed, saying so, and one that talks is not", async () => {
  const t = await startTestParley({ mediaSilenceMs: SILENCE_MS });
  try {
    const call = await t.startCall();
    let closedAt = 0;
    const closed = call.closed.then((code) => {
      closedAt = performance.now();
      return code;
    });
    const ended = t.waitForEvent("call.ended", (e) => e.callSid === call.callSid);
    // Twice the limit of talking: frames keep coming, so the socket stays open.
    await sendFrames(call, { frame: FRAME, forMs: 2 * SILENCE_MS });
    const lastFrameAt = performance.now();
    assert.equal(closedAt, 0, "closed while the caller's frames kept coming");
    const code = await within(closed, "the silent socket to be closed", 5_000);
    assert.equal(code, 1001);
    // The watch checks every third of the limit: closed once three checks in a row saw no frame. A
    // check that runs late (a busy event loop) still saw the last frame, and setInterval keeps its
    // cadence, so the close may come that lateness early: measured 592 ms under a parallel CI run.
    const quietMs = closedAt - lastFrameAt;
    assert.ok(quietMs >= SILENCE_MS - 25, `closed after ${quietMs.toFixed(0)} ms of silence`);
    const line = await within(t.waitForLog(/Closed the media socket of CallSid=/), "the log line");
    assert.match(
      line,
      new RegExp(`CallSid=${call.callSid}: no frame from Twilio for 0\\.6 s \\(it sends one every 20 ms`),
    );
    const end = await within(ended, "the call's end");
    assert.equal(end.reason, "caller_hung_up");
    // The record says who closed the socket and why.
    assert.equal(end.detail, "Parley closed the media socket: no frame from Twilio for 0.6 s");
  } finally {
    await t.close();
  }
});
