/**
 * The shared "caller talks" helper: a frame every 20 ms until a promise settles or a length of audio
 * has gone out, the frame chosen by how much audio went before it.
 */

import assert from "node:assert/strict";
import { sendFrames } from "../../testing/send_frames.ts";

/** A sink that records what it was given and when. */
function recorder() {
  const sent: { bytes: Uint8Array; at: number }[] = [];
  return {
    sent,
    sink: { sendMedia: (bytes: Uint8Array) => void sent.push({ bytes, at: performance.now() }) },
  };
}

Deno.test("sendFrames sends forMs of audio, one frame per 20 ms, each chosen by the ms before it", async () => {
  const { sent, sink } = recorder();
  const [speech, silence] = [new Uint8Array(160).fill(1), new Uint8Array(160).fill(2)];
  const started = performance.now();
  await sendFrames(sink, { frame: (ms) => ms < 60 ? speech : silence, forMs: 100 });
  assert.deepEqual(sent.map((s) => s.bytes[0]), [1, 1, 1, 2, 2]);
  assert.ok(performance.now() - started >= 5 * 20 - 5, "paced in real time, not all at once");
});

Deno.test("sendFrames stops once `until` settles and passes on its rejection", async () => {
  const sent: Uint8Array[] = [];
  const third = Promise.withResolvers<void>();
  const sink = { sendMedia: (bytes: Uint8Array) => sent.push(bytes) === 3 && third.resolve() };
  const { promise, resolve } = Promise.withResolvers<void>();
  const talking = sendFrames(sink, { frame: new Uint8Array(160), until: promise });
  await third.promise;
  const count = sent.length;
  resolve();
  await talking; // returns only once its loop has ended (the sanitizer would see a pending timer)
  assert.equal(sent.length, count, "no frame after `until` settled");

  const failed = sendFrames(sink, {
    frame: new Uint8Array(160),
    until: Promise.reject(new Error("no answer")),
  });
  await assert.rejects(failed, /no answer/);
});

Deno.test("sendFrames refuses to talk forever", async () => {
  const { sink } = recorder();
  await assert.rejects(sendFrames(sink, { frame: new Uint8Array(160) }), /give `until` or a finite `forMs`/);
});
