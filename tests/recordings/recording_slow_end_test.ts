/**
 * The recording lasts as long as the call's record says, however long the recorder's own end takes:
 * the recorder finishes its file synchronously when the call ends (the last writes, the header), and a
 * busy disk can hold such a write for a few hundred ms (ext4 waits for its journal under fsync-heavy
 * load). That time is the recorder's, not the call's: the call's end and the recording's end are one
 * instant, taken before it.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import type { RecordingSink } from "../../src/recordings/call_recorder.ts";
import { RecordingsDir } from "../../src/recordings/recordings_dir.ts";
import { readWav, SAMPLE_RATE } from "../../src/recordings/wav.ts";
import { callDatabasePath, openCallStore } from "../../src/store/sqlite/call_store.ts";
import { startTestParley } from "../../testing/parley_harness.ts";
import { sendFrames } from "../../testing/send_frames.ts";
import { recordedDuration } from "./_recording_call.ts";

const PERSONAS_DIR = new URL("../testdata/recording_personas", import.meta.url).pathname;
const API_TOKEN = "recording-slow-end-token-0123456789abcdef";
/** How long the disk holds the recorder's end, ms: far past the 40 ms the recording may be off by. */
const SLOW_DISK_MS = 300;

/** Holds the event loop for `ms`, as a write blocked in the kernel does. */
function blockFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // a synchronous write waiting for the disk
  }
}

/** Recordings on a disk that holds each recording's last write (its end) for {@linkcode SLOW_DISK_MS}. */
class SlowDiskRecordings extends RecordingsDir {
  override start(callSid: string, onError: (error: unknown) => void): RecordingSink {
    const sink = super.start(callSid, onError);
    return {
      write: (frames) => sink.write(frames),
      finish: (dataBytes, durationMs) => {
        blockFor(SLOW_DISK_MS);
        sink.finish(dataBytes, durationMs);
      },
    };
  }
}

Deno.test("a recording lasts as long as the call's record even when the disk holds the recorder's end", async () => {
  const dir = await Deno.makeTempDir();
  const recordings = new SlowDiskRecordings(join(dir, "recordings"));
  const store = openCallStore(callDatabasePath(dir));
  const t = await startTestParley({
    personasDir: PERSONAS_DIR,
    env: { DEFAULT_PERSONA: "recorder", API_TOKEN },
    recordings,
    store,
  });
  try {
    const call = await t.startCall({ persona: "recorder" });
    const session = await t.upstream.session(0);
    await session.waitFor("response.create");
    await sendFrames(call, { frame: new Uint8Array(160).fill(0xff), forMs: 600 });
    call.close();
    const callMs = await recordedDuration(t, call.callSid, API_TOKEN);
    await t.parley.shutdown(); // the relay has ended: the recorder has finished the file
    assert.equal((await recordings.info(call.callSid))?.state, "complete");

    const wav = readWav(await Deno.readFile(recordings.wavPath(call.callSid)));
    const recordingMs = (wav.channels[0]!.length / SAMPLE_RATE) * 1000;
    assert.ok(callMs >= 500, `the call lasted about the caller's 600 ms: ${callMs} ms`);
    assert.ok(
      Math.abs(recordingMs - callMs) <= 40,
      `recording ${recordingMs} ms, call record ${callMs} ms (the disk held the recorder's end ${SLOW_DISK_MS} ms)`,
    );
  } finally {
    await t.close();
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
