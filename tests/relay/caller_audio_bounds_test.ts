/**
 * Memory bounds on caller audio (issue 11, finding 3), at small scale: a flood while the upstream
 * handshake hangs keeps ~2 s (oldest dropped), on the session pre-warmed on the webhook as on any; a
 * flood on a live call is held to 1 s ahead of the wall clock; an upstream that never reads stops
 * taking frames at a bound. Frames naming another stream are dropped. Every drop is counted in the
 * record and the metrics.
 */

import assert from "node:assert/strict";
import { createRealtimeEngine } from "../../src/engines/realtime/engine.ts";
import { connectOpenAI } from "../../src/engines/upstream_socket.ts";
import { MAX_QUEUED_FRAMES, UpstreamSession } from "../../src/relay/upstream_session.ts";
import { DeafUpstream } from "../../testing/deaf_upstream.ts";
import { fromBase64 } from "../../testing/fake_realtime.ts";
import { startTestParley } from "../../testing/parley_harness.ts";
import { sendFrames } from "../../testing/send_frames.ts";
import { within } from "../../testing/within.ts";

/** Frame `n`: 160 bytes carrying `n` in its first two bytes. */
function frame(n: number): Uint8Array {
  const bytes = new Uint8Array(160).fill(0x7f);
  bytes[0] = n >> 8;
  bytes[1] = n & 0xff;
  return bytes;
}

function frameNumber(payload: string): number {
  const bytes = fromBase64(payload);
  return (bytes[0]! << 8) | bytes[1]!;
}

Deno.test("a flood while the handshake hangs keeps the newest ~2 s of audio, counted", async () => {
  const t = await startTestParley({ env: { METRICS_PUBLIC: "on" } });
  try {
    const { promise: hold, resolve: release } = Promise.withResolvers<void>();
    t.upstream.holdHandshake = hold;
    const call = await t.startCall({ persona: "tester" });
    // 150 frames (3 s of audio) in ~1.5 s: faster than real time, while OpenAI has not answered.
    for (let n = 0; n < 150; n++) {
      call.sendMedia(frame(n));
      await new Promise((r) => setTimeout(r, 10));
    }
    const marker = frame(9999); // once it arrives, everything before it was read
    release();
    const session = await within(t.upstream.session(0), "the session");
    await session.waitFor("session.update");
    // The flood left the call at its lead's limit: the marker goes in real time, as the caller's next
    // frames would, until one gets through (one sent before the wall clock caught up is dropped as
    // ahead, and counted, as the flood's tail was).
    let markers = 0;
    await sendFrames(call, {
      frame: () => (markers++, marker),
      until: within(
        session.waitFor("input_audio_buffer.append", (e) => frameNumber(e.audio) === 9999),
        "marker",
      ),
    });
    const appended = session.eventsOf("input_audio_buffer.append").map((e) => frameNumber(e.audio));
    const received = appended.slice(0, appended.indexOf(9999));
    assert.equal(received.length, MAX_QUEUED_FRAMES, "at most ~2 s queued");
    // In order, and the oldest were the ones dropped (frames beyond 1 s ahead were never queued).
    received.forEach((n, i) => i > 0 && assert.ok(n > received[i - 1]!));
    assert.ok(received[0]! > 0, "the oldest frame went first");
    const queueDrops = t.counters.callerFramesDropped.queue;
    assert.ok(queueDrops > 0, "queue drops counted");
    const metrics = await (await fetch(`${t.origin}/metrics`)).text();
    assert.match(
      metrics,
      new RegExp(`^parley_caller_frames_dropped_total\\{reason="queue"\\} ${queueDrops}$`, "m"),
    );
    // The held session was the one pre-warmed on the webhook: its queue keeps the same bound.
    assert.match(metrics, /^parley_prewarm_total\{outcome="claimed"\} 1$/m);
    call.close();
    const recorded = await within(t.waitForEvent("caller_audio.dropped"), "the drops in the record");
    assert.equal(recorded.drops.queue, queueDrops);
    // Every frame the caller sent is accounted for, once the session has closed (all it was sent, read):
    // sent upstream, or dropped from the queue, or dropped as ahead of the wall clock.
    await within(session.closed, "the session to close");
    const sentUpstream = session.eventsOf("input_audio_buffer.append").length;
    assert.equal(recorded.drops.queue + recorded.drops.ahead + sentUpstream, 150 + markers);
  } finally {
    await t.close();
  }
});

Deno.test("a flood on a live call is held to 1 s ahead of the wall clock, the rest counted", async () => {
  const t = await startTestParley();
  try {
    const call = await t.startCall({ persona: "tester" });
    const session = await within(t.upstream.session(0), "the session");
    await session.waitFor("session.update");
    const started = performance.now();
    for (let n = 0; n < 5000; n++) call.sendMedia(frame(n % 4000)); // 100 s of "audio" at once
    // Then audio in real time, as a caller sends it: it gets through once the flood's lead is spent.
    const marker = frame(9999);
    const arrived = within(
      session.waitFor("input_audio_buffer.append", (e) => frameNumber(e.audio) === 9999),
      "real-time audio after the flood",
      10_000,
    );
    await sendFrames(call, { frame: marker, until: arrived });
    const elapsed = performance.now() - started;
    const forwarded = session.eventsOf("input_audio_buffer.append").length;
    // 1 s ahead (50 frames) plus the time that passed, never the 100 s flooded.
    assert.ok(
      forwarded <= 50 + Math.ceil(elapsed / 20) + 1,
      `${forwarded} frames in ${Math.round(elapsed)} ms`,
    );
    assert.ok(t.counters.callerFramesDropped.ahead >= 5000 - forwarded);
    call.close();
    const recorded = await within(t.waitForEvent("caller_audio.dropped"), "the drops in the record");
    assert.equal(recorded.drops.ahead, t.counters.callerFramesDropped.ahead);
  } finally {
    await t.close();
  }
});

Deno.test("an upstream that never reads: frames stop at the backpressure bound", async () => {
  const deaf = DeafUpstream.start();
  const opened = Promise.withResolvers<void>();
  const session = new UpstreamSession({
    engine: createRealtimeEngine(deaf.url),
    model: "gpt-realtime-2.1",
    apiKey: "sk-test",
    connect: connectOpenAI,
    now: () => performance.now(),
    handlers: { onOpen: () => opened.resolve(), onEvent() {}, onEnd() {} },
  });
  try {
    session.configure({ first: [], afterReady: [] });
    await within(opened.promise, "the deaf upstream opened");
    const payload = btoa(String.fromCharCode(...new Uint8Array(160).fill(0x7f)));
    let sent = 0;
    let refused = 0;
    // Up to 80 MB offered; the kernel takes a few MB, then the bound holds.
    for (let i = 0; i < 300_000 && refused < 1000; i++) {
      if (session.sendAudio(payload) === "backpressure") refused++;
      else sent++;
      if (i % 2000 === 0) await new Promise((r) => setTimeout(r, 0)); // let the socket write
    }
    assert.equal(refused, 1000, `backpressure never reported after ${sent} frames`);
    assert.ok(sent < 300_000);
  } finally {
    session.close();
    await session.closed;
    await deaf.close();
  }
});

Deno.test("frames naming another streamSid are dropped, counted and logged once", async () => {
  const t = await startTestParley();
  try {
    const call = await t.startCall({ persona: "tester" });
    const session = await within(t.upstream.session(0), "the session");
    await session.waitFor("session.update");
    const foreign = (n: number) =>
      JSON.stringify({
        event: "media",
        streamSid: "MZ00000000000000000000000000000000",
        media: { track: "inbound", payload: btoa(String.fromCharCode(...frame(n))) },
      });
    for (let n = 0; n < 20; n++) call.sendRaw(foreign(n));
    call.sendMedia(frame(9999));
    await within(
      session.waitFor("input_audio_buffer.append", (e) => frameNumber(e.audio) === 9999),
      "own frame",
    );
    assert.equal(
      session.eventsOf("input_audio_buffer.append").length,
      1,
      "only the call's own frame went upstream",
    );
    assert.equal(t.counters.callerFramesDropped.foreignStream, 20);
    const warnings = t.logs.filter((l) => /Dropped a media frame for streamSid=MZ0{32}/.test(l.line));
    assert.equal(warnings.length, 1, "the warning is rate-limited");
    call.close();
  } finally {
    await t.close();
  }
});
