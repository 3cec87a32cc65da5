/**
 * The caller's channel is placed by Twilio's timestamps, through the harness: frames held up by a
 * stall (the network, or a busy event loop) and then read at once land in the WAV where the caller
 * spoke them, with no gap where the stall was, even a stall longer than MAX_STREAM_SKEW_MS; frames
 * whose timestamps are missing or garbage are placed by arrival, as before, and the caller's channel
 * is still recorded without a gap.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { MAX_STREAM_SKEW_MS } from "../../src/recordings/call_recorder.ts";
import { readWav } from "../../src/recordings/wav.ts";
import { RecordingsDir } from "../../src/recordings/recordings_dir.ts";
import type { FrameTap } from "../../src/relay/frame_tap.ts";
import type { FakeTwilioCall } from "../../testing/fake_twilio.ts";
import { startTestParley } from "../../testing/parley_harness.ts";
import { sendFrames } from "../../testing/send_frames.ts";
import { CALLER_BYTE, loudRuns, SILENCE } from "./_recording_call.ts";

const PERSONAS_DIR = new URL("../testdata/recording_personas", import.meta.url).pathname;
/**
 * Longer than the 500 ms within which the recorder used to join a late frame to the one before, so
 * placement by arrival would leave a gap this long where placement by timestamp leaves none.
 */
const STALL_MS = 800;

const speech = () => new Uint8Array(160).fill(CALLER_BYTE);
const silence = () => new Uint8Array(160).fill(SILENCE);

/** A tap noting the stream time (ms) of the caller's first speech frame. */
function firstSpeechTap(): { tap: FrameTap; firstSpeech: () => number | undefined } {
  let first: number | undefined;
  const tap: FrameTap = () => ({
    callerFrame(_at, payload, streamAt) {
      if (atob(payload).charCodeAt(0) === CALLER_BYTE) first ??= streamAt;
    },
  });
  return { tap, firstSpeech: () => first };
}

/** A stall and the speech frames held up by it. */
interface Stall {
  /** How long the frames are held, ms. */
  ms: number;
  /** How many speech frames come at once after it. */
  frames: number;
}

/**
 * Runs one recorded call: 200 ms of silence, 10 speech frames in real time, a stall, its speech frames
 * at once, 400 ms of silence; `send` sends each frame. Returns the caller's channel of the WAV.
 */
async function recordStalledSpeech(
  send: (call: FakeTwilioCall, bytes: Uint8Array) => void,
  tap: FrameTap,
  stall: Stall = { ms: STALL_MS, frames: 15 },
): Promise<Int16Array> {
  const dir = await Deno.makeTempDir();
  const recordings = new RecordingsDir(dir);
  const t = await startTestParley({
    personasDir: PERSONAS_DIR,
    env: { DEFAULT_PERSONA: "recorder" },
    tap,
    recordings,
  });
  try {
    const call = await t.startCall({ persona: "recorder" });
    const session = await t.upstream.session(0);
    await session.waitFor("response.create");
    const sink = { sendMedia: (bytes: Uint8Array) => send(call, bytes) };
    const appended = (count: number) =>
      session.waitFor(
        "input_audio_buffer.append",
        () => session.eventsOf("input_audio_buffer.append").length >= count,
      );
    await sendFrames(sink, { frame: silence, forMs: 200 });
    await sendFrames(sink, { frame: speech, forMs: 200 });
    await appended(20);
    // The stall: the deliberate stimulus of this test (frames held up), not a wait for an event.
    await new Promise((resolve) => setTimeout(resolve, stall.ms));
    for (let i = 0; i < stall.frames; i++) sink.sendMedia(speech());
    await appended(20 + stall.frames);
    await sendFrames(sink, { frame: silence, forMs: 400 });
    await appended(40 + stall.frames);
    call.close();
    await t.parley.shutdown(); // the relay has ended: the recorder has finished the file
    const callSid = call.callSid;
    assert.equal((await recordings.info(callSid))?.state, "complete");
    const wav = readWav(await Deno.readFile(join(dir, `${callSid}.wav`)));
    return wav.channels[0]!;
  } finally {
    await t.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("caller frames held up by a stall land in the WAV at their timestamps, with no gap where the stall was", async () => {
  const { tap, firstSpeech } = firstSpeechTap();
  const caller = await recordStalledSpeech((call, bytes) => call.sendMedia(bytes), tap);
  const from = firstSpeech();
  assert.ok(from !== undefined, "the tap saw the first speech frame with its stream time");
  // 25 frames of 20 ms, one after the other from where the first was spoken, to the sample.
  assert.deepEqual(loudRuns(caller), [[Math.round(from * 8) / 8, Math.round(from * 8) / 8 + 500]]);
});

Deno.test("caller frames held up longer than MAX_STREAM_SKEW_MS land at their timestamps too: none is dropped", async () => {
  // Held 1.2 s: the burst's first frames arrive more than MAX_STREAM_SKEW_MS after they were spoken,
  // its last ones (600 ms of speech later) less. Each continues the stream: all land where spoken.
  const stall = { ms: MAX_STREAM_SKEW_MS + 200, frames: 30 };
  const { tap, firstSpeech } = firstSpeechTap();
  const caller = await recordStalledSpeech((call, bytes) => call.sendMedia(bytes), tap, stall);
  const from = firstSpeech();
  assert.ok(from !== undefined, "the tap saw the first speech frame with its stream time");
  const start = Math.round(from * 8) / 8;
  assert.deepEqual(loudRuns(caller), [[start, start + (10 + stall.frames) * 20]]);
});

Deno.test("caller frames with a missing or garbage timestamp are placed by arrival and still recorded", async () => {
  // Four calls side by side, each on its own Parley: each waits on its own stall.
  await Promise.all([undefined, "soon", "-40", 40].map(async (timestamp) => {
    const { tap, firstSpeech } = firstSpeechTap();
    const caller = await recordStalledSpeech((call, bytes) => {
      const media: Record<string, unknown> = {
        track: "inbound",
        chunk: "1",
        payload: btoa(String.fromCharCode(...bytes)),
      };
      if (timestamp !== undefined) media.timestamp = timestamp;
      call.sendJson({
        event: "media",
        sequenceNumber: String(call.nextSequence()),
        streamSid: call.streamSid,
        media,
      });
    }, tap);
    assert.equal(firstSpeech(), undefined, `no stream time from timestamp ${timestamp}`);
    const runs = loudRuns(caller);
    // By arrival: the 10 frames before the stall joined one to the next, and the 15 after it too.
    const loudMs = runs.reduce((sum, [from, to]) => sum + to - from, 0);
    assert.equal(loudMs, 500, `all 25 frames recorded (timestamp ${timestamp}): ${JSON.stringify(runs)}`);
    assert.ok(
      runs.length <= 3,
      `continuous but for the stall (timestamp ${timestamp}): ${JSON.stringify(runs)}`,
    );
  }));
});
