/**
 * Recordings started by the recording tap (`RecordingsDir.start`) do their file work off the event
 * loop: nothing touches the disk before the caller's code yields, every write lands in order with the
 * bytes it was handed (the recorder's buffer is reused at once), and `settle` waits for the end. A
 * folder that cannot be written is reported once, with RECORDINGS_DIR, and the call goes on.
 */

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { RecordingsDir } from "../../src/recordings/recordings_dir.ts";
import { decodeMulawSample } from "../../src/audio/mulaw.ts";
import { FRAME_BYTES, readWav, WAV_HEADER_BYTES } from "../../src/recordings/wav.ts";
import { startTestParley } from "../../testing/parley_harness.ts";
import { within } from "../../testing/within.ts";

const PERSONAS_DIR = new URL("../testdata/recording_personas", import.meta.url).pathname;

Deno.test("a background recording touches no file until the caller yields, writes in order what it was handed, and settles", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley_background_" });
  const recordings = new RecordingsDir(join(dir, "recordings"));
  const errors: unknown[] = [];
  try {
    const sink = recordings.start("CAbackground", (error) => errors.push(error));
    // 100 sample frames a write, a μ-law byte a channel; silence (0xff) but for the first.
    const shared = new Uint8Array(FRAME_BYTES * 100).fill(0xff);
    for (let i = 0; i < 3; i++) {
      shared[0] = 0x10 + i;
      sink.write(shared);
      shared.fill(0x55); // the recorder reuses its buffer at once
    }
    sink.finish(3 * 200, 37.5);
    assert.equal(existsSync(recordings.wavPath("CAbackground")), false, "no file work on the event loop");
    await recordings.settle();
    assert.deepEqual(errors, []);
    assert.deepEqual(await recordings.info("CAbackground"), {
      callSid: "CAbackground",
      state: "complete",
      startedAt: (await recordings.info("CAbackground"))!.startedAt,
      durationMs: 38,
    });
    const bytes = await Deno.readFile(recordings.wavPath("CAbackground"));
    assert.equal(bytes.length, WAV_HEADER_BYTES + 600);
    const [left] = readWav(bytes).channels as [Int16Array];
    assert.deepEqual(
      [left[0], left[100], left[200]],
      [0x10, 0x11, 0x12].map(decodeMulawSample),
      "each write as it was handed",
    );
    assert.deepEqual(
      [left[1], left[101], left[201]],
      [0, decodeMulawSample(0x55), decodeMulawSample(0x55)],
      "the rest of each write as handed",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a RECORDINGS_DIR that cannot be written is reported once, naming it, and the call goes on", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley_background_" });
  await Deno.writeTextFile(join(dir, "a-file"), "not a folder");
  const t = await startTestParley({
    personasDir: PERSONAS_DIR,
    env: { DEFAULT_PERSONA: "recorder" },
    recordings: new RecordingsDir(join(dir, "a-file", "recordings")),
  });
  try {
    const call = await t.startCall({ persona: "recorder" });
    const session = await t.upstream.session(0);
    await session.waitFor("response.create");
    const line = await within(t.waitForLog(/Cannot record call/), "the report");
    assert.match(
      line,
      new RegExp(
        `Cannot record call ${call.callSid}: .*\\(RECORDINGS_DIR=.*a-file/recordings\\); the call goes on`,
      ),
    );
    call.sendMedia(new Uint8Array(160).fill(0xff));
    await session.waitFor("input_audio_buffer.append");
    call.close();
    await within(t.waitForEvent("call.ended", (e) => e.callSid === call.callSid), "the end");
    await t.parley.shutdown();
    assert.equal(t.logs.filter((l) => /Cannot record call/.test(l.line)).length, 1, "reported once");
  } finally {
    await t.close();
    await Deno.remove(dir, { recursive: true });
  }
});
